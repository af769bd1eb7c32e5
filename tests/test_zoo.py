"""The DNN zoo: unit counts, deterministic weights, shapes, bundled profiles regenerate exactly."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest
import torch
from torch import nn

from nomasplit.data import ModelProfile
from nomasplit.errors import InputError
from nomasplit.measure.profile import profile_network
from nomasplit.zoo import (
    CHAIN_MODEL_NAMES,
    DAG_MODEL_NAMES,
    MODEL_NAMES,
    PRECISION_VARIANTS,
    PROFILE_NAMES,
    PROFILE_SPECS,
    build_model,
    input_shape,
    load_bundled_profile,
    variant_name,
)
from nomasplit.zoo.tiny_yolov2 import ANCHORS, RegionDecode

PAPER_UNIT_COUNTS = {"nin": 9, "tiny-yolov2": 17, "tiny-yolov2-voc": 17, "vgg16": 24}
EXPECTED_OUTPUT = {
    "nin": (1, 10),
    "vgg16": (1, 10),
    "tiny-yolov2": (1, 1 * 1 * 5, 15),  # CIFAR-10: a 1x1 grid, 5 anchors x (5 + 10 classes)
    "tiny-yolov2-voc": (1, 13 * 13 * 5, 25),
    "resnet18": (1, 10),
    "resnet18-imagenet": (1, 1000),
    "mobilenet-v2": (1, 10),
    "mobilenet-v2-imagenet": (1, 1000),
}
#: Split units of the DAG models: their graph's units (followers fused, see nomasplit.measure.graph).
DAG_UNIT_COUNTS = {"resnet18": 30, "resnet18-imagenet": 31, "mobilenet-v2": 63, "mobilenet-v2-imagenet": 64}


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    return {name: build_model(name) for name in MODEL_NAMES}


def test_model_names_are_the_papers_three_at_cifar_size_and_the_voc_yolo() -> None:
    assert CHAIN_MODEL_NAMES == ("nin", "tiny-yolov2", "tiny-yolov2-voc", "vgg16")
    assert DAG_MODEL_NAMES == ("mobilenet-v2", "mobilenet-v2-imagenet", "resnet18", "resnet18-imagenet")
    assert tuple(sorted(CHAIN_MODEL_NAMES + DAG_MODEL_NAMES)) == MODEL_NAMES
    assert input_shape("resnet18") == input_shape("mobilenet-v2") == (1, 3, 32, 32)
    assert input_shape("resnet18-imagenet") == input_shape("mobilenet-v2-imagenet") == (1, 3, 224, 224)
    assert input_shape("nin") == (1, 3, 32, 32)
    assert input_shape("vgg16") == (1, 3, 32, 32)
    assert input_shape("tiny-yolov2") == (1, 3, 32, 32)  # the paper's CIFAR-10
    assert input_shape("tiny-yolov2-voc") == (1, 3, 416, 416)


@pytest.mark.parametrize("name", CHAIN_MODEL_NAMES)
def test_unit_counts_match_the_paper(models: dict[str, nn.Module], name: str) -> None:
    model = models[name]
    assert isinstance(model, nn.Sequential)
    assert len(list(model.children())) == PAPER_UNIT_COUNTS[name]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_models_are_in_eval_mode_and_run(models: dict[str, nn.Module], name: str) -> None:
    model = models[name]
    assert not any(module.training for module in model.modules())
    generator = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        output = model(torch.randn(input_shape(name), generator=generator))
    assert tuple(output.shape) == EXPECTED_OUTPUT[name]
    assert torch.isfinite(output).all()


@pytest.mark.parametrize(("name", "outputs"), [("tiny-yolov2", 75), ("tiny-yolov2-voc", 125)])
def test_tiny_yolov2_structure(models: dict[str, nn.Module], name: str, outputs: int) -> None:
    model = models[name]
    convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    pools = [module for module in model.modules() if isinstance(module, nn.MaxPool2d)]
    assert len(convs) == 9
    assert len(pools) == 6
    assert [pool.stride for pool in pools] == [2, 2, 2, 2, 2, 1]
    assert convs[-1].out_channels == outputs
    assert sum(isinstance(module, nn.BatchNorm2d) for module in model.modules()) == 8


def test_vgg16_has_thirteen_convolutions_and_three_linear_layers(models: dict[str, nn.Module]) -> None:
    modules = list(models["vgg16"].modules())
    assert sum(isinstance(module, nn.Conv2d) for module in modules) == 13
    assert sum(isinstance(module, nn.Linear) for module in modules) == 3


def test_nin_has_nine_convolutions(models: dict[str, nn.Module]) -> None:
    assert sum(isinstance(module, nn.Conv2d) for module in models["nin"].modules()) == 9


@pytest.mark.parametrize("name", ["nin", "vgg16"])
def test_same_seed_same_weights_different_seed_different(name: str) -> None:
    first = build_model(name, seed=7).state_dict()
    again = build_model(name, seed=7).state_dict()
    other = build_model(name, seed=8).state_dict()
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    conv_weights = [key for key in first if key.endswith("weight") and first[key].dim() == 4]
    assert conv_weights
    assert all(not torch.equal(first[key], other[key]) for key in conv_weights)


def test_first_weights_come_from_a_seeded_generator_not_the_global_rng() -> None:
    global_state = torch.get_rng_state()
    model = build_model("nin", seed=3)
    assert torch.equal(torch.get_rng_state(), global_state)
    first_conv = next(module for module in model.modules() if isinstance(module, nn.Conv2d))
    fan_in = first_conv.in_channels * first_conv.kernel_size[0] * first_conv.kernel_size[1]
    generator = torch.Generator().manual_seed(3)
    expected = torch.randn(first_conv.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in)
    torch.testing.assert_close(first_conv.weight.detach(), expected)


def test_unknown_model_lists_the_allowed_names() -> None:
    with pytest.raises(InputError, match=r"unknown model 'resnet'.*nin, resnet18, resnet18-imagenet, tiny-yolov2"):
        build_model("resnet")
    with pytest.raises(InputError, match="allowed"):
        input_shape("resnet")
    with pytest.raises(InputError, match="allowed"):
        load_bundled_profile("resnet")
    with pytest.raises(InputError, match="seed"):
        build_model("nin", seed=-1)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_bundled_profile_regenerates_identically(models: dict[str, nn.Module], name: str) -> None:
    """Every shipped profile, the precision variants and the CIFAR-size tiny YOLOv2 included, is what profiling
    the model definition gives."""
    shipped_text = resources.files("nomasplit.zoo").joinpath("profiles", f"{name}.json").read_text("utf-8")
    shipped = json.loads(shipped_text)
    model, input_bits, activation_bits = PROFILE_SPECS[name]
    regenerated = profile_network(
        models[model], input_shape(model), name=name, input_bits=input_bits, activation_bits=activation_bits
    ).model_dump(mode="json")
    # The torch version is recorded, not compared: the numbers must not depend on it.
    shipped_source = dict(shipped.pop("source"))
    regenerated_source = dict(regenerated.pop("source"))
    assert shipped_source.pop("torch_version")
    regenerated_source.pop("torch_version")
    assert shipped == regenerated
    assert shipped_source == regenerated_source
    assert "hostname" not in json.dumps(shipped_source)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_load_bundled_profile(name: str) -> None:
    profile = load_bundled_profile(name)
    model, input_bits, activation_bits = PROFILE_SPECS[name]
    assert isinstance(profile, ModelProfile)
    assert profile.model == name == variant_name(model, input_bits, activation_bits)
    assert profile.num_layers == {**PAPER_UNIT_COUNTS, **DAG_UNIT_COUNTS}[model]
    assert (profile.graph is not None) == (model in DAG_MODEL_NAMES)
    assert profile.input_bits == math.prod(input_shape(model)) * (input_bits or 32)
    assert profile.result_bits == math.prod(EXPECTED_OUTPUT[model]) * (activation_bits or 32)
    assert profile.total_flops > 0


@pytest.mark.parametrize("model", ["nin", "tiny-yolov2", "vgg16"])
def test_precision_variants_scale_the_sizes_exactly_and_keep_the_flops(model: str) -> None:
    full = load_bundled_profile(model)
    for input_bits, activation_bits in PRECISION_VARIANTS:
        variant = load_bundled_profile(variant_name(model, input_bits, activation_bits))
        assert variant.input_element_bits == input_bits and variant.activation_element_bits == activation_bits
        assert variant.input_bits * 32 == full.input_bits * input_bits
        assert variant.result_bits * 32 == full.result_bits * activation_bits
        for mine, theirs in zip(variant.layers, full.layers, strict=True):
            assert mine.output_bits * 32 == theirs.output_bits * activation_bits
            assert mine.flops == theirs.flops


def _region_decode_loop(raw: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Darknet's region decoding written cell by cell, anchor by anchor."""
    _, _, height, width = raw.shape
    rows = []
    for row in range(height):
        for col in range(width):
            for anchor, (anchor_w, anchor_h) in enumerate(ANCHORS):
                base = anchor * (5 + num_classes)
                values = raw[0, base : base + 5 + num_classes, row, col]
                x = (col + 1 / (1 + math.exp(-values[0].item()))) / width
                y = (row + 1 / (1 + math.exp(-values[1].item()))) / height
                w = anchor_w * math.exp(values[2].item()) / width
                h = anchor_h * math.exp(values[3].item()) / height
                objectness = 1 / (1 + math.exp(-values[4].item()))
                scores = [math.exp(value) for value in values[5:].tolist()]
                probabilities = [score / sum(scores) for score in scores]
                rows.append([x, y, w, h, objectness, *probabilities])
    return torch.tensor([rows], dtype=torch.float64)


def test_region_decode_matches_a_plain_loop() -> None:
    num_classes = 3
    generator = torch.Generator().manual_seed(5)
    raw = torch.randn(1, len(ANCHORS) * (5 + num_classes), 2, 3, generator=generator, dtype=torch.float64)
    decoded = RegionDecode(ANCHORS, num_classes)(raw)
    torch.testing.assert_close(decoded, _region_decode_loop(raw, num_classes))


# ------------------------------------------------------------------------------------------------------------
# The DAG models: torchvision's layout, the published multiply-accumulate counts, their graphs.

#: Published multiply-accumulates at 224x224 (torchvision's model docs): ResNet-18 1.814 G, MobileNetV2 0.301 G.
PUBLISHED_GMAC = {"resnet18-imagenet": 1.814, "mobilenet-v2-imagenet": 0.301}


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMAC))
def test_imagenet_dag_models_have_the_published_multiply_accumulates(name: str) -> None:
    gmac = load_bundled_profile(name).total_flops / 2 / 1e9
    assert gmac == pytest.approx(PUBLISHED_GMAC[name], abs=0.0015)


def test_dag_models_have_torchvisions_layers(models: dict[str, nn.Module]) -> None:
    resnet = models["resnet18-imagenet"]
    convs = [module for module in resnet.modules() if isinstance(module, nn.Conv2d)]
    assert len(convs) == 20  # stem, 16 in the blocks, 3 shortcut convolutions
    assert sum(parameter.numel() for parameter in resnet.parameters()) == 11_689_512  # torchvision's count
    mobilenet = models["mobilenet-v2-imagenet"]
    assert sum(parameter.numel() for parameter in mobilenet.parameters()) == 3_504_872  # torchvision's count
    assert len(mobilenet.features) == 19
    assert sum(block.use_res_connect for block in mobilenet.features if hasattr(block, "use_res_connect")) == 10


def test_dag_profiles_send_two_tensors_inside_a_residual_block_and_one_between_blocks() -> None:
    profile = load_bundled_profile("resnet18")
    assert profile.graph is not None and profile.graph.order == "min-live"
    names = [layer.name for layer in profile.layers]
    inside = names.index("layer1_0_conv1+layer1_0_bn1+layer1_0_relu") + 1
    between = names.index("add+layer1_0_relu_1") + 1
    assert len(profile.graph.live_units(inside)) == 2
    assert profile.layers[inside - 1].output_bits == 2 * 64 * 8 * 8 * 32  # block input and conv1's output
    assert profile.graph.live_units(between) == [between]
    assert profile.layers[between - 1].output_bits == 64 * 8 * 8 * 32
