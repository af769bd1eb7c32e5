"""``nomasplit algorithms``: the registered algorithms with their summaries and citations, without importing
torch (the texts are :mod:`nomasplit.cli.catalog`'s)."""

from __future__ import annotations

import typer
from rich.table import Table

from nomasplit.cli.catalog import ALGORITHM_CATALOG
from nomasplit.cli.common import console, handle_errors


def register(app: typer.Typer) -> None:
    """Add the ``algorithms`` command to the app."""

    @app.command("algorithms")
    @handle_errors
    def algorithms_command() -> None:
        """List the registered algorithms with their summaries and citations."""
        table = Table(title="Algorithms (nomasplit solve --algorithm NAME)")
        for column in ("name", "summary", "cite"):
            table.add_column(column)
        for entry in ALGORITHM_CATALOG:  # the registry's texts, without importing torch (cli/catalog.py)
            table.add_row(entry.name, entry.summary, entry.cite)
        console.print(table)
