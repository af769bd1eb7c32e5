"""Models the runtime serves and runs: any ``nn.Sequential`` whose direct children are the split units, or a
DAG model (a ResNet) with its profile's graph.

Split ``s`` runs ``children[:s]`` on the device and ``children[s:]`` on the edge; ``s = 0`` is Edge-Only and
``s = F`` Device-Only. For a DAG model, units ``1..s`` of its profile's graph run on the device, which sends
every live tensor (by name) and the edge runs the rest (:class:`nomasplit.measure.graph.SplitGraph`).
Weights are the zoo's deterministic seeded initialisation, or a user's state dict read from a safetensors
file (never pickle, nothing downloaded). Device and edge compare a SHA-256 fingerprint of the weights, so a
seed or file mismatch is reported instead of silently giving different outputs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nomasplit.data.profile import ModelGraph
from nomasplit.errors import InputError
from nomasplit.io import TensorEntry, read_safetensors, shown
from nomasplit.measure.graph import SplitGraph, trace_graph
from nomasplit.runtime.protocol import TensorList, format_shape, format_tensors, wire_dtype_name


class DagHead:
    """The device's part of a DAG model at split ``s``: returns the live tensors by name."""

    def __init__(self, graph: SplitGraph, split: int) -> None:
        self.graph, self.split = graph, split

    def __call__(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.graph.head(inputs, self.split)


class DagTail:
    """The edge's part of a DAG model at split ``s``: takes the live tensors by name, returns the result."""

    def __init__(self, graph: SplitGraph, split: int) -> None:
        self.graph, self.split = graph, split

    def __call__(self, live: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.graph.tail(live, self.split)


@dataclass(frozen=True)
class RunnableModel:
    """A model ready to split: the module (eval mode) and the shape of the tensor entering each unit.

    Attributes:
        name: model name used on the wire.
        module: the ``nn.Sequential`` of ``F`` split units (a DAG model: the model itself), in eval mode.
        split_shapes: ``F + 1`` shapes; ``split_shapes[s]`` enters unit ``s + 1`` (``[0]`` is the input,
            ``[F]`` the final result); for a DAG model, unit ``s``'s own output.
        dtype: dtype of the input and every intermediate tensor.
        weights_sha256: fingerprint of the state dict (see :func:`weights_fingerprint`).
        graph: a DAG model's units (None for a chain).
        split_tensors: a DAG model's live tensors at each split ``0..F``, names and shapes (None for a chain).
    """

    name: str
    module: nn.Module
    split_shapes: tuple[tuple[int, ...], ...]
    dtype: torch.dtype
    weights_sha256: str
    graph: SplitGraph | None = None
    split_tensors: tuple[TensorList, ...] | None = None

    @property
    def num_units(self) -> int:
        """``F``."""
        if self.graph is not None:
            return self.graph.num_units
        assert isinstance(self.module, nn.Sequential)
        return len(self.module)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the raw input (batch included)."""
        return self.split_shapes[0]

    def head(self, split: int) -> Any:
        """Units ``1..split``: the device's part (a DAG model's returns its live tensors by name)."""
        if self.graph is not None:
            return DagHead(self.graph, split)
        assert isinstance(self.module, nn.Sequential)
        return nn.Sequential(*list(self.module)[:split])

    def tail(self, split: int) -> Any:
        """Units ``split+1..F``: the edge's part (a DAG model's takes the live tensors by name)."""
        if self.graph is not None:
            return DagTail(self.graph, split)
        assert isinstance(self.module, nn.Sequential)
        return nn.Sequential(*list(self.module)[split:])

    def describe(self) -> dict[str, object]:
        """JSON description served at ``/v1/models`` (a DAG model adds ``split_tensors``)."""
        extra: dict[str, object] = {}
        if self.split_tensors is not None:
            extra["split_tensors"] = [format_tensors(entries) for entries in self.split_tensors]
        return {
            **extra,
            "num_units": self.num_units,
            "dtype": wire_dtype_name(self.dtype),
            "input_shape": list(self.input_shape),
            "split_shapes": [format_shape(shape) for shape in self.split_shapes],
            "edge_splits": [0, self.num_units - 1],
            "weights_sha256": self.weights_sha256,
        }


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-256 over the state dict: each entry's name, dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{value.dtype}|{list(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def prepare_model(
    name: str, module: nn.Module, input_shape: Sequence[int], graph: ModelGraph | None = None
) -> RunnableModel:
    """Put ``module`` in eval mode and record the shape entering every unit (one forward pass on zeros).

    Args:
        name: model name.
        module: ``nn.Sequential`` of the split units, or a DAG model with ``graph``.
        input_shape: input shape, batch included, e.g. ``(1, 3, 32, 32)``.
        graph: a DAG model's graph from its profile (``ModelProfile.graph``).
    """
    if graph is not None:
        return _prepare_dag(name, module, input_shape, graph)
    if not isinstance(module, nn.Sequential) or len(module) == 0:
        raise InputError(f"model {name!r}: expected a non-empty nn.Sequential of split units")
    module.eval()
    dtype = next((param.dtype for param in module.parameters()), torch.float32)
    wire_dtype_name(dtype)
    shapes = [tuple(int(size) for size in input_shape)]
    with torch.inference_mode():
        value = torch.zeros(shapes[0], dtype=dtype)
        for unit in module:
            value = unit(value)
            shapes.append(tuple(int(size) for size in value.shape))
    return RunnableModel(
        name=name,
        module=module,
        split_shapes=tuple(shapes),
        dtype=dtype,
        weights_sha256=weights_fingerprint(module),
    )


def _prepare_dag(name: str, module: nn.Module, input_shape: Sequence[int], graph: ModelGraph) -> RunnableModel:
    module.eval()
    dtype = next((param.dtype for param in module.parameters()), torch.float32)
    wire_dtype_name(dtype)
    split_graph = SplitGraph(trace_graph(module, what=f"model {name!r}"), graph)
    shape = tuple(int(size) for size in input_shape)
    with torch.inference_mode():
        env = split_graph.run_units({graph.input_name: torch.zeros(shape, dtype=dtype)}, range(1, len(graph.units) + 1))
    names = [graph.input_name, *(unit.nodes[-1] for unit in graph.units)]
    shapes = tuple(tuple(int(size) for size in env[node].shape) for node in names)
    split_tensors = tuple(
        tuple((node, tuple(int(size) for size in env[node].shape)) for node in split_graph.live_names(split))
        for split in range(len(graph.units) + 1)
    )
    return RunnableModel(
        name=name,
        module=module,
        split_shapes=shapes,
        dtype=dtype,
        weights_sha256=weights_fingerprint(module),
        graph=split_graph,
        split_tensors=split_tensors,
    )


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a state dict from a safetensors file into ``module``: every key, shape and dtype must match.

    Read through the input boundary (:func:`nomasplit.io.read_safetensors`): the file's size is checked against
    ``FILE_LIMITS.max_weights_bytes`` and its header against ``module``'s state dict before any tensor is loaded.

    Raises:
        InputError: the file is missing, too large, not safetensors, or does not fit the module.
    """
    path = Path(path)
    source = f"--weights {shown(path)}"
    expected = module.state_dict()

    def check(entries: dict[str, TensorEntry]) -> None:
        missing = sorted(set(expected) - set(entries))
        unexpected = sorted(set(entries) - set(expected))
        if missing or unexpected:
            raise InputError(
                f"{source}: keys do not match the model ({len(missing)} missing {missing[:5]}, {len(unexpected)} "
                f"unexpected {unexpected[:5]}); nothing was loaded"
            )
        for key, entry in entries.items():
            want = expected[key]
            if entry.shape != tuple(want.shape):
                raise InputError(
                    f"{source}: {shown(key)} has shape {list(entry.shape)}, the model needs {list(want.shape)}; "
                    "nothing was loaded"
                )
            want_dtype = str(want.dtype).removeprefix("torch.")
            if entry.dtype != want_dtype:
                raise InputError(
                    f"{source}: {shown(key)} is {entry.dtype}, the model holds {want_dtype}; nothing was loaded"
                )

    state = read_safetensors(path, what="--weights", limit_field="max_weights_bytes", check=check)
    module.load_state_dict(state, strict=True)


def load_zoo_model(name: str, *, seed: int = 0, weights: str | Path | None = None) -> RunnableModel:
    """A zoo model (``nomasplit.zoo.build_model``) with seeded weights or a safetensors state dict."""
    from nomasplit import zoo

    if name not in zoo.MODEL_NAMES:
        raise InputError(f"model {name!r} is unknown; allowed: {', '.join(zoo.MODEL_NAMES)}")
    module = zoo.build_model(name, seed=seed)
    if weights is not None:
        load_weights(module, weights)
    graph = zoo.load_bundled_profile(name).graph if name in zoo.DAG_MODEL_NAMES else None
    return prepare_model(name, module, zoo.input_shape(name), graph)


def load_zoo_models(
    names: Sequence[str], *, seed: int = 0, weights: Mapping[str, str | Path] | None = None
) -> dict[str, RunnableModel]:
    """Several zoo models by name; ``weights`` maps a model name to its safetensors file."""
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise InputError(f"--weights names model(s) {unknown} that are not served; served: {list(names)}")
    if len(set(names)) != len(names):
        raise InputError(f"--models lists a model twice: {list(names)}")
    return {name: load_zoo_model(name, seed=seed, weights=weights.get(name)) for name in names}
