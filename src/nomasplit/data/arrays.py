"""A numpy array field for pydantic models, stored in JSON either as nested lists or base64.

Small arrays are written as nested lists (readable, hand-editable); large ones (the gain tensors of a
paper-scale scenario hold millions of numbers) as ``{"shape": [...], "dtype": "float64", "base64": "..."}``
with little-endian bytes. Both forms are accepted on input. NaN and infinity are rejected.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import numpy as np
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

#: Arrays with more elements than this are written as base64 instead of nested lists.
LIST_ENCODING_MAX_ELEMENTS = 4096


def _check_plain_numbers(value: Any) -> None:
    """Strict input: nested lists of int and float only (no booleans, no numbers written as strings)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, int | float | np.integer | np.floating):
            raise ValueError(
                f"expected numbers, got {type(item).__name__} {item!r} (no coercion from text or booleans)"
            )


def decode_array(value: Any) -> np.ndarray:
    """Turn nested lists, a base64 object or an ndarray into a read-only float64 array."""
    if isinstance(value, np.ndarray):
        array = np.array(value, dtype=np.float64)
    elif isinstance(value, dict):
        unknown = set(value) - {"shape", "dtype", "base64"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} in encoded array; allowed: shape, dtype, base64")
        try:
            shape = [int(dim) for dim in value["shape"]]
            dtype = str(value.get("dtype", "float64"))
            raw = base64.b64decode(value["base64"], validate=True)
        except KeyError as exc:
            raise ValueError(f"encoded array needs key {exc.args[0]!r}") from None
        except (TypeError, ValueError, binascii.Error) as exc:
            raise ValueError(f"malformed encoded array: {exc}") from None
        if dtype not in ("float64", "float32"):
            raise ValueError(f"encoded array dtype must be float64 or float32, got {dtype!r}")
        flat = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        if flat.size != int(np.prod(shape)):
            raise ValueError(f"encoded array holds {flat.size} numbers but shape {shape} needs {int(np.prod(shape))}")
        array = flat.astype(np.float64).reshape(shape)
    else:
        _check_plain_numbers(value)
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected numbers in a regular (non-ragged) nested list: {exc}") from None
    if array.size and not np.all(np.isfinite(array)):
        raise ValueError("contains NaN or infinity; only finite numbers are allowed")
    array.setflags(write=False)
    return array


def encode_array(array: np.ndarray) -> Any:
    """Nested lists for small arrays, base64 little-endian float64 for large ones."""
    if array.size <= LIST_ENCODING_MAX_ELEMENTS:
        return array.tolist()
    data = np.ascontiguousarray(array, dtype=np.dtype("<f8")).tobytes()
    return {"shape": list(array.shape), "dtype": "float64", "base64": base64.b64encode(data).decode("ascii")}


_ARRAY_JSON_SCHEMA = {
    "description": "numbers as nested lists, or {shape, dtype, base64} with little-endian float64 bytes",
    "anyOf": [
        {"type": "array"},
        {
            "type": "object",
            "properties": {
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "dtype": {"enum": ["float64", "float32"]},
                "base64": {"type": "string"},
            },
            "required": ["shape", "base64"],
            "additionalProperties": False,
        },
    ],
}

FloatArray = Annotated[
    np.ndarray,
    PlainValidator(decode_array),
    PlainSerializer(encode_array, when_used="json"),
    WithJsonSchema(_ARRAY_JSON_SCHEMA),
]
"""A float64 array field (read-only after validation)."""
