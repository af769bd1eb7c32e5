"""``nomasplit evaluate SCENARIO PLAN``: cost of a plan (placeholder until the model lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
