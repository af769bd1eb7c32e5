"""The reported measures (spec, "Reported measures"), per seed, and their mean and 95% interval over seeds.

Per seed s and sweep point x: speedup of A over B = ``mean_i T_i(B) / mean_i T_i(A)``, energy reduction of A
over B = ``mean_i E_i(B) / mean_i E_i(A)`` (below 1: A spends more). A ratio is summarised over seeds on the
log scale: the geometric mean ``exp(mean_s log ratio)`` and the Student-t 95% interval of the log ratios,
``exp(mean +- t_{0.975, n-1} * sd / sqrt(n))`` (none with a single seed), so an interval never goes below 0.
:func:`mean_ci95` is the plain t-interval of any sample.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nomasplit.experiments.figures import FigureSpec

#: t_{0.975, df} for df = 1..30; beyond 30 the normal quantile with a small correction is used.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_quantile_975(df: int) -> float:
    """``t_{0.975}`` of Student's t with ``df`` degrees of freedom (table up to 30, then 1.96 + 2.4 / df)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    return 1.959964 + 2.4 / df


def mean_ci95(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and the lower and upper ends of the 95% t-interval (NaN ends with fewer than two values)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    half = t_quantile_975(values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean, mean - half, mean + half


def geometric_mean_ci95(ratios: np.ndarray) -> tuple[float, float, float]:
    """Geometric mean of positive ratios and the 95% t-interval of their logs, exponentiated (positive ends;
    NaN ends with fewer than two values). Non-positive or non-finite ratios are left out."""
    ratios = np.asarray(ratios, dtype=np.float64)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if ratios.size == 0:
        return math.nan, math.nan, math.nan
    mean, low, high = mean_ci95(np.log(ratios))
    return (
        math.exp(mean),
        math.exp(low) if math.isfinite(low) else math.nan,
        (math.exp(high) if math.isfinite(high) else math.nan),
    )


_COLUMN = {"latency": "mean_latency_s", "energy": "mean_energy_j"}


def per_seed_ratios(results: pd.DataFrame, figure: FigureSpec) -> pd.DataFrame:
    """One row per (point, method, seed): the figure's ratio of the baseline's mean to the method's mean.

    Args:
        results: rows of :func:`nomasplit.experiments.sweep.load_results` (columns sweep, value, x,
            algorithm, seed, mean_latency_s, mean_energy_j).
        figure: which sweep, measure, baseline and methods.

    Returns:
        Columns value, x, algorithm, seed, ratio. Points whose baseline or method result is missing, or
        not finite, are left out.
    """
    column = _COLUMN[figure.measure]
    rows = results[results["sweep"] == figure.sweep] if len(results) else results
    if len(rows) == 0:
        return pd.DataFrame(columns=["value", "x", "algorithm", "seed", "ratio"])
    base = rows[rows["algorithm"] == figure.baseline]
    reference_of = {(v, s): q for v, s, q in zip(base["value"], base["seed"], base[column], strict=True)}
    out = []
    for row in rows[rows["algorithm"].isin(figure.methods)].itertuples(index=False):
        at = str(figure.baseline_at) if figure.baseline_at is not None else row.value
        reference = reference_of.get((at, row.seed))
        quantity = getattr(row, column)
        if reference is None or quantity is None or not np.isfinite(reference) or not np.isfinite(quantity):
            continue
        if quantity <= 0:
            continue
        out.append(
            {
                "value": row.value,
                "x": row.x,
                "algorithm": row.algorithm,
                "seed": row.seed,
                "ratio": float(reference) / float(quantity),
            }
        )
    return pd.DataFrame(out, columns=["value", "x", "algorithm", "seed", "ratio"])


def figure_table(results: pd.DataFrame, figure: FigureSpec, order: list[str] | None = None) -> pd.DataFrame:
    """Geometric-mean ratio and 95% interval over seeds (:func:`geometric_mean_ci95`), one row per (point,
    method), with the share of users the method offloads there (``offloading``: mean over seeds; NaN when the
    result rows do not say).

    Args:
        results: result rows (see :func:`per_seed_ratios`).
        figure: the figure.
        order: the sweep's values as strings, in the order to report them (default: as found).

    Returns:
        Columns value, x, algorithm, mean, ci_low, ci_high, num_seeds, offloading.
    """
    ratios = per_seed_ratios(results, figure)
    columns = ["value", "x", "algorithm", "mean", "ci_low", "ci_high", "num_seeds", "offloading"]
    offloading: dict[tuple[str, str], float] = {}
    if len(results) and {"num_offloading", "num_users"} <= set(results.columns):
        sweep_rows = results[results["sweep"] == figure.sweep]
        for (value, algorithm), group in sweep_rows.groupby(["value", "algorithm"], sort=False):
            users = group["num_users"].astype(float).sum()
            offloading[(str(value), str(algorithm))] = (
                float(group["num_offloading"].astype(float).sum() / users) if users > 0 else math.nan
            )
    if len(ratios) == 0:
        return pd.DataFrame(columns=columns)
    rows = []
    for (value, algorithm), group in ratios.groupby(["value", "algorithm"], sort=False):
        mean, low, high = geometric_mean_ci95(group["ratio"].to_numpy())
        rows.append(
            {
                "value": value,
                "x": float(group["x"].iloc[0]),
                "algorithm": algorithm,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "num_seeds": len(group),
                "offloading": offloading.get((str(value), str(algorithm)), math.nan),
            }
        )
    table = pd.DataFrame(rows, columns=columns)
    values = order or list(dict.fromkeys(table["value"]))
    rank_value = {value: index for index, value in enumerate(values)}
    rank_method = {method: index for index, method in enumerate(figure.methods)}
    table = table.assign(_v=table["value"].map(rank_value), _m=table["algorithm"].map(rank_method)).sort_values(
        ["_v", "_m"]
    )
    return table.drop(columns=["_v", "_m"]).reset_index(drop=True)


def lookup(table: pd.DataFrame, value: str, algorithm: str) -> tuple[float, float, float] | None:
    """(mean, ci_low, ci_high) of one point and method of a :func:`figure_table`, or None."""
    hit = table[(table["value"] == value) & (table["algorithm"] == algorithm)]
    if len(hit) == 0:
        return None
    row = hit.iloc[0]
    return float(row["mean"]), float(row["ci_low"]), float(row["ci_high"])
