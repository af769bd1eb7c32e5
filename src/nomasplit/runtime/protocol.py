"""Wire format of the split-inference runtime: HTTP/1.1, raw little-endian tensor bytes, a dtype/shape header.

One request runs units ``s+1..F`` of a model on the edge::

    POST /v1/infer/{model}/{split}
    Authorization: Bearer <NOMASPLIT_TOKEN>
    Content-Type: application/octet-stream
    Content-Length: <exactly prod(shape) * itemsize>
    X-Nomasplit-Dtype: float32
    X-Nomasplit-Shape: 1,16,208,208
    X-Nomasplit-Downlink-Bps: 2000000        (optional: pace the answer at this rate)

    <the tensor's bytes, C order, little-endian>

The answer (200) carries the result the same way (``X-Nomasplit-Dtype``/``X-Nomasplit-Shape``) plus the
edge's own compute time (``X-Nomasplit-Edge-Compute-S``) and its wait for a compute worker
(``X-Nomasplit-Edge-Queue-S``). Every error is a JSON object ``{"error": CODE, "detail": MESSAGE}`` with a
4xx (or 5xx) status.

A DAG model (a ResNet) may need several tensors at a split (the live set: a residual block's branch and its
shortcut). Its requests carry them all in one body, one after the other, named in one header instead of
``X-Nomasplit-Shape``, all of the model's dtype::

    X-Nomasplit-Dtype: float32
    X-Nomasplit-Tensors: layer1_0_conv1=1,64,8,8;maxpool=1,64,8,8

The names are the graph's (``nomasplit.measure.graph``), in the order the edge lists for that split in
``/v1/models`` (``split_tensors``); the edge checks names, order, shapes and length before reading the body.

The body is exactly the tensor (or tensors): its length is the profile's ``output_bits / 8``, so bytes on the
wire match the system model's ``w(s)``. Nothing is ever unpickled: a body is read with :func:`numpy.frombuffer` only
after its dtype, shape and length have been checked against what the model expects at that split."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

API_PREFIX = "/v1"
INFER_PATH = API_PREFIX + "/infer/{model}/{split}"
MODELS_PATH = API_PREFIX + "/models"
HEALTH_PATH = API_PREFIX + "/health"

HEADER_DTYPE = "X-Nomasplit-Dtype"
HEADER_SHAPE = "X-Nomasplit-Shape"
HEADER_DOWNLINK_BPS = "X-Nomasplit-Downlink-Bps"
HEADER_EDGE_COMPUTE_S = "X-Nomasplit-Edge-Compute-S"
HEADER_EDGE_QUEUE_S = "X-Nomasplit-Edge-Queue-S"
HEADER_TENSORS = "X-Nomasplit-Tensors"
CONTENT_TYPE = "application/octet-stream"

#: Dtypes a tensor may travel as: name -> (torch dtype, little-endian numpy dtype).
WIRE_DTYPES: dict[str, tuple[torch.dtype, np.dtype]] = {
    "float32": (torch.float32, np.dtype("<f4")),
    "float64": (torch.float64, np.dtype("<f8")),
    "float16": (torch.float16, np.dtype("<f2")),
    "int64": (torch.int64, np.dtype("<i8")),
    "int32": (torch.int32, np.dtype("<i4")),
    "uint8": (torch.uint8, np.dtype("u1")),
}
_TORCH_TO_WIRE = {torch_dtype: name for name, (torch_dtype, _) in WIRE_DTYPES.items()}

MAX_NDIM = 8
MAX_SHAPE_HEADER_CHARS = 200
#: Most tensors one DAG request may carry, and the longest ``X-Nomasplit-Tensors`` header.
MAX_TENSORS = 64
MAX_TENSORS_HEADER_CHARS = 8000
_TENSOR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class ProtocolError(Exception):
    """A request or answer that breaks the wire format; carries the HTTP status and a short error code.

    Args:
        status: HTTP status to answer with (4xx for the client's fault).
        code: machine-readable error code, e.g. ``"wrong_shape"``.
        detail: one human-readable sentence naming the field and what is allowed.
    """

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        """The JSON body of the error answer."""
        return {"error": self.code, "detail": self.detail}


@dataclass(frozen=True)
class TensorHeader:
    """What the headers say about a body: dtype name and shape."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def num_bytes(self) -> int:
        """Body length this header implies: ``prod(shape) * itemsize``."""
        return math.prod(self.shape) * WIRE_DTYPES[self.dtype][1].itemsize

    def to_headers(self) -> dict[str, str]:
        """The two HTTP headers."""
        return {HEADER_DTYPE: self.dtype, HEADER_SHAPE: format_shape(self.shape)}


def format_shape(shape: tuple[int, ...] | list[int]) -> str:
    """``(1, 3, 32, 32)`` -> ``"1,3,32,32"``."""
    return ",".join(str(int(size)) for size in shape)


def parse_dtype(value: str | None) -> str:
    """Check a ``X-Nomasplit-Dtype`` header value; raise :class:`ProtocolError` if missing or unknown."""
    if value is None or not value.strip():
        raise ProtocolError(400, "missing_dtype", f"header {HEADER_DTYPE} is required (e.g. 'float32')")
    name = value.strip().lower()
    if name not in WIRE_DTYPES:
        raise ProtocolError(
            422, "wrong_dtype", f"{HEADER_DTYPE} = {value!r} is not supported; allowed: {sorted(WIRE_DTYPES)}"
        )
    return name


def parse_shape(value: str | None) -> tuple[int, ...]:
    """Parse a ``X-Nomasplit-Shape`` header (``"1,3,32,32"``); raise :class:`ProtocolError` if malformed."""
    if value is None or not value.strip():
        raise ProtocolError(400, "missing_shape", f"header {HEADER_SHAPE} is required (e.g. '1,3,32,32')")
    if len(value) > MAX_SHAPE_HEADER_CHARS:
        raise ProtocolError(400, "malformed_shape", f"{HEADER_SHAPE} is longer than {MAX_SHAPE_HEADER_CHARS} chars")
    parts = [part.strip() for part in value.strip().split(",")]
    # ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() then refuses.
    if not 1 <= len(parts) <= MAX_NDIM or not all(
        part.isascii() and part.isdigit() and len(part) <= 12 for part in parts
    ):
        raise ProtocolError(
            400,
            "malformed_shape",
            f"{HEADER_SHAPE} = {value!r} is not 1 to {MAX_NDIM} non-negative integers separated by commas",
        )
    return tuple(int(part) for part in parts)


def parse_tensor_header(dtype_value: str | None, shape_value: str | None) -> TensorHeader:
    """Both headers at once."""
    return TensorHeader(dtype=parse_dtype(dtype_value), shape=parse_shape(shape_value))


def wire_dtype_name(dtype: torch.dtype) -> str:
    """The wire name of a torch dtype; raise :class:`ValueError` if it cannot travel."""
    try:
        return _TORCH_TO_WIRE[dtype]
    except KeyError:
        raise ValueError(f"dtype {dtype} cannot travel; allowed: {sorted(WIRE_DTYPES)}") from None


def encode_tensor(tensor: torch.Tensor) -> tuple[bytes, TensorHeader]:
    """Raw bytes (C order, little-endian) and header of a CPU tensor.

    Args:
        tensor: any shape, a dtype in :data:`WIRE_DTYPES`.

    Returns:
        ``(body, header)`` with ``len(body) == header.num_bytes``.
    """
    name = wire_dtype_name(tensor.dtype)
    array = tensor.detach().to("cpu").contiguous().numpy()
    body = array.astype(WIRE_DTYPES[name][1], copy=False).tobytes(order="C")
    return body, TensorHeader(dtype=name, shape=tuple(int(size) for size in tensor.shape))


def decode_tensor(body: bytes, header: TensorHeader) -> torch.Tensor:
    """Rebuild a tensor from raw bytes after checking the length against the header.

    Raises:
        ProtocolError: 400 ``truncated_body`` if the body is shorter than the header implies, 413
            ``body_too_large`` if longer.
    """
    expected = header.num_bytes
    if len(body) < expected:
        raise ProtocolError(
            400,
            "truncated_body",
            f"body has {len(body)} bytes, but dtype {header.dtype} and shape [{format_shape(header.shape)}] "
            f"need {expected}",
        )
    if len(body) > expected:
        raise ProtocolError(
            413,
            "body_too_large",
            f"body has {len(body)} bytes, more than the {expected} that dtype {header.dtype} and shape "
            f"[{format_shape(header.shape)}] need",
        )
    array = np.frombuffer(body, dtype=WIRE_DTYPES[header.dtype][1]).reshape(header.shape)
    # Copy into native byte order and a writable buffer owned by torch.
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))


#: Tensors of a DAG split as the header names them: ``((name, shape), ...)`` in body order.
TensorList = tuple[tuple[str, tuple[int, ...]], ...]


def format_tensors(entries: Sequence[tuple[str, tuple[int, ...]]]) -> str:
    """``[("a", (1, 2)), ("b", (1, 3))]`` -> ``"a=1,2;b=1,3"`` (the ``X-Nomasplit-Tensors`` value)."""
    return ";".join(f"{name}={format_shape(shape)}" for name, shape in entries)


def parse_tensors(value: str | None) -> TensorList:
    """Parse a ``X-Nomasplit-Tensors`` header; raise :class:`ProtocolError` (400) if missing or malformed."""
    if value is None or not value.strip():
        raise ProtocolError(400, "missing_tensors", f"header {HEADER_TENSORS} is required for a DAG model's split")
    if len(value) > MAX_TENSORS_HEADER_CHARS:
        raise ProtocolError(
            400, "malformed_tensors", f"{HEADER_TENSORS} is longer than {MAX_TENSORS_HEADER_CHARS} chars"
        )
    parts = value.strip().split(";")
    if len(parts) > MAX_TENSORS:
        raise ProtocolError(400, "malformed_tensors", f"{HEADER_TENSORS} names more than {MAX_TENSORS} tensors")
    entries = []
    for part in parts:
        name, equals, shape = part.strip().partition("=")
        if not equals or not _TENSOR_NAME.fullmatch(name):
            raise ProtocolError(
                400,
                "malformed_tensors",
                f"{HEADER_TENSORS} entry {part[:60]!r} is not NAME=SHAPE (e.g. add_1=1,64,8,8)",
            )
        try:
            entries.append((name, parse_shape(shape)))
        except ProtocolError as exc:
            raise ProtocolError(400, "malformed_tensors", f"{HEADER_TENSORS} entry {name!r}: {exc.detail}") from None
    if len({name for name, _ in entries}) != len(entries):
        raise ProtocolError(400, "malformed_tensors", f"{HEADER_TENSORS} names a tensor twice")
    return tuple(entries)


def tensors_num_bytes(dtype: str, entries: TensorList) -> int:
    """Body length of ``entries`` in ``dtype``."""
    return sum(math.prod(shape) for _, shape in entries) * WIRE_DTYPES[dtype][1].itemsize


def encode_payload(value: torch.Tensor | Mapping[str, torch.Tensor]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a request: one tensor (``X-Nomasplit-Shape``) or named tensors of one dtype,
    concatenated in the mapping's order (``X-Nomasplit-Tensors``).

    Raises:
        ValueError: named tensors of different dtypes, a bad name, or none at all.
    """
    if isinstance(value, torch.Tensor):
        body, header = encode_tensor(value)
        return body, header.to_headers()
    if not value:
        raise ValueError("no tensors to send")
    dtypes = {tensor.dtype for tensor in value.values()}
    if len(dtypes) != 1:
        raise ValueError(f"named tensors must share one dtype; got {sorted(map(str, dtypes))}")
    bodies, entries = [], []
    for name, tensor in value.items():
        if not _TENSOR_NAME.fullmatch(name):
            raise ValueError(f"tensor name {name!r} cannot travel (letters, digits, underscores)")
        body, header = encode_tensor(tensor)
        bodies.append(body)
        entries.append((name, header.shape))
    return b"".join(bodies), {HEADER_DTYPE: wire_dtype_name(dtypes.pop()), HEADER_TENSORS: format_tensors(entries)}


def decode_tensors(body: bytes, dtype: str, entries: TensorList) -> dict[str, torch.Tensor]:
    """Split a DAG request's body into its named tensors after checking its length (400 short, 413 long)."""
    expected = tensors_num_bytes(dtype, entries)
    if len(body) != expected:
        status, code = (400, "truncated_body") if len(body) < expected else (413, "body_too_large")
        raise ProtocolError(
            status, code, f"body has {len(body)} bytes, but dtype {dtype} and {HEADER_TENSORS} need {expected}"
        )
    tensors, offset = {}, 0
    for name, shape in entries:
        header = TensorHeader(dtype=dtype, shape=shape)
        tensors[name] = decode_tensor(body[offset : offset + header.num_bytes], header)
        offset += header.num_bytes
    return tensors
