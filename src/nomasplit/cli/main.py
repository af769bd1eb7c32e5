"""Entry point: ``nomasplit COMMAND ...``. Each command lives in its own module and registers itself here."""

from __future__ import annotations

import importlib

import typer

from nomasplit import __version__

app = typer.Typer(
    name="nomasplit",
    help="Plan and run split DNN inference over NOMA mobile edge networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nomasplit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Plan and run split DNN inference over NOMA mobile edge networks."""


#: Command modules under ``nomasplit.cli``, one per command or command group and named after it
#: (``nomasplit edge ...`` is ``edge_cmd``); each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "evaluate_cmd",
    "schema_cmd",
    "profile_cmd",
    "scenario_cmd",
    "edge_cmd",
    "device_cmd",
    "reproduce_cmd",
    "calibrate_cmd",
    "solve_cmd",
    "algorithms_cmd",
    "simulate_cmd",
)


def _register_commands() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"nomasplit.cli.{module_name}").register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
