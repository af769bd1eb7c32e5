"""Per-unit profiling: FLOPs against hand formulas, sizes against real shapes, user models, bad input."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nomasplit.errors import InputError
from nomasplit.measure.chain import as_chain
from nomasplit.measure.graph import NotAChainError, SplitGraph, trace_graph
from nomasplit.measure.options import parse_dtype, parse_input_shape, validate_input_shape
from nomasplit.measure.profile import profile_model, profile_network
from nomasplit.measure.user_model import load_user_model
from nomasplit.zoo import CHAIN_MODEL_NAMES, build_model, input_shape

# ------------------------------------------------------------------------------------------------------------
# Small models the tests import by ``package.module:attr`` (this module is ``tests.test_profiling``).

SMALL_CHAIN = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(1),
    nn.Linear(8 * 4 * 4, 5),
)
SMALL_INPUT = (1, 3, 8, 8)
NOT_A_MODULE = 42


class TracedChain(nn.Module):
    """Not an nn.Sequential, but fx traces it into a chain of modules, functions and methods."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.fc(x).softmax(dim=-1)


def make_traced_chain() -> nn.Module:
    return TracedChain()


def make_nothing() -> str:
    return "not a model"


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class UsesParameter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x
        return -x


class TwoInputs(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * 2 + y


def spec(attr: str) -> str:
    return f"{__name__}:{attr}"


# ------------------------------------------------------------------------------------------------------------
# FLOPs and sizes


def test_flops_and_bits_of_a_small_chain_by_hand() -> None:
    profile = profile_model(SMALL_CHAIN, SMALL_INPUT, name="small")
    conv_flops = 2 * 3 * 8 * 3 * 3 * 8 * 8  # 2 * Cin * Cout * k * k * Hout * Wout
    linear_flops = 2 * (8 * 4 * 4) * 5  # 2 * in_features * out_features
    assert [layer.flops for layer in profile.layers] == [conv_flops, 0, 0, 0, linear_flops]
    assert [layer.output_shape for layer in profile.layers] == [
        [1, 8, 8, 8],
        [1, 8, 8, 8],
        [1, 8, 4, 4],
        [1, 128],
        [1, 5],
    ]
    assert [layer.output_bits for layer in profile.layers] == [512 * 32, 512 * 32, 128 * 32, 128 * 32, 5 * 32]
    assert profile.input_bits == 3 * 8 * 8 * 32
    assert profile.result_bits == 5 * 32
    assert profile.input_shape == list(SMALL_INPUT)
    assert [layer.name for layer in profile.layers] == [
        "0_Conv2d",
        "1_ReLU",
        "2_MaxPool2d",
        "3_Flatten",
        "4_Linear",
    ]
    assert all(layer.measured_latency_s is None for layer in profile.layers)


def _hand_flops_per_unit(model: nn.Sequential, shape: tuple[int, ...]) -> list[int]:
    """2 * MACs of every Conv2d and Linear, from the layer's attributes and its real output shape."""
    per_unit: list[int] = []
    hooks = []
    current: list[int] = [0]

    def conv_hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        kernel = module.kernel_size[0] * module.kernel_size[1]
        current[0] += 2 * module.in_channels // module.groups * kernel * output.numel()

    def linear_hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Linear)
        current[0] += 2 * module.in_features * output.numel()

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook))
    x = torch.zeros(shape)
    with torch.inference_mode():
        for unit in model.children():
            current[0] = 0
            x = unit(x)
            per_unit.append(current[0])
    for hook in hooks:
        hook.remove()
    return per_unit


@pytest.mark.parametrize("name", CHAIN_MODEL_NAMES)
def test_zoo_flops_and_sizes_match_hand_formulas_and_real_shapes(name: str) -> None:
    model = build_model(name)
    profile = profile_model(model, input_shape(name), name=name)
    assert [layer.flops for layer in profile.layers] == _hand_flops_per_unit(model, input_shape(name))
    x = torch.zeros(input_shape(name))
    with torch.inference_mode():
        for layer, unit in zip(profile.layers, model.children(), strict=True):
            x = unit(x)
            assert layer.output_shape == list(x.shape)
            assert layer.output_bits == x.numel() * 32
    assert profile.result_bits == profile.layers[-1].output_bits


@pytest.mark.parametrize(("dtype", "bits"), [("float32", 32), ("float16", 16), ("bfloat16", 16), ("float64", 64)])
def test_dtype_sets_the_bits_not_the_flops(dtype: str, bits: int) -> None:
    reference = profile_model(SMALL_CHAIN, SMALL_INPUT, name="small")
    profile = profile_model(SMALL_CHAIN, SMALL_INPUT, name="small", dtype=dtype)
    assert profile.dtype == dtype
    assert profile.source["dtype"] == dtype
    assert profile.input_bits == math.prod(SMALL_INPUT) * bits
    for layer, ref in zip(profile.layers, reference.layers, strict=True):
        assert layer.flops == ref.flops
        assert layer.output_bits == ref.output_bits * bits / 32
    # The caller's model is not converted.
    assert all(parameter.dtype == torch.float32 for parameter in SMALL_CHAIN.parameters())


def test_profile_is_deterministic_and_has_no_host_data() -> None:
    first = profile_model(SMALL_CHAIN, SMALL_INPUT, name="small").model_dump(mode="json")
    second = profile_model(SMALL_CHAIN, SMALL_INPUT, name="small").model_dump(mode="json")
    assert first == second
    assert set(first["source"]) == {"method", "torch_version", "dtype", "input"}


def test_measure_records_positive_latencies_and_restores_threads() -> None:
    threads = torch.get_num_threads()
    profile = profile_model(SMALL_CHAIN, SMALL_INPUT, name="small", measure=True, warmup=1, repeats=3)
    assert torch.get_num_threads() == threads
    latencies = [layer.measured_latency_s for layer in profile.layers]
    assert all(latency is not None and latency > 0 for latency in latencies)
    latency_source = profile.source["latency"]
    assert latency_source["warmup"] == 1
    assert latency_source["repeats"] == 3
    assert latency_source["threads"] == 1


# ------------------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize("shape", [(), (0, 3), (1, -2), (1.5, 3), (True, 3), "1,3", (1, 2**20, 2**20)])
def test_bad_input_shapes(shape: object) -> None:
    with pytest.raises(InputError, match="input shape"):
        validate_input_shape(shape)


def test_parse_input_shape() -> None:
    assert parse_input_shape("1,3,32,32") == (1, 3, 32, 32)
    assert parse_input_shape(" 1, 3 ,32,32 ") == (1, 3, 32, 32)
    assert parse_input_shape("1x3x32x32") == (1, 3, 32, 32)
    for text in ["", "a,b", "1,3,,32", "1,0,32", "1,-3,32"]:
        with pytest.raises(InputError, match="input shape"):
            parse_input_shape(text)


def test_parse_dtype() -> None:
    assert parse_dtype("float16") is torch.float16
    assert parse_dtype(torch.float64) is torch.float64
    for bad in ["int8", "float", torch.int32]:
        with pytest.raises(InputError, match="dtype must be one of float32, float16, bfloat16, float64"):
            parse_dtype(bad)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"warmup": -1}, "warmup"),
        ({"repeats": 0}, "repeats"),
        ({"name": ""}, "name"),
        ({"dtype": "int8"}, "dtype"),
    ],
)
def test_bad_profile_arguments(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"name": "small", **kwargs}
    with pytest.raises(InputError, match=field):
        profile_model(SMALL_CHAIN, SMALL_INPUT, **arguments)


def test_profile_rejects_models_that_are_not_chains_of_tensors() -> None:
    with pytest.raises(InputError, match=r"nn\.Sequential"):
        profile_model(TracedChain(), (1, 3, 8, 8), name="x")
    with pytest.raises(InputError, match="no units"):
        profile_model(nn.Sequential(), (1, 3), name="x")
    with pytest.raises(InputError, match=r"unit 1 \('0_Linear'\) fails on an input of shape \[1, 3, 8, 8\]"):
        profile_model(nn.Sequential(nn.Linear(10, 2)), (1, 3, 8, 8), name="x")

    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    with pytest.raises(InputError, match="one non-empty tensor"):
        profile_model(nn.Sequential(Pair()), (1, 3), name="x")


# ------------------------------------------------------------------------------------------------------------
# User models


def test_load_user_sequential() -> None:
    chain = load_user_model(spec("SMALL_CHAIN"))
    assert chain is SMALL_CHAIN
    profile = profile_model(chain, SMALL_INPUT, name="small")
    assert profile.num_layers == 5


@pytest.mark.parametrize("attr", ["TracedChain", "make_traced_chain"])
def test_fx_traceable_chain_becomes_sequential_units(attr: str) -> None:
    chain = load_user_model(spec(attr))
    assert isinstance(chain, nn.Sequential)
    assert [name for name, _ in chain.named_children()] == [
        "conv",
        "relu",
        "pool",
        "flatten",
        "fc",
        "softmax",
    ]
    original = TracedChain()
    chain = as_chain(original)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(chain(x), original(x))
    profile = profile_model(chain, (1, 3, 8, 8), name="traced")
    conv_flops = 2 * 3 * 4 * 9 * 8 * 8
    linear_flops = 2 * 64 * 6
    assert [layer.flops for layer in profile.layers] == [conv_flops, 0, 0, 0, linear_flops, 0]
    assert [layer.output_shape for layer in profile.layers][-3:] == [[1, 64], [1, 6], [1, 6]]
    # A dtype change converts a deep copy of the chain; its function units must still find their input.
    half = profile_model(chain, (1, 3, 8, 8), name="traced", dtype="bfloat16")
    assert [layer.output_bits for layer in half.layers] == [layer.output_bits / 2 for layer in profile.layers]


@pytest.mark.parametrize(
    ("model_spec", "message"),
    [
        ("no_colon_here", "package.module:attr"),
        ("a:b:c", "package.module:attr"),
        (":attr", "package.module:attr"),
        ("nomasplit_no_such_package_xyz.models:net", "cannot import module"),
        (spec("MISSING"), "has no attribute 'MISSING'"),
        (spec("NOT_A_MODULE"), "is a int, not an nn.Module"),
        (spec("make_nothing"), "returned a str, not an nn.Module"),
        (spec("DataDependent"), "cannot be traced by torch.fx at test_profiling.py:"),
        (spec("TwoInputs"), "takes 2 inputs ('x', 'y')"),
    ],
)
def test_bad_user_models(model_spec: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        load_user_model(model_spec)


@pytest.mark.parametrize("attr", ["Residual", "UsesParameter"])
def test_user_models_that_are_not_chains_load_as_dags(attr: str) -> None:
    model = load_user_model(spec(attr))
    assert not isinstance(model, nn.Sequential)
    with pytest.raises(NotAChainError, match=r"uses the parameter or buffer 'scale'|used 2 times"):
        as_chain(model)
    profile = profile_network(model, (1, 3, 4, 4), name=attr)
    assert profile.graph is not None
    x = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    split = SplitGraph(trace_graph(model), profile.graph)
    with torch.inference_mode():
        for cut in range(profile.num_layers + 1):
            torch.testing.assert_close(split.tail(split.head(x, cut), cut), model(x))


def test_empty_sequential_is_not_a_chain() -> None:
    with pytest.raises(InputError, match="empty"):
        as_chain(nn.Sequential())
    with pytest.raises(InputError, match=r"not a torch\.nn\.Module"):
        as_chain("model")
