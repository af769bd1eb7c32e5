"""Per-unit profiles of a chain DNN: FLOPs, output sizes and (optionally) measured latency.

A model is a chain of split units: the direct children of an ``nn.Sequential`` (the zoo models, or a user's
``nn.Sequential``), or the nodes of a ``torch.fx`` trace that form a single chain (:func:`as_chain`). The
profile is what the system model needs (spec "Profiles of a model with F layers"):

- ``flops`` of unit ``delta`` (``f_delta``): counted by ``torch.utils.flop_counter.FlopCounterMode`` while the
  unit runs on a real tensor. It counts 2 FLOPs per multiply-accumulate of the operators it knows:
  convolutions and matrix products (``mm``, ``addmm``, ``bmm``, attention). Everything else (bias add,
  batch norm, activations, pooling, padding, dropout, reshapes, softmax) counts 0, so a unit made only of
  such operators (a max-pool, a flatten) has 0 FLOPs.
- ``output_bits`` (``w(s)``): ``numel * bits per element`` of the unit's real output tensor; the input runs in
  the chosen dtype (float32 by default; float16, bfloat16, float64), so a float output has that dtype's width,
  unless ``activation_bits`` says how many bits per element the device sends (8 or 16 when quantised).
- ``input_bits`` (``w(0)``) of the input tensor in that dtype, or at ``input_bits`` per element (8 for a
  camera image), and ``result_bits`` (``m``) of the last output (at ``activation_bits`` if given).
- with ``measure=True``, ``measured_latency_s`` per unit on this host: warm-up runs, then the median of
  repeated runs, under ``torch.inference_mode`` with one intra-op thread.

The profile without measurement is a pure function of the model's structure, the input shape, the dtype and
the torch version: it holds no timestamp or hostname, so regenerating it gives the same JSON.
"""

from __future__ import annotations

import copy
import datetime
import importlib
import itertools
import math
import os
import platform
import statistics
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.fx
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nomasplit.data.measurement import LatencyMeasurement, UnitTimings
from nomasplit.data.profile import LayerProfile, ModelProfile
from nomasplit.errors import InputError
from nomasplit.graph_profile import NotAChainError, is_chain, profile_graph, trace_graph
from nomasplit.model.compensation import fit_measured_compensation
from nomasplit.model.device import torch_threads

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

DEFAULT_WARMUP = 3
DEFAULT_REPEATS = 10
#: Sleep before each timed pass of :func:`measure_unit_latencies` [s] (device and edge wait between passes).
DEFAULT_IDLE_S = 0.02

FLOP_METHOD = (
    "torch.utils.flop_counter.FlopCounterMode per unit (2 FLOPs per multiply-accumulate of convolutions and "
    "matrix products; other operators count 0); sizes from one forward pass"
)


# ---------------------------------------------------------------------------------------------------------
# Input validation


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


def _check_count(value: int, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{field} must be an integer >= {minimum}; got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------------------
# Profiling


def unit_names(module: nn.Sequential) -> list[str]:
    """Profile names of the units: the child's name, or ``<index>_<Class>`` where that name is an index."""
    names = []
    for child_name, child in module.named_children():
        names.append(f"{child_name}_{type(child).__name__}" if child_name.isdigit() else child_name)
    return names


def _median_latency_s(unit: nn.Module, unit_input: torch.Tensor, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        unit(unit_input)
    durations_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        unit(unit_input)
        durations_s.append(time.perf_counter() - start)
    return float(statistics.median(durations_s))


def _bits(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size() * 8


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
    _check_count(warmup, "warmup", 0)
    _check_count(repeats, "repeats", 1)
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


def profile_model(
    module: nn.Sequential,
    input_shape: Sequence[int],
    *,
    name: str,
    dtype: str | torch.dtype = torch.float32,
    measure: bool = False,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    input_bits: int | None = None,
    activation_bits: int | None = None,
) -> ModelProfile:
    """Profile a chain model unit by unit.

    The input is a standard-normal tensor of ``input_shape`` in ``dtype`` (drawn from a ``torch.Generator``
    seeded with :data:`INPUT_SEED`); it runs through the units in order under ``torch.inference_mode``, each
    unit inside a ``FlopCounterMode``. The model is not changed (a copy is converted when ``dtype`` differs
    from its parameters' dtype).

    Args:
        module: the chain; its direct children are the split units.
        input_shape: input tensor shape including the batch dimension (batch 1 for the paper's profiles).
        name: model name recorded in the profile.
        dtype: dtype of the input and the weights, which sets the size in bits of float tensors.
        measure: also measure each unit's latency on this host (``measured_latency_s``).
        warmup: un-timed runs per unit before timing (``measure`` only), ``>= 0``.
        repeats: timed runs per unit, whose median is reported (``measure`` only), ``>= 1``.
        input_bits: bits per element of the raw input as sent (8: a camera image); None: the dtype's width.
        activation_bits: bits per element of every tensor sent at a split and of the result (the device and
            the edge may quantise differently from the dtype they compute in); None: the dtype's width.
            Sizes scale exactly: ``output_bits = numel * activation_bits``. FLOPs do not change.

    Returns:
        The profile: per unit ``flops`` (2 per multiply-accumulate), ``output_bits``, ``output_shape`` and,
        if measured, ``measured_latency_s`` [s]; ``input_bits`` = ``w(0)``, ``result_bits`` = ``m``.

    Raises:
        InputError: not an ``nn.Sequential`` with at least one unit, bad shape, dtype, counts or name, or a
            unit that fails on its input or does not return one non-empty tensor.
    """
    if not isinstance(module, nn.Sequential):
        raise InputError(f"model must be an nn.Sequential of split units (see as_chain); got {type(module).__name__}")
    if len(module) == 0:
        raise InputError("model has no units: an empty nn.Sequential cannot be split")
    shape, torch_dtype = check_profile_options(name, input_shape, dtype, warmup, repeats, input_bits, activation_bits)

    def sent_bits(tensor: torch.Tensor, element_bits: int | None) -> int:
        return _bits(tensor) if element_bits is None else tensor.numel() * element_bits

    module = in_dtype(module, torch_dtype)
    model_input = profiling_input(shape, torch_dtype)
    names = unit_names(module)
    unit_inputs: list[torch.Tensor] = []
    layers: list[dict[str, Any]] = []
    current = model_input
    with torch.inference_mode():
        for index, (unit_name, unit) in enumerate(zip(names, module.children(), strict=True), start=1):
            unit_inputs.append(current)
            try:
                with FlopCounterMode(display=False) as counter:
                    output = unit(current)
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                raise InputError(
                    f"unit {index} ({unit_name!r}) fails on an input of shape {list(current.shape)}: {exc}"
                ) from None
            if not isinstance(output, torch.Tensor) or output.numel() == 0:
                raise InputError(
                    f"unit {index} ({unit_name!r}) must return one non-empty tensor to be a split point; "
                    f"got {type(output).__name__}"
                )
            layers.append(
                {
                    "name": unit_name,
                    "flops": float(counter.get_total_flops()),
                    "output_bits": float(sent_bits(output, activation_bits)),
                    "output_shape": list(output.shape),
                }
            )
            current = output

    source = profile_source(torch_dtype, input_bits, activation_bits)
    if measure:
        with torch.inference_mode(), torch_threads(1):
            for layer, unit, unit_input in zip(layers, module.children(), unit_inputs, strict=True):
                layer["measured_latency_s"] = _median_latency_s(unit, unit_input, warmup, repeats)
        source["latency"] = latency_source(
            "median of timed runs after warm-up runs, torch.inference_mode, time.perf_counter", warmup, repeats
        )
    return ModelProfile(
        model=name,
        input_shape=list(shape),
        dtype=dtype_name(torch_dtype),
        input_element_bits=input_bits,
        activation_element_bits=activation_bits,
        input_bits=float(sent_bits(model_input, input_bits)),
        result_bits=layers[-1]["output_bits"],
        layers=[LayerProfile(**layer) for layer in layers],
        source=source,
    )


# ---------------------------------------------------------------------------------------------------------
# Latency with r compute units (the edge server's lambda(r))


def _interquartile_range(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return float(quartiles[2] - quartiles[0])


def parse_units(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``: compute-unit counts, strictly increasing, including 1, at most the CPUs here.

    Raises:
        InputError: not a list of integers, not increasing, 1 missing, or more units than this host has CPUs.
    """
    try:
        units = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"--units {text!r} must be comma-separated integers, e.g. 1,2,4") from None
    if not units or any(later <= earlier for earlier, later in itertools.pairwise(units)):
        raise InputError(f"--units {text!r} must be strictly increasing, e.g. 1,2,4")
    if units[0] != 1:
        raise InputError(f"--units {text!r} must include 1 (lambda(1) = 1 anchors the fit)")
    cpus = os.cpu_count() or 1
    too_many = [value for value in units if value > cpus]
    if too_many:
        raise InputError(
            f"--units {too_many[0]} exceeds the {cpus} CPUs of this host: threads beyond the cores only share "
            f"them; measure {','.join(str(value) for value in units if value <= cpus)} here, larger counts on a "
            "bigger host"
        )
    return units


def measure_unit_latencies(
    module: nn.Sequential,
    input_shape: Sequence[int],
    *,
    name: str,
    units: Sequence[int],
    dtype: str | torch.dtype = torch.float32,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    idle_s: float = DEFAULT_IDLE_S,
) -> LatencyMeasurement:
    """Time every unit, and whole forward passes, with ``r`` torch intra-op threads for each ``r`` in ``units``.

    ``r`` compute units are ``torch.set_num_threads(r)``: one inference parallelised over ``r`` cores, which
    is what giving one user ``r`` units of an edge server does to its latency (eq. 3). Processes would measure
    the throughput of ``r`` independent inferences instead, which does not shorten any one of them.

    Rounds are interleaved to share the host's load between the settings: ``warmup`` untimed rounds, then
    ``repeats`` rounds, each running, for every ``r`` in turn, one chained forward pass with a time stamp
    after every unit (each unit on the fresh output of the one before, as the runtime runs them; timing a
    unit repeatedly on one cached input underestimates it). Per unit and per whole pass the median and the
    interquartile range are recorded.

    Two choices make the table predict what a running split inference sees (docs/profiles.md): each pass
    starts after ``idle_s`` of sleep, as device and edge compute after waiting for a transfer (a pass right
    after another runs with warm caches and is faster); and on a shared host the per-unit medians dodge the
    preemptions their pass suffers, so they sum to less than the median pass: the table keeps each unit's
    share of the sum of medians and scales the shares to the median pass (``unit_latency_s``; the raw
    medians are ``unit_median_s``). ``lambda(r)`` is fitted from the whole-pass medians
    (:func:`nomasplit.model.compensation.fit_measured_compensation`); the thread count is restored after.

    Args:
        module: the chain; its direct children are the units.
        input_shape: input shape with batch.
        name: model name recorded.
        units: compute-unit counts, strictly increasing, including 1.
        dtype: dtype of input and weights.
        warmup: untimed rounds (``>= 0``).
        repeats: timed rounds (``>= 1``).
        idle_s: sleep before each pass [s], ``>= 0``.
    """
    shape = validate_input_shape(input_shape)
    torch_dtype = parse_dtype(dtype)
    _check_count(warmup, "warmup", 0)
    _check_count(repeats, "repeats", 1)
    if not (math.isfinite(idle_s) and idle_s >= 0):
        raise InputError(f"idle_s must be a finite number >= 0, got {idle_s}")
    units = list(units)
    if not units or units[0] != 1 or any(b <= a for a, b in itertools.pairwise(units)):
        raise InputError(f"units must be strictly increasing and start at 1, got {units}")
    if any(t.is_floating_point() and t.dtype != torch_dtype for t in [*module.parameters(), *module.buffers()]):
        module = copy.deepcopy(module).to(torch_dtype)
    module = module.eval()
    generator = torch.Generator(device="cpu").manual_seed(INPUT_SEED)
    model_input = torch.randn(shape, generator=generator, dtype=torch.float32).to(torch_dtype)
    children = list(module.children())
    load_before = os.getloadavg()
    previous_threads = torch.get_num_threads()
    unit_times: dict[int, list[list[float]]] = {r: [[] for _ in children] for r in units}  # [r][unit][run]
    total_times: dict[int, list[float]] = {r: [] for r in units}
    try:
        with torch.inference_mode():
            for round_index in range(warmup + repeats):
                for threads in units:
                    torch.set_num_threads(threads)
                    if idle_s > 0:
                        time.sleep(idle_s)
                    # One chained pass, a time stamp after each unit: each unit runs on the fresh output of the
                    # one before, as the device and the edge run them.
                    value = model_input
                    stamps = [time.perf_counter()]
                    for child in children:
                        value = child(value)
                        stamps.append(time.perf_counter())
                    if round_index >= warmup:
                        total_times[threads].append(stamps[-1] - stamps[0])
                        for index in range(len(children)):
                            unit_times[threads][index].append(stamps[index + 1] - stamps[index])
    finally:
        torch.set_num_threads(previous_threads)
    timings = []
    for threads in units:
        medians = [float(statistics.median(runs)) for runs in unit_times[threads]]  # [F]
        total = float(statistics.median(total_times[threads]))
        scale = total / sum(medians) if sum(medians) > 0 else 1.0
        timings.append(
            UnitTimings(
                units=threads,
                unit_latency_s=[median * scale for median in medians],
                unit_median_s=medians,
                unit_spread_s=[_interquartile_range(runs) for runs in unit_times[threads]],
                total_latency_s=total,
                total_spread_s=_interquartile_range(total_times[threads]),
            )
        )
    host = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "idle_before_each_pass_s": idle_s,
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    compensation, _ = fit_measured_compensation(
        units, [timing.total_latency_s for timing in timings], source={"model": name, "host": platform.node()}
    )
    return LatencyMeasurement(
        model=name,
        unit_names=unit_names(module),
        warmup=warmup,
        repeats=repeats,
        timings=timings,
        compensation=compensation,
        host=host,
    )


# ---------------------------------------------------------------------------------------------------------
# User models


class _Input:
    """Marks where a call unit's input goes among the arguments of the traced call."""

    def __repr__(self) -> str:
        return "<input>"

    # One marker only: copies (``copy.deepcopy`` of a model before a dtype change) must stay the marker.
    def __copy__(self) -> _Input:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Input:
        return self

    def __reduce__(self) -> str:
        return "_INPUT"


_INPUT = _Input()


def _substitute(value: Any, replacement: Any) -> Any:
    if value is _INPUT:
        return replacement
    if isinstance(value, tuple | list):
        return type(value)(_substitute(item, replacement) for item in value)
    if isinstance(value, dict):
        return {key: _substitute(item, replacement) for key, item in value.items()}
    return value


def _mark_input(value: Any) -> Any:
    """Replace the (single, previous) fx node among a call's arguments by :data:`_INPUT`."""
    if isinstance(value, torch.fx.Node):
        return _INPUT
    if isinstance(value, tuple | list):
        return type(value)(_mark_input(item) for item in value)
    if isinstance(value, dict):
        return {key: _mark_input(item) for key, item in value.items()}
    return value


class CallUnit(nn.Module):
    """A split unit made of one function or method call taken from a ``torch.fx`` trace (e.g. ``flatten``)."""

    def __init__(self, kind: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.kind = kind
        self.target = target
        self.call_args = args
        self.call_kwargs = kwargs

    def forward(self, unit_input: torch.Tensor) -> Any:
        args = _substitute(self.call_args, unit_input)
        kwargs = _substitute(self.call_kwargs, unit_input)
        if self.kind == "call_method":
            receiver, *rest = args
            return getattr(receiver, self.target)(*rest, **kwargs)
        return self.target(*args, **kwargs)

    def extra_repr(self) -> str:
        target = self.target if isinstance(self.target, str) else getattr(self.target, "__name__", self.target)
        return f"{self.kind}={target}, args={self.call_args!r}, kwargs={self.call_kwargs!r}"


def as_chain(model: nn.Module, *, what: str = "model") -> nn.Sequential:
    """The model as an ``nn.Sequential`` of split units.

    An ``nn.Sequential`` is returned as it is (its direct children are the units). Any other module is traced
    with ``torch.fx.symbolic_trace``; the trace must be a single chain (one tensor input, each operation using
    only the previous one's output, nothing else using it, one tensor returned). Each traced operation becomes
    a unit: a leaf module call becomes that module, a function or method call (``torch.flatten``, ``x.view``)
    a :class:`CallUnit`. Units are named after the trace's node names.

    Raises:
        InputError: not a module, an empty chain, untraceable, several inputs or outputs
            (:func:`nomasplit.graph_profile.trace_graph`); :class:`~nomasplit.graph_profile.NotAChainError` for
            a graph that is not a chain (branches, skip connections, direct use of parameters), which
            :func:`as_network` profiles as a DAG.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"{what} is a {type(model).__name__}, not a torch.nn.Module")
    if isinstance(model, nn.Sequential):
        if len(model) == 0:
            raise InputError(f"{what} is an empty nn.Sequential: there is nothing to split")
        return model
    traced = trace_graph(model, what=what)
    nodes = list(traced.graph.nodes)
    placeholders = [node for node in nodes if node.op == "placeholder"]
    previous = placeholders[0]
    units: OrderedDict[str, nn.Module] = OrderedDict()
    for node in nodes:
        if node.op == "placeholder":
            continue
        if node.op == "get_attr":
            raise NotAChainError(
                f"{what} is not a chain of modules: it uses the parameter or buffer {node.target!r} directly"
            )
        if len(previous.users) != 1:
            raise NotAChainError(
                f"{what} is not a chain: the output of {previous.name!r} is used {len(previous.users)} times "
                "(a branch or skip connection)"
            )
        if node.all_input_nodes != [previous]:
            inputs = [item.name for item in node.all_input_nodes]
            raise NotAChainError(
                f"{what} is not a chain: {node.name!r} takes {inputs}, not just the output of {previous.name!r}"
            )
        if node.op == "output":
            if node.args[0] is not previous:
                raise InputError(f"{what} is not a chain: it must return one tensor, not {node.args[0]!r}")
            break
        marked_args = _mark_input(node.args)
        marked_kwargs = _mark_input(dict(node.kwargs))
        if node.op == "call_module":
            units[node.name] = traced.get_submodule(str(node.target))
            if marked_args != (_INPUT,) or marked_kwargs:
                raise InputError(f"{what} is not a chain: module call {node.name!r} takes extra arguments")
        else:
            units[node.name] = CallUnit(node.op, node.target, tuple(marked_args), dict(marked_kwargs))
        previous = node
    if not units:
        raise InputError(f"{what} has no operations: there is nothing to split")
    return nn.Sequential(units)


@contextmanager
def _working_directory_importable() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_user_model(spec: str) -> nn.Module:
    """Import a user's model from ``package.module:attr``: a chain of split units, or the DAG model itself.

    ``attr`` (dotted names allowed, e.g. ``Models.small``) is an ``nn.Module`` instance or a callable taking
    no arguments that returns one (a factory function, or an ``nn.Module`` class). The module is imported
    with the current working directory importable. The model is put in eval mode and turned into a chain with
    :func:`as_chain`; a model with branches or skip connections is returned as it is (after checking that
    ``torch.fx`` traces it, :func:`nomasplit.graph_profile.trace_graph`), for :func:`profile_network`.

    Raises:
        InputError: malformed spec, module not importable, attribute missing, not a module, untraceable,
            several inputs or outputs.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise InputError(f"--model must look like package.module:attr; got {spec!r}")
    module_path, attr_path = spec.split(":")
    if not module_path.strip() or not attr_path.strip():
        raise InputError(f"--model must look like package.module:attr; got {spec!r}")
    try:
        with _working_directory_importable():
            imported = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        raise InputError(f"--model {spec!r}: cannot import module {module_path!r} ({exc})") from None
    except Exception as exc:
        raise InputError(f"--model {spec!r}: importing {module_path!r} failed: {type(exc).__name__}: {exc}") from None
    obj: Any = imported
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise InputError(f"--model {spec!r}: {type(obj).__name__} {module_path!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise InputError(
                f"--model {spec!r} is a {type(obj).__name__}, not an nn.Module or a callable returning one"
            )
        try:
            obj = obj()
        except Exception as exc:
            raise InputError(f"--model {spec!r}: calling it failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(obj, nn.Module):
            raise InputError(f"--model {spec!r} returned a {type(obj).__name__}, not an nn.Module")
    return as_network(obj.eval(), what=f"--model {spec!r}")


def as_network(model: nn.Module, *, what: str = "model") -> nn.Module:
    """``model`` as a chain (:func:`as_chain`) when it is one, else the model itself, checked to trace as a DAG."""
    try:
        return as_chain(model, what=what)
    except NotAChainError:
        trace_graph(model, what=what)
        return model


def is_dag(module: nn.Module) -> bool:
    """True for a model profiled as a graph (:func:`profile_network`): not an ``nn.Sequential`` chain."""
    return not isinstance(module, nn.Sequential)


def profile_network(
    module: nn.Module, input_shape: Sequence[int], *, order: str | None = None, **options: Any
) -> ModelProfile:
    """Profile a chain (:func:`profile_model`) or a DAG model (:func:`nomasplit.graph_profile.profile_graph`).

    An ``nn.Sequential`` is a chain: its profile is exactly :func:`profile_model`'s (``order`` must be None).
    Any other module is traced; a trace that is a single chain is profiled as a chain of its nodes, anything
    else as a graph with the topological order ``order`` (default ``min-live``).

    Raises:
        InputError: as :func:`profile_model` or :func:`~nomasplit.graph_profile.profile_graph`; an order for a
            chain model.
    """
    if not is_dag(module) or is_chain(trace_graph(module)):
        if order is not None:
            raise InputError(f"--order {order!r} is for DAG models; {options.get('name', 'this model')} is a chain")
        return profile_model(as_chain(module), input_shape, **options)
    chosen: dict[str, Any] = {} if order is None else {"order": order}
    return profile_graph(module, input_shape, **chosen, **options)


# ---------------------------------------------------------------------------------------------------------
# Reporting


def markdown_table(profile: ModelProfile) -> str:
    """The profile as a Markdown table: split point ``s``, unit, output shape, FLOPs, ``D(s)``, ``w(s)``.

    Row ``s = 0`` is the raw input; the last column is the size in bits of the tensor sent up when splitting
    after unit ``s`` (the result ``m`` for ``s = F``, which is sent down instead). A DAG profile adds the
    units whose outputs make up that live set (0: the input); a latency column is added when the profile was
    measured.
    """
    measured = any(layer.measured_latency_s is not None for layer in profile.layers)
    graph = profile.graph
    header = ["s", "unit", "output shape", "MFLOPs f_s", "device MFLOPs D(s)", "output bits w(s)"]
    if graph is not None:
        header.append("sent (units)")
    if measured:
        header.append("latency ms")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---:", ":---", ":---", *["---:"] * (len(header) - 3)]) + "|",
    ]
    shape = "x".join(map(str, profile.input_shape or []))
    first = ["0", "(input)", shape, "", "0", f"{profile.input_bits:.0f}"]
    if graph is not None:
        first.append("0")
    lines.append("| " + " | ".join(first + ([""] if measured else [])) + " |")
    cumulative = profile.cumulative_flops()
    for index, layer in enumerate(profile.layers, start=1):
        row = [
            str(index),
            f"`{layer.name}`",
            "x".join(map(str, layer.output_shape or [])),
            f"{layer.flops / 1e6:.3f}",
            f"{cumulative[index] / 1e6:.3f}",
            f"{layer.output_bits:.0f}",
        ]
        if graph is not None:
            row.append(", ".join(map(str, graph.live_units(index))))
        if measured:
            latency_s = layer.measured_latency_s
            row.append("" if latency_s is None else f"{latency_s * 1e3:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
