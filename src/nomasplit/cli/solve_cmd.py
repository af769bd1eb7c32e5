"""``nomasplit solve SCENARIO --algorithm NAME --out PLAN.json`` and ``nomasplit algorithms``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from nomasplit.cli.catalog import ALGORITHM_NAMES
from nomasplit.cli.common import console, deprecated_option, handle_errors, renamed_option
from nomasplit.errors import InputError, SolverError
from nomasplit.io import check_output_path, parse_yaml

#: ``--threads`` range of ``solve`` (as ``edge serve``).
MAX_THREADS = 1024


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> a dict; each value is read as YAML (``5``, ``1e-3``, ``true``, ``float32``).

    Raises:
        InputError: an item without ``=`` or with an empty key.
    """
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected key=value (for example --set max_iterations=50)")
        if key.strip() in settings:
            raise InputError(f"--set {key.strip()!r} is given twice")
        settings[key.strip()] = parse_yaml(text, f"--set {item!r}")
    return settings


def register(app: typer.Typer) -> None:
    """Add ``solve`` and ``algorithms`` to the app."""

    @app.command("solve")
    @handle_errors
    def solve_command(
        scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario JSON (.json or .json.gz)."),
        algorithm: str = typer.Option("ligd", "--algorithm", "-a", help="Algorithm name (nomasplit algorithms)."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the plan JSON."),
        seed: int = typer.Option(0, help="Seed of the algorithm's random generator (0 or more)."),
        torch_device: str | None = typer.Option(
            None, "--torch-device", show_default="cpu", help="Torch backend of the solver: cpu, cuda or cuda:N."
        ),
        device: str | None = deprecated_option("--device", "--torch-device"),
        threads: int = typer.Option(
            1,
            help=f"torch intra-op threads of the solve, 1..{MAX_THREADS} (1: the same plan on any machine; more "
            "threads can change the last bits of sums and so the plan).",
        ),
        set_: list[str] = typer.Option(
            [], "--set", help="Algorithm setting key=value (repeatable); unknown keys are errors."
        ),
    ) -> None:
        """Solve a scenario with an algorithm and write the plan, with how it was obtained.

        A solve whose objective is not a finite number is an error (exit 1): no plan is written.
        """
        if algorithm not in ALGORITHM_NAMES:
            raise InputError(f"unknown algorithm {algorithm!r}; allowed: {', '.join(ALGORITHM_NAMES)}")
        if seed < 0:
            raise InputError(f"--seed must be 0 or more, got {seed}")
        if not 1 <= threads <= MAX_THREADS:
            raise InputError(f"--threads {threads} is out of range: allowed 1..{MAX_THREADS}")
        check_output_path(out, inputs={"SCENARIO": scenario_path})
        settings = parse_settings(set_)
        torch_device = renamed_option(torch_device, device, "--torch-device", "--device") or "cpu"

        from nomasplit.data.files import load_scenario, save
        from nomasplit.solvers import get_algorithm, solve

        get_algorithm(algorithm)
        scenario = load_scenario(scenario_path)
        with console.status(
            f"solving with {algorithm} ({scenario.num_users} users, {scenario.num_subchannels} subchannels)"
        ):
            plan = solve(scenario, algorithm, settings=settings, seed=seed, device=torch_device, threads=threads)
        info = plan.solver
        assert info is not None
        if info.objective is None or not math.isfinite(info.objective):
            reason = f" ({info.message})" if info.message else ""
            raise SolverError(
                f"{algorithm} found no plan with a finite objective (Gamma = {info.objective}){reason}; no plan "
                f"written to {out}. Check the scenario's magnitudes (workloads, rates, speeds)"
            )
        save(out, plan)

        def number(value: float | None) -> str:
            return "—" if value is None else f"{value:.6g}"

        console.print(
            f"{algorithm}: objective Gamma = {number(info.objective)} (relaxed {number(info.objective_relaxed)}, "
            f"rounded {number(info.objective_rounded)}); split {info.chosen_split}; "
            f"{info.iterations_total} iterations; {info.wall_time_s:.2f} s; {'success' if info.success else 'FAILED'}",
            highlight=False,
        )
        if info.bound is not None and info.gap is not None:
            console.print(
                f"lower bound on the optimum {number(info.bound)} ({info.extra['lower_bound']['source']}): the plan "
                f"is at most {100 * info.gap:.2f} % above the optimum",
                highlight=False,
                soft_wrap=True,
            )
        if info.message:
            console.print(info.message, highlight=False)
        console.print(f"wrote {out}")
