"""DAG profiles: units, orders and live sets against hand counts; the CLI on zoo and user DAG models; bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.files import load_profile
from nomasplit.data.profile import ModelProfile
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.generate import generate_scenario, parse_config
from nomasplit.measure.chain import as_network
from nomasplit.measure.graph import profile_graph
from nomasplit.measure.markdown import markdown_table
from nomasplit.measure.profile import profile_network
from nomasplit.model.evaluate import evaluate
from nomasplit.solvers import ALGORITHMS, solve
from nomasplit.solvers.baselines.common import UserTables
from nomasplit.solvers.baselines.dnn_surgery import CutChoice, latency_graph, min_cut_choice
from nomasplit.solvers.baselines.layer_graph import (
    LayerGraph,
    brute_force_partition,
    dag_graph,
    is_monotone,
    is_prefix,
    min_cut_partition,
    partition_cost,
)
from nomasplit.zoo import CHAIN_MODEL_NAMES, DAG_MODEL_NAMES, load_bundled_profile

runner = CliRunner()
BITS = 32  # float32


class Diamond(nn.Module):
    """x -> left (4 ch), x -> right (6 ch), concatenated (10 ch), a 1x1 convolution to 3 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Conv2d(2, 4, 1)
        self.right = nn.Conv2d(2, 6, 1)
        self.out = nn.Conv2d(10, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.left(x), self.right(x)], 1))


class Residual(nn.Module):
    """A residual block with a shortcut convolution, the main branch written first (as in torchvision)."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, channels, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.shortcut = nn.Conv2d(4, channels, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.conv2(self.relu(self.conv1(x)))
        return self.relu(main + self.shortcut(x))


def _elements(profile: ModelProfile) -> list[float]:
    return [bits / BITS for bits in profile.upload_bits()]


def test_diamond_live_sets_are_the_hand_counts() -> None:
    # Elements: x 2x4x4 = 32, left 4x4x4 = 64, right 6x4x4 = 96, cat 160, out 3x4x4 = 48.
    profile = profile_graph(Diamond(), (1, 2, 4, 4), name="diamond", order="program")
    assert [layer.name for layer in profile.layers] == ["left", "right", "cat", "out"]
    assert _elements(profile) == [32, 32 + 64, 64 + 96, 160, 48]
    assert profile.graph is not None
    assert [profile.graph.live_units(split) for split in range(5)] == [[0], [0, 1], [1, 2], [3], [4]]
    assert [unit.inputs for unit in profile.graph.units] == [[0], [0], [1, 2], [3]]
    assert profile.result_bits == 48 * BITS
    # FLOPs: 2 per multiply-accumulate of each 1x1 convolution, 0 for the concatenation.
    assert [layer.flops for layer in profile.layers] == [2 * 16 * 2 * 4, 2 * 16 * 2 * 6, 0, 2 * 16 * 10 * 3]
    # min-live keeps this order: left first leaves 96 live, right first 128.
    assert profile_graph(Diamond(), (1, 2, 4, 4), name="diamond").layers == profile.layers


def test_residual_block_live_sets_in_both_orders() -> None:
    # Elements: x 4x8x8 = 256; conv1, conv2, shortcut and the sum 8x4x4 = 128 each.
    program = profile_graph(Residual(), (1, 4, 8, 8), name="block", order="program")
    assert [layer.name for layer in program.layers] == ["conv1+relu", "conv2", "shortcut", "add+relu_1"]
    assert _elements(program) == [256, 256 + 128, 256 + 128, 128 + 128, 128]
    assert program.graph is not None and program.graph.order == "program"
    # min-live runs the shortcut as soon as conv1 is done: it frees x, so the cut after it sends 256, not 384.
    min_live = profile_graph(Residual(), (1, 4, 8, 8), name="block", order="min-live")
    assert [layer.name for layer in min_live.layers] == ["conv1+relu", "shortcut", "conv2", "add+relu_1"]
    assert _elements(min_live) == [256, 256 + 128, 128 + 128, 128 + 128, 128]
    assert min_live.graph is not None and min_live.graph.live_units(2) == [1, 2]
    assert min_live.total_flops == program.total_flops
    assert "order min-live" in min_live.source["graph"]


def test_chain_models_keep_chain_profiles_without_a_graph() -> None:
    for name in CHAIN_MODEL_NAMES:
        profile = load_bundled_profile(name)
        assert profile.graph is None
        assert "graph" not in profile.model_dump(mode="json")
    # A traced chain is still profiled as a chain of its nodes.
    chain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert profile_network(chain, (1, 1, 5, 5), name="chain").graph is None
    with pytest.raises(InputError, match="--order 'program' is for DAG models"):
        profile_network(chain, (1, 1, 5, 5), name="chain", order="program")


def test_profile_rejects_a_graph_that_does_not_match_its_layers() -> None:
    data = load_bundled_profile("resnet18").model_dump(mode="json")
    data["layers"][2]["output_bits"] = data["layers"][2]["output_bits"] / 2
    with pytest.raises(ValueError, match=r"layers\[2\]\.output_bits .* live set after unit 3"):
        ModelProfile.model_validate(data)
    data = load_bundled_profile("resnet18").model_dump(mode="json")
    data["graph"]["units"][3]["inputs"] = [7]
    with pytest.raises(ValueError, match="must name earlier units"):
        ModelProfile.model_validate(data)


@pytest.mark.parametrize("name", DAG_MODEL_NAMES)
def test_dag_markdown_table_lists_the_sent_units(name: str) -> None:
    profile = load_bundled_profile(name)
    table = markdown_table(profile).splitlines()
    assert table[0].endswith("| sent (units) |")
    assert len(table) == 2 + 1 + profile.num_layers


# ------------------------------------------------------------------------------------------------------------
# The CLI


def test_profile_command_on_resnet18_writes_the_bundled_profile(tmp_path: Path) -> None:
    out = tmp_path / "resnet18.json"
    result = runner.invoke(app, ["profile", "resnet18", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "DAG in min-live order" in result.stdout
    assert load_profile(out) == load_bundled_profile("resnet18")


USER_MODULE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = self.conv2(torch.relu(self.conv1(x)))
        return self.head(torch.flatten(torch.relu(x + y), 1))


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return -self.conv(x)


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


class SizeCall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        return (y + x.mean()).view(y.size(0), -1)


class Untraceable(nn.Module):
    def forward(self, x):
        return torch.tensor(len(x)) + x
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mymodule.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_profile_command_on_a_users_residual_network(user_module: Path) -> None:
    out = user_module / "net.json"
    args = ["profile", "--model", "mymodule:Net", "--input-shape", "1,3,8,8", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    assert profile.model == "Net" and profile.graph is not None
    assert [layer.name for layer in profile.layers] == [
        "stem+relu",
        "conv1+relu_1",
        "conv2",
        "add+relu_2+flatten",
        "head",
    ]
    # Inside the residual block the stem's output travels with the branch: 512 + 512 elements.
    assert [bits / BITS for bits in profile.upload_bits()] == [192, 512, 1024, 1024, 512, 4]
    again = runner.invoke(app, [*args[:-2], "--order", "program", "--out", str(user_module / "p.json")])
    assert again.exit_code == 0, again.output
    assert load_profile(user_module / "p.json").graph.order == "program"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("Branchy", r"cannot be traced by torch.fx at mymodule.py:\d+ `if x.sum\(\) > 0:`"),
        ("TwoInputs", r"takes 2 inputs \('x', 'y'\); a split model takes one tensor"),
        ("SizeCall", r"node 'size' \(call_method size\) returns a value of type int, not a non-empty tensor"),
        ("Untraceable", r"cannot be traced by torch.fx at mymodule.py:\d+ `return torch.tensor\(len\(x\)\) \+ x`"),
    ],
)
def test_bad_dag_models_exit_2_with_one_line_naming_the_place(user_module: Path, attr: str, message: str) -> None:
    out = user_module / "bad.json"
    args = ["profile", "--model", f"mymodule:{attr}", "--input-shape", "1,3,4,4", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert __import__("re").search(message, lines[0]), lines[0]
    assert not out.exists()


def test_as_network_returns_chains_as_chains_and_dags_as_they_are() -> None:
    assert isinstance(as_network(nn.Sequential(nn.ReLU())), nn.Sequential)
    block = Residual()
    assert as_network(block) is block


def test_shipped_dag_profiles_are_valid_json_with_a_graph() -> None:
    from importlib import resources

    for name in DAG_MODEL_NAMES:
        text = resources.files("nomasplit.zoo").joinpath("profiles", f"{name}.json").read_text("utf-8")
        data = json.loads(text)
        assert data["graph"]["order"] == "min-live"
        assert len(data["graph"]["units"]) == len(data["layers"])


# ------------------------------------------------------------------------------------------------------------
# Solvers on DAG profiles; DNN Surgery's cut on the real graph


def _random_dag_graph(profile: ModelProfile, rng: np.random.Generator) -> LayerGraph:
    assert profile.graph is not None
    count = profile.num_layers
    return dag_graph(
        device_cost=rng.uniform(0, 1, count).tolist(),
        edge_cost=rng.uniform(0, 0.3, count).tolist(),
        output_cost=rng.uniform(0, 1, count).tolist(),
        layer_inputs=[list(unit.inputs) for unit in profile.graph.units],
        input_cost=float(rng.uniform(0, 2)),
        result_cost=float(rng.uniform(0, 0.2)),
    )


@pytest.mark.parametrize("order", ["program", "min-live"])
def test_min_cut_on_dag_profiles_equals_brute_force_over_all_cuts(user_module: Path, order: str) -> None:
    from mymodule import Net  # the user's residual network above (5 units)

    profiles = [
        profile_graph(Diamond(), (1, 2, 4, 4), name="diamond", order=order),
        profile_graph(Residual(), (1, 4, 8, 8), name="block", order=order),
        profile_graph(Net(), (1, 3, 8, 8), name="net", order=order),
    ]
    rng = np.random.default_rng(5)
    off_order = 0
    for profile in profiles:
        for _ in range(40):
            graph = _random_dag_graph(profile, rng)
            device_layers, cost = min_cut_partition(graph)
            _, best_cost = brute_force_partition(graph)
            assert is_monotone(graph, device_layers)
            assert cost == pytest.approx(best_cost, rel=1e-12, abs=1e-12)
            assert cost == pytest.approx(partition_cost(graph, device_layers), rel=1e-12)
            off_order += not is_prefix(device_layers)
    assert off_order > 0  # some minimum cuts are no split point of the order: the case DNN Surgery must cost


def _tables(profile: ModelProfile, device_flops_per_s: float) -> UserTables:
    device_flops = profile.cumulative_flops()
    return UserTables(
        device_flops=device_flops,
        upload_bits=profile.upload_bits(),
        total_flops=profile.total_flops,
        result_bits=profile.result_bits,
        device_flops_per_s=device_flops_per_s,
        device_energy_per_flop_j=1e-9,
        device_latency_s=device_flops / device_flops_per_s,
        device_energy_j=device_flops * 1e-9,
        edge_work=profile.total_flops - device_flops,
    )


def test_dnn_surgery_costs_a_cut_off_the_order_as_the_cheapest_split_point() -> None:
    # Program order: conv1, conv2, shortcut, add (2 channels). Device 1 MFLOP/s, uplink 2 Mbit/s, a fast edge:
    # the true minimum cut runs conv1 and the shortcut on the device and sends 32 + 32 elements (3.58 ms), which
    # beats sending x's 256 (4.10 ms) and running everything on the device (3.71 ms), but is no split point.
    profile = profile_graph(Residual(2), (1, 4, 8, 8), name="block", order="program")
    tables = _tables(profile, device_flops_per_s=1e6)
    choice = min_cut_choice(tables, 2e6, 1e9, 1e12, profile)
    graph = latency_graph(tables, 2e6, 1e9, 1e12, profile)
    best_layers, best_cost = brute_force_partition(graph)
    assert sorted(best_layers) == [0, 2] and not choice.cut_is_split
    prefix_costs = [partition_cost(graph, frozenset(range(split))) for split in range(5)]
    assert choice.split == int(np.argmin(prefix_costs)) == 4
    assert choice.gap_s == pytest.approx(min(prefix_costs) - best_cost) and choice.gap_s > 0
    # In the min-live order the shortcut runs second, so the same cut is split point 2.
    min_live = profile_graph(Residual(2), (1, 4, 8, 8), name="block")
    tables = _tables(min_live, device_flops_per_s=1e6)
    assert min_cut_choice(tables, 2e6, 1e9, 1e12, min_live) == CutChoice(split=2, cut_is_split=True, gap_s=0.0)


def _dag_scenario(model: str, users: int) -> Scenario:
    config = {"num_aps": 1, "users_per_ap": users, "num_subchannels": 2, "cluster_size": 2, "model": model}
    return generate_scenario(parse_config({**config, "seed": 3}))


@pytest.fixture(scope="module")
def small_dag_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """3 users of a user's residual network (the Net above, 5 units), from its profile file."""
    folder = tmp_path_factory.mktemp("dag")
    (folder / "dagnet.py").write_text(textwrap.dedent(USER_MODULE))
    import importlib.util

    spec = importlib.util.spec_from_file_location("dagnet", folder / "dagnet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    profile = profile_graph(module.Net(), (1, 3, 8, 8), name="net")
    (folder / "net.json").write_text(profile.model_dump_json())
    return _dag_scenario(str(folder / "net.json"), 3)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_solver_runs_on_a_dag_scenario(small_dag_scenario: Scenario, algorithm: str) -> None:
    scenario = small_dag_scenario
    assert scenario.profiles[0].graph is not None
    plan = solve(scenario, algorithm)
    assert plan.solver.success
    objective = evaluate(scenario, plan).totals.objective
    assert objective == pytest.approx(plan.solver.objective, rel=1e-9)
    device_only = evaluate(scenario, solve(scenario, "device-only")).totals.objective
    assert objective is not None and device_only is not None
    if algorithm in ("ligd", "exact"):
        assert objective <= device_only * (1 + 1e-9)
    if algorithm == "dnn-surgery":
        assert {"cuts_off_order", "max_cut_gap_s"} <= set(plan.solver.extra)


@pytest.mark.parametrize("algorithm", ["ligd", "dnn-surgery", "neurosurgeon"])
def test_solvers_on_a_resnet18_scenario(algorithm: str) -> None:
    scenario = _dag_scenario("resnet18", 2)
    plan = solve(scenario, algorithm)
    assert plan.solver.success
    assert evaluate(scenario, plan).totals.objective == pytest.approx(plan.solver.objective, rel=1e-9)


# ------------------------------------------------------------------------------------------------------------
# The extra figure of the reproduction


def test_both_presets_run_the_dag_figure_on_every_method() -> None:
    from nomasplit.experiments import paper_settings, quick_settings
    from nomasplit.experiments.dag_figure import DAG_MODELS, DAG_SWEEP, QUICK_DAG_NETWORK
    from nomasplit.experiments.figures import ALL_METHODS
    from nomasplit.experiments.presets import calibrated_settings

    for settings in (paper_settings(), quick_settings(), calibrated_settings(quick=True)):
        sweep = settings.sweep(DAG_SWEEP)
        assert sweep.values == DAG_MODELS and sweep.methods == ALL_METHODS
        figures = {figure.key: figure for figure in settings.figures}
        assert figures["extra-dag"].measure == "latency" and figures["extra-dag-energy"].measure == "energy"
        assert figures["extra-dag"].baseline == "device-only" and not figures["extra-dag"].paper
        assert set(figures["extra-dag"].methods) == set(ALL_METHODS) - {"device-only"}
        for model in DAG_MODELS:
            assert settings.point_config(sweep, model).model == model
    quick = quick_settings().sweep(DAG_SWEEP).overrides
    assert {key: quick[key] for key in QUICK_DAG_NETWORK} == QUICK_DAG_NETWORK
    assert paper_settings().sweep(DAG_SWEEP).overrides == paper_settings().sweep("models").overrides
    selected = quick_settings().select_figures(["extra-dag"])
    assert [sweep.name for sweep in selected.sweeps] == [DAG_SWEEP]


def test_measure_times_every_unit_of_a_dag_model() -> None:
    threads = torch.get_num_threads()
    profile = profile_graph(Residual(), (1, 4, 8, 8), name="block", measure=True, warmup=0, repeats=2)
    assert torch.get_num_threads() == threads
    assert all(layer.measured_latency_s is not None and layer.measured_latency_s > 0 for layer in profile.layers)
    assert profile.source["latency"]["repeats"] == 2
    half = profile_graph(Residual(), (1, 4, 8, 8), name="block", dtype="float16")
    assert half.upload_bits().tolist() == [bits / 2 for bits in profile.upload_bits()]
