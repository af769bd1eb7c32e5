"""``nomasplit scenario generate|show``: draw a network instance from a config, or summarise one
(``scenario apply-measurements`` is in :mod:`nomasplit.cli.apply_measurements_cmd`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from nomasplit.cli import apply_measurements_cmd
from nomasplit.cli.common import console, handle_errors
from nomasplit.io import check_output_path, is_existing_file


def _summary_table(rows: list[tuple[str, str]], title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for label, value in rows:
        table.add_row(escape(label), escape(value))
    return table


def register(app: typer.Typer) -> None:
    """Add the ``scenario`` command group to the app."""
    group = typer.Typer(
        help="Generate and inspect scenario files, and put measurements into them.", no_args_is_help=True
    )
    app.add_typer(group, name="scenario")
    apply_measurements_cmd.register(group)  # nomasplit scenario apply-measurements

    @group.command("generate")
    @handle_errors
    def generate(
        config_path: Path | None = typer.Argument(
            None,
            metavar="CONFIG",
            help="YAML or JSON config (keys: docs/scenarios.md). Omitted: the paper's Section VI-A setup.",
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Scenario file to write (.json or .json.gz)."),
        seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the config's seed)."),
        aps: int | None = typer.Option(None, "--aps", help="Number of APs (num_aps)."),
        users_per_ap: int | None = typer.Option(None, "--users-per-ap", help="Users per AP (users_per_ap)."),
        subchannels: int | None = typer.Option(None, "--subchannels", help="Subchannels M (num_subchannels)."),
        model: str | None = typer.Option(None, "--model", help="Zoo model name or profile JSON path (model)."),
        access: str | None = typer.Option(None, "--access", help="noma or oma (oma sets cluster size 1)."),
    ) -> None:
        """Generate a scenario file; flags override the config (and are noted in the scenario's description)."""
        model_file = Path(model) if model is not None and is_existing_file(model) else None
        check_output_path(out, inputs={"CONFIG": config_path, "--model": model_file})

        from nomasplit.generate import generate_to_file, load_config, paper_config
        from nomasplit.generate.summary import summarize_scenario

        config = load_config(config_path) if config_path is not None else paper_config()
        overrides: dict[str, Any] = {
            key: value
            for key, value in {
                "num_aps": aps,
                "users_per_ap": users_per_ap,
                "num_subchannels": subchannels,
                "model": model,
                "access": access,
            }.items()
            if value is not None
        }
        if overrides:
            noted = ", ".join(f"{key}={value}" for key, value in overrides.items())
            description = f"{config.description} (overridden: {noted})" if config.description else f"({noted})"
            config = config.with_overrides(**overrides, description=description)
        scenario, path = generate_to_file(config, out, seed=seed)
        rows = [*summarize_scenario(scenario), ("file", f"{path} ({path.stat().st_size:,} bytes)")]
        console.print(_summary_table(rows, f"scenario written to {path}"))

    @group.command("show")
    @handle_errors
    def show(
        scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario file (.json or .json.gz)."),
    ) -> None:
        """Summarise a scenario file."""
        from nomasplit.data.files import load_scenario
        from nomasplit.generate.summary import summarize_scenario

        scenario = load_scenario(scenario_path)
        console.print(_summary_table(summarize_scenario(scenario), str(scenario_path)))
