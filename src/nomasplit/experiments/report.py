"""``report.md`` and ``report.json``: the setup, the readings, the paper's quoted numbers beside ours, a verdict
for every trend the paper states, each figure's table, and the device-class and bandwidth reasoning behind the
differences.

This module renders; the verdicts are :mod:`nomasplit.experiments.verdicts`' (:func:`analyse`), the paper's
claims :mod:`nomasplit.experiments.claims`', the reasoning :mod:`nomasplit.experiments.reasoning`'.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from nomasplit.experiments.checks import MARGIN, format_interval, format_number, method_label, method_series
from nomasplit.experiments.claims import AGREEMENT_TOLERANCE
from nomasplit.experiments.figures import METHOD_LABELS, FigureSpec, ReproductionSettings, model_label
from nomasplit.experiments.presets.paper import QUICK_CHANGES, READINGS
from nomasplit.experiments.reasoning import reasoning_lines
from nomasplit.experiments.verdicts import Analysis, offloading_share, verdict_counts

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
            cells.append(format_number(float(ratio.mean())) if len(ratio) else "-")
        rows.append(cells)
    return markdown_rows(["sweep", *[method_label(m) for m in methods]], rows)


def markdown_rows(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table: the header, the rule, one line per row (``|`` in a cell escaped)."""
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
    headers = [sweep.label] + [method_label(m) for m in figure.methods]
    rows = []
    for value in sweep.values:
        cells = [model_label(value) if isinstance(value, str) else f"{value:g}"]
        for method in figure.methods:
            hit = table[(table["value"] == str(value)) & (table["algorithm"] == method)]
            interval = (float(hit.iloc[0][column]) for column in ("mean", "ci_low", "ci_high"))
            cells.append("-" if len(hit) == 0 else format_interval(*interval))
        rows.append(cells)
    return [*lines, *markdown_rows(headers, rows), ""]


def summary_lines(analysis: Analysis, compare: Analysis | None) -> list[str]:
    """The five lines that open the report: what holds, what does not, and why."""
    mine = verdict_counts(analysis)
    other = verdict_counts(compare) if compare is not None else None
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
    share = offloading_share(analysis, "models", "ecc-noma")
    why = f"5. **Why:** ECC-NOMA offloads {format_number(100 * share)} % of the users in Figs. 2-5"
    if compare is not None:
        other_share = offloading_share(compare, "models", "ecc-noma")
        why += f" ({format_number(100 * other_share)} % in the {compare.name} preset)"
    noma = analysis.tables.get("extra-overload-noma")
    if noma is not None and len(noma):
        series = method_series(noma, "ecc-noma")
        why += (
            "; NOMA pays only when an AP has more users than subchannels: ECC-NOMA / ECC-OMA speedup "
            + ", ".join(f"{format_number(mean)} at {value}" for value, mean in series)
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
        "summary": verdict_counts(analysis),
        "compare": None if compare is None else {"preset": compare.settings.preset, "summary": verdict_counts(compare)},
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
                format_number(speedup),
                format_number(noma),
                format_number(100 * share) + " %",
            ]
            for x, y, speedup, noma, share in table[["x", "y", "speedup", "noma_over_oma", "offloading"]].itertuples(
                index=False
            )
        ]
        lines += markdown_rows(
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
    lines += markdown_rows(quote_headers, quote_rows)
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
    lines += markdown_rows(trend_headers, trend_rows)
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
                    method_label(str(method)),
                    str(len(group)),
                    f"{group['success'].mean():.0%}",
                    f"{group['feasible'].mean():.0%}",
                    f"{group['solver_wall_time_s'].mean():.3g}",
                    f"{group['num_offloading'].sum() / max(group['num_users'].sum(), 1):.0%}",
                ]
            )
    lines += ["## Solver statistics", ""]
    lines += markdown_rows(
        ["method", "tasks", "success", "feasible", "mean solve time [s]", "users offloading"], solver_rows
    )
    lines += [
        "",
        "Raw per-seed rows: `results.csv` / `results.parquet`; figure tables: `figure_tables.csv`.",
        "",
    ]
    return "\n".join(lines)
