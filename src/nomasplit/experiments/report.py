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
    ReproductionSettings,
    model_label,
)
from nomasplit.experiments.measures import figure_table
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


# --- quoted numbers ----------------------------------------------------------------------------------------


def compare_quoted(tables: Tables) -> list[dict[str, str]]:
    """One row per quoted number: figure, quote, the paper's value, ours, verdict."""
    rows = []
    for quoted in QUOTED_NUMBERS:
        table = tables.get(quoted.figure)
        paper = _fmt(quoted.low) if quoted.low == quoted.high else f"{_fmt(quoted.low)}-{_fmt(quoted.high)}"
        if table is None or len(_series(table, quoted.method)) == 0:
            rows.append(
                {
                    "figure": quoted.figure,
                    "quote": quoted.quote,
                    "paper": paper,
                    "ours": "not run",
                    "verdict": "not run",
                }
            )
            continue
        ours, verdict = _compare_one(quoted, table)
        rows.append({"figure": quoted.figure, "quote": quoted.quote, "paper": paper, "ours": ours, "verdict": verdict})
    return rows


def _compare_one(quoted: QuotedNumber, table: pd.DataFrame) -> tuple[str, str]:
    series = _series(table, quoted.method)
    tolerance = AGREEMENT_TOLERANCE
    if quoted.kind == "argmax":
        best_value, best = max(series, key=lambda item: item[1])
        if best <= min(mean for _, mean in series) * (1 + MARGIN):
            return f"no peak: flat within {MARGIN:.0%} ({_label(quoted.method)} {_fmt(best)})", "differs"
        inside = quoted.low <= float(best_value) <= quoted.high
        return (
            f"peak at {best_value} ({_label(quoted.method)} {_fmt(best)})",
            "agrees" if inside else "differs",
        )
    if quoted.point is None:
        means = [mean for _, mean in series if math.isfinite(mean)]
        low, high = min(means), max(means)
        ours = f"{_fmt(low)}-{_fmt(high)} (over {', '.join(model_label(v) for v, _ in series)})"
        if quoted.low <= low and high <= quoted.high:
            return ours, "agrees"
        if low >= quoted.low * (1 - tolerance) and high <= quoted.high * (1 + tolerance):
            return ours, f"close (within {tolerance:.0%})"
        overlaps = low <= quoted.high and high >= quoted.low
        return ours, "overlaps" if overlaps else "differs"
    hit = table[(table["value"] == quoted.point) & (table["algorithm"] == quoted.method)]
    if len(hit) == 0:
        return f"point {quoted.point} not run", "not run"
    row = hit.iloc[0]
    mean, low, high = float(row["mean"]), float(row["ci_low"]), float(row["ci_high"])
    close = abs(mean / quoted.low - 1) <= tolerance or (math.isfinite(low) and low <= quoted.low <= high)
    return _fmt_ci(mean, low, high), "agrees" if close else "differs"


# --- trends ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """One sentence of the paper about a figure, and the check of it on our table."""

    figure: str
    statement: str
    check: Callable[[pd.DataFrame], tuple[bool, str]]


def _all_above(methods: tuple[str, ...], threshold: float, above: bool = True) -> Callable[[pd.DataFrame], Any]:
    def check(table: pd.DataFrame) -> tuple[bool, str]:
        values = [(m, v, x) for m in methods for v, x in _series(table, m)]
        ok = all(x > threshold * (1 + MARGIN) if above else x < threshold * (1 - MARGIN) for _, _, x in values)
        worst = min(values, key=lambda i: i[2]) if above else max(values, key=lambda i: i[2])
        return ok, f"{'min' if above else 'max'}: {_label(worst[0])} at {worst[1]} = {_fmt(worst[2])}"

    return check


def _beats(better: str, others: tuple[str, ...]) -> Callable[[pd.DataFrame], Any]:
    def check(table: pd.DataFrame) -> tuple[bool, str]:
        mine = dict(_series(table, better))
        lost = []
        for other in others:
            for value, mean in _series(table, other):
                if value in mine and not mine[value] > mean * (1 + MARGIN):
                    lost.append(f"{_label(other)} at {value}: {_fmt(mean)} vs {_fmt(mine[value])}")
        if lost:
            return False, f"{_label(better)} not ahead of " + "; ".join(lost[:3]) + ("; ..." if len(lost) > 3 else "")
        return True, f"{_label(better)} ahead at every point"

    return check


def _decreasing(methods: tuple[str, ...]) -> Callable[[pd.DataFrame], Any]:
    def check(table: pd.DataFrame) -> tuple[bool, str]:
        parts, ok = [], True
        for method in methods:
            series = _series(table, method)
            if len(series) < 2:
                continue
            first, last = series[0], series[-1]
            ok &= last[1] < first[1] * (1 - MARGIN)
            parts.append(f"{_label(method)} {_fmt(first[1])} -> {_fmt(last[1])}")
        return ok, "; ".join(parts)

    return check


def _gaps(table: pd.DataFrame, method: str, other: str | None) -> tuple[list[str], list[float]] | None:
    """First and last point and the ratio of ``method`` to ``other`` (None: best other offloader) there."""
    values = list(dict.fromkeys(table["value"]))
    gaps = []
    for value in (values[0], values[-1]):
        rows = table[table["value"] == value]
        mine = rows[rows["algorithm"] == method]["mean"]
        if other:
            rest = rows[rows["algorithm"] == other]["mean"]
        else:
            rest = rows[(rows["algorithm"] != method) & (rows["algorithm"] != "device-only")]["mean"]
        if len(mine) == 0 or len(rest) == 0:
            return None
        gaps.append(float(mine.iloc[0]) / float(rest.max()))
    return [values[0], values[-1]], gaps


def _gap_changes(method: str, other: str | None, grows: bool) -> Callable[[pd.DataFrame], Any]:
    """The ratio of ``method`` to ``other`` grows (or shrinks) from the first to the last point."""

    def check(table: pd.DataFrame) -> tuple[bool, str]:
        found = _gaps(table, method, other)
        if found is None:
            return False, "missing points"
        (first, last), (gap_first, gap_last) = found
        name = _label(other) if other else "the best other offloading method"
        text = f"{_label(method)} / {name}: {_fmt(gap_first)} at {first} -> {_fmt(gap_last)} at {last}"
        if grows:
            return gap_last > gap_first * (1 + MARGIN), text
        return gap_last < gap_first * (1 - MARGIN), text

    return check


def _interior_peak(method: str) -> Callable[[pd.DataFrame], Any]:
    def check(table: pd.DataFrame) -> tuple[bool, str]:
        series = _series(table, method)
        means = [mean for _, mean in series]
        index = int(np.argmax(means))
        rises = means[index] > max(means[0], means[-1]) * (1 + MARGIN)
        text = f"peak {_fmt(means[index])} at {series[index][0]}; {_fmt(means[0])} at {series[0][0]}, "
        return 0 < index < len(series) - 1 and rises, text + f"{_fmt(means[-1])} at {series[-1][0]}"

    return check


def _flat(methods: tuple[str, ...], spread: float) -> Callable[[pd.DataFrame], Any]:
    def check(table: pd.DataFrame) -> tuple[bool, str]:
        parts, ok = [], True
        for method in methods:
            means = [mean for _, mean in _series(table, method)]
            if not means:
                continue
            relative = max(means) / min(means) - 1 if min(means) > 0 else math.inf
            ok &= relative <= spread
            parts.append(f"{_label(method)} varies {relative:.0%}")
        return ok, "; ".join(parts) + f" (flat: at most {spread:.0%})"

    return check


_OFFLOADERS = ("edge-only", "neurosurgeon", "dnn-surgery", "ecc-noma")
_BASELINES = ("edge-only", "neurosurgeon", "dnn-surgery")

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
    Trend("7", "Edge-Only, Neurosurgeon and DNN Surgery are not affected by M", _flat(_BASELINES, 0.10)),
    Trend("8", "latency grows with the workload for every method (speedup falls)", _decreasing(_OFFLOADERS)),
    Trend("8", "ECC-NOMA has the best speedup at every workload", _beats("ecc-noma", _BASELINES)),
    Trend("8", "ECC-NOMA's advantage grows with the workload", _gap_changes("ecc-noma", None, grows=True)),
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
    Trend("11", "ECC-NOMA's advantage grows with the workload", _gap_changes("ecc-noma", None, grows=True)),
)


def check_trends(tables: Tables) -> list[dict[str, str]]:
    """One row per trend: figure, statement, verdict (agrees / disagrees / not run), our evidence."""
    rows = []
    for trend in TRENDS:
        table = tables.get(trend.figure)
        if table is None or len(table) == 0:
            rows.append({"figure": trend.figure, "statement": trend.statement, "verdict": "not run", "evidence": ""})
            continue
        try:
            ok, evidence = trend.check(table)
        except (ValueError, KeyError, IndexError) as exc:  # a method missing from a reduced run
            ok, evidence = False, f"cannot check: {exc}"
        rows.append(
            {
                "figure": trend.figure,
                "statement": trend.statement,
                "verdict": "agrees" if ok else "disagrees",
                "evidence": evidence,
            }
        )
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
    edge_max = config.edge_unit_flops_per_s * config.compute_units_max
    base = paper_config()
    joules_per_flop = config.device_switched_capacitance * device**2 * config.device_cycles_per_flop
    lines.append(
        f"- Device class: c_i = {device:.3g} FLOP/s ({device / 1e9:.3g} GFLOP/s effective DNN throughput, "
        f"a mid-range smartphone CPU; {joules_per_flop * 1e9:.3g} nJ/FLOP). One edge unit c_min = "
        f"{config.edge_unit_flops_per_s:.3g} FLOP/s, up to r_max = "
        f"{config.compute_units_max:g} units ({edge_max:.3g} FLOP/s) per user."
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
        "which bandwidth per subchannel offloading starts to pay. The paper gives neither the device's nor "
        "the edge server's speed, so we keep documented defaults (docs/scenarios.md) and do not tune them "
        "to match its numbers."
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
    """A figure's image and its table of means and 95% intervals."""
    sweep = settings.sweep(figure.sweep)
    lines = [
        f"### {figure.title}",
        "",
        f"![{figure.title}]({figure.filename}.png)",
        "",
        f"{figure.ylabel}; mean over seeds [95% t-interval]. Swept: {sweep.label}.",
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


def render_report(
    settings: ReproductionSettings,
    results: pd.DataFrame,
    tables: Tables,
    run_info: dict[str, Any],
) -> str:
    """The whole ``report.md`` as text."""
    lines = ["# Reproduction of Section VI (Figs. 2-11)", ""]
    lines += [
        f"- Command: `{run_info.get('command', '')}`",
        f"- Preset: {settings.preset}; seeds: {settings.seeds[0]}..{settings.seeds[-1]} "
        f"({settings.num_seeds}); settings hash: `{settings.settings_hash()}`",
        f"- Tasks: {run_info.get('num_tasks', 0)} ({run_info.get('num_cached', 0)} found on disk, "
        f"{run_info.get('num_computed', 0)} computed, {run_info.get('num_failed', 0)} failed); "
        f"wall time of this run: {run_info.get('wall_time_s', 0.0):.0f} s on {run_info.get('executor', '')}",
        f"- Sum of task times: {float(results['task_wall_time_s'].sum()) if len(results) else 0.0:.0f} s",
        "",
    ]
    if settings.preset == "quick":
        lines += ["**This is the `--quick` run, not the paper's setup.** " + QUICK_CHANGES, ""]
    lines += [
        "## Setup and readings",
        "",
        "Section VI-A: 5 APs, 1250 users (250 per AP), 10 MHz, 250 subchannels, K = 3, i.i.d. Rayleigh "
        "fading, path loss exponent 5, 25 dBm device power, -174 dBm/Hz noise, NiN / tiny YOLOv2 / VGG16 "
        "(CIFAR-10 input). Everything the paper leaves open keeps the generator's documented defaults.",
        "",
    ]
    lines += [f"- **{topic}.** {text}" for topic, text in READINGS]
    lines += ["", "## Why our numbers differ: device class and bandwidth per user", ""]
    lines += reasoning_lines(settings, results)
    lines += [
        "",
        "## The paper's quoted numbers and ours",
        "",
        f"Verdict: a single value agrees when ours is within {AGREEMENT_TOLERANCE:.0%} or our 95% interval "
        f"contains it; a range agrees when our range over the models lies inside it, is close when inside it "
        f"widened by {AGREEMENT_TOLERANCE:.0%}, overlaps when the two ranges meet. A trend agrees only when "
        f"the differences it needs exceed {MARGIN:.0%} (ties count as no difference).",
        "",
    ]
    lines += _table_md(
        ["Fig.", "paper says", "paper", "ours", "verdict"],
        [[r["figure"], r["quote"], r["paper"], r["ours"], r["verdict"]] for r in compare_quoted(tables)],
    )
    lines += ["", "## The paper's trends", ""]
    lines += _table_md(
        ["Fig.", "trend the paper states", "ours", "evidence"],
        [[r["figure"], r["statement"], r["verdict"], r["evidence"]] for r in check_trends(tables)],
    )
    failures = run_info.get("failures", [])
    if failures:
        lines += ["", "## Failed tasks", ""] + [f"- {line}" for line in failures]
    lines += ["", "## Figures", ""]
    for figure in settings.figures:
        lines += figure_section(figure, tables.get(figure.key, pd.DataFrame()), settings)
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
