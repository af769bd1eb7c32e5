"""``nomasplit reproduce``: the paper's Figs. 2-11 (and our extra figures) into one folder, resumable."""

from __future__ import annotations

import errno
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from nomasplit.cli.common import (
    console,
    deprecated_option,
    error_console,
    handle_errors,
    one_line,
    renamed_option,
    stop_on_sigterm,
)
from nomasplit.errors import InputError
from nomasplit.io import check_output_folder, shown

if TYPE_CHECKING:
    from nomasplit.experiments import ReproductionSettings

EXIT_TASKS_FAILED = 1

#: errno values of a failed write into the output folder (reported as exit 2, one line).
_WRITE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT})
#: Largest --seeds (the paper uses 5; more than this is a typo or needs its own settings file).
MAX_SEEDS = 1000
#: Seconds a scheduler has to accept a TCP connection before reproduce refuses to start.
SCHEDULER_CONNECT_TIMEOUT_S = 3.0
#: CPU seconds per task measured on the committed runs (docs/reproduction.md): quick and Section VI-A scale.
SECONDS_PER_TASK = {"quick": 0.27, "full": 0.57}


def max_workers() -> int:
    """Largest --workers: twice the CPUs (more processes than that only compete for the same cores)."""
    return 2 * (os.cpu_count() or 1)


def _parse_figures(text: str | None) -> list[str] | None:
    if text is None:
        return None
    keys = [item.strip() for item in text.split(",") if item.strip()]
    if not keys:
        raise InputError(f"--figures {text!r} names no figure; omit --figures for all of them, or list keys (2,5,11)")
    return keys


def check_scheduler(address: str, timeout_s: float = SCHEDULER_CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`InputError` unless a TCP connection to the scheduler's host and port opens in time."""
    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
    except ValueError as exc:  # e.g. an unbalanced '[' ("Invalid IPv6 URL")
        raise InputError(f"--scheduler {address!r}: not an address ({exc}); expected tcp://HOST:PORT") from None
    if parts.scheme not in ("tcp", "tls"):
        return  # other transports (inproc, ucx) are left to Dask
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise InputError(f"--scheduler {address!r}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786)")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(
            f"--scheduler {address}: no scheduler answers within {timeout_s:g} s ({exc.strerror or exc}); "
            "start one (dask scheduler) or omit --scheduler for a local process pool"
        ) from None


def _estimate(num_tasks: int, scale: str, workers: int | None, scheduler: str | None) -> str:
    cpu_s = num_tasks * SECONDS_PER_TASK[scale]
    parallel = 1 if workers == 0 else (workers or os.cpu_count() or 1)
    where = "on the Dask cluster" if scheduler else f"with {parallel} worker process(es)"

    def human(seconds: float) -> str:
        return (
            f"{seconds:.0f} s"
            if seconds < 120
            else f"{seconds / 60:.0f} min"
            if seconds < 7200
            else f"{seconds / 3600:.1f} h"
        )

    wall = "" if scheduler else f", about {human(cpu_s / parallel)} {where}"
    return f"{num_tasks} tasks; estimate: about {human(cpu_s)} of CPU time{wall} (rough, from docs/reproduction.md)"


PRESETS = ("paper", "calibrated")

#: Names reproduce writes into its --out folder (glob patterns): a folder with any other entry is refused unless
#: --force (docs/reproduction.md, "Output folder").
REPRODUCE_OUTPUTS: tuple[str, ...] = (
    "results",
    "results.csv",
    "results.parquet",
    "figure_tables.csv",
    "fig*.png",
    "fig*.svg",
    "regime-*.png",
    "regime-*.svg",
    "report.md",
    "report.json",
    "*-preset",
    ".*.tmp",
)


def preset_settings(
    preset: str, *, quick: bool, calibration: Path | None = None
) -> tuple[ReproductionSettings, ReproductionSettings]:
    """The settings of ``preset`` and of the other preset, at full or quick scale."""
    from nomasplit.experiments import paper_settings, quick_settings
    from nomasplit.experiments.presets.calibrated import calibrated_settings, load_parameters

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
    @stop_on_sigterm()
    def reproduce_command(
        figures: str | None = typer.Option(
            None,
            "--figures",
            help="comma-separated figure keys: 2..11, extra-device, extra-bandwidth (default: all)",
        ),
        quick: bool = typer.Option(False, "--quick", help="a smaller network, fewer points (minutes on 2 cores)"),
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
        seeds: int | None = typer.Option(None, "--seeds", help=f"Monte-Carlo seeds, 1..{MAX_SEEDS} (default: 5)"),
        out: Path = typer.Option(Path("reproduction"), "--out", help="output folder (results, figures, report.md)"),
        scheduler: str | None = typer.Option(
            None,
            "--scheduler",
            help="Dask scheduler address (tcp://host:8786); default: a local process pool",
        ),
        workers: int | None = typer.Option(
            None,
            "--workers",
            help="worker processes of the local pool, 0..2 x CPUs (0: run in this process; default: CPUs)",
        ),
        torch_device: str | None = typer.Option(
            None, "--torch-device", show_default="cpu", help="torch backend of the solvers: cpu or cuda"
        ),
        device: str | None = deprecated_option("--device", "--torch-device"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar with an ETA"),
        settings_file: Path | None = typer.Option(
            None, "--settings", help="a YAML/JSON file of ReproductionSettings (own sweeps); replaces --quick"
        ),
        force: bool = typer.Option(
            False,
            "--force",
            help="write into an --out folder that holds files reproduce did not write (its files of reproduce's "
            "names are replaced)",
        ),
    ) -> None:
        """Reproduce Section VI (Figs. 2-11) and the extra figures: results, PNG/SVG figures, report.md and
        report.json, for one preset with the other beside it.

        An interrupted run started again with the same options computes only the missing tasks. Every option
        is checked (torch device, scheduler, figures, seeds, workers, output folder) before anything is written.
        """
        if seeds is not None and not 1 <= seeds <= MAX_SEEDS:
            raise InputError(f"--seeds {seeds} is out of range: allowed 1..{MAX_SEEDS}")
        if workers is not None and not 0 <= workers <= max_workers():
            raise InputError(
                f"--workers {workers} is out of range: allowed 0..{max_workers()} (2 x the {os.cpu_count()} CPUs)"
            )
        torch_device = renamed_option(torch_device, device, "--torch-device", "--device") or "cpu"
        if torch_device not in ("cpu", "cuda"):
            raise InputError(f"--torch-device must be cpu or cuda, got {torch_device!r}")
        selected = _parse_figures(figures)
        if torch_device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise InputError(
                    "--torch-device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False)"
                )
        check_output_folder(
            out,
            own=REPRODUCE_OUTPUTS,
            inputs={"--settings": settings_file, "--calibration": calibration},
            option="--out",
            force=force,
        )

        from nomasplit.experiments import reproduce
        from nomasplit.experiments.figures import load_settings
        from nomasplit.experiments.reproduce import check_algorithm_settings
        from nomasplit.experiments.sweep import Failure, build_tasks, dask_client

        other: ReproductionSettings | None = None
        if settings_file is not None:
            settings = load_settings(settings_file)
            check_algorithm_settings(
                settings.algorithm_settings, f"--settings {shown(settings_file)}: algorithm_settings"
            )
        else:
            settings, other = preset_settings(preset, quick=quick, calibration=calibration)
        if not compare:
            other = None

        def adjust(item: ReproductionSettings, keys: list[str] | None) -> ReproductionSettings:
            if seeds is not None:
                item = item.model_copy(update={"num_seeds": seeds})
            if torch_device != "cpu":
                item = item.model_copy(update={"torch_device": torch_device})
            return item.select_figures(keys)

        settings = adjust(settings, selected)
        if other is not None:
            # the preset beside it: the selected figures and regime maps it has (all without --figures)
            known = {figure.key for figure in other.figures} | {regime.key for regime in other.regime_maps}
            keys = [key for key in selected if key in known] if selected else None
            other = adjust(other, keys) if keys is None or keys else None
        listed = build_tasks(settings) + (build_tasks(other) if other is not None else [])
        num_tasks = len({task.task_hash for task in listed})  # a task two sweeps share runs once
        if scheduler:
            check_scheduler(scheduler)
        console.print(_estimate(num_tasks, "quick" if quick and settings_file is None else "full", workers, scheduler))

        def report_failure(failure: Failure) -> None:
            error_console.print(
                f"[bold red]task failed:[/] {escape(one_line(f'{failure.task.describe()}: {failure.error}'))}",
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
        except OSError as exc:
            if isinstance(exc, ConnectionError) or exc.errno not in _WRITE_ERRNOS:
                raise
            # the folder became unwritable or full during the run (figures, report)
            raise InputError(f"--out {out}: cannot write ({exc.strerror or exc}); rerun to resume") from None
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
