"""``reproduce``: run the sweeps, then write the raw results, the figures and ``report.md`` into one folder.

Layout of the output folder::

    results/<settings-hash>/<task-hash>.json     one per finished task (the resumable store)
    results/<settings-hash>/failed/<task>.json   one per failed task (retried by the next run)
    results.csv, results.parquet                 the per-seed rows of this run's tasks
    figure_tables.csv                            every figure's mean and 95% interval per point and method
    fig02.png/.svg ... fig11.png/.svg, fig-extra-*.png/.svg, regime-*.png/.svg
    report.md, report.json
    <other-preset>/                              the same for the preset run beside it (``compare``)
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nomasplit.errors import InputError
from nomasplit.experiments.figures import ReproductionSettings
from nomasplit.experiments.plots import plot_figure, plot_regime_map
from nomasplit.experiments.report import render_report, report_data
from nomasplit.experiments.sweep import Failure, SweepOutcome, build_tasks, load_results, run_sweep
from nomasplit.experiments.verdicts import Analysis, analyse
from nomasplit.io import write_atomic, write_json


@dataclass
class ReproductionOutcome:
    """What a reproduction did and where its files are."""

    sweep: SweepOutcome
    results: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    files: list[Path]
    analysis: Analysis | None = None
    compare: Analysis | None = None


def check_algorithm_settings(algorithm_settings: Mapping[str, Any], source: str) -> None:
    """Validate settings per algorithm before any work, with the settings models that run them.

    Each name must be a registered algorithm and its settings must validate as that algorithm's
    ``settings_type`` (in strict mode: ``"5"`` is not the number 5, as everywhere in settings files); a mapping
    inside them named after another registered algorithm (``ecc-noma``'s ``ligd``) is validated as that
    algorithm's settings too.

    Raises:
        InputError: naming ``source``, the algorithm and the bad field.
    """
    from nomasplit.data.files import validate_strict
    from nomasplit.solvers import ALGORITHMS, get_algorithm

    if not isinstance(algorithm_settings, Mapping):
        raise InputError(f"{source}: expected a mapping of algorithm name to settings")
    for name, settings in algorithm_settings.items():
        try:
            algorithm = get_algorithm(name)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
        where = f"{source} {name}"
        validate_strict(algorithm.settings_type, settings, where)
        for key, inner in settings.items():
            if key in ALGORITHMS and isinstance(inner, Mapping):
                validate_strict(ALGORITHMS[key].settings_type, dict(inner), f"{where}.{key}")


def compare_dir(out_dir: str | Path, settings: ReproductionSettings) -> Path:
    """Where the outputs of the preset run beside the main one go: ``<out>/<preset>-preset``."""
    return Path(out_dir) / f"{settings.preset}-preset"


def reproduce(
    settings: ReproductionSettings,
    out_dir: str | Path,
    *,
    compare: ReproductionSettings | None = None,
    workers: int | None = None,
    client: Any = None,
    progress: bool = True,
    command: str = "",
    on_failure: Callable[[Failure], None] | None = None,
) -> ReproductionOutcome:
    """Run (or resume) the sweeps of ``settings`` and write results, figures and the report into ``out_dir``.

    Args:
        settings: figures, sweeps, seeds (e.g. :func:`~nomasplit.experiments.presets.paper_settings`).
        out_dir: the output folder (created with its parents if missing).
        compare: another preset, run in the same sweep (same store) and written into
            :func:`compare_dir`; both reports set the two presets' verdicts side by side.
        workers: process-pool size (0: in this process; None: all CPUs); ignored with ``client``.
        client: a ``dask.distributed.Client`` to run the tasks on.
        progress: show a progress bar with an ETA.
        command: the command line, recorded in the report.
        on_failure: called for each failed task.

    Returns:
        The sweep's counts and failures, the result rows, the figure tables, the files written. Failed tasks
        leave gaps in the figures; the caller decides the exit code.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    check_algorithm_settings(settings.algorithm_settings, "algorithm_settings")
    if compare is not None:
        check_algorithm_settings(compare.algorithm_settings, f"algorithm_settings of the {compare.preset} preset")
    tasks = build_tasks(settings)  # validates every point's configuration before anything is written
    other_tasks = build_tasks(compare) if compare is not None else []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out: cannot create the folder {out} ({exc.strerror})") from None
    outcome = run_sweep(
        tasks + other_tasks, out, workers=workers, client=client, progress=progress, on_failure=on_failure
    )
    executor = (
        "a Dask cluster"
        if client is not None
        else ("this process" if workers == 0 else f"a pool of {workers or 'all CPU'} worker process(es)")
    )
    run_info = {
        "command": command,
        "num_tasks": outcome.num_tasks,
        "num_cached": outcome.num_cached,
        "num_computed": outcome.num_computed,
        "num_failed": outcome.num_failed,
        "wall_time_s": outcome.wall_time_s,
        "executor": executor,
        "failures": [f"{failure.task.describe()}: {failure.error}" for failure in outcome.failures],
    }
    main = analyse(settings, load_results(tasks, out))
    other = analyse(compare, load_results(other_tasks, out)) if compare is not None else None
    files = _write_outputs(main, other, out, run_info)
    if other is not None and compare is not None:
        folder = compare_dir(out, compare)
        folder.mkdir(exist_ok=True)
        files += _write_outputs(other, main, folder, run_info)
    return ReproductionOutcome(
        sweep=outcome, results=main.results, tables=main.tables, files=files, analysis=main, compare=other
    )


def _write_outputs(analysis: Analysis, other: Analysis | None, out: Path, run_info: dict[str, Any]) -> list[Path]:
    """Results, figure tables, figures, regime maps, report.md and report.json of one preset into ``out``."""
    settings, results, tables = analysis.settings, analysis.results, analysis.tables
    files = []
    if len(results):
        csv = io.StringIO()
        results.to_csv(csv, index=False)
        files.append(write_atomic(out / "results.csv", csv.getvalue()))
        parquet = io.BytesIO()
        results.to_parquet(parquet, index=False)
        files.append(write_atomic(out / "results.parquet", parquet.getvalue()))
    frames = [table.assign(figure=key) for key, table in tables.items() if len(table)]
    if frames:
        csv = io.StringIO()
        pd.concat(frames, ignore_index=True).to_csv(csv, index=False)
        files.append(write_atomic(out / "figure_tables.csv", csv.getvalue()))
    for figure in settings.figures:
        files += plot_figure(tables[figure.key], figure, settings.sweep(figure.sweep), out)
    for regime in settings.regime_maps:
        files += plot_regime_map(analysis.regimes[regime.key], regime, out)
    files.append(write_atomic(out / "report.md", render_report(analysis, run_info, other)))
    files.append(write_json(out / "report.json", report_data(analysis, run_info, other)))
    return files
