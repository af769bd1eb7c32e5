"""Models the runtime serves and runs: any ``nn.Sequential`` whose direct children are the split units.

Split ``s`` runs ``children[:s]`` on the device and ``children[s:]`` on the edge; ``s = 0`` is Edge-Only and
``s = F`` Device-Only. Weights are the zoo's deterministic seeded initialisation, or a user's state dict
read from a safetensors file (never pickle, nothing downloaded). Device and edge compare a SHA-256
fingerprint of the weights, so a seed or file mismatch is reported instead of silently giving different
outputs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nomasplit.errors import InputError
from nomasplit.runtime.protocol import format_shape, wire_dtype_name


@dataclass(frozen=True)
class RunnableModel:
    """A model ready to split: the module (eval mode) and the shape of the tensor entering each unit.

    Attributes:
        name: model name used on the wire.
        module: the ``nn.Sequential`` of ``F`` split units, in eval mode.
        split_shapes: ``F + 1`` shapes; ``split_shapes[s]`` enters unit ``s + 1`` (``[0]`` is the input,
            ``[F]`` the final result).
        dtype: dtype of the input and every intermediate tensor.
        weights_sha256: fingerprint of the state dict (see :func:`weights_fingerprint`).
    """

    name: str
    module: nn.Sequential
    split_shapes: tuple[tuple[int, ...], ...]
    dtype: torch.dtype
    weights_sha256: str

    @property
    def num_units(self) -> int:
        """``F``."""
        return len(self.module)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the raw input (batch included)."""
        return self.split_shapes[0]

    def head(self, split: int) -> nn.Sequential:
        """Units ``1..split``: the device's part."""
        return nn.Sequential(*list(self.module)[:split])

    def tail(self, split: int) -> nn.Sequential:
        """Units ``split+1..F``: the edge's part."""
        return nn.Sequential(*list(self.module)[split:])

    def describe(self) -> dict[str, object]:
        """JSON description served at ``/v1/models``."""
        return {
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


def prepare_model(name: str, module: nn.Sequential, input_shape: Sequence[int]) -> RunnableModel:
    """Put ``module`` in eval mode and record the shape entering every unit (one forward pass on zeros).

    Args:
        name: model name.
        module: ``nn.Sequential`` of the split units.
        input_shape: input shape, batch included, e.g. ``(1, 3, 32, 32)``.
    """
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


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a state dict from a safetensors file into ``module`` (all keys must match, shapes too).

    Raises:
        InputError: the file is missing, not safetensors, or does not fit the module.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--weights {path}: file not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"--weights {path}: not a readable safetensors file ({exc})") from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InputError(
            f"--weights {path}: keys do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise InputError(
                f"--weights {path}: {key} has shape {list(value.shape)}, the model needs {list(expected[key].shape)}"
            )
    module.load_state_dict(state, strict=True)


def load_zoo_model(name: str, *, seed: int = 0, weights: str | Path | None = None) -> RunnableModel:
    """A zoo model (``nomasplit.zoo.build_model``) with seeded weights or a safetensors state dict."""
    from nomasplit import zoo

    if name not in zoo.MODEL_NAMES:
        raise InputError(f"model {name!r} is unknown; allowed: {', '.join(zoo.MODEL_NAMES)}")
    module = zoo.build_model(name, seed=seed)
    if weights is not None:
        load_weights(module, weights)
    return prepare_model(name, module, zoo.input_shape(name))


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
