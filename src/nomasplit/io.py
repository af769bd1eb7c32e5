"""File input and output shared by every command: JSON (optionally gzipped), YAML, tensor files (``.npy``,
``.safetensors``), atomic writes.

Reading never returns partial data: a malformed file raises :class:`~nomasplit.errors.InputError` naming the
file and the position. Writing is atomic: the content goes to a temporary file in the target folder, which is
renamed over the target only when complete, so an interrupted or failed command leaves no partial file.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import math
import os
import re
import stat
import tempfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import yaml

from nomasplit.errors import InputError

if TYPE_CHECKING:  # numpy and torch are imported where tensors are read: the CLI starts without them
    import numpy as np
    import torch


class FileLimits(NamedTuple):
    """Limits of every file (and JSON or YAML option text) a command reads: :mod:`nomasplit.io` applies them.

    Bytes are counted while streaming, so a file past a limit is refused after reading at most one chunk past
    it: a gzip bomb is not expanded, ``/dev/zero`` is not read forever. Tensor files have limits of their own
    (weights can be much larger than any JSON file), checked on the file's size before anything is read.
    """

    max_file_bytes: int
    max_decompressed_bytes: int
    max_yaml_bytes: int
    max_nesting_depth: int
    max_input_tensor_bytes: int
    max_weights_bytes: int


#: The values (docs/formats.md, "Limits of input files"). The paper's scenario is 33.5 MB (docs/formats.md).
FILE_LIMITS = FileLimits(
    max_file_bytes=256 * 2**20,
    max_decompressed_bytes=256 * 2**20,
    max_yaml_bytes=4 * 2**20,
    max_nesting_depth=64,
    # An input tensor goes whole to the edge at split 0, whose request bodies are at most 64 MiB by default
    # (edge serve --max-body-bytes); VGG16's input is 602,112 bytes.
    max_input_tensor_bytes=64 * 2**20,
    # A state dict: VGG16's is 553 MB in float32; 2 GiB holds about 500 million float32 parameters.
    max_weights_bytes=2 * 2**30,
)


def shown(name: object) -> str:
    """A file name (or any user text) as a message shows it: as is when every character is printable, else as a
    quoted literal with escapes, so that a newline or an escape sequence in a name cannot break the message's
    one line or forge another one."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in input files")


#: Integers in input files (as in options) fit a signed 64-bit integer: a larger one is a typo, and cannot even be
#: converted to a float when it passes 1.8e308.
INT64_RANGE = (-(2**63), 2**63 - 1)


def _check_int(value: int) -> int:
    if not INT64_RANGE[0] <= value <= INT64_RANGE[1]:
        digits = str(value)
        shown_value = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
        raise ValueError(f"the integer {shown_value} is beyond a signed 64-bit integer (the limit in input files)")
    return value


def _parse_int(text: str) -> int:
    return _check_int(int(text))


def check_path_text(path: str | Path, what: str) -> None:
    """Raise :class:`InputError` if a path holds a NUL character (no file system takes one)."""
    if "\x00" in str(path):
        raise InputError(f"{what} {shown(path)}: a file name cannot hold a NUL character")


def _too_large(source: str, what: str, limit: int) -> InputError:
    return InputError(
        f"{source}: {what} is larger than the limit of {limit:,} bytes (nomasplit.io.FILE_LIMITS); nothing was parsed"
    )


class _CountingReader:
    """A binary file whose reads stop with :class:`InputError` once more than ``limit`` bytes came through."""

    def __init__(self, handle: BinaryIO, limit: int, source: str) -> None:
        self.handle, self.limit, self.source, self.count = handle, limit, source, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(_CHUNK_BYTES if size is None or size < 0 else min(size, _CHUNK_BYTES))
        self.count += len(chunk)
        if self.count > self.limit:
            raise _too_large(self.source, "the file", self.limit)
        return chunk


#: Bytes read (and decompressed) per step while streaming an input.
_CHUNK_BYTES = 2**20


def _read_limited(readable: Any, limit: int, source: str, what: str) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = readable.read(_CHUNK_BYTES)
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        if total > limit:
            raise _too_large(source, what, limit)
        parts.append(chunk)


def read_bytes(path: str | Path, *, max_bytes: int | None = None) -> bytes:
    """Read a file's bytes (a ``.gz`` file decompressed), streaming, within :data:`FILE_LIMITS`.

    ``max_bytes`` lowers the limit on the (decompressed) content. A regular file larger than the limit is
    refused before it is read; any other file (a pipe, a device) is read in chunks and refused at the first
    chunk past the limit; a gzip stream is refused as soon as its expansion passes the limit.

    Raises:
        InputError: missing, a folder, unreadable, corrupt gzip, or past a limit.
    """
    path = Path(path)
    source = shown(path)
    check_path_text(path, "file")
    limits = FILE_LIMITS
    content_limit = min(limits.max_decompressed_bytes, max_bytes or limits.max_decompressed_bytes)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise InputError(f"{source}: is a directory, expected a file")
            if stat.S_ISREG(info.st_mode) and info.st_size > limits.max_file_bytes:
                raise _too_large(source, f"the file ({info.st_size:,} bytes)", limits.max_file_bytes)
            counted = _CountingReader(handle, limits.max_file_bytes, source)
            if path.suffix == ".gz":
                with gzip.GzipFile(fileobj=counted, mode="rb") as unzipped:  # type: ignore[call-overload]
                    return _read_limited(unzipped, content_limit, source, "its decompressed content")
            return _read_limited(counted, content_limit, source, "the file")
    except FileNotFoundError:
        raise InputError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a directory, expected a file") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{source}: cannot read file ({shown(exc)})") from None


def read_text(path: str | Path, *, max_bytes: int | None = None) -> str:
    """Read a UTF-8 text file (``.gz`` is decompressed) through :func:`read_bytes`'s limits."""
    data = read_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{shown(path)}: cannot read file (not UTF-8 text: {exc.reason} at byte {exc.start})"
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of :func:`parse_json`: a key given twice is an error, not "the last one wins"."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def check_depth(data: Any, source: str, *, max_depth: int | None = None) -> Any:
    """Raise :class:`InputError` if lists and mappings in ``data`` nest deeper than the limit; return ``data``.

    Iterative (no recursion), so any depth is measured safely.
    """
    limit = FILE_LIMITS.max_nesting_depth if max_depth is None else max_depth
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        items = value.values() if isinstance(value, dict) else value
        if depth > limit:
            raise InputError(f"{source}: lists and mappings nest more than {limit} levels deep (the limit)")
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return data


def parse_json(text: str, source: str) -> Any:
    """Parse JSON text with the input rules: no NaN or Infinity, no key given twice, nesting within the limit."""
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _DuplicateKeyError as exc:
        raise InputError(f"{source}: key {exc.key!r} is given twice in one object (each key at most once)") from None
    except RecursionError:
        raise InputError(
            f"{source}: lists and mappings nest more than {FILE_LIMITS.max_nesting_depth} levels deep (the limit)"
        ) from None
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from None
    return check_depth(data, source) if isinstance(data, dict | list) else data


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (:func:`read_text`'s limits, :func:`parse_json`'s rules)."""
    return parse_json(read_text(path), shown(path))


class _InputYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the input rules: no aliases, no key given twice, nesting within the limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not read in input files; write the value out", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > FILE_LIMITS.max_nesting_depth:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"lists and mappings nest more than {FILE_LIMITS.max_nesting_depth} levels deep (the limit)",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: Any) -> int:
        value = super().construct_yaml_int(node)
        try:
            return _check_int(value)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: the base class says so
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice in one mapping (each key at most once)",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


_InputYamlLoader.add_constructor("tag:yaml.org,2002:int", _InputYamlLoader.construct_yaml_int)
# YAML 1.1 reads a float only with a dot ("4e-27" and "1e9" would be strings); JSON and YAML 1.2 need none, and a
# JSON file must read as JSON does. Scalars the default rules already resolve keep their tag (ints stay ints).
_InputYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text with the input rules of :class:`_InputYamlLoader` (JSON is YAML too)."""
    if len(text) > FILE_LIMITS.max_yaml_bytes:
        raise _too_large(source, "the YAML text", FILE_LIMITS.max_yaml_bytes)
    try:
        loader = _InputYamlLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{source}: malformed YAML{where}: {shown(problem)}") from None
    except RecursionError:
        raise InputError(
            f"{source}: lists and mappings nest more than {FILE_LIMITS.max_nesting_depth} levels deep (the limit)"
        ) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (a JSON file is valid YAML too), within :data:`FILE_LIMITS` and the input rules."""
    return parse_yaml(read_text(path, max_bytes=FILE_LIMITS.max_yaml_bytes), shown(path))


# --- tensor files: .npy and .safetensors ------------------------------------------------------------------------
# A tensor file's size is checked against its own limit (FILE_LIMITS.max_input_tensor_bytes or max_weights_bytes)
# before anything is read, and its header is read and checked against the file (declared bytes = bytes present)
# before any tensor data: nothing larger than the file itself is ever allocated, and the caller's check (keys,
# shapes, dtypes of a model) runs on the header, before the tensors are loaded. Pickle is never read.


class TensorEntry(NamedTuple):
    """One tensor a tensor file's header declares (none of its data read).

    Attributes:
        dtype: the element type by its torch (and numpy) name, e.g. ``"float32"``.
        shape: the declared shape.
        nbytes: bytes of its data (``prod(shape) * itemsize``; checked against the file).
    """

    dtype: str
    shape: tuple[int, ...]
    nbytes: int


#: safetensors' dtype codes: the torch name and bytes per element of each (the codes safetensors writes).
SAFETENSORS_DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 1),
    "U8": ("uint8", 1),
    "I8": ("int8", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "I16": ("int16", 2),
    "U16": ("uint16", 2),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I32": ("int32", 4),
    "U32": ("uint32", 4),
    "F32": ("float32", 4),
    "I64": ("int64", 8),
    "U64": ("uint64", 8),
    "F64": ("float64", 8),
}

#: Largest safetensors header read (the safetensors library's own limit).
MAX_SAFETENSORS_HEADER_BYTES = 100_000_000

#: The ``FILE_LIMITS`` field that bounds each kind of tensor file, and the words a message uses for it.
_TENSOR_LIMITS = {"max_input_tensor_bytes": "an input tensor", "max_weights_bytes": "a weights file"}


def _check_tensor_file(path: Path, source: str, limit_field: str) -> int:
    """The size of a tensor file, after refusing (``InputError``) one that is missing, not a regular file, or
    larger than ``FILE_LIMITS.<limit_field>``: nothing of it read yet."""
    check_path_text(path, source)
    limit = getattr(FILE_LIMITS, limit_field)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{source}: file not found") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read file ({exc.strerror or shown(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{source}: is a directory, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{source}: is {_file_kind(info.st_mode)}, not a regular file; tensor files are read from regular "
            "files only"
        )
    if info.st_size > limit:
        raise InputError(
            f"{source}: the file ({info.st_size:,} bytes) is larger than the limit of {limit:,} bytes for "
            f"{_TENSOR_LIMITS[limit_field]} (nomasplit.io.FILE_LIMITS.{limit_field}); nothing was read"
        )
    return info.st_size


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(size) for size in shape) + "]"


def read_npy(
    path: str | Path, *, what: str = "--input", check: Callable[[TensorEntry], None] | None = None
) -> np.ndarray:
    """Read a numeric ``.npy`` array within ``FILE_LIMITS.max_input_tensor_bytes``, never through pickle.

    Only the header is read first: its dtype must be an integer or floating type (an object dtype, which numpy
    would unpickle, is refused, as are strings, records, booleans and complex numbers) and the bytes it declares
    must be exactly the bytes the file holds (a truncated file is refused before reading its data), after
    ``check(entry)`` (e.g. the model's input shape); only then is the data read.

    Args:
        path: the file.
        what: the option that named it, for messages (``--input``).
        check: raises :class:`InputError` if the declared tensor does not fit the caller.

    Raises:
        InputError: missing, not a regular file, past the limit, not ``.npy``, not numeric, truncated or longer
            than its header says, or refused by ``check``.
    """
    import numpy as np

    path = Path(path)
    source = f"{what} {shown(path)}"
    size = _check_tensor_file(path, source, "max_input_tensor_bytes")
    fmt = np.lib.format
    try:
        with path.open("rb") as handle:
            version = fmt.read_magic(handle)
            if version == (1, 0):
                shape, fortran_order, dtype = fmt.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran_order, dtype = fmt.read_array_header_2_0(handle)
            else:
                raise InputError(
                    f"{source}: .npy format version {version[0]}.{version[1]} is not read (1.0 and 2.0 are; 3.0 "
                    "only adds field names of records)"
                )
            if dtype.hasobject:
                raise InputError(
                    f"{source}: dtype {dtype} holds Python objects, which numpy would unpickle; pickle is never "
                    "read: save a numeric array"
                )
            if dtype.kind not in "iuf" or dtype.fields is not None:
                raise InputError(f"{source}: dtype {dtype} is not numeric: save an integer or floating array")
            shape = tuple(int(length) for length in shape)
            entry = TensorEntry(dtype=dtype.name, shape=shape, nbytes=math.prod(shape) * dtype.itemsize)
            if check is not None:
                check(entry)
            data_bytes = size - handle.tell()
            if data_bytes != entry.nbytes:
                state = "truncated" if data_bytes < entry.nbytes else "longer than its header says"
                raise InputError(
                    f"{source}: its header declares shape {_shape_text(shape)} of {dtype.name} ({entry.nbytes:,} "
                    f"bytes of data), the file holds {data_bytes:,}: {state}; nothing was read"
                )
            buffer = bytearray(entry.nbytes)
            if handle.readinto(buffer) != entry.nbytes:
                raise InputError(f"{source}: the file changed while it was read")
    except InputError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{source}: not a readable .npy file ({shown(exc)})") from None
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _safetensors_entry(source: str, name: str, info: Any) -> tuple[TensorEntry, int, int]:
    """One header entry checked: its :class:`TensorEntry` and data offsets."""
    where = f"{source}: tensor {name!r}"
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise InputError(f"{where}: its header entry must be an object with dtype, shape and data_offsets")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if code not in SAFETENSORS_DTYPES:
        raise InputError(f"{where}: dtype {shown(code)} is unknown; allowed: {', '.join(SAFETENSORS_DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(length) and length >= 0 for length in shape):
        raise InputError(f"{where}: shape {shown(shape)} must be a list of integers >= 0")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(offset) for offset in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise InputError(f"{where}: data_offsets {shown(offsets)} must be [begin, end] with 0 <= begin <= end")
    dtype, itemsize = SAFETENSORS_DTYPES[code]
    entry = TensorEntry(dtype=dtype, shape=tuple(shape), nbytes=math.prod(shape) * itemsize)
    if offsets[1] - offsets[0] != entry.nbytes:
        raise InputError(
            f"{where}: shape {_shape_text(entry.shape)} of {dtype} is {entry.nbytes:,} bytes, its data_offsets "
            f"{offsets} span {offsets[1] - offsets[0]:,}"
        )
    return entry, offsets[0], offsets[1]


def read_safetensors_header(path: str | Path, *, what: str, limit_field: str) -> dict[str, TensorEntry]:
    """The tensors a safetensors file declares, checked against the file; no tensor data is read.

    Refused (:class:`InputError` naming ``what`` and the file): missing, not a regular file, larger than
    ``FILE_LIMITS.<limit_field>`` (``max_input_tensor_bytes`` or ``max_weights_bytes``), a header longer than
    the file or than :data:`MAX_SAFETENSORS_HEADER_BYTES`, a header that is not a JSON object of entries
    (``{"dtype", "shape", "data_offsets"}``, with the input rules of :func:`parse_json`), a dtype not in
    :data:`SAFETENSORS_DTYPES`, a tensor whose shape and offsets disagree or that lies beyond the file (a
    header declaring a tensor larger than the file), or data that do not fill the file exactly.
    """
    path = Path(path)
    source = f"{what} {shown(path)}"
    size = _check_tensor_file(path, source, limit_field)
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise InputError(
                    f"{source}: not a readable safetensors file ({size} bytes, shorter than its 8-byte prefix)"
                )
            header_bytes = int.from_bytes(prefix, "little")
            if header_bytes > min(size - 8, MAX_SAFETENSORS_HEADER_BYTES):
                raise InputError(
                    f"{source}: not a readable safetensors file (its prefix declares a header of {header_bytes:,} "
                    f"bytes, the file holds {size - 8:,} after it; limit {MAX_SAFETENSORS_HEADER_BYTES:,})"
                )
            header_text = handle.read(header_bytes)
    except OSError as exc:
        raise InputError(f"{source}: cannot read file ({exc.strerror or shown(exc)})") from None
    try:
        header = parse_json(header_text.decode("utf-8"), f"{source}: its header")
    except UnicodeDecodeError:
        raise InputError(f"{source}: not a readable safetensors file (its header is not UTF-8 text)") from None
    if not isinstance(header, dict):
        raise InputError(f"{source}: not a readable safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise InputError(f"{source}: its header's __metadata__ must map names to strings")
    data_bytes = size - 8 - header_bytes
    entries: dict[str, TensorEntry] = {}
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        entry, begin, end = _safetensors_entry(source, name, info)
        if end > data_bytes:
            raise InputError(
                f"{source}: tensor {name!r} of shape {_shape_text(entry.shape)} ({entry.dtype}, {entry.nbytes:,} "
                f"bytes) lies beyond the file's {data_bytes:,} bytes of data: a truncated file, or a header "
                "declaring more than the file holds; nothing was loaded"
            )
        entries[name] = entry
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise InputError(
                f"{source}: tensor {name!r} begins at byte {begin:,} of the data, expected {position:,} (the "
                "tensors' data must follow each other without gap or overlap)"
            )
        position = end
    if position != data_bytes:
        raise InputError(f"{source}: {data_bytes - position:,} bytes follow the last tensor's data")
    return entries


def read_safetensors(
    path: str | Path,
    *,
    what: str,
    limit_field: str,
    check: Callable[[dict[str, TensorEntry]], list[str] | None] | None = None,
) -> dict[str, torch.Tensor]:
    """Load tensors from a safetensors file: :func:`read_safetensors_header` first, then ``check(entries)``
    (the caller's keys, shapes and dtypes; raises :class:`InputError`; returns the names of the tensors to
    load, or ``None`` for all), then only those tensors are loaded (each checked against its header entry).

    Raises:
        InputError: as :func:`read_safetensors_header`, or refused by ``check``, or the file cannot be loaded.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    source = f"{what} {shown(path)}"
    entries = read_safetensors_header(path, what=what, limit_field=limit_field)
    chosen = check(entries) if check is not None else None
    wanted = list(entries) if chosen is None else chosen
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt") as handle:
            for name in wanted:
                tensor = handle.get_tensor(name)
                entry = entries[name]
                if tuple(tensor.shape) != entry.shape or str(tensor.dtype).removeprefix("torch.") != entry.dtype:
                    raise InputError(f"{source}: the file changed while it was read")
                tensors[name] = tensor
    except InputError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{source}: not a readable safetensors file ({shown(exc)})") from None
    return tensors


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


def is_existing_file(path: str | Path) -> bool:
    """True if ``path`` names an existing file; False for anything the system cannot even look up (a name too
    long, a loop of links) instead of an ``OSError``."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def same_file(first: str | Path, second: str | Path) -> bool:
    """True if both paths name one file (same inode, or the same resolved path when one does not exist yet)."""
    first, second = Path(first), Path(second)
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
        return first.resolve() == second.resolve()
    except (OSError, ValueError):  # a name too long, a NUL character: not the same file as anything
        return False


Paths = tuple[str | Path | None, ...] | Mapping[str, str | Path | None]


def _named(paths: Paths, default: str) -> list[tuple[str, Path]]:
    """``(option, path)`` pairs of the paths given (``None`` ones skipped)."""
    items = paths.items() if isinstance(paths, Mapping) else ((default, path) for path in paths)
    return [(name, Path(path)) for name, path in items if path is not None]


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _check_not_an_input(path: Path, option: str, inputs: Paths, outputs: Paths) -> None:
    for name, source in _named(inputs, "input"):
        if same_file(path, source):
            raise InputError(
                f"{option} {shown(path)} is also an input of this command ({name} {shown(source)}); refusing to "
                "overwrite it: choose another output file"
            )
    for name, other in _named(outputs, "output"):
        if name != option and same_file(path, other):
            raise InputError(
                f"{option} {shown(path)} is also the command's {name} output; give each output its own path"
            )


def check_output_path(path: str | Path, *, inputs: Paths = (), outputs: Paths = (), option: str = "--out") -> Path:
    """The output boundary of a file output: fail early, before any work, if ``path`` may not be written.

    Refused (:class:`InputError` naming ``option`` and the reason): ``path`` is one of ``inputs`` (the files
    the command reads, with any option) or the path of another of its ``outputs`` (``{option: path}``); it is
    a symbolic link (replacing the link would silently cut it; give the path it points to), a device, pipe or
    socket (``/dev/null`` would be replaced by a regular file), or a folder; its folder does not exist or
    cannot be written (probed with a temporary file, which also catches read-only and special file systems
    such as ``/proc``); an existing ``path`` is not writable.
    """
    path = Path(path)
    where = f"{option} {shown(path)}"
    check_path_text(path, option)
    _check_not_an_input(path, option, inputs, outputs)
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"{where}: cannot inspect it ({exc.strerror or shown(exc)})") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise InputError(
                f"{where}: is a symbolic link; outputs are not written through links (it would be replaced by a "
                "file): give the path it points to"
            )
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{where}: is a folder, expected a file name")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"{where}: is {_file_kind(info.st_mode)}, not a regular file; outputs are written as regular files only"
            )
        if not os.access(path, os.W_OK):
            raise InputError(f"{where}: the file exists and is not writable")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"{where}: output folder {shown(folder)} does not exist")
    check_writable_folder(folder, option=where)
    return path


def check_output_folder(
    path: str | Path,
    *,
    own: tuple[str, ...],
    inputs: Paths = (),
    outputs: Paths = (),
    option: str = "--out",
    force: bool = False,
) -> Path:
    """The output boundary of a folder output: refuse, before any work, a folder that holds files not ours.

    ``own`` are the glob patterns (:func:`fnmatch.fnmatch`) of the names the command writes into the folder. A
    folder that is missing or empty, or whose every entry matches ``own`` (a previous run's, to resume), is
    accepted; one with any other entry is refused unless ``force`` (its files of our names would be replaced).
    Also refused: ``path`` is an input or another output, or an existing file that is not a folder, or no
    folder can be created there. A symbolic link to a folder is followed (it is the folder written into).
    """
    path = Path(path)
    where = f"{option} {shown(path)}"
    check_path_text(path, option)
    _check_not_an_input(path, option, inputs, outputs)
    for name, source in _named(inputs, "input"):
        if _is_inside(source, path) and not force:
            raise InputError(
                f"{where}: the input {name} {shown(source)} is inside this output folder; choose another folder "
                "(or --force)"
            )
    if path.exists() and not path.is_dir():
        raise InputError(f"{where}: exists and is not a folder")
    if path.is_dir():
        try:
            names = sorted(entry.name for entry in os.scandir(path))
        except OSError as exc:
            raise InputError(f"{where}: cannot list the folder ({exc.strerror or shown(exc)})") from None
        foreign = [name for name in names if not any(fnmatch.fnmatchcase(name, pattern) for pattern in own)]
        if foreign and not force:
            listed = ", ".join(shown(name) for name in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise InputError(
                f"{where}: the folder holds {len(foreign)} file(s) this command did not write ({listed}); files "
                "of the names it writes would be replaced: choose an empty or new folder, or --force"
            )
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{where}: {shown(existing)} is not a folder")
    check_writable_folder(existing, option=where)
    return path


def _is_inside(child: Path, folder: Path) -> bool:
    try:
        return child.resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def check_writable_folder(folder: str | Path, *, option: str = "--out") -> Path:
    """Raise :class:`InputError` unless a file can be created (and removed) in ``folder``."""
    folder = Path(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=".nomasplit-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{option}: cannot write in folder {shown(folder)} ({exc.strerror or shown(exc)})") from None
    return folder


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically (temporary file + rename). ``.gz`` paths are gzipped.

    An existing ``path`` is replaced only once the new content is complete on disk. Any failure to write (no
    such folder, read-only or full file system, permissions) raises :class:`InputError` naming the file, and
    leaves ``path`` as it was.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"{shown(path)}: output folder {shown(path.parent)} does not exist")
    if path.is_dir():
        raise InputError(f"{shown(path)}: is a folder, expected a file name")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise InputError(f"{shown(path)}: is a symbolic link or a special file; only regular files are replaced")
    payload = content.encode("utf-8") if isinstance(content, str) else content
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot write ({exc.strerror or shown(exc)})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _default_file_mode())
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise InputError(f"{shown(path)}: cannot write ({exc.strerror or shown(exc)}); nothing was changed") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write strict JSON atomically."""
    return write_atomic(path, dumps_json(data, indent=indent) + "\n")
