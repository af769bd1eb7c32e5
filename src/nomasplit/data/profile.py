"""Per-layer profile of a DNN split into a chain of units: the data the system model needs.

Notation (spec ``system-model.md``, "Profiles of a model with F layers"): ``f_delta`` is the FLOPs of unit
delta; ``D(s) = sum_{delta <= s} f_delta`` runs on the device when splitting after unit ``s``;
``w(s)`` is the size in bits of the tensor sent up (``w(0)`` is the raw input); ``m`` the result's size.

A DAG model (residual blocks, branches) is a chain of units too: its units in one topological order, and
``w(s)`` the bits of every tensor produced at or before unit ``s`` and used after it (the *live set*). Its
profile carries a :class:`ModelGraph` (which nodes make each unit, which units each one reads) so that the
runtime can run the two parts and DNN Surgery can cut the real graph; a chain's profile has none, and its
file does not mention it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from nomasplit.data.limits import PROFILE_LIMITS, check_limits

#: Optional profile fields written only when set (a profile without them has sizes at its dtype's width).
OPTIONAL_PRECISION_FIELDS = ("input_element_bits", "activation_element_bits")

#: Topological orders a DAG profile may use (``nomasplit.measure.graph.ORDERS`` describes them).
GRAPH_ORDERS = ("program", "min-live")


class GraphUnit(BaseModel):
    """One split unit of a DAG model: a run of graph nodes, the units it reads, the size of its output."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    nodes: list[str] = Field(min_length=1, description="torch.fx node names of the unit, in execution order")
    inputs: list[int] = Field(description="units whose outputs this unit reads: 0 is the model input, k unit k")
    tensor_bits: float = Field(gt=0, allow_inf_nan=False, description="size of this unit's own output in bits")


class ModelGraph(BaseModel):
    """The graph behind a DAG profile's units (the units are in the order ``order`` chose).

    Splitting after unit ``s`` runs units ``1..s`` on the device and sends the live set
    (:meth:`live_units`); ``layers[s-1].output_bits`` of the profile is its size.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    order: Literal["program", "min-live"] = Field(description="topological order of the units")
    input_name: str = Field(min_length=1, description="name of the model's input (the fx placeholder)")
    units: list[GraphUnit] = Field(min_length=1, description="one per split unit, in the profile's order")

    def live_units(self, split: int) -> list[int]:
        """Units (0: the model input) whose outputs cross the split after unit ``split`` (``0..F``).

        A unit ``k <= split`` is live when a unit after ``split`` reads it; after the last unit the live set
        is the last unit (the result).
        """
        count = len(self.units)
        if split >= count:
            return [count]
        read_later = {source for unit in self.units[split:] for source in unit.inputs}
        return sorted(source for source in read_later if source <= split)

    def live_bits(self, input_bits: float) -> list[float]:
        """``w(s)`` for ``s = 0..F``: bits of the live set after each split point. ``[F+1]``."""
        sizes = [input_bits, *(unit.tensor_bits for unit in self.units)]
        return [float(sum(sizes[source] for source in self.live_units(split))) for split in range(len(self.units) + 1)]

    def node_names(self) -> list[str]:
        """Every node of every unit, in execution order."""
        return [name for unit in self.units for name in unit.nodes]


class LayerProfile(BaseModel):
    """One split unit (for example conv + ReLU, or conv + ReLU + max-pool)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, description="unit name, e.g. 'conv1_1+relu'")
    flops: float = Field(ge=0, allow_inf_nan=False, description="FLOPs of this unit (2 per multiply-accumulate)")
    output_bits: float = Field(gt=0, allow_inf_nan=False, description="size of the unit's output tensor in bits")
    output_shape: list[int] | None = Field(default=None, description="shape of the output tensor, batch 1")
    measured_latency_s: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="median measured latency on the profiling host"
    )


class ModelProfile(BaseModel):
    """A DNN as a chain of ``F`` split units with FLOPs and output sizes (measured from a PyTorch model)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: str = Field(min_length=1, description="model name, e.g. 'vgg16'")
    input_shape: list[int] | None = Field(default=None, description="input tensor shape, batch 1")
    dtype: str = Field(default="float32", description="dtype the model ran in (and of the sizes, unless below)")
    input_element_bits: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="bits per element of the raw input as the device sends it (e.g. 8 for a camera image); "
        "null: the dtype's width",
    )
    activation_element_bits: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="bits per element of the tensors sent at a split and of the result (e.g. 8 or 16 when "
        "quantised for the air); null: the dtype's width",
    )
    input_bits: float = Field(gt=0, allow_inf_nan=False, description="size of the raw input in bits: w(0)")
    result_bits: float = Field(gt=0, allow_inf_nan=False, description="size of the final result sent down: m")
    layers: list[LayerProfile] = Field(min_length=1, description="the F split units in execution order")
    source: dict[str, Any] = Field(default_factory=dict, description="how the profile was obtained")
    graph: ModelGraph | None = Field(
        default=None, description="DAG models only: the nodes of each unit and the units each one reads"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> ModelProfile:
        check_limits(self, PROFILE_LIMITS)
        for index, layer in enumerate(self.layers):
            try:
                check_limits(layer, PROFILE_LIMITS)
            except ValueError as exc:
                raise ValueError(f"layers[{index}].{exc}") from None
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be unique within a profile")
        if self.graph is not None:
            self._check_graph(self.graph)
        return self

    def _check_graph(self, graph: ModelGraph) -> None:
        """The graph fits the layers: one unit per layer, inputs before the unit, ``w(s)`` the live set."""
        if len(graph.units) != len(self.layers):
            raise ValueError(f"graph has {len(graph.units)} units, the profile {len(self.layers)} layers")
        nodes = graph.node_names()
        if len(set(nodes)) != len(nodes) or graph.input_name in nodes:
            raise ValueError("graph node names must be unique and differ from the input's name")
        used = {0}
        for index, unit in enumerate(graph.units, start=1):
            if not unit.inputs or any(not 0 <= source < index for source in unit.inputs):
                raise ValueError(f"graph.units[{index - 1}].inputs must name earlier units 0..{index - 1}")
            used.update(unit.inputs)
        unused = sorted(set(range(len(graph.units))) - used)
        if unused:
            raise ValueError(f"graph unit {unused[0]} is read by no later unit (only the last unit is the result)")
        expected = graph.live_bits(self.input_bits)
        for index, layer in enumerate(self.layers, start=1):
            if not np.isclose(layer.output_bits, expected[index], rtol=1e-12, atol=0.0):
                raise ValueError(
                    f"layers[{index - 1}].output_bits = {layer.output_bits} is not the graph's live set "
                    f"after unit {index} ({expected[index]} bits)"
                )
        if graph.units[-1].tensor_bits != self.result_bits:
            raise ValueError("graph's last unit must produce the result (tensor_bits = result_bits)")

    @model_serializer(mode="wrap")
    def _omit_absent_precision(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out the precision fields when absent: a dtype-width profile's file (and the files and hashes of
        scenarios that embed it) stay as they were."""
        data: dict[str, Any] = handler(self)
        for name in (*OPTIONAL_PRECISION_FIELDS, "graph"):
            if name in data and data[name] is None:
                del data[name]
        return data

    @property
    def num_layers(self) -> int:
        """``F``: the number of split units; split points are 0..F."""
        return len(self.layers)

    def cumulative_flops(self) -> np.ndarray:
        """``D(s)`` for ``s = 0..F``: FLOPs run on the device when splitting after unit ``s``. Shape ``[F+1]``."""
        return np.concatenate([[0.0], np.cumsum([layer.flops for layer in self.layers])])

    def upload_bits(self) -> np.ndarray:
        """``w(s)`` for ``s = 0..F``: bits sent up when splitting after unit ``s``; ``w(0)`` is the input.

        ``w(F)`` is the last unit's output, never sent (Device-Only sends nothing). Shape ``[F+1]``.
        """
        return np.array([self.input_bits] + [layer.output_bits for layer in self.layers], dtype=np.float64)

    @property
    def total_flops(self) -> float:
        """``Z = D(F)``."""
        return float(sum(layer.flops for layer in self.layers))
