"""One figure per paper figure, PNG and SVG, with 95% intervals over seeds as error bars.

Categorical sweeps (the models of Figs. 2-5) are grouped bars; numeric sweeps are lines with markers.
SVGs are written without a date and with a fixed hash salt, so that the same numbers give the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nomasplit.experiments.figures import METHOD_LABELS, FigureSpec, RegimeMapSpec, SweepSpec, model_label

_MARKERS = {
    "device-only": "s",
    "edge-only": "^",
    "neurosurgeon": "v",
    "dnn-surgery": "D",
    "ecc-oma": "o",
    "ecc-noma": "*",
    "ligd-paper": "x",
}
_LINESTYLES: tuple[str | tuple[int, tuple[int, ...]], ...] = (
    "-",
    "--",
    "-.",
    ":",
    (0, (5, 1)),
    (0, (3, 1, 1, 1)),
)


def plot_figure(table: pd.DataFrame, figure: FigureSpec, sweep: SweepSpec, out_dir: str | Path) -> list[Path]:
    """Draw one figure from its :func:`~nomasplit.experiments.measures.figure_table`; return its files.

    Args:
        table: columns value, x, algorithm, mean, ci_low, ci_high, num_seeds.
        figure: the figure's definition (title, measure, baseline).
        sweep: the sweep it reads (values, axis label, log axis).
        out_dir: folder of ``<filename>.png`` and ``<filename>.svg``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "nomasplit"
    values = [str(value) for value in sweep.values]
    fig, axis = plt.subplots(figsize=(6.4, 4.2))
    categorical = any(isinstance(value, str) for value in sweep.values)
    methods = list(figure.methods)
    width = 0.8 / max(len(methods), 1)
    for index, method in enumerate(methods):
        rows = table[table["algorithm"] == method].set_index("value").reindex(values)
        mean = rows["mean"].to_numpy(dtype=np.float64)
        low = rows["ci_low"].to_numpy(dtype=np.float64)
        high = rows["ci_high"].to_numpy(dtype=np.float64)
        errors = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
        label = METHOD_LABELS.get(method, method)
        if categorical:
            positions = np.arange(len(values)) + (index - (len(methods) - 1) / 2) * width
            axis.bar(positions, mean, width=width, yerr=errors, capsize=3, label=label)
        else:
            x = np.array([float(value) for value in sweep.values])
            # equal curves (a method keeping every user local equals Device-Only) would hide each other:
            # earlier methods get bigger hollow markers and their own dash pattern
            axis.errorbar(
                x,
                mean,
                yerr=errors,
                marker=_MARKERS.get(method, "o"),
                markersize=11 - 1.2 * index,
                markerfacecolor="none",
                linestyle=_LINESTYLES[index % len(_LINESTYLES)],
                capsize=3,
                label=label,
            )
    if categorical:
        axis.set_xticks(np.arange(len(values)), [model_label(value) for value in values])
    if sweep.log_x:
        axis.set_xscale("log")
    axis.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axis.set_xlabel(sweep.label)
    axis.set_ylabel(figure.ylabel)
    axis.set_title(figure.title, fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(out_dir), figure.filename)


def _log_position(value: float, grid: list[float]) -> float:
    """Index position of ``value`` on a log-spaced ``grid``, linear in log between (and beyond) grid points."""
    logs = np.log(np.asarray(grid, dtype=np.float64))
    target = float(np.log(value))
    index = int(np.clip(np.searchsorted(logs, target) - 1, 0, len(logs) - 2))
    return index + (target - logs[index]) / (logs[index + 1] - logs[index])


def plot_regime_map(table: pd.DataFrame, regime: RegimeMapSpec, out_dir: str | Path) -> list[Path]:
    """Two heatmaps side by side: ECC-NOMA's latency speedup over Device-Only and NOMA's over OMA, on the
    regime's (x, y) grid, each cell annotated; the regime's marks drawn as labelled points.

    Args:
        table: :func:`~nomasplit.experiments.verdicts.regime_table` (columns x, y, speedup, noma_over_oma).
        regime: the map's definition. out_dir: folder of ``<key>.png`` and ``<key>.svg``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    matplotlib.rcParams["svg.hashsalt"] = "nomasplit"
    xs, ys = list(regime.x_values), list(regime.y_values)
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6))
    panels = (
        ("speedup", "ECC-NOMA latency speedup over Device-Only"),
        ("noma_over_oma", "NOMA over OMA (ECC-OMA latency / ECC-NOMA latency)"),
    )
    for axis, (column, title) in zip(axes, panels, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)  # [y, x]
        for row in table.itertuples(index=False):
            if row.x in xs and row.y in ys:
                grid[ys.index(row.y), xs.index(row.x)] = getattr(row, column)
        logs = np.log2(grid)
        finite = logs[np.isfinite(logs)]
        span = max(float(np.max(np.abs(finite))) if finite.size else 1.0, 0.1)
        image = axis.imshow(
            logs, origin="lower", cmap="RdBu", norm=TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span), aspect="auto"
        )
        for j in range(len(ys)):
            for i in range(len(xs)):
                if np.isfinite(grid[j, i]):
                    axis.text(i, j, f"{grid[j, i]:.2g}", ha="center", va="center", fontsize=8)
        axis.set_xticks(range(len(xs)), [f"{x:g}" for x in xs], rotation=30, fontsize=8)
        axis.set_yticks(range(len(ys)), [f"{y:g}" for y in ys], fontsize=8)
        axis.set_xlabel(regime.x_label)
        axis.set_ylabel(regime.y_label)
        axis.set_title(title, fontsize=9)
        colorbar = fig.colorbar(image, ax=axis)
        colorbar.set_label("log2 of the ratio (blue: > 1)", fontsize=8)
        for index, mark in enumerate(regime.marks):
            # marks sit between (or beyond) grid points: their position on the log axes, extrapolated
            position_x = _log_position(mark.x, xs)
            position_y = _log_position(mark.y, ys)
            axis.plot(position_x, position_y, marker="XP"[index % 2], color="black", markersize=11, linestyle="none")
            axis.annotate(mark.label, (position_x, position_y), textcoords="offset points", xytext=(6, 6), fontsize=7)
    fig.suptitle(regime.title, fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(out_dir), regime.filename)


def _save(fig: Any, out: Path, filename: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG (each atomically: temporary file, then rename; SVG without a date) and close it."""
    import matplotlib.pyplot as plt

    written = []
    for suffix in ("png", "svg"):
        path = out / f"{filename}.{suffix}"
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=suffix, dpi=120, metadata={"Date": None} if suffix == "svg" else None)
        tmp.replace(path)
        written.append(path)
    plt.close(fig)
    return written
