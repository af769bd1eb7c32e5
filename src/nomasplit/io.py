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


def same_file(first: str | Path, second: str | Path) -> bool:
    """True if both paths name one file (same inode, or the same resolved path when one does not exist yet)."""
    first, second = Path(first), Path(second)
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
        return first.resolve() == second.resolve()
    except OSError:
        return False


def check_output_path(path: str | Path, *, inputs: tuple[str | Path | None, ...] = (), option: str = "--out") -> Path:
    """Fail early, before any long computation, if ``path`` cannot be written or would overwrite an input.

    Checks: ``path`` is not a folder; its folder exists and a file can be created in it (probed with a
    temporary file, which also catches read-only and special file systems such as ``/proc``); an existing
    ``path`` is writable; and ``path`` is none of ``inputs`` (the files the same command reads).

    Raises:
        InputError: naming ``option`` and the reason.
    """
    path = Path(path)
    for source in inputs:
        if source is not None and same_file(path, source):
            raise InputError(
                f"{option} {path} is also an input of this command ({source}); refusing to overwrite it: "
                "choose another output file"
            )
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder, expected a file name")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"{option} {path}: output folder {folder} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path}: the file exists and is not writable")
    check_writable_folder(folder, option=f"{option} {path}")
    return path


def check_writable_folder(folder: str | Path, *, option: str = "--out") -> Path:
    """Raise :class:`InputError` unless a file can be created (and removed) in ``folder``."""
    folder = Path(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=".nomasplit-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{option}: cannot write in folder {folder} ({exc.strerror or exc})") from None
    return folder


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically (temporary file + rename). ``.gz`` paths are gzipped.

    An existing ``path`` is replaced only once the new content is complete on disk. Any failure to write (no
    such folder, read-only or full file system, permissions) raises :class:`InputError` naming the file, and
    leaves ``path`` as it was.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"{path}: output folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a file name")
    payload = content.encode("utf-8") if isinstance(content, str) else content
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _default_file_mode())
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({exc.strerror or exc}); nothing was changed") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write strict JSON atomically."""
    return write_atomic(path, dumps_json(data, indent=indent) + "\n")
