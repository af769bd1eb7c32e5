"""Profiles of DAG models (residual blocks, branches): the graph, its split units, and the live set at each split.

A model that is not a chain (a ResNet, a MobileNetV2, a user's network with skip connections) is traced with
``torch.fx`` into its graph of operations. Its split points are the cuts of one topological order of that
graph:

- **Units.** Every operation is a graph node. A node joins the unit of the node before it when it only reads
  that node, is its only reader, adds no FLOPs and does not shrink the tensor (a batch norm, an activation, a
  dropout, a flatten after a convolution): splitting after it never sends fewer bits nor leaves fewer FLOPs
  on the edge than splitting before it. Every other node starts a unit (:func:`group_units`).
- **Order.** The units in a topological order (:data:`ORDERS`): ``program`` is the order of the model's
  ``forward``; ``min-live`` (the default) takes, at each step, the ready unit after which the fewest bits are
  live, ties in program order, so that a residual block's shortcut convolution runs as soon as it frees the
  block's input. The profile records the order it used.
- **Live set.** Splitting after unit ``s`` runs units ``1..s`` on the device and sends every tensor made at or
  before ``s`` (the model input included) that a unit after ``s`` reads: a cut inside a residual block sends
  both the branch and the shortcut, a cut between blocks one tensor. Its size is the unit's ``output_bits``,
  so every solver reads a DAG profile as it reads a chain's (:class:`~nomasplit.data.profile.ModelGraph`).

FLOPs and sizes are counted as for chains (:mod:`nomasplit.measure.profile`): ``FlopCounterMode`` around each node
on a seeded standard-normal input, ``numel`` times the element width of each tensor.
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nomasplit.data.profile import GRAPH_ORDERS, GraphUnit, LayerProfile, ModelGraph, ModelProfile
from nomasplit.errors import InputError
from nomasplit.measure.options import (
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    check_profile_options,
    dtype_name,
    in_dtype,
    latency_source,
    profile_source,
    profiling_input,
    tensor_bits,
)
from nomasplit.model.backend import torch_threads

#: Topological orders of the units: name -> what it does.
ORDERS: dict[str, str] = {
    "program": "the order of the model's forward (torch.fx's trace order)",
    "min-live": "greedy: at each step the ready unit after which the fewest bits are live (ties: program order)",
}
DEFAULT_ORDER = "min-live"
assert tuple(ORDERS) == GRAPH_ORDERS

#: The fx node kinds that compute something (placeholders are the input, get_attr nodes constants).
_COMPUTE_OPS = ("call_module", "call_function", "call_method")
_TORCH_DIR = str(Path(torch.__file__).resolve().parent)


class NotAChainError(InputError):
    """The traced model is a valid graph that is not a single chain (branches or skip connections)."""


def _user_frame(exc: BaseException) -> str:
    """``file:line `code``` of the deepest frame outside torch (where the model's own code failed), or ''."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if not frame.filename.startswith(_TORCH_DIR)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {Path(frame.filename).name}:{frame.lineno} `{(frame.line or '').strip()}`"


def trace_graph(model: nn.Module, *, what: str = "model") -> torch.fx.GraphModule:
    """Trace ``model`` with ``torch.fx`` and check that it can be split: one tensor input, one tensor output.

    Dead code (nodes whose results nothing uses) is removed.

    Raises:
        InputError: untraceable (control flow on a tensor, a call fx cannot record; the message names the
            line), several inputs, several outputs, or an fx node kind this module does not run.
    """
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ... from the model's own code
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{what} ({type(model).__name__}) cannot be traced by torch.fx{_user_frame(exc)}: "
            f"{type(exc).__name__}: {message}"
        ) from None
    graph = traced.graph
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    if len(placeholders) != 1:
        names = ", ".join(repr(node.name) for node in placeholders)
        raise InputError(f"{what} takes {len(placeholders)} inputs ({names}); a split model takes one tensor")
    for node in graph.nodes:
        if node.op not in (*_COMPUTE_OPS, "placeholder", "get_attr", "output"):
            raise InputError(f"{what}: node {node.name!r} is of unknown kind {node.op!r}")
    output = next(node for node in graph.nodes if node.op == "output")
    result = output.args[0]
    if not isinstance(result, torch.fx.Node) or result.op not in _COMPUTE_OPS:
        raise InputError(f"{what} must return one tensor computed from its input; it returns {result!r}")
    graph.eliminate_dead_code()
    traced.recompile()
    return traced


def is_chain(traced: torch.fx.GraphModule) -> bool:
    """True if every compute node reads only the node before it, which nothing else reads."""
    previous = None
    for node in traced.graph.nodes:
        if node.op in ("placeholder", "get_attr"):
            if node.op == "placeholder":
                previous = node
            continue
        if previous is None or len(previous.users) != 1 or node.all_input_nodes != [previous]:
            return False
        previous = node
    return True


def _tensor_inputs(node: torch.fx.Node) -> list[torch.fx.Node]:
    """The nodes whose values a node reads, without constants (get_attr), in first-use order."""
    return [item for item in node.all_input_nodes if item.op != "get_attr"]


def run_node(traced: torch.fx.GraphModule, node: torch.fx.Node, env: dict[str, Any]) -> Any:
    """Run one compute node on the values in ``env`` (node name -> value; get_attr nodes are read here)."""

    def value_of(item: torch.fx.Node) -> Any:
        if item.op == "get_attr":
            return _attribute(traced, str(item.target))
        return env[item.name]

    args = torch.fx.node.map_arg(node.args, value_of)
    kwargs = torch.fx.node.map_arg(node.kwargs, value_of)
    if node.op == "call_module":
        return traced.get_submodule(str(node.target))(*args, **kwargs)
    if node.op == "call_method":
        receiver, *rest = args
        return getattr(receiver, str(node.target))(*rest, **kwargs)
    function = node.target
    assert callable(function)  # call_function nodes hold the function
    return function(*args, **kwargs)


def _attribute(module: nn.Module, dotted: str) -> Any:
    value: Any = module
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


# ---------------------------------------------------------------------------------------------------------
# Units and orders


@dataclass(frozen=True)
class NodeFacts:
    """What one forward pass tells about a compute node."""

    name: str
    inputs: tuple[str, ...]  # tensor inputs (node names; the input's name for the model input)
    flops: float
    bits: int
    shape: tuple[int, ...]


def measure_nodes(
    traced: torch.fx.GraphModule, model_input: torch.Tensor, *, activation_bits: int | None, what: str
) -> list[NodeFacts]:
    """Run the graph once in program order, each compute node inside a ``FlopCounterMode``.

    Raises:
        InputError: a node fails on its inputs, or returns something other than one non-empty tensor (a size,
            a tuple): the node is named.
    """
    env: dict[str, Any] = {}
    facts = []
    with torch.inference_mode():
        for node in traced.graph.nodes:
            if node.op == "placeholder":
                env[node.name] = model_input
                continue
            if node.op not in _COMPUTE_OPS:
                continue
            try:
                with FlopCounterMode(display=False) as counter:
                    value = run_node(traced, node, env)
            except Exception as exc:
                message = str(exc).splitlines()[0] if str(exc) else ""
                raise InputError(
                    f"{what}: node {node.name!r} ({node.op} {_target_name(node)}) fails: {type(exc).__name__}: "
                    f"{message}"
                ) from None
            if not isinstance(value, torch.Tensor) or value.numel() == 0:
                raise InputError(
                    f"{what}: node {node.name!r} ({node.op} {_target_name(node)}) returns a value of type "
                    f"{type(value).__name__}, not a non-empty tensor; a split model's nodes must each make one "
                    "tensor (compute sizes with torch.flatten or view(1, -1) instead of x.size())"
                )
            env[node.name] = value
            facts.append(
                NodeFacts(
                    name=node.name,
                    inputs=tuple(item.name for item in _tensor_inputs(node)),
                    flops=float(counter.get_total_flops()),
                    bits=tensor_bits(value, activation_bits),
                    shape=tuple(int(size) for size in value.shape),
                )
            )
    return facts


def _target_name(node: torch.fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", repr(target))


def group_units(facts: Sequence[NodeFacts], input_name: str) -> list[list[NodeFacts]]:
    """Fuse followers into units (module docstring): a node joins its only input's unit when it is that
    input's only reader, has no FLOPs and is at least as large. Units are listed in program order."""
    readers: dict[str, int] = {}
    for fact in facts:
        for source in set(fact.inputs):
            readers[source] = readers.get(source, 0) + 1
    units: list[list[NodeFacts]] = []
    unit_of: dict[str, int] = {}
    by_name = {fact.name: fact for fact in facts}
    for fact in facts:
        sources = set(fact.inputs)
        if len(sources) == 1:
            (source,) = sources
            parent = by_name.get(source)
            if (
                source != input_name
                and parent is not None
                and readers.get(source) == 1
                and fact.flops == 0
                and fact.bits >= parent.bits
                and units[unit_of[source]][-1].name == source
            ):
                units[unit_of[source]].append(fact)
                unit_of[fact.name] = unit_of[source]
                continue
        unit_of[fact.name] = len(units)
        units.append([fact])
    return units


def unit_inputs(units: Sequence[Sequence[NodeFacts]], input_name: str) -> list[set[str]]:
    """Per unit, the outputs it reads from outside itself: the input's name or other units' last nodes."""
    inside = [{fact.name for fact in unit} for unit in units]
    return [
        {source for fact in unit for source in fact.inputs if source not in names}
        for unit, names in zip(units, inside, strict=True)
    ]


def order_units(units: Sequence[Sequence[NodeFacts]], input_name: str, input_bits: int, order: str) -> list[int]:
    """Indices of ``units`` (program order) in the topological order ``order`` (:data:`ORDERS`)."""
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}; got {order!r}")
    if order == "program":
        return list(range(len(units)))
    reads = unit_inputs(units, input_name)
    output_of = [unit[-1].name for unit in units]
    size = {input_name: input_bits, **{unit[-1].name: unit[-1].bits for unit in units}}
    readers_left = {name: 0 for name in size}
    for sources in reads:
        for source in sources:
            readers_left[source] += 1
    producer = {name: index for index, name in enumerate(output_of)}
    done: set[str] = {input_name}
    live = {input_name}
    chosen: list[int] = []
    remaining = set(range(len(units)))
    while remaining:
        ready = [index for index in sorted(remaining) if reads[index] <= done]
        best_index, best_bits = -1, 0
        for index in ready:
            freed = {source for source in reads[index] if readers_left[source] == 1}
            bits = sum(size[name] for name in (live - freed) | {output_of[index]})
            if best_index < 0 or bits < best_bits:
                best_index, best_bits = index, bits
        for source in reads[best_index]:
            readers_left[source] -= 1
            if readers_left[source] == 0:
                live.discard(source)
        name = output_of[best_index]
        done.add(name)
        if readers_left[name] > 0 or producer[name] == len(units) - 1:
            live.add(name)
        chosen.append(best_index)
        remaining.remove(best_index)
    return chosen


def build_graph(units: Sequence[Sequence[NodeFacts]], input_name: str, order: str) -> ModelGraph:
    """The :class:`ModelGraph` of ``units`` (already in the chosen order)."""
    position = {input_name: 0, **{unit[-1].name: index for index, unit in enumerate(units, start=1)}}
    reads = unit_inputs(units, input_name)
    return ModelGraph(
        order=order,  # type: ignore[arg-type]
        input_name=input_name,
        units=[
            GraphUnit(
                nodes=[fact.name for fact in unit],
                inputs=sorted(position[source] for source in sources),
                tensor_bits=float(unit[-1].bits),
            )
            for unit, sources in zip(units, reads, strict=True)
        ],
    )


# ---------------------------------------------------------------------------------------------------------
# Profiling


def profile_graph(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str,
    dtype: str | torch.dtype = torch.float32,
    order: str = DEFAULT_ORDER,
    measure: bool = False,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    input_bits: int | None = None,
    activation_bits: int | None = None,
    what: str = "model",
) -> ModelProfile:
    """Profile a DAG model: its units in a topological order, FLOPs per unit, live-set bits per split.

    Args:
        model: any ``torch.fx``-traceable module with one tensor input and one tensor output.
        input_shape: input shape with batch.
        name: model name recorded.
        dtype: dtype of the input and the weights.
        order: ``program`` or ``min-live`` (:data:`ORDERS`).
        measure: also time each unit on this host (medians of chained passes, one thread).
        warmup: untimed passes (``measure``).
        repeats: timed passes (``measure``).
        input_bits: bits per element of the raw input as sent; None: the dtype's width.
        activation_bits: bits per element of tensors sent at a split and of the result; None: the dtype's.
        what: how messages name the model.

    Returns:
        A :class:`ModelProfile` with ``graph`` set: ``layers[s-1].output_bits`` is the live set after unit
        ``s``, ``flops`` the unit's FLOPs, ``output_shape`` the shape of the unit's own output.

    Raises:
        InputError: untraceable model, several inputs or outputs, a node that fails or makes no tensor, bad
            shape, dtype, order or counts.
    """
    shape, torch_dtype = check_profile_options(name, input_shape, dtype, warmup, repeats, input_bits, activation_bits)
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}; got {order!r}")
    traced = trace_graph(in_dtype(model, torch_dtype), what=what)
    input_name = next(node.name for node in traced.graph.nodes if node.op == "placeholder")
    model_input = profiling_input(shape, torch_dtype)
    facts = measure_nodes(traced, model_input, activation_bits=activation_bits, what=what)
    sent_input_bits = tensor_bits(model_input, input_bits)
    program_units = group_units(facts, input_name)
    units = [program_units[index] for index in order_units(program_units, input_name, sent_input_bits, order)]
    graph = build_graph(units, input_name, order)
    live = graph.live_bits(float(sent_input_bits))
    layers: list[dict[str, Any]] = [
        {
            "name": "+".join(fact.name for fact in unit),
            "flops": float(sum(fact.flops for fact in unit)),
            "output_bits": live[index],
            "output_shape": list(unit[-1].shape),
        }
        for index, unit in enumerate(units, start=1)
    ]
    graph_note = (
        f"torch.fx trace, {len(facts)} nodes in {len(units)} units, order {order}: {ORDERS[order]}; "
        "output_bits is the live set (every tensor made at or before the unit and read after it)"
    )
    source = profile_source(torch_dtype, input_bits, activation_bits, graph=graph_note)
    if measure:
        split_model = SplitGraph(traced, graph)
        with torch.inference_mode(), torch_threads(1):
            latencies = split_model.unit_latencies_s(model_input, warmup, repeats)
        for layer, latency_s in zip(layers, latencies, strict=True):
            layer["measured_latency_s"] = latency_s
        source["latency"] = latency_source(
            "median over chained passes of each unit's time, after warm-up passes, torch.inference_mode",
            warmup,
            repeats,
        )
    return ModelProfile(
        model=name,
        input_shape=list(shape),
        dtype=dtype_name(torch_dtype),
        input_element_bits=input_bits,
        activation_element_bits=activation_bits,
        input_bits=float(sent_input_bits),
        result_bits=float(units[-1][-1].bits),
        layers=[LayerProfile(**layer) for layer in layers],
        source=source,
        graph=graph,
    )


# ---------------------------------------------------------------------------------------------------------
# Running the two parts


class SplitGraph:
    """A traced model and its profile's units: runs units ``1..s`` (the device) or ``s+1..F`` (the edge).

    Args:
        traced: the model traced by :func:`trace_graph` (same code as when profiled: same node names).
        graph: the profile's :class:`ModelGraph`.

    Raises:
        InputError: the graph names a node the trace does not have.
    """

    def __init__(self, traced: torch.fx.GraphModule, graph: ModelGraph) -> None:
        self.traced = traced
        self.graph = graph
        nodes = {node.name: node for node in traced.graph.nodes}
        missing = [name for name in graph.node_names() if name not in nodes]
        if missing:
            raise InputError(f"the profile's graph names node {missing[0]!r}, which the traced model does not have")
        self._units = [[nodes[name] for name in unit.nodes] for unit in graph.units]
        self.input_name = graph.input_name

    @property
    def num_units(self) -> int:
        """``F``."""
        return len(self._units)

    def live_names(self, split: int) -> list[str]:
        """Names of the tensors sent after unit ``split``: the input's name or units' last node names."""
        names = [self.input_name, *(unit[-1].name for unit in self._units)]
        return [names[source] for source in self.graph.live_units(split)]

    def run_units(self, env: dict[str, Any], units: Iterable[int]) -> dict[str, Any]:
        """Run the units ``units`` (1-based, in order) on the values in ``env``; returns ``env`` grown."""
        for index in units:
            for node in self._units[index - 1]:
                env[node.name] = run_node(self.traced, node, env)
        return env

    def head(self, model_input: torch.Tensor, split: int) -> dict[str, torch.Tensor]:
        """The device's part: units ``1..split`` on ``model_input``; returns the live tensors by name."""
        env = self.run_units({self.input_name: model_input}, range(1, split + 1))
        return {name: env[name] for name in self.live_names(split)}

    def tail(self, live: dict[str, torch.Tensor], split: int) -> torch.Tensor:
        """The edge's part: units ``split+1..F`` on the live tensors; returns the result."""
        env = self.run_units(dict(live), range(split + 1, self.num_units + 1))
        return env[self._units[-1][-1].name]

    def unit_latencies_s(self, model_input: torch.Tensor, warmup: int, repeats: int) -> list[float]:
        """Median time of each unit over ``repeats`` chained passes (after ``warmup`` passes) [s]."""
        times: list[list[float]] = [[] for _ in self._units]
        for round_index in range(warmup + repeats):
            env: dict[str, Any] = {self.input_name: model_input}
            for index in range(1, self.num_units + 1):
                start = time.perf_counter()
                self.run_units(env, (index,))
                if round_index >= warmup:
                    times[index - 1].append(time.perf_counter() - start)
        return [float(statistics.median(values)) for values in times]


def split_graph_of(model: nn.Module, graph: ModelGraph, *, what: str = "model") -> SplitGraph:
    """Trace ``model`` and attach a profile's graph (the runtime's way in)."""
    return SplitGraph(trace_graph(model.eval(), what=what), graph)


__all__ = [
    "DEFAULT_ORDER",
    "ORDERS",
    "NotAChainError",
    "SplitGraph",
    "is_chain",
    "profile_graph",
    "split_graph_of",
    "trace_graph",
]
