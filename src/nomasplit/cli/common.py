"""Shared plumbing of the CLI commands: error handling and console output.

Every command body runs inside :func:`handle_errors`, so bad input ends with exit code 2 and one clear line
on stderr (never a traceback), and a solver that cannot handle an instance with exit code 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from nomasplit.errors import InputError, SolverError

P = ParamSpec("P")
R = TypeVar("R")

#: Tables and progress go to stdout; errors to stderr.
console = Console()
error_console = Console(stderr=True)

EXIT_INPUT_ERROR = 2
EXIT_SOLVER_ERROR = 1

#: Top-level modules of the optional extras, and the extra that installs each.
OPTIONAL_MODULES: dict[str, str] = {
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "httpx": "serve",
    "safetensors": "serve",
    "dask": "dask",
    "distributed": "dask",
}


def fail(message: str, code: int = EXIT_INPUT_ERROR) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit to raise."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` to stderr (the command goes on)."""
    error_console.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into clean exits: InputError -> 2, SolverError -> 1, Ctrl-C -> 130, and a missing
    optional package into a one-line hint naming the extra to install (exit 2)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise fail(str(exc), EXIT_INPUT_ERROR) from None
        except SolverError as exc:
            raise fail(str(exc), EXIT_SOLVER_ERROR) from None
        except ModuleNotFoundError as exc:
            extra = OPTIONAL_MODULES.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            raise fail(
                f"this command needs the optional package {exc.name!r}: pip install 'nomasplit[{extra}]'",
                EXIT_INPUT_ERROR,
            ) from None
        except KeyboardInterrupt:
            error_console.print("interrupted")
            sys.exit(130)

    return wrapper
