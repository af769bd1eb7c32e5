"""What every profile shares: the accepted options, the seeded input, and what a profile records as its source.

Options are checked here once for chains (:mod:`nomasplit.measure.profile`) and DAG models
(:mod:`nomasplit.measure.graph`): the dtype (float32 by default; float16, bfloat16, float64), the input shape, the
bits per element sent, the warm-up and repeat counts. The profiling input is standard normal, drawn from a
``torch.Generator`` seeded with :data:`INPUT_SEED`, so that a profile without timings is a pure function of the
model, the input shape, the dtype and the torch version.
"""

from __future__ import annotations

import copy
import datetime
import math
import platform
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from nomasplit.errors import InputError

#: A module type kept through :func:`in_dtype`.
ModuleT = TypeVar("ModuleT", bound=nn.Module)

#: dtypes a profile can refer to, by name.
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}

#: Largest input tensor accepted (elements), so a typo in a shape fails cleanly instead of exhausting memory.
MAX_INPUT_ELEMENTS = 2**28

#: Seed of the generator that draws the (standard normal) profiling input.
INPUT_SEED = 0

#: Bits per element a profile may send (``input_bits``, ``activation_bits``).
ELEMENT_BITS: tuple[int, ...] = (8, 16, 32, 64)

#: Untimed runs before timing, and timed runs whose median is kept, unless told otherwise.
DEFAULT_WARMUP = 3
DEFAULT_REPEATS = 10

FLOP_METHOD = (
    "torch.utils.flop_counter.FlopCounterMode per unit (2 FLOPs per multiply-accumulate of convolutions and "
    "matrix products; other operators count 0); sizes from one forward pass"
)


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A dtype name (``float32``, ``float16``, ``bfloat16``, ``float64``) or one of those torch dtypes."""
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
    elif isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise InputError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")


def dtype_name(dtype: torch.dtype) -> str:
    """Name of a supported dtype (the inverse of :func:`parse_dtype`)."""
    return next(name for name, value in DTYPES.items() if value == parse_dtype(dtype))


def validate_input_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Check an input shape: one or more integers >= 1, at most :data:`MAX_INPUT_ELEMENTS` elements in all."""
    if isinstance(shape, str | bytes) or not isinstance(shape, Sequence) or len(shape) == 0:
        raise InputError(f"input shape must be a non-empty sequence of integers >= 1; got {shape!r}")
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InputError(f"input shape must hold integers >= 1; got {list(shape)!r}")
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise InputError(
            f"input shape {list(shape)} has {math.prod(shape)} elements; at most {MAX_INPUT_ELEMENTS} allowed"
        )
    return tuple(shape)


def parse_input_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1,3,32,32"`` (commas or ``x`` between dimensions) into a validated shape."""
    parts = [part.strip() for part in text.replace("x", ",").split(",")]
    try:
        dims = [int(part) for part in parts]
    except ValueError:
        raise InputError(
            f"input shape must be integers >= 1 separated by commas, like 1,3,32,32; got {text!r}"
        ) from None
    return validate_input_shape(dims)


def check_element_bits(value: int | None, field: str) -> int | None:
    """``None`` or one of :data:`ELEMENT_BITS`; InputError naming ``field`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in ELEMENT_BITS:
        raise InputError(f"{field} must be one of {', '.join(map(str, ELEMENT_BITS))}; got {value!r}")
    return value


def check_count(value: int, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{field} must be an integer >= {minimum}; got {value!r}")
    return value


def check_profile_options(
    name: str,
    input_shape: Sequence[int],
    dtype: str | torch.dtype,
    warmup: int,
    repeats: int,
    input_bits: int | None,
    activation_bits: int | None,
) -> tuple[tuple[int, ...], torch.dtype]:
    """Check a profile's name, shape, dtype, counts and element bits; return the shape and the torch dtype."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"model name must be a non-empty string; got {name!r}")
    shape = validate_input_shape(input_shape)
    torch_dtype = parse_dtype(dtype)
    check_count(warmup, "warmup", 0)
    check_count(repeats, "repeats", 1)
    check_element_bits(input_bits, "input bits")
    check_element_bits(activation_bits, "activation bits")
    return shape, torch_dtype


def in_dtype(module: ModuleT, torch_dtype: torch.dtype) -> ModuleT:
    """``module`` in eval mode, as it is, or a converted copy when a float tensor of it has another dtype."""
    float_tensors = [tensor for tensor in [*module.parameters(), *module.buffers()] if tensor.is_floating_point()]
    if any(tensor.dtype != torch_dtype for tensor in float_tensors):
        module = copy.deepcopy(module).to(torch_dtype)
    return module.eval()


def profiling_input(shape: Sequence[int], torch_dtype: torch.dtype) -> torch.Tensor:
    """The standard-normal profiling input, drawn from a generator seeded with :data:`INPUT_SEED`."""
    generator = torch.Generator(device="cpu").manual_seed(INPUT_SEED)
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(torch_dtype)


def tensor_bits(tensor: torch.Tensor, element_bits: int | None = None) -> int:
    """Size of ``tensor`` as sent: ``numel`` times ``element_bits``, or times its dtype's width when None."""
    return tensor.numel() * (tensor.element_size() * 8 if element_bits is None else element_bits)


def profile_source(
    torch_dtype: torch.dtype, input_bits: int | None = None, activation_bits: int | None = None, **extra: str
) -> dict[str, Any]:
    """A profile's ``source``: the FLOP method, torch version, dtype, input, ``extra`` entries, and the sizes
    rule when ``input_bits`` or ``activation_bits`` is set (no host data: a profile regenerates the same)."""
    source: dict[str, Any] = {
        "method": FLOP_METHOD,
        "torch_version": torch.__version__,
        "dtype": dtype_name(torch_dtype),
        "input": f"standard normal, torch.Generator seed {INPUT_SEED}",
        **extra,
    }
    if input_bits is not None or activation_bits is not None:
        source["sizes"] = (
            f"numel x {input_bits or 'dtype'} bits for the input, numel x {activation_bits or 'dtype'} bits for "
            "the tensors sent at a split and the result"
        )
    return source


def latency_source(method: str, warmup: int, repeats: int) -> dict[str, Any]:
    """``source["latency"]`` of a measured profile: the method, counts, one thread, this host and the time."""
    return {
        "method": method,
        "warmup": warmup,
        "repeats": repeats,
        "threads": 1,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "hostname": platform.node(),
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
