"""File input and output shared by every command: JSON (optionally gzipped), YAML, atomic writes.

Reading never returns partial data: a malformed file raises :class:`~nomasplit.errors.InputError` naming the
file and the position. Writing is atomic: the content goes to a temporary file in the target folder, which is
renamed over the target only when complete, so an interrupted or failed command leaves no partial file.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from nomasplit.errors import InputError


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in input files")


def read_text(path: str | Path) -> str:
    """Read a text file (``.gz`` is decompressed), raising :class:`InputError` if it cannot be read."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot read file ({exc})") from None


def read_json(path: str | Path) -> Any:
    """Parse a JSON file. NaN and Infinity literals are rejected (they are not JSON)."""
    text = read_text(path)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (a JSON file is valid YAML too)."""
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}: malformed YAML{where}: {problem}") from None


def _finite_or_none(value: Any) -> Any:
    """Replace non-finite floats by ``None`` recursively (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def dumps_json(data: Any, *, indent: int | None = 2) -> str:
    """Serialise to strict JSON: non-finite floats become ``null``."""
    return json.dumps(_finite_or_none(data), indent=indent, allow_nan=False)


def _default_file_mode() -> int:
    """``0o666`` less the process umask: what ``open(path, "w")`` would give (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_output_path(path: str | Path) -> Path:
    """Fail early, before any long computation, if ``path`` cannot be written: its folder must exist."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a file name")
    if not path.parent.exists():
        raise InputError(f"{path}: output folder {path.parent} does not exist")
    return path


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically (temporary file + rename). ``.gz`` paths are gzipped."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"{path}: output folder {path.parent} does not exist")
    payload = content.encode("utf-8") if isinstance(content, str) else content
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _default_file_mode())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write strict JSON atomically."""
    return write_atomic(path, dumps_json(data, indent=indent) + "\n")
