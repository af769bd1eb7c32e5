"""The DNN zoo: the three chain models of the paper's evaluation and two DAG models, defined in PyTorch, and
their profiles.

Each model is an ``nn.Sequential`` whose direct children are the split units (the paper's "layers"): splitting
after unit ``s`` runs units ``1..s`` on the device and the rest on the edge. The unit counts are the paper's
(Section VI): NiN 9, tiny YOLOv2 17, VGG16 24. What one unit is for each model is in the docstrings of
:mod:`nomasplit.zoo.nin`, :mod:`nomasplit.zoo.tiny_yolov2`, :mod:`nomasplit.zoo.vgg16` and in
``docs/profiles.md``.

The DAG models, ResNet-18 (:mod:`nomasplit.zoo.resnet`) and MobileNetV2 (:mod:`nomasplit.zoo.mobilenet_v2`),
each at CIFAR-10 size and at ImageNet size, are ordinary modules with torchvision's layer layout; their split
units, order and live sets come from their traced graph (:mod:`nomasplit.measure.graph`), and their profiles
carry that graph.

The package ships a profile of each model (``profiles/<name>.json``, generated with ``nomasplit profile``);
:func:`load_bundled_profile` reads it without needing to run the model. Besides the float32 profiles it ships
the precision variants of :data:`PRECISION_VARIANTS` (an 8-bit camera input, and 8-, 16- or 32-bit activations
sent over the air), named by :func:`variant_name` (``nin-in8``, ``nin-in8-a16``, ``nin-in8-a8``, ...).
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
from nomasplit.zoo import mobilenet_v2, nin, resnet, tiny_yolov2, vgg16
from nomasplit.zoo._init import initialise_

#: Names of the zoo models, sorted: the paper's three at CIFAR-10 size, darknet's VOC tiny YOLOv2, and the DAG
#: models ResNet-18 and MobileNetV2 at CIFAR-10 and ImageNet size.
MODEL_NAMES: tuple[str, ...] = (
    "mobilenet-v2",
    "mobilenet-v2-imagenet",
    "nin",
    "resnet18",
    "resnet18-imagenet",
    "tiny-yolov2",
    "tiny-yolov2-voc",
    "vgg16",
)

#: The chain models (``nn.Sequential`` of split units).
CHAIN_MODEL_NAMES: tuple[str, ...] = ("nin", "tiny-yolov2", "tiny-yolov2-voc", "vgg16")

#: The DAG models (profiled from their graph, :mod:`nomasplit.measure.graph`).
DAG_MODEL_NAMES: tuple[str, ...] = ("mobilenet-v2", "mobilenet-v2-imagenet", "resnet18", "resnet18-imagenet")

#: The models of the paper's evaluation (Section VI-A: NiN, YOLOv2, VGG16 on CIFAR-10).
PAPER_MODEL_NAMES: tuple[str, ...] = ("nin", "tiny-yolov2", "vgg16")

_BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "mobilenet-v2": mobilenet_v2.build,
    "mobilenet-v2-imagenet": mobilenet_v2.build_imagenet,
    "resnet18": resnet.build,
    "resnet18-imagenet": resnet.build_imagenet,
    "nin": nin.build,
    "tiny-yolov2": tiny_yolov2.build,
    "tiny-yolov2-voc": tiny_yolov2.build_voc,
    "vgg16": vgg16.build,
}

_INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "mobilenet-v2": mobilenet_v2.INPUT_SHAPE,
    "mobilenet-v2-imagenet": mobilenet_v2.IMAGENET_INPUT_SHAPE,
    "resnet18": resnet.INPUT_SHAPE,
    "resnet18-imagenet": resnet.IMAGENET_INPUT_SHAPE,
    "nin": nin.INPUT_SHAPE,
    "tiny-yolov2": tiny_yolov2.INPUT_SHAPE,
    "tiny-yolov2-voc": tiny_yolov2.VOC_INPUT_SHAPE,
    "vgg16": vgg16.INPUT_SHAPE,
}

#: Split units per chain model: the paper's split-point counts F (a DAG model's come from its graph).
NUM_UNITS: dict[str, int] = {"nin": 9, "tiny-yolov2": 17, "tiny-yolov2-voc": 17, "vgg16": 24}

#: Width in bits of a float32 element: the precision of a profile without a variant suffix.
FULL_PRECISION_BITS = 32

#: (input bits, activation bits) of the shipped precision variants of each paper model: the input as an 8-bit
#: camera image or float32, and activations sent as float32, float16 / 16-bit fixed point, or 8-bit.
PRECISION_VARIANTS: tuple[tuple[int, int], ...] = ((8, 32), (8, 16), (8, 8), (32, 16), (32, 8))


def variant_name(model: str, input_bits: int | None = None, activation_bits: int | None = None) -> str:
    """Name of a profile at a precision: ``model``, then ``-in<b>`` and ``-a<b>`` where not 32 bits.

    ``variant_name("nin", 8, 16) == "nin-in8-a16"``; ``variant_name("nin") == "nin"``.
    """
    name = model
    if input_bits is not None and input_bits != FULL_PRECISION_BITS:
        name += f"-in{input_bits}"
    if activation_bits is not None and activation_bits != FULL_PRECISION_BITS:
        name += f"-a{activation_bits}"
    return name


#: Every bundled profile: name -> (zoo model, input bits, activation bits; None: float32 as computed).
PROFILE_SPECS: dict[str, tuple[str, int | None, int | None]] = {
    **{model: (model, None, None) for model in MODEL_NAMES},
    **{
        variant_name(model, bits_in, bits_out): (model, bits_in, bits_out)
        for model in PAPER_MODEL_NAMES
        for bits_in, bits_out in PRECISION_VARIANTS
    },
}

#: Names of the bundled profiles, sorted.
PROFILE_NAMES: tuple[str, ...] = tuple(sorted(PROFILE_SPECS))


def base_model_of(profile_name: str) -> str:
    """The zoo model of a bundled profile (``nin-in8-a16`` -> ``nin``); any other name is returned as it is."""
    spec = PROFILE_SPECS.get(profile_name)
    return spec[0] if spec is not None else profile_name


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a zoo model, else raise :class:`InputError` listing the allowed names."""
    if name not in _BUILDERS:
        raise InputError(f"unknown model {name!r}; allowed: {', '.join(MODEL_NAMES)}")
    return name


def check_profile_name(name: str) -> str:
    """Return ``name`` if it is a bundled profile, else raise :class:`InputError` listing the allowed names."""
    if name not in PROFILE_NAMES:
        raise InputError(f"unknown model {name!r}; allowed: {', '.join(PROFILE_NAMES)}")
    return name


def build_model(name: str, *, seed: int = 0) -> nn.Module:
    """Build a zoo model with deterministic weights, in eval mode, on the CPU, in float32.

    The weights come from a ``torch.Generator`` seeded with ``seed`` (He-normal convolution and linear
    weights, zero biases, identity batch norm); the global RNG is not touched. Same seed, same weights, on any
    machine.

    Args:
        name: one of :data:`MODEL_NAMES`.
        seed: seed of the weight generator (any integer ``>= 0``).

    Returns:
        A chain model: an ``nn.Sequential`` whose direct children are the model's split units, named after their
        layers. A DAG model (:data:`DAG_MODEL_NAMES`): the module with torchvision's layout.

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
    if isinstance(model, nn.Sequential) and len(model) != NUM_UNITS[name]:
        raise RuntimeError(f"zoo model {name!r} has {len(model)} units, expected {NUM_UNITS[name]}")
    return model.eval()


def input_shape(name: str) -> tuple[int, ...]:
    """Input tensor shape of a zoo model, batch 1 (for example ``(1, 3, 32, 32)``)."""
    return _INPUT_SHAPES[check_model_name(name)]


def load_bundled_profile(name: str) -> ModelProfile:
    """A profile shipped with the package: a zoo model (float32 sizes) or a precision variant of one
    (:data:`PROFILE_NAMES`); FLOPs from ``FlopCounterMode``.

    Raises:
        InputError: unknown ``name``.
    """
    check_profile_name(name)
    resource = resources.files("nomasplit.zoo").joinpath("profiles", f"{name}.json")
    data = json.loads(resource.read_text(encoding="utf-8"))
    return validate_as(ModelProfile, data, f"bundled profile {name}.json")


__all__ = [
    "CHAIN_MODEL_NAMES",
    "DAG_MODEL_NAMES",
    "MODEL_NAMES",
    "NUM_UNITS",
    "PAPER_MODEL_NAMES",
    "PRECISION_VARIANTS",
    "PROFILE_NAMES",
    "PROFILE_SPECS",
    "base_model_of",
    "build_model",
    "check_model_name",
    "check_profile_name",
    "input_shape",
    "load_bundled_profile",
    "variant_name",
]
