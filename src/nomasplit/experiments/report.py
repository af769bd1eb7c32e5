"""``report.md``: the setup, the readings, the paper's quoted numbers beside ours, a verdict for every trend
the paper states, each figure's table, and the device-class and bandwidth reasoning behind the differences.

Every number in the report is computed from the result rows; nothing is typed in except the paper's quotes
(:mod:`nomasplit.experiments.paper_numbers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nomasplit.experiments.figures import (
    METHOD_LABELS,
    QUICK_CHANGES,
    READINGS,
    FigureSpec,
    RegimeMapSpec,
    ReproductionSettings,
    model_family,
    model_label,
)
from nomasplit.experiments.measures import figure_table, mean_ci95, per_seed_ratios
from nomasplit.experiments.paper_numbers import AGREEMENT_TOLERANCE, QUOTED_NUMBERS, QuotedNumber

Tables = dict[str, pd.DataFrame]

#: Two numbers differ (one is larger, a curve rises or falls, a peak exists) only beyond this relative
#: margin; below it they count as equal (plans equal to Device-Only must not agree by rounding noise).
MARGIN = 0.01


def compute_tables(settings: ReproductionSettings, results: pd.DataFrame) -> Tables:
    """Each figure's table (mean ratio and 95% interval per point and method), keyed by figure key."""
    tables = {}
    for figure in settings.figures:
        order = [str(value) for value in settings.sweep(figure.sweep).values]
        tables[figure.key] = figure_table(results, figure, order)
    return tables


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}"


def _fmt_ci(mean: float, low: float, high: float) -> str:
    if not math.isfinite(low):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def _series(table: pd.DataFrame, method: str) -> list[tuple[str, float]]:
    """(value, mean) of one method, in the table's order."""
    rows = table[table["algorithm"] == method]
    return [(str(v), float(m)) for v, m in zip(rows["value"], rows["mean"], strict=True)]


# --- matching points ------------------------------------------------------------------------------------


def matches_point(value: str, point: str) -> bool:
    """Whether a table's sweep value is the paper's point, however the sweep gave it: numbers by value
    (``"10"`` and ``"10.0"``), models by their zoo family (``nin``, ``nin-in8-a16``, a profile file of NiN)."""
    try:
        return math.isclose(float(value), float(point))
    except ValueError:
        return model_family(value) == point


def _row(table: pd.DataFrame, value: str, method: str) -> tuple[float, float, float] | None:
    """(mean, low, high) of one point and method; without an interval (one seed) low = high = mean."""
    hit = table[(table["value"].astype(str) == value) & (table["algorithm"] == method)]
    if len(hit) == 0:
        return None
    mean, low, high = (float(hit.iloc[0][column]) for column in ("mean", "ci_low", "ci_high"))
    if not (math.isfinite(low) and math.isfinite(high)):
        low = high = mean
    return mean, low, high


def _never_offloads(table: pd.DataFrame, method: str, values: list[str] | None = None) -> bool:
    """True when the table records that ``method`` offloads no user at any of ``values`` (default: all)."""
    if "offloading" not in table.columns or method == "device-only":
        return False
    rows = table[table["algorithm"] == method]
    if values is not None:
        rows = rows[rows["value"].astype(str).isin(values)]
    shares = rows["offloading"].astype(float)
    return bool(len(shares)) and bool(shares.notna().all()) and bool((shares == 0).all())


# --- quoted numbers ----------------------------------------------------------------------------------------

#: Verdicts of a quoted number; only "agrees" counts as reproduced.
QUOTE_VERDICTS = ("agrees", "close", "overlaps", "differs", "differs: never offloads", "not run")


def compare_quoted(tables: Tables, fitted: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per quoted number: key, figure, method, quote, the paper's value, ours, verdict, fitted."""
    rows = []
    for quoted in QUOTED_NUMBERS:
        table = tables.get(quoted.figure)
        paper = _fmt(quoted.low) if quoted.low == quoted.high else f"{_fmt(quoted.low)}-{_fmt(quoted.high)}"
        row: dict[str, Any] = {
            "key": quoted.key,
            "figure": quoted.figure,
            "method": quoted.method,
            "point": quoted.point,
            "quote": quoted.quote,
            "paper": paper,
            "paper_low": quoted.low,
            "paper_high": quoted.high,
            "fitted": quoted.key in fitted,
            "ours": "not run",
            "ours_mean": None,
            "ours_low": None,
            "ours_high": None,
            "verdict": "not run",
        }
        if table is not None and len(_series(table, quoted.method)) > 0:
            row.update(_compare_one(quoted, table))
        rows.append(row)
    return rows


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _compare_one(quoted: QuotedNumber, table: pd.DataFrame) -> dict[str, Any]:
    series = _series(table, quoted.method)
    tolerance = AGREEMENT_TOLERANCE
    label = _label(quoted.method)
    if quoted.kind == "argmax":
        outcome = _interior_peak(quoted.method)(table)
        status, evidence = outcome.verdict, outcome.evidence
        best_value, best = max(series, key=lambda item: item[1])
        inside = quoted.low <= float(best_value) <= quoted.high
        if _never_offloads(table, quoted.method):
            return {"ours": f"{label} keeps every user local: {evidence}", "verdict": "differs: never offloads"}
        if status != "agrees":
            return {"ours": f"no clear interior peak ({status}): {evidence}", "verdict": "differs"}
        return {"ours": f"peak at {best_value} ({label} {_fmt(best)})", "verdict": "agrees" if inside else "differs"}
    if quoted.point is None:
        means = [(value, mean) for value, mean in series if math.isfinite(mean)]
        low, high = min(mean for _, mean in means), max(mean for _, mean in means)
        ours = f"{_fmt(low)}-{_fmt(high)} (over {', '.join(model_label(v) for v, _ in means)})"
        numbers: dict[str, Any] = {"ours": ours, "ours_low": low, "ours_high": high}
        if _never_offloads(table, quoted.method):
            return {**numbers, "ours": ours + f"; {label} keeps every user local", "verdict": "differs: never offloads"}
        if quoted.low <= low and high <= quoted.high:
            return {**numbers, "verdict": "agrees"}
        if low >= quoted.low * (1 - tolerance) and high <= quoted.high * (1 + tolerance):
            return {**numbers, "verdict": "close"}
        overlaps = low <= quoted.high and high >= quoted.low
        return {**numbers, "verdict": "overlaps" if overlaps else "differs"}
    values = [value for value, _ in series if matches_point(value, quoted.point)]
    if not values:
        return {"ours": f"point {quoted.point} not run", "verdict": "not run"}
    found = _row(table, values[0], quoted.method)
    assert found is not None
    mean, low, high = found
    numbers = {
        "ours": _fmt_ci(mean, low, high) if low != high else _fmt(mean),
        "ours_mean": mean,
        "ours_low": _finite_or_none(low),
        "ours_high": _finite_or_none(high),
    }
    if _never_offloads(table, quoted.method, values[:1]):
        return {
            **numbers,
            "ours": numbers["ours"] + f"; {label} keeps every user local",
            "verdict": "differs: never offloads",
        }
    close = abs(mean / quoted.low - 1) <= tolerance or low <= quoted.low <= high
    return {**numbers, "verdict": "agrees" if close else "differs"}


# --- trends ------------------------------------------------------------------------------------------------

#: Verdicts of a trend: "agrees" when the differences it needs exceed MARGIN and the 95% intervals separate;
#: "inconclusive" when the means are in the stated order but the intervals overlap; else "disagrees".
TREND_VERDICTS = ("agrees", "inconclusive", "disagrees", "not run")


@dataclass(frozen=True)
class Outcome:
    """A trend check's verdict and evidence, and the verdict of the same comparisons tested seed by seed.

    ``paired``: every method of a (point, seed) runs on the same scenario, so "A above B" can also be tested on
    the per-seed ratio A / B (the 95% t-interval over seeds of its log excludes 0). It is reported beside the
    verdict, which needs separate intervals; None where the check compares no two points (flatness).
    """

    verdict: str
    evidence: str
    paired: str | None = None


Check = Callable[..., Outcome]


def _combine(statuses: list[str]) -> str:
    if not statuses or "disagrees" in statuses:
        return "disagrees"
    return "inconclusive" if "inconclusive" in statuses else "agrees"


def _greater(first: tuple[float, float, float], second: tuple[float, float, float]) -> str:
    """Whether ``first`` exceeds ``second``: by MARGIN in the means and with separate 95% intervals."""
    if not first[0] > second[0] * (1 + MARGIN):
        return "disagrees"
    return "agrees" if first[1] > second[2] else "inconclusive"


def _per_seed(ratios: pd.DataFrame, value: str, method: str) -> pd.Series:
    """One method's per-seed ratios at one point, indexed by seed."""
    rows = ratios[(ratios["value"].astype(str) == value) & (ratios["algorithm"] == method)]
    return rows.set_index("seed")["ratio"]


def _greater_paired(ratios: pd.DataFrame | None, first: tuple[str, str], second: tuple[str, str]) -> str | None:
    """Whether ``method`` at ``value`` (``first``) exceeds ``second`` seed by seed: the per-seed ratio of the two
    exceeds 1 + MARGIN in its geometric mean, and the 95% t-interval of its log excludes 0. None without at
    least two common seeds."""
    if ratios is None or len(ratios) == 0:
        return None
    mine, theirs = _per_seed(ratios, first[1], first[0]), _per_seed(ratios, second[1], second[0])
    logs = np.log((mine / theirs).dropna().to_numpy(dtype=np.float64))
    logs = logs[np.isfinite(logs)]
    if logs.size < 2:
        return None
    mean, low, _ = mean_ci95(logs)
    if not mean > math.log(1 + MARGIN):
        return "disagrees"
    return "agrees" if low > 0 else "inconclusive"


def _seeded(ratios: pd.DataFrame | None) -> bool:
    """Whether there are per-seed ratios of at least two seeds (else no test seed by seed)."""
    return ratios is not None and len(ratios) > 0 and ratios["seed"].nunique() >= 2


def _combine_paired(statuses: list[str | None]) -> str | None:
    """:func:`_combine` of paired statuses; None if any comparison had no paired test."""
    known = [status for status in statuses if status is not None]
    return _combine(known) if statuses and len(known) == len(statuses) else None


@dataclass(frozen=True)
class Trend:
    """One sentence of the paper about a figure, and the check of it on our table (and per-seed ratios)."""

    figure: str
    statement: str
    check: Check
    #: Why this model cannot show the trend under any parameters (None: it can). Stated in the report beside the
    #: verdict and counted in the summary, so that a reader sees which misses are the model's and which the fit's.
    limit: str | None = None

    def run(self, table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        return self.check(table, ratios)


def _all_above(methods: tuple[str, ...], threshold: float, above: bool = True) -> Check:
    """Every point of ``methods`` above (below) ``threshold``. Each point's interval is already over the
    per-seed ratio to the figure's baseline, so the seed-by-seed verdict is the same."""

    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        statuses, values = [], []
        line = (threshold, threshold, threshold)
        for method in methods:
            for value, mean in _series(table, method):
                found = _row(table, value, method)
                assert found is not None
                statuses.append(_greater(found, line) if above else _greater(line, found))
                values.append((method, value, mean))
        if not values:
            return Outcome("disagrees", "missing points")
        worst = min(values, key=lambda i: i[2]) if above else max(values, key=lambda i: i[2])
        verdict = _combine(statuses)
        return Outcome(
            verdict,
            f"{'min' if above else 'max'}: {_label(worst[0])} at {worst[1]} = {_fmt(worst[2])}",
            verdict if _seeded(ratios) else None,
        )

    return check


def _beats(better: str, others: tuple[str, ...]) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        statuses, paired, lost, overlap = [], [], [], []
        for other in others:
            for value, mean in _series(table, other):
                mine, theirs = _row(table, value, better), _row(table, value, other)
                if mine is None or theirs is None:
                    continue
                status = _greater(mine, theirs)
                statuses.append(status)
                paired.append(_greater_paired(ratios, (better, value), (other, value)))
                if status == "disagrees":
                    lost.append(f"{_label(other)} at {value}: {_fmt(mean)} vs {_fmt(mine[0])}")
                elif status == "inconclusive":
                    overlap.append(f"{_label(other)} at {value}")
        verdict, by_seed = _combine(statuses), _combine_paired(paired)
        if lost:
            text = f"{_label(better)} not ahead of " + "; ".join(lost[:3]) + ("; ..." if len(lost) > 3 else "")
        elif overlap:
            text = f"{_label(better)} ahead in the means, intervals overlap: " + ", ".join(overlap[:3])
        else:
            text = f"{_label(better)} ahead at every point, intervals separate"
        return Outcome(verdict, text, by_seed)

    return check


def _decreasing(methods: tuple[str, ...]) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        parts, statuses, paired = [], [], []
        for method in methods:
            series = _series(table, method)
            if len(series) < 2:
                continue
            first, last = _row(table, series[0][0], method), _row(table, series[-1][0], method)
            assert first is not None and last is not None
            statuses.append(_greater(first, last))
            paired.append(_greater_paired(ratios, (method, series[0][0]), (method, series[-1][0])))
            parts.append(f"{_label(method)} {_fmt(first[0])} -> {_fmt(last[0])}")
        return Outcome(_combine(statuses), "; ".join(parts), _combine_paired(paired))

    return check


def _gap_per_seed(ratios: pd.DataFrame, value: str, method: str, other: str | None) -> dict[int, float]:
    rows = ratios[ratios["value"].astype(str) == value]
    mine = _per_seed(ratios, value, method)
    if other:
        rest = _per_seed(ratios, value, other)
    else:
        others = rows[(rows["algorithm"] != method) & (rows["algorithm"] != "device-only")]
        rest = others.groupby("seed")["ratio"].max()
    gaps = (mine / rest).dropna()
    return {int(seed): float(gap) for seed, gap in gaps.items() if gap > 0}


def _gap_changes(method: str, other: str | None, grows: bool) -> Check:
    """The ratio of ``method`` to ``other`` (None: the best other offloading method) grows (or shrinks) from
    the first to the last point: per seed, the change of the log ratio, with a 95% t-interval over seeds."""

    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        values = list(dict.fromkeys(table["value"].astype(str)))
        name = _label(other) if other else "the best other offloading method"
        if len(values) < 2:
            return Outcome("disagrees", "missing points")
        if ratios is None or len(ratios) == 0:
            means = []
            for value in (values[0], values[-1]):
                rows = table[table["value"].astype(str) == value]
                mine = rows[rows["algorithm"] == method]["mean"]
                rest = (
                    rows[rows["algorithm"] == other]["mean"]
                    if other
                    else rows[(rows["algorithm"] != method) & (rows["algorithm"] != "device-only")]["mean"]
                )
                if len(mine) == 0 or len(rest) == 0:
                    return Outcome("disagrees", "missing points")
                means.append(float(mine.iloc[0]) / float(rest.max()))
            changes = np.array([math.log(means[1] / means[0])])
        else:
            first = _gap_per_seed(ratios, values[0], method, other)
            last = _gap_per_seed(ratios, values[-1], method, other)
            seeds = sorted(set(first) & set(last))
            if not seeds:
                return Outcome("disagrees", "missing points")
            changes = np.array([math.log(last[seed] / first[seed]) for seed in seeds])
        mean, low, high = mean_ci95(changes)
        if not math.isfinite(low):
            low = high = mean
        sign = 1.0 if grows else -1.0
        mean, low, high = sign * mean, min(sign * low, sign * high), max(sign * low, sign * high)
        status = "disagrees" if mean <= math.log(1 + MARGIN) else ("agrees" if low > 0 else "inconclusive")
        factor = math.exp(sign * mean)
        text = (
            f"{_label(method)} / {name} changes x{_fmt(factor)} from {values[0]} to {values[-1]} "
            f"(geometric mean over seeds)"
        )
        return Outcome(status, text, status if _seeded(ratios) else None)

    return check


def _interior_peak(method: str) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        series = _series(table, method)
        means = [mean for _, mean in series]
        index = int(np.argmax(means))
        text = (
            f"peak {_fmt(means[index])} at {series[index][0]}; {_fmt(means[0])} at {series[0][0]}, "
            f"{_fmt(means[-1])} at {series[-1][0]}"
        )
        if not 0 < index < len(series) - 1:
            return Outcome("disagrees", text, "disagrees")
        peak = _row(table, series[index][0], method)
        first, last = _row(table, series[0][0], method), _row(table, series[-1][0], method)
        assert peak is not None and first is not None and last is not None
        top = (method, series[index][0])
        paired = [
            _greater_paired(ratios, top, (method, series[0][0])),
            _greater_paired(ratios, top, (method, series[-1][0])),
        ]
        return Outcome(_combine([_greater(peak, first), _greater(peak, last)]), text, _combine_paired(paired))

    return check


def _flat(methods: tuple[str, ...], spread: float) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        parts, ok = [], True
        for method in methods:
            means = [mean for _, mean in _series(table, method)]
            if not means:
                continue
            relative = max(means) / min(means) - 1 if min(means) > 0 else math.inf
            ok &= relative <= spread
            parts.append(f"{_label(method)} varies {relative:.0%}")
        return Outcome("agrees" if ok else "disagrees", "; ".join(parts) + f" (flat: at most {spread:.0%})")

    return check


_OFFLOADERS = ("edge-only", "neurosurgeon", "dnn-surgery", "ecc-noma")
_BASELINES = ("edge-only", "neurosurgeon", "dnn-surgery")

#: Why Figs. 8/11's "the advantage grows with the workload" cannot hold in this model.
LIMIT_LINEAR_WORKLOAD = (
    "every cost of the model scales linearly with the workload k, so every method makes the same choices at "
    "every k and every ratio between methods is the same at every k"
)
#: Why Fig. 7's "Edge-Only, Neurosurgeon and DNN Surgery are not affected by M" cannot hold in this model.
LIMIT_OMA_BY_M = (
    "with the bandwidth fixed, each subchannel has B/M Hz and an OMA method serves at most M users per AP, so "
    "every OMA method's rates and the number it serves change with M"
)


TRENDS: tuple[Trend, ...] = (
    Trend("2", "ECC and Edge-Only are faster than Device-Only", _all_above(("ecc-oma", "edge-only"), 1.0)),
    Trend("2", "ECC (OMA) is faster than Edge-Only", _beats("ecc-oma", ("edge-only",))),
    Trend("2", "ECC-NOMA is faster than ECC (OMA)", _beats("ecc-noma", ("ecc-oma",))),
    Trend(
        "3",
        "ECC and Edge-Only spend more energy than Device-Only (reduction < 1)",
        _all_above(("ecc-oma", "edge-only"), 1.0, above=False),
    ),
    Trend("3", "ECC-NOMA spends more energy than ECC (OMA)", _beats("ecc-oma", ("ecc-noma",))),
    Trend(
        "4",
        "ECC (OMA) and DNN Surgery are a little slower than Neurosurgeon",
        _all_above(("ecc-oma", "dnn-surgery"), 1.0, above=False),
    ),
    Trend("4", "ECC-NOMA is faster than Neurosurgeon", _all_above(("ecc-noma",), 1.0)),
    Trend(
        "5",
        "ECC (OMA) has the best energy reduction",
        _beats("ecc-oma", ("ecc-noma", "dnn-surgery", "neurosurgeon")),
    ),
    Trend("5", "DNN Surgery spends less energy than Neurosurgeon", _all_above(("dnn-surgery",), 1.0)),
    Trend(
        "5",
        "ECC-NOMA spends less than Neurosurgeon and DNN Surgery",
        _beats("ecc-noma", ("dnn-surgery", "neurosurgeon")),
    ),
    Trend(
        "6",
        "the speedup of every offloading method falls as the user density grows",
        _decreasing(_OFFLOADERS),
    ),
    Trend("6", "ECC-NOMA has the best speedup at every density", _beats("ecc-noma", _BASELINES)),
    Trend(
        "6",
        "ECC-NOMA's advantage over Neurosurgeon grows with the density",
        _gap_changes("ecc-noma", "neurosurgeon", grows=True),
    ),
    Trend("7", "ECC-NOMA's speedup first rises with M, then falls", _interior_peak("ecc-noma")),
    Trend(
        "7",
        "Edge-Only, Neurosurgeon and DNN Surgery are not affected by M",
        _flat(_BASELINES, 0.10),
        limit=LIMIT_OMA_BY_M,
    ),
    Trend("8", "latency grows with the workload for every method (speedup falls)", _decreasing(_OFFLOADERS)),
    Trend("8", "ECC-NOMA has the best speedup at every workload", _beats("ecc-noma", _BASELINES)),
    Trend(
        "8",
        "ECC-NOMA's advantage grows with the workload",
        _gap_changes("ecc-noma", None, grows=True),
        limit=LIMIT_LINEAR_WORKLOAD,
    ),
    Trend(
        "9",
        "the energy reduction of the offloading methods falls as the density grows",
        _decreasing(_OFFLOADERS),
    ),
    Trend("9", "ECC-NOMA has the best energy reduction at every density", _beats("ecc-noma", _BASELINES)),
    Trend("9", "ECC-NOMA's advantage shrinks as the density grows", _gap_changes("ecc-noma", None, grows=False)),
    Trend("10", "ECC-NOMA's energy reduction changes only slightly with M", _flat(("ecc-noma",), 0.20)),
    Trend(
        "10",
        "Device-Only spends the least energy (every other method < 1)",
        _all_above(_OFFLOADERS, 1.0, above=False),
    ),
    Trend("11", "ECC-NOMA has the best energy reduction at every workload", _beats("ecc-noma", _BASELINES)),
    Trend(
        "11",
        "ECC-NOMA's advantage grows with the workload",
        _gap_changes("ecc-noma", None, grows=True),
        limit=LIMIT_LINEAR_WORKLOAD,
    ),
)


def trend_key(index: int) -> str:
    """Stable name of the ``index``-th trend of :data:`TRENDS`: ``fig6-t2`` (the second trend of Fig. 6)."""
    trend = TRENDS[index]
    number = sum(1 for other in TRENDS[: index + 1] if other.figure == trend.figure)
    return f"fig{trend.figure}-t{number}"


def check_trends(tables: Tables, ratios: dict[str, pd.DataFrame] | None = None) -> list[dict[str, Any]]:
    """One row per trend: key, figure, statement, verdict (:data:`TREND_VERDICTS`), evidence, paired_verdict (the
    same comparisons seed by seed, :class:`Outcome`). Every trend is held out of any calibration (only quoted
    numbers are fitted)."""
    rows = []
    for index, trend in enumerate(TRENDS):
        table = tables.get(trend.figure)
        row: dict[str, Any] = {
            "key": trend_key(index),
            "figure": trend.figure,
            "statement": trend.statement,
            "model_limit": trend.limit,
        }
        if table is None or len(table) == 0:
            rows.append({**row, "verdict": "not run", "evidence": "", "paired_verdict": None})
            continue
        try:
            outcome = trend.run(table, (ratios or {}).get(trend.figure))
        except (ValueError, KeyError, IndexError, AssertionError) as exc:  # a method missing from a reduced run
            outcome = Outcome("disagrees", f"cannot check: {exc}")
        rows.append({**row, "verdict": outcome.verdict, "evidence": outcome.evidence, "paired_verdict": outcome.paired})
    return rows


# --- device class and bandwidth reasoning ------------------------------------------------------------------


def reasoning_lines(settings: ReproductionSettings, results: pd.DataFrame) -> list[str]:
    """Why offloading does or does not pay in this setup: device and edge time vs upload time, per model."""
    from nomasplit.generate import paper_config
    from nomasplit.generate.generator import load_model_profile

    if len(results) == 0:
        return []
    lines = []
    sweep = next((s for s in settings.sweeps if s.parameter == "model"), settings.sweeps[0])
    value = sweep.values[0]
    config = settings.point_config(sweep, value)
    per_subchannel_hz = config.uplink_bandwidth_hz / config.num_subchannels
    device = config.device_flops_per_s
    import torch

    from nomasplit.model.compensation import compensation_function

    compensation = compensation_function(config.compensation)
    edge_max = config.edge_unit_flops_per_s * float(compensation(torch.tensor(config.compute_units_max)))
    base = paper_config()
    joules_per_flop = config.device_switched_capacitance * device**2 * config.device_cycles_per_flop
    lines.append(
        f"- Device class: c_i = {device:.3g} FLOP/s ({device / 1e9:.3g} GFLOP/s effective DNN throughput"
        f"{', a mid-range smartphone CPU' if device == base.device_flops_per_s else ''}; "
        f"{joules_per_flop * 1e9:.3g} nJ/FLOP). One edge unit c_min = "
        f"{config.edge_unit_flops_per_s:.3g} FLOP/s, up to r_max = "
        f"{config.compute_units_max:g} units (lambda(r_max) c_min = {edge_max:.3g} FLOP/s) per user."
    )
    lines.append(
        f"- Bandwidth per user: B / M = {config.uplink_bandwidth_hz / 1e6:.3g} MHz / "
        f"{config.num_subchannels} = {per_subchannel_hz / 1e3:.3g} kHz per subchannel (the paper's setup: "
        f"{base.uplink_bandwidth_hz / 1e6:g} MHz / {base.num_subchannels} = "
        f"{base.uplink_bandwidth_hz / base.num_subchannels / 1e3:g} kHz), shared by up to K = "
        f"{config.cluster_size} NOMA users."
    )
    models = results[(results["sweep"] == sweep.name)]
    for model in dict.fromkeys(models["model"]):
        profile = load_model_profile(model)
        rows = models[(models["model"] == model) & (models["algorithm"] == "edge-only")]
        rate = float(np.nanmean(rows["mean_uplink_rate_bps"].astype(float))) if len(rows) else math.nan
        device_s = profile.total_flops / device
        edge_s = profile.total_flops / edge_max
        upload_s = profile.input_bits / rate if rate and math.isfinite(rate) else math.nan
        smallest = float(np.min(profile.upload_bits()))
        smallest_s = smallest / rate if rate and math.isfinite(rate) else math.nan
        lines.append(
            f"- {model_label(model)}: {profile.total_flops / 1e9:.3g} GFLOP, {device_s * 1e3:.3g} ms on the "
            f"device, {edge_s * 1e3:.3g} ms on r_max edge units; raw input "
            f"{profile.input_bits / 1e3:.3g} kbit takes {_fmt(upload_s * 1e3)} ms at Edge-Only's mean uplink "
            f"rate {_fmt(rate / 1e3)} kbit/s; the smallest tensor to send (any split) is "
            f"{smallest / 1e3:.3g} kbit ({_fmt(smallest_s * 1e3)} ms); "
            f"uploading the raw input takes {_fmt(upload_s / device_s)} x the device time."
        )
    lines.append(
        "- Offloading pays only when the upload of a split's tensor plus the edge time beats the device time "
        "of the layers it replaces (the ratios above). The extra figures show at which device speed and at "
        "which bandwidth per subchannel offloading starts to pay. "
        + (
            "The paper gives neither the device's nor the edge server's speed; the `paper` preset keeps "
            "documented defaults (docs/scenarios.md) and does not tune them to match its numbers."
            if settings.preset != "calibrated"
            else "The `calibrated` preset fits the parameters the paper leaves open to a few of its quoted "
            "numbers (see the readings); every other number and trend is held out."
        )
    )
    return lines


OBJECTIVE_NOTE = (
    "ECC (Li-GD) minimises Gamma = sum_i (w_T T_i + w_E E_i) with the latency weight w_T of the config "
    "(default 0.5; latency in s, energy in J), not the latency alone; Neurosurgeon minimises each user's "
    "latency, DNN Surgery its min-cut latency, and Edge-Only and Device-Only do not optimise. The table "
    "gives each method's Gamma relative to Device-Only's (mean over points and seeds; below 1: better for "
    "the objective ECC optimises)."
)


def objective_table(settings: ReproductionSettings, results: pd.DataFrame) -> list[str]:
    """Per sweep: each method's objective Gamma divided by Device-Only's at the same point and seed."""
    if len(results) == 0:
        return []
    methods = [m for m in METHOD_LABELS if m in set(results["algorithm"])]
    rows = []
    for sweep in settings.sweeps:
        part = results[results["sweep"] == sweep.name]
        base = part[part["algorithm"] == "device-only"].set_index(["value", "seed"])["objective"]
        cells = [sweep.name]
        for method in methods:
            mine = part[part["algorithm"] == method].set_index(["value", "seed"])["objective"]
            ratio = (mine / base).dropna()
            cells.append(_fmt(float(ratio.mean())) if len(ratio) else "-")
        rows.append(cells)
    return _table_md(["sweep", *[_label(m) for m in methods]], rows)


# --- the report --------------------------------------------------------------------------------------------


def _table_md(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def figure_section(figure: FigureSpec, table: pd.DataFrame, settings: ReproductionSettings) -> list[str]:
    """A figure's image and its table of geometric means and 95% intervals."""
    sweep = settings.sweep(figure.sweep)
    lines = [
        f"### {figure.title}",
        "",
        f"![{figure.title}]({figure.filename}.png)",
        "",
        f"{figure.ylabel}; geometric mean over seeds [95% t-interval of the log ratio]. Swept: {sweep.label}.",
        "",
    ]
    headers = [sweep.label] + [_label(m) for m in figure.methods]
    rows = []
    for value in sweep.values:
        cells = [model_label(value) if isinstance(value, str) else f"{value:g}"]
        for method in figure.methods:
            hit = table[(table["value"] == str(value)) & (table["algorithm"] == method)]
            cells.append(
                "-" if len(hit) == 0 else _fmt_ci(*(float(hit.iloc[0][c]) for c in ("mean", "ci_low", "ci_high")))
            )
        rows.append(cells)
    return [*lines, *_table_md(headers, rows), ""]


def compute_ratios(settings: ReproductionSettings, results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each figure's per-seed ratios (:func:`~nomasplit.experiments.measures.per_seed_ratios`), by key."""
    return {figure.key: per_seed_ratios(results, figure) for figure in settings.figures}


def regime_table(results: pd.DataFrame, regime: RegimeMapSpec) -> pd.DataFrame:
    """One row per (x, y) of a regime map: ECC-NOMA's latency speedup over Device-Only and NOMA's over OMA
    (ECC-OMA's mean latency over ECC-NOMA's), geometric means over seeds, and ECC-NOMA's offloading share."""
    rows = []
    for index, y in enumerate(regime.y_values):
        name = regime.row_name(index)
        for measure_key, baseline in (("speedup", "device-only"), ("noma_over_oma", "ecc-oma")):
            figure = FigureSpec(
                key="regime", title="", sweep=name, measure="latency", baseline=baseline, methods=("ecc-noma",)
            )
            table = figure_table(results, figure)
            for row in table.itertuples(index=False):
                rows.append(
                    {
                        "x": float(row.value),
                        "y": float(y),
                        "measure": measure_key,
                        "mean": float(row.mean),
                        "offloading": float(row.offloading),
                    }
                )
    frame = pd.DataFrame(rows, columns=["x", "y", "measure", "mean", "offloading"])
    if len(frame) == 0:
        return pd.DataFrame(columns=["x", "y", "speedup", "noma_over_oma", "offloading"])
    wide = frame.pivot_table(index=["x", "y"], columns="measure", values="mean").reset_index()
    share = frame[frame["measure"] == "speedup"].set_index(["x", "y"])["offloading"]
    wide["offloading"] = [share.get((x, y), math.nan) for x, y in zip(wide["x"], wide["y"], strict=True)]
    for column in ("speedup", "noma_over_oma"):
        if column not in wide:
            wide[column] = math.nan
    return wide[["x", "y", "speedup", "noma_over_oma", "offloading"]]


@dataclass
class Analysis:
    """Everything a report says about one preset's run: tables, per-seed ratios, verdicts, regime maps."""

    settings: ReproductionSettings
    results: pd.DataFrame
    tables: Tables
    ratios: dict[str, pd.DataFrame]
    quotes: list[dict[str, Any]]
    trends: list[dict[str, Any]]
    regimes: dict[str, pd.DataFrame]

    @property
    def name(self) -> str:
        return f"{self.settings.preset}{' (quick)' if self.settings.quick else ''}"


def analyse(settings: ReproductionSettings, results: pd.DataFrame) -> Analysis:
    """Tables, per-seed ratios, quoted-number and trend verdicts and regime tables of one run."""
    tables = compute_tables(settings, results)
    ratios = compute_ratios(settings, results)
    return Analysis(
        settings=settings,
        results=results,
        tables=tables,
        ratios=ratios,
        quotes=compare_quoted(tables, settings.fitted),
        trends=check_trends(tables, ratios),
        regimes={regime.key: regime_table(results, regime) for regime in settings.regime_maps},
    )


def _counts(analysis: Analysis) -> dict[str, Any]:
    trends = [row for row in analysis.trends if row["verdict"] != "not run"]
    quotes = [row for row in analysis.quotes if row["verdict"] != "not run"]
    held_out = [row for row in quotes if not row["fitted"]]
    return {
        "preset": analysis.settings.preset,
        "quick": analysis.settings.quick,
        "trends_total": len(TRENDS),
        "trends_checked": len(trends),
        "trends_agree": sum(row["verdict"] == "agrees" for row in trends),
        "trends_inconclusive": sum(row["verdict"] == "inconclusive" for row in trends),
        "held_out_trends_agree": sum(row["verdict"] == "agrees" for row in trends),
        "trends_agree_paired": sum((row.get("paired_verdict") or row["verdict"]) == "agrees" for row in trends),
        "quotes_total": len(QUOTED_NUMBERS),
        "quotes_checked": len(quotes),
        "quotes_agree": sum(row["verdict"] == "agrees" for row in quotes),
        "fitted_quotes": [row["key"] for row in analysis.quotes if row["fitted"]],
        "fitted_quotes_agree": sum(row["verdict"] == "agrees" for row in quotes if row["fitted"]),
        "held_out_quotes": len(held_out),
        "held_out_quotes_agree": sum(row["verdict"] == "agrees" for row in held_out),
    }


def _offloading_share(analysis: Analysis, sweep: str, method: str) -> float:
    results = analysis.results
    if len(results) == 0:
        return math.nan
    rows = results[(results["sweep"] == sweep) & (results["algorithm"] == method)]
    users = float(rows["num_users"].sum()) if len(rows) else 0.0
    return float(rows["num_offloading"].sum()) / users if users > 0 else math.nan


def summary_lines(analysis: Analysis, compare: Analysis | None) -> list[str]:
    """The five lines that open the report: what holds, what does not, and why."""
    mine = _counts(analysis)
    other = _counts(compare) if compare is not None else None
    versus = (
        f"; the {compare.name} preset run beside it: {other['trends_agree']} of {other['trends_total']}"
        if compare is not None and other is not None
        else ""
    )
    lines = [
        f"1. **Trends: {mine['trends_agree']} of {mine['trends_total']} of the paper's trends agree** in this "
        f"{analysis.name} run (another {mine['trends_inconclusive']} in the stated order, but within the 95% "
        f"intervals){versus}. No trend is fitted: all {mine['held_out_trends_agree']} agreeing trends are held out."
        f" Tested seed by seed instead (every method of a point and seed runs on the same scenario; column "
        f"'paired'), {mine['trends_agree_paired']} agree."
    ]
    fitted = mine["fitted_quotes"]
    quote_line = f"2. **Quoted numbers: {mine['quotes_agree']} of {mine['quotes_total']} agree**" + (
        f" ({mine['fitted_quotes_agree']} of the {len(fitted)} fitted ones; "
        f"{mine['held_out_quotes_agree']} of the {mine['held_out_quotes']} held out)"
        if fitted
        else " (none fitted)"
    )
    if compare is not None and other is not None:
        quote_line += f"; the {compare.name} preset: {other['quotes_agree']} of {other['quotes_total']}."
    lines.append(quote_line)
    by_figure: dict[str, list[str]] = {}
    for row in analysis.trends:
        by_figure.setdefault(row["figure"], []).append(row["verdict"])
    holds = [figure for figure, verdicts in by_figure.items() if all(v == "agrees" for v in verdicts)]
    fails = [figure for figure, verdicts in by_figure.items() if any(v == "disagrees" for v in verdicts)]
    lines.append(
        f"3. **What holds:** every trend of Fig. {', '.join(holds) or '(none)'} agrees."
        if holds
        else "3. **What holds:** no figure has all its trends agreeing."
    )
    limited = [row["key"] for row in analysis.trends if row.get("model_limit")]
    line = f"4. **What does not:** Figs. {', '.join(fails) or '(none)'} have trends that disagree."
    if limited:
        line += (
            f" {len(limited)} of the {len(analysis.trends)} trends cannot hold in this model under any parameters "
            f"({', '.join(limited)}: costs linear in the workload k; OMA methods depend on M when the bandwidth "
            f"is fixed; column 'model limit'), so at most {len(analysis.trends) - len(limited)} can agree."
        )
    lines.append(line)
    share = _offloading_share(analysis, "models", "ecc-noma")
    why = f"5. **Why:** ECC-NOMA offloads {_fmt(100 * share)} % of the users in Figs. 2-5"
    if compare is not None:
        why += f" ({_fmt(100 * _offloading_share(compare, 'models', 'ecc-noma'))} % in the {compare.name} preset)"
    noma = analysis.tables.get("extra-overload-noma")
    if noma is not None and len(noma):
        series = _series(noma, "ecc-noma")
        why += (
            "; NOMA pays only when an AP has more users than subchannels: ECC-NOMA / ECC-OMA speedup "
            + ", ".join(f"{_fmt(mean)} at {value}" for value, mean in series)
            + " users per subchannel (extra-overload-noma)"
        )
    lines.append(why + ".")
    return lines


def report_data(analysis: Analysis, run_info: dict[str, Any], compare: Analysis | None = None) -> dict[str, Any]:
    """``report.json``: the run, the summary counts of both presets, and every quoted number and trend with
    figure, paper value, ours and verdict (and the other preset's ours and verdict)."""
    settings = analysis.settings
    other_quotes = {row["key"]: row for row in compare.quotes} if compare is not None else {}
    other_trends = {row["key"]: row for row in compare.trends} if compare is not None else {}

    def side(row: dict[str, Any], others: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        found = others.get(row["key"])
        return (
            None if found is None else {"ours": found.get("ours", found.get("evidence")), "verdict": found["verdict"]}
        )

    return {
        "preset": settings.preset,
        "quick": settings.quick,
        "command": run_info.get("command", ""),
        "seeds": settings.seeds,
        "settings_hash": settings.settings_hash(),
        "num_tasks": run_info.get("num_tasks", 0),
        "num_failed": run_info.get("num_failed", 0),
        "wall_time_s": run_info.get("wall_time_s", 0.0),
        "summary": _counts(analysis),
        "compare": None if compare is None else {"preset": compare.settings.preset, "summary": _counts(compare)},
        "quotes": [{**row, "other_preset": side(row, other_quotes)} for row in analysis.quotes],
        "trends": [{**row, "held_out": True, "other_preset": side(row, other_trends)} for row in analysis.trends],
    }


def regime_section(analysis: Analysis) -> list[str]:
    """The regime maps: images and their numbers."""
    lines: list[str] = []
    for regime in analysis.settings.regime_maps:
        table = analysis.regimes.get(regime.key, pd.DataFrame())
        lines += [
            f"### {regime.title}",
            "",
            f"![{regime.title}]({regime.filename}.png)",
            "",
            "Left: ECC-NOMA's latency speedup over Device-Only; right: NOMA's over OMA (ECC-OMA's mean latency / "
            "ECC-NOMA's); geometric means over seeds. Marked: "
            + "; ".join(f"{mark.label} at ({mark.x:g}, {mark.y:g})" for mark in regime.marks)
            + ".",
            "",
        ]
        rows = [
            [
                f"{x:g}",
                f"{y:g}",
                _fmt(speedup),
                _fmt(noma),
                _fmt(100 * share) + " %",
            ]
            for x, y, speedup, noma, share in table[["x", "y", "speedup", "noma_over_oma", "offloading"]].itertuples(
                index=False
            )
        ]
        lines += _table_md(
            [regime.x_label, regime.y_label, "ECC-NOMA speedup", "NOMA / OMA", "ECC-NOMA users offloading"], rows
        )
        lines.append("")
    return lines


def render_report(
    analysis: Analysis,
    run_info: dict[str, Any],
    compare: Analysis | None = None,
) -> str:
    """The whole ``report.md`` as text."""
    settings, results, tables = analysis.settings, analysis.results, analysis.tables
    lines = [f"# Reproduction of Section VI (Figs. 2-11): `{settings.preset}` preset", ""]
    lines += summary_lines(analysis, compare)
    lines += [
        "",
        f"- Command: `{run_info.get('command', '')}`",
        f"- Preset: {analysis.name}; seeds: {settings.seeds[0]}..{settings.seeds[-1]} "
        f"({settings.num_seeds}); settings hash: `{settings.settings_hash()}`",
        f"- Tasks: {run_info.get('num_tasks', 0)} ({run_info.get('num_cached', 0)} found on disk, "
        f"{run_info.get('num_computed', 0)} computed, {run_info.get('num_failed', 0)} failed); "
        f"wall time of this run: {run_info.get('wall_time_s', 0.0):.0f} s on {run_info.get('executor', '')}",
        f"- Sum of task times: {float(results['task_wall_time_s'].sum()) if len(results) else 0.0:.0f} s",
        "- The same verdicts, machine-readable: `report.json`.",
        "",
    ]
    if settings.quick:
        lines += ["**This is the `--quick` run, not the paper's setup.** " + QUICK_CHANGES, ""]
    lines += [
        "## Setup and readings",
        "",
        "Section VI-A: 5 APs, 1250 users (250 per AP), 10 MHz, 250 subchannels, K = 3, i.i.d. Rayleigh "
        "fading, path loss exponent 5, 25 dBm device power, -174 dBm/Hz noise, NiN / tiny YOLOv2 / VGG16 "
        "(CIFAR-10 input). "
        + (
            "Everything the paper leaves open keeps the generator's documented defaults."
            if settings.preset != "calibrated"
            else "What the paper leaves open is fitted (the calibrated readings below)."
        ),
        "",
    ]
    # a preset's reading of a topic replaces the common one (the calibrated preset sizes DNN Surgery's server)
    readings = {**dict(READINGS), **dict(settings.readings)}
    lines += [f"- **{topic}.** {text}" for topic, text in readings.items()]
    lines += ["", "## Offloading in this setup: device class and bandwidth per user", ""]
    lines += reasoning_lines(settings, results)
    other_name = compare.name if compare is not None else None
    other_quotes = {row["key"]: row for row in compare.quotes} if compare is not None else {}
    other_trends = {row["key"]: row for row in compare.trends} if compare is not None else {}
    lines += [
        "",
        "## The paper's quoted numbers and ours",
        "",
        f"Verdict: a single value agrees when ours is within {AGREEMENT_TOLERANCE:.0%} or our 95% interval "
        f"contains it; a range agrees when our range over the models lies inside it, is close when inside it "
        f"widened by {AGREEMENT_TOLERANCE:.0%}, overlaps when the two ranges meet; a method that keeps every user "
        "local 'differs: never offloads' whatever its number. Ratios are geometric means over seeds with 95% "
        "t-intervals of the log ratios (always positive). Fitted: the calibration saw this number; the others "
        "are held out.",
        "",
    ]
    quote_headers = ["Fig.", "paper says", "paper", f"ours ({analysis.name})", "verdict", "fitted"]
    if compare is not None:
        quote_headers += [f"ours ({other_name})", f"verdict ({other_name})"]
    quote_rows = []
    for row in analysis.quotes:
        cells = [
            row["figure"],
            row["quote"],
            row["paper"],
            row["ours"],
            row["verdict"],
            "yes" if row["fitted"] else "held out",
        ]
        if compare is not None:
            found = other_quotes.get(row["key"], {})
            cells += [str(found.get("ours", "-")), str(found.get("verdict", "-"))]
        quote_rows.append(cells)
    lines += _table_md(quote_headers, quote_rows)
    lines += [
        "",
        "## The paper's trends",
        "",
        f"A trend agrees only when the differences it needs exceed {MARGIN:.0%} in the means and the 95% "
        "intervals separate (for a change of a ratio between two points: the 95% t-interval over seeds of the "
        "per-seed change of its log excludes 0); 'inconclusive': the means are in the stated order but the "
        "intervals overlap. No trend is fitted. 'paired': the same comparisons seed by seed (every method of a "
        "point and seed runs on the same scenario): A is above B when the 95% t-interval over seeds of "
        "log(A / B) excludes 0 and the geometric mean of A / B exceeds 1 + the margin; this removes the spread "
        "between seeds (topologies) that both share, which the separate intervals keep. The counts of the summary "
        "use the verdict; '-': not a comparison of two points (flatness).",
        "",
    ]
    trend_headers = ["Fig.", "trend the paper states", f"{analysis.name}", "paired", "evidence"]
    if compare is not None:
        trend_headers += [f"{other_name}"]
    trend_headers.append("model limit")
    trend_rows = []
    for row in analysis.trends:
        cells = [row["figure"], row["statement"], row["verdict"], row.get("paired_verdict") or "-", row["evidence"]]
        if compare is not None:
            cells.append(str(other_trends.get(row["key"], {}).get("verdict", "-")))
        cells.append(row.get("model_limit") or "-")
        trend_rows.append(cells)
    lines += _table_md(trend_headers, trend_rows)
    failures = run_info.get("failures", [])
    if failures:
        lines += ["", "## Failed tasks", ""] + [f"- {line}" for line in failures]
    lines += ["", "## Figures", ""]
    for figure in settings.figures:
        lines += figure_section(figure, tables.get(figure.key, pd.DataFrame()), settings)
    if settings.regime_maps:
        lines += ["## Regime maps (beyond the paper)", ""]
        lines += regime_section(analysis)
    lines += ["## What ECC minimises", "", OBJECTIVE_NOTE, ""]
    lines += objective_table(settings, results)
    lines += [""]
    solver_rows = []
    if len(results):
        for method, group in results.groupby("algorithm"):
            solver_rows.append(
                [
                    _label(str(method)),
                    str(len(group)),
                    f"{group['success'].mean():.0%}",
                    f"{group['feasible'].mean():.0%}",
                    f"{group['solver_wall_time_s'].mean():.3g}",
                    f"{group['num_offloading'].sum() / max(group['num_users'].sum(), 1):.0%}",
                ]
            )
    lines += ["## Solver statistics", ""]
    lines += _table_md(
        ["method", "tasks", "success", "feasible", "mean solve time [s]", "users offloading"], solver_rows
    )
    lines += [
        "",
        "Raw per-seed rows: `results.csv` / `results.parquet`; figure tables: `figure_tables.csv`.",
        "",
    ]
    return "\n".join(lines)
