"""``nomasplit reproduce``: the paper's Figs. 2-11 (and our extra figures) into one folder, resumable."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from nomasplit.cli.common import console, error_console, handle_errors
from nomasplit.errors import InputError
from nomasplit.experiments import ReproductionSettings, paper_settings, quick_settings, reproduce
from nomasplit.experiments.figures import load_settings
from nomasplit.experiments.sweep import Failure, dask_client

EXIT_TASKS_FAILED = 1


def _parse_figures(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


PRESETS = ("paper", "calibrated")


def preset_settings(
    preset: str, *, quick: bool, calibration: Path | None = None
) -> tuple[ReproductionSettings, ReproductionSettings]:
    """The settings of ``preset`` and of the other preset, at full or quick scale."""
    from nomasplit.experiments.calibration import calibrated_settings, load_parameters

    if preset not in PRESETS:
        raise InputError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if calibration is not None and preset != "calibrated":
        raise InputError("--calibration goes with --preset calibrated")
    parameters = load_parameters(calibration) if calibration is not None else None
    paper = quick_settings() if quick else paper_settings()
    calibrated = calibrated_settings(parameters, quick=quick)
    return (paper, calibrated) if preset == "paper" else (calibrated, paper)


def register(app: typer.Typer) -> None:
    """Add the ``reproduce`` command to the app."""

    @app.command("reproduce")
    @handle_errors
    def reproduce_command(
        figures: str | None = typer.Option(
            None,
            "--figures",
            help="comma-separated figure keys: 2..11, extra-device, extra-bandwidth (default: all)",
        ),
        quick: bool = typer.Option(False, "--quick", help="a smaller network, 3 seeds, fewer points (minutes)"),
        preset: str = typer.Option(
            "paper",
            "--preset",
            help="paper: Section VI-A with documented defaults; calibrated: the open parameters fitted by "
            "`nomasplit calibrate` (shipped, or --calibration FILE)",
        ),
        calibration: Path | None = typer.Option(
            None, "--calibration", help="a settings file of `nomasplit calibrate` for --preset calibrated"
        ),
        compare: bool = typer.Option(
            True,
            "--compare/--no-compare",
            help="also run the other preset (same scale and seeds) into OUT/<preset>-preset, and set both "
            "presets' verdicts side by side (default; not with --settings)",
        ),
        seeds: int | None = typer.Option(None, "--seeds", help="Monte-Carlo seeds (default: 5, or 3 with --quick)"),
        out: Path = typer.Option(Path("reproduction"), "--out", help="output folder (results, figures, report.md)"),
        scheduler: str | None = typer.Option(
            None,
            "--scheduler",
            help="Dask scheduler address (tcp://host:8786); default: a local process pool",
        ),
        workers: int | None = typer.Option(
            None,
            "--workers",
            help="worker processes of the local pool (0: run in this process; default: CPUs)",
        ),
        device: str = typer.Option("cpu", "--device", help="torch device of the solvers: cpu or cuda"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar with an ETA"),
        settings_file: Path | None = typer.Option(
            None, "--settings", help="a YAML/JSON file of ReproductionSettings (own sweeps); replaces --quick"
        ),
    ) -> None:
        """Reproduce Section VI (Figs. 2-11) and the extra figures: results, PNG/SVG figures, report.md and
        report.json, for one preset with the other beside it.

        An interrupted run started again with the same options computes only the missing tasks.
        """
        if seeds is not None and seeds < 1:
            raise InputError(f"--seeds must be at least 1, got {seeds}")
        if workers is not None and workers < 0:
            raise InputError(f"--workers must be 0 or more, got {workers}")
        if device not in ("cpu", "cuda"):
            raise InputError(f"--device must be cpu or cuda, got {device!r}")
        other: ReproductionSettings | None = None
        if settings_file is not None:
            settings = load_settings(settings_file)
        else:
            settings, other = preset_settings(preset, quick=quick, calibration=calibration)
        if not compare:
            other = None
        selected = _parse_figures(figures)

        def adjust(item: ReproductionSettings, keys: list[str] | None) -> ReproductionSettings:
            if seeds is not None:
                item = item.model_copy(update={"num_seeds": seeds})
            if device != "cpu":
                item = item.model_copy(update={"device": device})
            return item.select_figures(keys)

        settings = adjust(settings, selected)
        if other is not None:
            # the preset beside it: the selected figures and regime maps it has (all without --figures)
            known = {figure.key for figure in other.figures} | {regime.key for regime in other.regime_maps}
            keys = [key for key in selected if key in known] if selected else None
            other = adjust(other, keys) if keys is None or keys else None

        def report_failure(failure: Failure) -> None:
            error_console.print(
                f"[bold red]task failed:[/] {failure.task.describe()}: {failure.error}",
                highlight=False,
                soft_wrap=True,
            )

        client = dask_client(scheduler) if scheduler else None
        try:
            outcome = reproduce(
                settings,
                out,
                compare=other,
                workers=workers,
                client=client,
                progress=progress,
                command=shlex.join(["nomasplit", *sys.argv[1:]]),
                on_failure=report_failure,
            )
        finally:
            if client is not None:
                client.close()
        sweep = outcome.sweep
        console.print(
            f"{sweep.num_tasks} tasks: {sweep.num_cached} found on disk, {sweep.num_computed} computed, "
            f"{sweep.num_failed} failed, in {sweep.wall_time_s:.1f} s; report: {out / 'report.md'}"
            + (f" (the {other.preset} preset beside it: {out / (other.preset + '-preset')})" if other else ""),
            highlight=False,
            soft_wrap=True,
        )
        if sweep.num_failed:
            raise typer.Exit(EXIT_TASKS_FAILED)
