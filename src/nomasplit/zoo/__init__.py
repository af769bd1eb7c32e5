"""The DNN zoo: the three chain models of the paper's evaluation, defined in PyTorch, and their profiles.

Each model is an ``nn.Sequential`` whose direct children are the split units (the paper's "layers"): splitting
after unit ``s`` runs units ``1..s`` on the device and the rest on the edge. The unit counts are the paper's
(Section VI): NiN 9, tiny YOLOv2 17, VGG16 24. What one unit is for each model is in the docstrings of
:mod:`nomasplit.zoo.nin`, :mod:`nomasplit.zoo.tiny_yolov2`, :mod:`nomasplit.zoo.vgg16` and in
``docs/profiles.md``.

The package ships a profile of each model (``profiles/<name>.json``, generated with ``nomasplit profile``);
:func:`load_bundled_profile` reads it without needing to run the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

import torch
from torch import nn

from nomasplit.data.files import validate_as
from nomasplit.data.profile import ModelProfile
from nomasplit.errors import InputError
from nomasplit.zoo import nin, tiny_yolov2, vgg16
from nomasplit.zoo._init import initialise_

#: Names of the zoo models, sorted.
MODEL_NAMES: tuple[str, ...] = ("nin", "tiny-yolov2", "vgg16")

_BUILDERS: dict[str, Callable[[], nn.Sequential]] = {
    "nin": nin.build,
    "tiny-yolov2": tiny_yolov2.build,
    "vgg16": vgg16.build,
}

_INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "nin": nin.INPUT_SHAPE,
    "tiny-yolov2": tiny_yolov2.INPUT_SHAPE,
    "vgg16": vgg16.INPUT_SHAPE,
}

#: Split units per model: the paper's split-point counts F.
NUM_UNITS: dict[str, int] = {"nin": 9, "tiny-yolov2": 17, "vgg16": 24}


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a zoo model, else raise :class:`InputError` listing the allowed names."""
    if name not in _BUILDERS:
        raise InputError(f"unknown model {name!r}; allowed: {', '.join(MODEL_NAMES)}")
    return name


def build_model(name: str, *, seed: int = 0) -> nn.Sequential:
    """Build a zoo model with deterministic weights, in eval mode, on the CPU, in float32.

    The weights come from a ``torch.Generator`` seeded with ``seed`` (He-normal convolution and linear
    weights, zero biases, identity batch norm); the global RNG is not touched. Same seed, same weights, on any
    machine.

    Args:
        name: one of :data:`MODEL_NAMES`.
        seed: seed of the weight generator (any integer ``>= 0``).

    Returns:
        An ``nn.Sequential`` whose direct children are the model's split units, named after their layers.

    Raises:
        InputError: unknown ``name`` or a negative ``seed``.
    """
    check_model_name(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    with torch.device("meta"):
        model = _BUILDERS[name]()
    model = model.to_empty(device="cpu")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    initialise_(model, generator)
    if len(model) != NUM_UNITS[name]:
        raise RuntimeError(f"zoo model {name!r} has {len(model)} units, expected {NUM_UNITS[name]}")
    return model.eval()


def input_shape(name: str) -> tuple[int, ...]:
    """Input tensor shape of a zoo model, batch 1 (for example ``(1, 3, 32, 32)``)."""
    return _INPUT_SHAPES[check_model_name(name)]


def load_bundled_profile(name: str) -> ModelProfile:
    """The profile of a zoo model shipped with the package (float32 sizes, FLOPs from ``FlopCounterMode``).

    Raises:
        InputError: unknown ``name``.
    """
    check_model_name(name)
    resource = resources.files("nomasplit.zoo").joinpath("profiles", f"{name}.json")
    data = json.loads(resource.read_text(encoding="utf-8"))
    return validate_as(ModelProfile, data, f"bundled profile {name}.json")


__all__ = [
    "MODEL_NAMES",
    "NUM_UNITS",
    "build_model",
    "check_model_name",
    "input_shape",
    "load_bundled_profile",
]
