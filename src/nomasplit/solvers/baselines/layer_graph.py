"""A DNN as a graph of layers and its minimum-cost device/edge partition by minimum s-t cut (DADS).

Hu et al., "Dynamic adaptive DNN surgery for inference acceleration on the edge", INFOCOM 2019, cast the
light-load partition problem as a minimum s-t cut: every layer goes to the device side (the source side ``S``)
or to the edge side (the sink side ``T``), and the cut's capacity is the latency of one frame. The graph:

- ``source -> v`` with capacity ``edge_cost[v]``: cut when ``v`` runs on the edge;
- ``v -> sink`` with capacity ``device_cost[v]``: cut when ``v`` runs on the device;
- a layer ``u`` whose output goes to its successors gets one auxiliary node ``u'``: ``u -> u'`` with capacity
  ``output_cost[u]`` (its output is sent up once, however many successors run on the edge) and
  ``u' -> w`` of infinite capacity for every successor ``w``;
- the raw input is a node pinned to the device (``source -> input`` infinite) that feeds the layers reading it
  (the entry layers, or ``input_users`` where a later layer reads the input too, as a skip connection from
  the input does) the same way, with capacity ``input_cost``; the result is a node pinned to the device that
  the exit layers feed: ``result -> x`` with capacity ``result_cost`` for every exit layer ``x`` (cut when one
  runs on the edge; the result comes down once because the exit layers share one auxiliary node);
- ``w -> u`` of infinite capacity for every DAG edge ``u -> w``: no layer runs on the device after one of its
  inputs ran on the edge (data goes up once, never back down mid-model), which also makes a chain's cut a
  single split point.

The minimum cut is found with Edmonds-Karp max-flow; the device side is what the source reaches in the
residual graph. A chain's cut is a split point, so :func:`chain_min_cut` finds it by the cost of each split.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import product

import numpy as np


@dataclass(frozen=True)
class LayerGraph:
    """A DAG of layers with the cost of each placement (any additive cost: seconds for latency).

    Attributes:
        device_cost: ``[V]`` cost of running layer ``v`` on the device.
        edge_cost: ``[V]`` cost of running it on the edge.
        output_cost: ``[V]`` cost of sending its output from the device to the edge.
        edges: DAG edges ``(u, w)``: ``w`` consumes ``u``'s output.
        input_cost: cost of sending the raw input up (when a layer reading it runs on the edge).
        result_cost: cost of sending the result down (when an exit layer runs on the edge).
        input_users: the layers that read the raw input; None: the entry layers (:meth:`entries`).
    """

    device_cost: tuple[float, ...]
    edge_cost: tuple[float, ...]
    output_cost: tuple[float, ...]
    edges: tuple[tuple[int, int], ...]
    input_cost: float
    result_cost: float
    input_users: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        count = len(self.device_cost)
        if count == 0 or len(self.edge_cost) != count or len(self.output_cost) != count:
            raise ValueError("device_cost, edge_cost and output_cost need one entry per layer (at least one)")
        costs = (*self.device_cost, *self.edge_cost, *self.output_cost, self.input_cost, self.result_cost)
        if any(not cost >= 0 for cost in costs):  # also rejects NaN
            raise ValueError("costs must be non-negative (infinite allowed)")
        for u, w in self.edges:
            if not (0 <= u < count and 0 <= w < count) or u == w:
                raise ValueError(f"edge ({u}, {w}) does not join two layers of 0..{count - 1}")
        if self.input_users is not None and any(not 0 <= v < count for v in self.input_users):
            raise ValueError(f"input_users must be layers of 0..{count - 1}")

    @property
    def num_layers(self) -> int:
        """``V``."""
        return len(self.device_cost)

    def successors(self) -> list[list[int]]:
        """Successors of every layer."""
        out: list[list[int]] = [[] for _ in range(self.num_layers)]
        for u, w in self.edges:
            out[u].append(w)
        return out

    def entries(self) -> list[int]:
        """Layers without predecessors (they read the raw input)."""
        targets = {w for _, w in self.edges}
        return [v for v in range(self.num_layers) if v not in targets]

    def input_readers(self) -> list[int]:
        """Layers that read the raw input: ``input_users``, or the entry layers."""
        return list(self.entries() if self.input_users is None else self.input_users)

    def exits(self) -> list[int]:
        """Layers without successors (they produce the result)."""
        sources = {u for u, _ in self.edges}
        return [v for v in range(self.num_layers) if v not in sources]


def chain_graph(
    device_cost: list[float],
    edge_cost: list[float],
    output_cost: list[float],
    input_cost: float,
    result_cost: float,
) -> LayerGraph:
    """The chain ``0 -> 1 -> ... -> F-1`` (the models of the paper)."""
    count = len(device_cost)
    return LayerGraph(
        device_cost=tuple(device_cost),
        edge_cost=tuple(edge_cost),
        output_cost=tuple(output_cost),
        edges=tuple((v, v + 1) for v in range(count - 1)),
        input_cost=input_cost,
        result_cost=result_cost,
    )


def dag_graph(
    device_cost: list[float],
    edge_cost: list[float],
    output_cost: list[float],
    layer_inputs: list[list[int]],
    input_cost: float,
    result_cost: float,
) -> LayerGraph:
    """The DAG of a profile's units (``nomasplit.data.profile.ModelGraph``).

    Args:
        device_cost: ``[V]`` per layer.
        edge_cost: ``[V]`` per layer.
        output_cost: ``[V]`` cost of sending the layer's own output up once.
        layer_inputs: ``[V]`` lists of what each layer reads: 0 the raw input, ``k`` layer ``k - 1``
            (the 1-based unit numbers of a profile's graph).
        input_cost: cost of sending the raw input up.
        result_cost: cost of sending the result down.
    """
    return LayerGraph(
        device_cost=tuple(device_cost),
        edge_cost=tuple(edge_cost),
        output_cost=tuple(output_cost),
        edges=tuple(
            (source - 1, layer) for layer, sources in enumerate(layer_inputs) for source in sources if source > 0
        ),
        input_cost=input_cost,
        result_cost=result_cost,
        input_users=tuple(layer for layer, sources in enumerate(layer_inputs) if 0 in sources),
    )


def is_prefix(device_layers: frozenset[int]) -> bool:
    """True if the device layers are ``0..s-1`` for some ``s``: a split point of the layers' order."""
    return device_layers == frozenset(range(len(device_layers)))


def is_monotone(graph: LayerGraph, device_layers: frozenset[int]) -> bool:
    """True if no device layer consumes the output of an edge layer."""
    return all(not (u not in device_layers and w in device_layers) for u, w in graph.edges)


def partition_cost(graph: LayerGraph, device_layers: frozenset[int]) -> float:
    """Cost of a monotone partition, computed directly (compute + each upload once + result if needed)."""
    cost = 0.0
    successors = graph.successors()
    for v in range(graph.num_layers):
        on_device = v in device_layers
        cost += graph.device_cost[v] if on_device else graph.edge_cost[v]
        if on_device and any(w not in device_layers for w in successors[v]):
            cost += graph.output_cost[v]
    if any(v not in device_layers for v in graph.input_readers()):
        cost += graph.input_cost
    if any(v not in device_layers for v in graph.exits()):
        cost += graph.result_cost
    return cost


def brute_force_partition(graph: LayerGraph) -> tuple[frozenset[int], float]:
    """The cheapest monotone partition by enumeration (``2^V``; for tests on small graphs)."""
    best: tuple[frozenset[int], float] | None = None
    for mask in product((False, True), repeat=graph.num_layers):
        device_layers = frozenset(v for v, on_device in enumerate(mask) if on_device)
        if not is_monotone(graph, device_layers):
            continue
        cost = partition_cost(graph, device_layers)
        if best is None or cost < best[1]:
            best = (device_layers, cost)
    assert best is not None  # all-device is always monotone
    return best


class _FlowNetwork:
    """Residual graph with adjacency lists; capacities are floats (``inf`` allowed)."""

    def __init__(self, num_nodes: int) -> None:
        self.heads: list[int] = []
        self.capacity: list[float] = []
        self.adjacent: list[list[int]] = [[] for _ in range(num_nodes)]
        #: Residual capacity at or below this counts as saturated (float round-off in subtractions).
        self.tolerance = 0.0

    def add_arc(self, tail: int, head: int, capacity: float) -> None:
        """Arc ``tail -> head`` and its zero-capacity reverse (arc ``k`` and ``k ^ 1`` are a pair)."""
        for start, end, cap in ((tail, head, capacity), (head, tail, 0.0)):
            self.adjacent[start].append(len(self.heads))
            self.heads.append(end)
            self.capacity.append(cap)

    def _augmenting_path(self, source: int, sink: int) -> list[int] | None:
        parent_arc = [-1] * len(self.adjacent)
        seen = [False] * len(self.adjacent)
        seen[source] = True
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for arc in self.adjacent[node]:
                head = self.heads[arc]
                if not seen[head] and self.capacity[arc] > self.tolerance:
                    seen[head] = True
                    parent_arc[head] = arc
                    if head == sink:
                        path, at = [], sink
                        while at != source:
                            path.append(parent_arc[at])
                            at = self.heads[parent_arc[at] ^ 1]
                        return path
                    queue.append(head)
        return None

    def max_flow(self, source: int, sink: int) -> float:
        """Edmonds-Karp (shortest augmenting paths); returns the flow value (``inf`` if unbounded)."""
        total = 0.0
        while (path := self._augmenting_path(source, sink)) is not None:
            push = min(self.capacity[arc] for arc in path)
            if math.isinf(push):
                return math.inf
            for arc in path:
                self.capacity[arc] -= push
                self.capacity[arc ^ 1] += push
            total += push
        return total

    def reachable(self, source: int) -> set[int]:
        """Nodes reachable from ``source`` in the residual graph: the source side of a minimum cut."""
        seen = {source}
        stack = [source]
        while stack:
            node = stack.pop()
            for arc in self.adjacent[node]:
                head = self.heads[arc]
                if head not in seen and self.capacity[arc] > self.tolerance:
                    seen.add(head)
                    stack.append(head)
        return seen


def chain_min_cut(graph: LayerGraph) -> tuple[frozenset[int], float]:
    """The cheapest partition of a chain (:func:`chain_graph`), by the cost of each of its split points.

    A chain's monotone partitions are its ``V + 1`` prefixes, so the minimum cut is the cheapest split ``s``:
    layers ``< s`` on the device, the raw input sent up when ``s = 0``, layer ``s - 1``'s output when
    ``0 < s < V``, and the result sent down when ``s < V``. Vectorised over the splits, it gives the cut of
    :func:`min_cut_partition` (the first split where several cost the same, which is the least device side the
    max-flow's residual graph reaches) without a flow (DNN Surgery cuts every user's chain this way).

    Returns:
        ``(device_layers, cost)`` as :func:`min_cut_partition` (the cost by :func:`partition_cost`).
    """
    count = graph.num_layers
    if graph.edges != tuple((v, v + 1) for v in range(count - 1)) or graph.input_readers() != [0]:
        raise ValueError("chain_min_cut needs a chain: edges v -> v + 1 and the input read by layer 0")
    device = np.concatenate([[0.0], np.cumsum(graph.device_cost)])  # [V + 1] layers < s on the device
    edge = np.concatenate([np.cumsum(graph.edge_cost[::-1])[::-1], [0.0]])  # [V + 1] layers >= s on the edge
    upload = np.concatenate([[graph.input_cost], graph.output_cost[:-1], [0.0]])  # [V + 1]
    result = np.where(np.arange(count + 1) < count, graph.result_cost, 0.0)  # [V + 1]
    split = int(np.argmin(device + edge + upload + result))
    device_layers = frozenset(range(split))
    return device_layers, partition_cost(graph, device_layers)


def min_cut_partition(graph: LayerGraph) -> tuple[frozenset[int], float]:
    """The cheapest monotone device/edge partition of a layer graph by minimum s-t cut (module docstring).

    Returns:
        ``(device_layers, cost)``: the layers on the device side and the partition's cost (the cut value,
        recomputed with :func:`partition_cost` so that it is exact).
    """
    count = graph.num_layers
    # Nodes: layers 0..V-1, their output nodes V..2V-1, input, input's output node, result, result hub,
    # source, sink.
    input_node, input_out, result_node, result_hub = 2 * count, 2 * count + 1, 2 * count + 2, 2 * count + 3
    source, sink = 2 * count + 4, 2 * count + 5
    network = _FlowNetwork(2 * count + 6)
    successors = graph.successors()
    for v in range(count):
        network.add_arc(source, v, graph.edge_cost[v])
        network.add_arc(v, sink, graph.device_cost[v])
        if successors[v]:
            network.add_arc(v, count + v, graph.output_cost[v])
            for w in successors[v]:
                network.add_arc(count + v, w, math.inf)
                network.add_arc(w, v, math.inf)  # monotone: w on the device forces v on the device
    network.add_arc(source, input_node, math.inf)
    network.add_arc(input_node, input_out, graph.input_cost)
    for v in graph.input_readers():
        network.add_arc(input_out, v, math.inf)
    network.add_arc(source, result_node, math.inf)
    network.add_arc(result_node, result_hub, graph.result_cost)
    for v in graph.exits():
        network.add_arc(result_hub, v, math.inf)
    finite = [cap for cap in network.capacity if math.isfinite(cap)]
    network.tolerance = 1e-12 * sum(finite)
    network.max_flow(source, sink)
    device_side = network.reachable(source)
    device_layers = frozenset(v for v in range(count) if v in device_side)
    return device_layers, partition_cost(graph, device_layers)
