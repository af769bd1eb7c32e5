"""``nomasplit calibrate``: fit the parameters the paper leaves open to a few of its quoted numbers
(:mod:`nomasplit.experiments.calibration`); ``nomasplit reproduce --preset calibrated`` runs with them."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import typer

from nomasplit.cli.common import console, handle_errors, stop_on_sigterm
from nomasplit.errors import InputError
from nomasplit.io import check_output_folder, check_output_path, same_file, shown

#: What calibrate writes into its --store folder (glob patterns): the resumable results, as reproduce's.
CALIBRATE_STORE: tuple[str, ...] = ("results", ".*.tmp")


def register(app: typer.Typer) -> None:
    """Add the ``calibrate`` command to the app."""

    @app.command("calibrate")
    @handle_errors
    @stop_on_sigterm()
    def calibrate_command(
        out: Path = typer.Option(..., "--out", help="settings file to write (JSON; use with --calibration)"),
        store: Path = typer.Option(Path("calibration"), "--store", help="folder of the resumable evaluation results"),
        seeds: int = typer.Option(2, "--seeds", help="Monte-Carlo seeds per evaluation"),
        rounds: int = typer.Option(2, "--rounds", help="at most this many passes over the parameters"),
        confirm_seeds: int | None = typer.Option(
            None,
            "--confirm-seeds",
            help="evaluate each start's end point again with this many seeds (more than --seeds) and keep the "
            "lowest of those losses: the choice between starts is then not made by a few seeds' noise",
        ),
        min_improvement: float = typer.Option(
            0.01,
            "--min-improvement",
            help="a candidate must lower the loss by more than this fraction to be kept (Monte-Carlo noise)",
        ),
        workers: int | None = typer.Option(
            None, "--workers", help="worker processes (0: run in this process; default: CPUs)"
        ),
        progress: bool = typer.Option(False, "--progress/--no-progress", help="a progress bar per batch"),
        solver_settings: str | None = typer.Option(
            None,
            "--solver-settings",
            help='settings per method as JSON, e.g. \'{"ecc-noma": {"ligd": {"max_iterations": 5}}}\' '
            "(validated up front)",
        ),
        start: list[str] = typer.Option(
            [],
            "--start",
            help="start the search from the parameters of this settings file (e.g. the shipped calibration, "
            "to refit after a solver change), or 'declared' for the declared start point; repeat to search from "
            "several starts and keep the lowest loss; default: the declared start point",
        ),
        only: str | None = typer.Option(
            None,
            "--only",
            help="comma-separated parameters to search (the others stay at the start point); default: all",
        ),
        force: bool = typer.Option(
            False, "--force", help="use a --store folder that holds files calibrate did not write"
        ),
    ) -> None:
        """Fit device speed and energy, edge energy, lambda's shape, the precision sent, a finite edge server,
        DNN Surgery's server, the latency weight and the users per subchannel, inside a declared box, to Fig. 2's
        NiN 4.1 / 6.1 and the Fig. 2, 3 and 5 ranges (coordinate search over a grid; docs/reproduction.md).
        Writes the settings file of `nomasplit reproduce --preset calibrated --calibration FILE`.
        """
        from nomasplit.experiments.calibration import calibrate, write_parameters
        from nomasplit.experiments.presets.calibrated import CALIBRATION_BOX, FITTED_QUOTES, load_parameters

        if seeds < 1:
            raise InputError(f"--seeds must be at least 1, got {seeds}")
        if rounds < 1:
            raise InputError(f"--rounds must be at least 1, got {rounds}")
        if confirm_seeds is not None and confirm_seeds <= seeds:
            raise InputError(f"--confirm-seeds must be more than --seeds ({seeds}), got {confirm_seeds}")
        if not 0 <= min_improvement < 1:
            raise InputError(f"--min-improvement must be in [0, 1), got {min_improvement}")
        if workers is not None and workers < 0:
            raise InputError(f"--workers must be 0 or more, got {workers}")
        starts = {f"--start {item}": item for item in start if item != "declared"}
        check_output_path(out, inputs=starts, outputs={"--store": store})
        check_output_folder(store, own=CALIBRATE_STORE, inputs=starts, option="--store", force=force)
        if same_file(out, store) or out.resolve().is_relative_to(store.resolve()):
            raise InputError(f"--out {shown(out)} is inside --store {shown(store)}; write the settings elsewhere")
        box = CALIBRATION_BOX
        if only is not None:
            names = [name.strip() for name in only.split(",") if name.strip()]
            unknown = [name for name in names if name not in CALIBRATION_BOX]
            if unknown or not names:
                raise InputError(
                    f"--only: unknown parameter(s) {', '.join(unknown) or '(none given)'}; allowed: "
                    f"{', '.join(CALIBRATION_BOX)}"
                )
            box = {name: CALIBRATION_BOX[name] for name in names}
        algorithm_settings = _parse_solver_settings(solver_settings)
        start_values: list[dict[str, Any] | None] = [
            None if item == "declared" else load_parameters(item).values() for item in start
        ] or [None]
        started = time.perf_counter()
        parameters, history = calibrate(
            store,
            box=box,
            start=start_values,
            algorithm_settings=algorithm_settings,
            num_seeds=seeds,
            max_rounds=rounds,
            min_improvement=min_improvement,
            confirm_seeds=confirm_seeds,
            workers=workers,
            progress=progress,
            log=lambda line: console.print(line, highlight=False),
        )
        fit = {**parameters.fit, "command": shlex.join(["nomasplit", *sys.argv[1:]])}
        write_parameters(out, parameters.model_copy(update={"fit": fit}))
        confirmed = (
            f" ({parameters.fit['confirmed_loss']:.4g} with {confirm_seeds} seeds)" if confirm_seeds is not None else ""
        )
        console.print(
            f"fitted {', '.join(FITTED_QUOTES)}: loss {parameters.fit['loss']:.4g}{confirmed} after {len(history)} "
            f"evaluations in {time.perf_counter() - started:.0f} s; wrote {out}",
            highlight=False,
            soft_wrap=True,
        )
        for name, value in parameters.values().items():
            console.print(f"  {name} = {value!r}", highlight=False)


def _parse_solver_settings(text: str | None) -> dict[str, dict[str, Any]] | None:
    """``--solver-settings`` as {method: settings}, each validated by the method's settings type; they replace the
    preset's settings of the methods named (the others keep the reproduction's). None when the option is not
    given."""
    if text is None:
        return None
    from nomasplit.io import parse_json

    data = parse_json(text, "--solver-settings")
    if not isinstance(data, dict) or not all(isinstance(value, dict) for value in data.values()):
        raise InputError('--solver-settings: expected {"method": {"setting": value}}')
    from nomasplit.experiments.calibration import CALIBRATION_METHODS
    from nomasplit.experiments.reproduce import check_algorithm_settings

    for method in data:
        if method not in CALIBRATION_METHODS:
            raise InputError(
                f"--solver-settings: {method!r} is not run by calibrate ({', '.join(CALIBRATION_METHODS)})"
            )
    check_algorithm_settings(data, "--solver-settings")
    return data
