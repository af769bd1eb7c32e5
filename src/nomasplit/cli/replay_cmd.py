"""``nomasplit edge replay``: the offloading users of one AP at once against one edge server."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the ``edge`` command group."""
