"""Verdicts: each figure's table, the paper's quoted numbers and trends (:mod:`nomasplit.experiments.claims`)
checked against it, and the regime maps, for one preset's run (:func:`analyse`).

Every number is computed from the result rows; nothing is typed in except the paper's quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nomasplit.experiments.checks import (
    Outcome,
    Tables,
    format_interval,
    format_number,
    interior_peak,
    matches_point,
    method_label,
    method_series,
    never_offloads,
    table_row,
)
from nomasplit.experiments.claims import AGREEMENT_TOLERANCE, QUOTED_NUMBERS, TRENDS, QuotedNumber, trend_key
from nomasplit.experiments.figures import FigureSpec, RegimeMapSpec, ReproductionSettings, model_label
from nomasplit.experiments.measures import figure_table, per_seed_ratios


def compute_tables(settings: ReproductionSettings, results: pd.DataFrame) -> Tables:
    """Each figure's table (mean ratio and 95% interval per point and method), keyed by figure key."""
    tables = {}
    for figure in settings.figures:
        order = [str(value) for value in settings.sweep(figure.sweep).values]
        tables[figure.key] = figure_table(results, figure, order)
    return tables


#: Verdicts of a quoted number; only "agrees" counts as reproduced.
QUOTE_VERDICTS = ("agrees", "close", "overlaps", "differs", "differs: never offloads", "not run")


def compare_quoted(tables: Tables, fitted: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per quoted number: key, figure, method, quote, the paper's value, ours, verdict, fitted."""
    rows = []
    for quoted in QUOTED_NUMBERS:
        table = tables.get(quoted.figure)
        paper = format_number(quoted.low)
        if quoted.low != quoted.high:
            paper = f"{format_number(quoted.low)}-{format_number(quoted.high)}"
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
        if table is not None and len(method_series(table, quoted.method)) > 0:
            row.update(_compare_one(quoted, table))
        rows.append(row)
    return rows


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _compare_one(quoted: QuotedNumber, table: pd.DataFrame) -> dict[str, Any]:
    series = method_series(table, quoted.method)
    tolerance = AGREEMENT_TOLERANCE
    label = method_label(quoted.method)
    if quoted.kind == "argmax":
        outcome = interior_peak(quoted.method)(table)
        status, evidence = outcome.verdict, outcome.evidence
        best_value, best = max(series, key=lambda item: item[1])
        inside = quoted.low <= float(best_value) <= quoted.high
        if never_offloads(table, quoted.method):
            return {"ours": f"{label} keeps every user local: {evidence}", "verdict": "differs: never offloads"}
        if status != "agrees":
            return {"ours": f"no clear interior peak ({status}): {evidence}", "verdict": "differs"}
        ours = f"peak at {best_value} ({label} {format_number(best)})"
        return {"ours": ours, "verdict": "agrees" if inside else "differs"}
    if quoted.point is None:
        means = [(value, mean) for value, mean in series if math.isfinite(mean)]
        low, high = min(mean for _, mean in means), max(mean for _, mean in means)
        ours = f"{format_number(low)}-{format_number(high)} (over {', '.join(model_label(v) for v, _ in means)})"
        numbers: dict[str, Any] = {"ours": ours, "ours_low": low, "ours_high": high}
        if never_offloads(table, quoted.method):
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
    found = table_row(table, values[0], quoted.method)
    assert found is not None
    mean, low, high = found
    numbers = {
        "ours": format_interval(mean, low, high) if low != high else format_number(mean),
        "ours_mean": mean,
        "ours_low": _finite_or_none(low),
        "ours_high": _finite_or_none(high),
    }
    if never_offloads(table, quoted.method, values[:1]):
        return {
            **numbers,
            "ours": numbers["ours"] + f"; {label} keeps every user local",
            "verdict": "differs: never offloads",
        }
    close = abs(mean / quoted.low - 1) <= tolerance or low <= quoted.low <= high
    return {**numbers, "verdict": "agrees" if close else "differs"}


#: Verdicts of a trend: "agrees" when the differences it needs exceed MARGIN and the 95% intervals separate;
#: "inconclusive" when the means are in the stated order but the intervals overlap; else "disagrees".
TREND_VERDICTS = ("agrees", "inconclusive", "disagrees", "not run")


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


def verdict_counts(analysis: Analysis) -> dict[str, Any]:
    """How many trends and quoted numbers were checked and agree, fitted and held out (the report's summary)."""
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


def offloading_share(analysis: Analysis, sweep: str, method: str) -> float:
    """The share of users that ``method`` offloads over one sweep's results (NaN without results)."""
    results = analysis.results
    if len(results) == 0:
        return math.nan
    rows = results[(results["sweep"] == sweep) & (results["algorithm"] == method)]
    users = float(rows["num_users"].sum()) if len(rows) else 0.0
    return float(rows["num_offloading"].sum()) / users if users > 0 else math.nan
