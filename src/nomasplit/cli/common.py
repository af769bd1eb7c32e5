"""Shared plumbing of the CLI commands: error handling and console output.

Every command body runs inside :func:`handle_errors`, the CLI's one exception boundary: bad input ends with exit
code 2 and one clear line on stderr (never a traceback), a solver that cannot handle an instance or an internal
error with exit code 1, Ctrl-C with 130 and SIGTERM with 143; an exception raised in the user's code (a model
module) is exit 2 naming the file and line.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import signal
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from nomasplit.errors import InputError, SolverError
from nomasplit.io import shown

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Tables and progress go to stdout; errors to stderr.
console = Console()
error_console = Console(stderr=True)

EXIT_INPUT_ERROR = 2
EXIT_SOLVER_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

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


def one_line(message: str) -> str:
    """``message`` on one line: every control character (newline, carriage return, escape) shown escaped, so no
    text from a file name or a remote answer can break the line or forge another ``error:`` line."""
    return "".join(char if char.isprintable() or char == " " else ascii(char)[1:-1] for char in message)


def fail(message: str, code: int = EXIT_INPUT_ERROR) -> typer.Exit:
    """Print ``error: message`` to stderr, on one line and without markup, and return the exit to raise."""
    error_console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` to stderr (the command goes on)."""
    error_console.print(f"[bold yellow]warning:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)


#: The release in which the deprecated command and option names go.
DEPRECATED_NAMES_GO_IN = "0.3"


def warn_deprecated(old: str, new: str) -> None:
    """The one stderr line of a deprecated name: ``warning: 'old' is deprecated and goes in nomasplit 0.3; use
    'new'`` (the command goes on)."""
    typer.echo(f"warning: '{old}' is deprecated and goes in nomasplit {DEPRECATED_NAMES_GO_IN}; use '{new}'", err=True)


def deprecated_alias(command: Callable[..., Any], old: str, new: str) -> Callable[..., Any]:
    """``command`` under its old name ``old`` (register it hidden): :func:`warn_deprecated`, then the same
    command."""

    @functools.wraps(command)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warn_deprecated(old, new)
        return command(*args, **kwargs)

    return alias


def deprecated_option(old: str, new: str) -> Any:
    """A hidden option under the old name ``old`` of the option ``new`` (kept for one release): when given, it
    prints :func:`warn_deprecated`'s line; the command takes its value with :func:`renamed_option`.

    Declare the new option with default ``None`` (and ``show_default``), so that giving both is seen.
    """

    def warn_if_given(value: Any) -> Any:
        if value is not None:
            warn_deprecated(old, new)
        return value

    return typer.Option(None, old, hidden=True, callback=warn_if_given, help=f"Deprecated name of {new}.")


def renamed_option(value: T | None, old_value: T | None, new: str, old: str) -> T | None:
    """The value of an option given under its name ``new`` or its deprecated name ``old`` (None if neither).

    Raises:
        InputError: both are given.
    """
    if old_value is None:
        return value
    if value is not None:
        raise InputError(f"{new} and {old} are one option ({old} is its deprecated name); give {new} only")
    return old_value


def _interrupted(code: int) -> NoReturn:
    error_console.print("interrupted" if code == EXIT_INTERRUPTED else "terminated")
    sys.exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """The exception boundary of a command: whatever its body raises ends in an exit code and one line.

    InputError -> 2; SolverError -> 1; a missing optional package -> 2 with the extra to install; an OSError
    about a path (a name too long, a loop of links, no permission) -> 2 naming the path; Ctrl-C
    (SIGINT) -> 130 and SIGTERM -> 143 (see :class:`Terminated`), with one word; ``SystemExit`` raised inside
    the body (user code that calls ``exit()``) -> 2; a recursion or memory exhaustion -> 2 (input too large or
    too deep); any other exception -> 1, naming its type, as an internal error. Typer's own exits pass through.
    """

    option_names = _option_names(func)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            check_option_values(kwargs, option_names)
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):  # typer's own exits and usage errors
            raise
        except InputError as exc:
            raise fail(str(exc), EXIT_INPUT_ERROR) from None
        except SolverError as exc:
            raise fail(str(exc), EXIT_SOLVER_ERROR) from None
        except ModuleNotFoundError as exc:
            extra = OPTIONAL_MODULES.get((exc.name or "").split(".")[0])
            if extra is None:
                raise fail(f"internal error: ModuleNotFoundError: {exc}", EXIT_SOLVER_ERROR) from None
            raise fail(
                f"this command needs the optional package {exc.name!r}: pip install 'nomasplit[{extra}]'",
                EXIT_INPUT_ERROR,
            ) from None
        except KeyboardInterrupt:
            _interrupted(EXIT_INTERRUPTED)
        except Terminated:
            _interrupted(EXIT_TERMINATED)
        except SystemExit as exc:
            where = _user_frame(exc.__traceback__)
            raise fail(
                f"exit({exc.code!r}) was called inside the command{where} (user code must not exit); nothing "
                "more was done",
                EXIT_INPUT_ERROR,
            ) from None
        except RecursionError:
            raise fail("the input nests too deeply to be processed", EXIT_INPUT_ERROR) from None
        except OSError as exc:  # a path the user gave that the system refuses (too long, a loop, permissions)
            name = f"{shown(exc.filename)}: " if exc.filename is not None else ""
            raise fail(f"{name}{exc.strerror or shown(exc)}", EXIT_INPUT_ERROR) from None
        except MemoryError:
            raise fail("out of memory: the input is too large for this machine", EXIT_INPUT_ERROR) from None
        except Exception as exc:
            where = _user_frame(exc.__traceback__)
            if where:
                raise fail(f"user code failed{where}: {type(exc).__name__}: {exc}", EXIT_INPUT_ERROR) from None
            raise fail(
                f"internal error: {type(exc).__name__}: {exc} (please report it with the command line)",
                EXIT_SOLVER_ERROR,
            ) from None

    return wrapper


#: Folders of code that is not the user's: this package, the standard library and installed packages.
_LIBRARY_DIRS: tuple[Path, ...] = tuple(
    {Path(__file__).resolve().parents[1]}
    | {Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def _user_frame(trace: TracebackType | None) -> str:
    """`` in FILE line N`` of the innermost frame of ``trace`` in the user's code (a model module, a factory: a
    file outside this package, the standard library and installed packages), or ``""`` if the exception was
    raised without passing through user code."""
    for frame in reversed(traceback.extract_tb(trace)):
        if frame.filename.startswith("<"):
            continue
        path = Path(frame.filename).resolve()
        if not any(path.is_relative_to(folder) for folder in _LIBRARY_DIRS):
            return f" in {shown(path)} line {frame.lineno}"
    return ""


#: Range of an integer option: a signed 64-bit integer (numpy, torch and JSON readers hold no more).
INT64_RANGE = (-(2**63), 2**63 - 1)


def _option_names(func: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> the option as typed (``--rtol``) or the argument's metavar, from typer's declarations."""
    names: dict[str, str] = {}
    for name, parameter in inspect.signature(func).parameters.items():
        declared = [decl for decl in getattr(parameter.default, "param_decls", ()) or () if decl.startswith("--")]
        metavar = getattr(parameter.default, "metavar", None)
        if declared:
            names[name] = declared[0].split("/")[0]
        elif isinstance(parameter.default, typer.models.OptionInfo):
            names[name] = "--" + name.replace("_", "-")
        else:
            names[name] = metavar or name.upper()
    return names


def _short(value: object) -> str:
    text = str(value) if not isinstance(value, int) or abs(value) < 10**30 else f"{str(value)[:20]}... "
    return text


def check_option_values(values: dict[str, Any], option_names: dict[str, str]) -> None:
    """Every value given to a command, checked before any work: numbers finite (no NaN, no infinity) and, for
    integers, within a signed 64-bit integer; text and paths without a NUL character. Lists (repeatable options)
    are checked element by element.

    Raises:
        InputError: naming the option and the value.
    """
    for name, value in values.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, bool):
                continue
            option = option_names.get(name, name)
            if isinstance(item, str | Path) and "\x00" in str(item):
                raise InputError(f"{option} {shown(item)}: holds a NUL character")
            if isinstance(item, float) and not math.isfinite(item):
                raise InputError(f"{option} {item}: not a finite number (NaN and infinities are not accepted)")
            if isinstance(item, int) and not INT64_RANGE[0] <= item <= INT64_RANGE[1]:
                raise InputError(
                    f"{option} {_short(item)}: out of range, an integer option holds at most a signed 64-bit "
                    f"integer ({INT64_RANGE[0]}..{INT64_RANGE[1]})"
                )


class Terminated(BaseException):
    """Raised in the main process by the SIGTERM handler of :func:`stop_on_sigterm` (exit 143)."""


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within: SIGTERM raises :class:`Terminated` in the main thread, so the command unwinds (workers stopped,
    files closed) as it does on Ctrl-C, and exits 143. The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
