"""``nomasplit solve SCENARIO --algorithm NAME --out PLAN.json`` and ``nomasplit algorithms``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import typer
import yaml
from rich.table import Table

from nomasplit.cli.common import console, handle_errors
from nomasplit.data.files import load_scenario, save
from nomasplit.errors import InputError
from nomasplit.io import check_output_path
from nomasplit.solvers import ALGORITHMS, get_algorithm, solve


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
        try:
            settings[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InputError(f"--set {item!r}: the value is not a number, boolean or word") from None
    return settings


def register(app: typer.Typer) -> None:
    """Add ``solve`` and ``algorithms`` to the app."""

    @app.command("solve")
    @handle_errors
    def solve_command(
        scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario JSON (.json or .json.gz)."),
        algorithm: str = typer.Option("ligd", "--algorithm", "-a", help="Algorithm name (nomasplit algorithms)."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the plan JSON."),
        seed: int = typer.Option(0, help="Seed of the algorithm's random generator."),
        device: str = typer.Option("cpu", help="Torch device: cpu or cuda."),
        threads: int | None = typer.Option(
            None, min=1, help="torch intra-op threads for this process (default: torch's choice)."
        ),
        set_: list[str] = typer.Option(
            [], "--set", help="Algorithm setting key=value (repeatable); unknown keys are errors."
        ),
    ) -> None:
        """Solve a scenario with an algorithm and write the plan, with how it was obtained."""
        get_algorithm(algorithm)
        check_output_path(out)
        settings = parse_settings(set_)
        scenario = load_scenario(scenario_path)
        if threads is not None:
            torch.set_num_threads(threads)
        with console.status(
            f"solving with {algorithm} ({scenario.num_users} users, {scenario.num_subchannels} subchannels)"
        ):
            plan = solve(scenario, algorithm, settings=settings, seed=seed, device=device)
        save(out, plan)
        info = plan.solver
        assert info is not None

        def number(value: float | None) -> str:
            return "—" if value is None else f"{value:.6g}"

        console.print(
            f"{algorithm}: objective Gamma = {number(info.objective)} (relaxed {number(info.objective_relaxed)}, "
            f"rounded {number(info.objective_rounded)}); split {info.chosen_split}; "
            f"{info.iterations_total} iterations; {info.wall_time_s:.2f} s; {'success' if info.success else 'FAILED'}",
            highlight=False,
        )
        if info.message:
            console.print(info.message, highlight=False)
        console.print(f"wrote {out}")

    @app.command("algorithms")
    @handle_errors
    def algorithms_command() -> None:
        """List the registered algorithms with their summaries and citations."""
        table = Table(title="Algorithms (nomasplit solve --algorithm NAME)")
        for column in ("name", "summary", "cite"):
            table.add_column(column)
        for name in sorted(ALGORITHMS):
            spec = ALGORITHMS[name]
            table.add_row(name, spec.summary, spec.cite)
        console.print(table)
