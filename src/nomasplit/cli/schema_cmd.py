"""``nomasplit schema [FORMAT] [--out DIR]``: JSON Schemas of the scenario, plan, profile and result files."""

from __future__ import annotations

from pathlib import Path

import typer

from nomasplit.cli.catalog import SCHEMA_NAMES
from nomasplit.cli.common import console, handle_errors
from nomasplit.io import check_output_folder


def register(app: typer.Typer) -> None:
    """Add ``schema`` to the app."""

    @app.command("schema")
    @handle_errors
    def schema_command(
        name: str | None = typer.Argument(None, metavar="[FORMAT]", help=f"One of: {', '.join(SCHEMA_NAMES)}."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write every schema into this folder."),
        force: bool = typer.Option(
            False, "--force", help="Write into an --out folder that holds files other than *.schema.json."
        ),
    ) -> None:
        """Print the JSON Schema of a file format, or write all of them with --out."""
        from nomasplit.data.schemas import schema_text, write_schemas

        if out is not None:
            check_output_folder(out, own=("*.schema.json", ".*.tmp"), force=force)
            for path in write_schemas(out):
                console.print(f"wrote {path}")
            return
        typer.echo(schema_text(name or "scenario"), nl=False)
