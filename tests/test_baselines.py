"""Baselines: hand-checked instances, the min cut against brute force, feasibility on random networks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nomasplit.data import LayerProfile, ModelProfile, Plan, Scenario
from nomasplit.errors import InputError
from nomasplit.model import SystemModel
from nomasplit.model.evaluate import decision_from_plan, evaluate, find_violations
from nomasplit.solvers import ALGORITHMS, solve
from nomasplit.solvers.baselines.common import estimated_split_costs, noise_only_rates, user_tables
from nomasplit.solvers.baselines.dnn_surgery import latency_graph, min_cut_split
from nomasplit.solvers.baselines.layer_graph import (
    LayerGraph,
    brute_force_partition,
    chain_graph,
    chain_min_cut,
    min_cut_partition,
    partition_cost,
)
from tests.factories import random_scenario

BASELINES = ("device-only", "edge-only", "neurosurgeon", "dnn-surgery")

# --- a hand-checkable network: one AP, subchannels of 1 MHz, SNRs 3 (uplink) and 15 (downlink) ---
NOISE_PSD = 1e-20  # W/Hz -> 1e-14 W on a 1 MHz subchannel
P_MAX, BIG_P_MAX = 0.1, 1.0
STRONG_UP, STRONG_DN = 3e-13, 1.5e-13  # SNR 0.1*3e-13/1e-14 = 3, 1*1.5e-13/1e-14 = 15
LAYER_FLOPS = (4e8, 2e8, 2e8)
OUTPUT_BITS = (8e5, 2e5, 1e4)
INPUT_BITS, RESULT_BITS = 4e6, 4e4
DEVICE_FLOPS, EDGE_UNIT_FLOPS, R_MAX = 1e9, 1e10, 2.0
ENERGY_PER_FLOP = 1e-9  # xi c^2 phi = 1e-27 * (1e9)^2 * 1


def hand_scenario(
    uplink_gain: list[list[float]],
    downlink_gain: list[list[float]],
    *,
    edge_capacity_units: list[float] | None = None,
    latency_weight: float = 1.0,
) -> Scenario:
    """One AP; ``uplink_gain[user][subchannel]``; the 3-unit chain above for every user."""
    num_users, num_subchannels = len(uplink_gain), len(uplink_gain[0])
    profile = ModelProfile(
        model="hand",
        input_bits=INPUT_BITS,
        result_bits=RESULT_BITS,
        layers=[
            LayerProfile(name=f"unit{index}", flops=flops, output_bits=bits)
            for index, (flops, bits) in enumerate(zip(LAYER_FLOPS, OUTPUT_BITS, strict=True))
        ],
    )
    return Scenario(
        num_aps=1,
        num_users=num_users,
        num_subchannels=num_subchannels,
        uplink_bandwidth_hz=1e6 * num_subchannels,
        downlink_bandwidth_hz=1e6 * num_subchannels,
        noise_psd_w_per_hz=NOISE_PSD,
        association=[0] * num_users,
        uplink_gain=np.array([uplink_gain]),
        downlink_gain=np.array([downlink_gain]),
        uplink_power_min_w=0.001,
        uplink_power_max_w=P_MAX,
        downlink_power_min_w=0.01,
        downlink_power_max_w=BIG_P_MAX,
        profiles=[profile],
        user_profile=[0] * num_users,
        workload_tasks=np.ones(num_users),
        latency_weight=np.full(num_users, latency_weight),
        device_flops_per_s=np.full(num_users, DEVICE_FLOPS),
        device_switched_capacitance=np.full(num_users, 1e-27),
        device_cycles_per_flop=np.ones(num_users),
        edge_unit_flops_per_s=EDGE_UNIT_FLOPS,
        compute_units_min=1.0,
        compute_units_max=R_MAX,
        edge_switched_capacitance=1e-31,
        edge_cycles_per_flop=1.0,
        edge_capacity_units=edge_capacity_units,
    )


def hand_latency(split: int, uplink_bps: float, downlink_bps: float, edge_flops_per_s: float) -> float:
    """Eq. (12) written out for the hand chain."""
    device = sum(LAYER_FLOPS[:split]) / DEVICE_FLOPS
    if split == len(LAYER_FLOPS):
        return device
    sent = INPUT_BITS if split == 0 else OUTPUT_BITS[split - 1]
    return device + sum(LAYER_FLOPS[split:]) / edge_flops_per_s + sent / uplink_bps + RESULT_BITS / downlink_bps


def hand_device_energy(split: int, uplink_bps: float) -> float:
    """Eq. (13) + (14) for the hand chain: device compute plus uplink transmission at p_max."""
    sent = 0.0 if split == len(LAYER_FLOPS) else (INPUT_BITS if split == 0 else OUTPUT_BITS[split - 1])
    return ENERGY_PER_FLOP * sum(LAYER_FLOPS[:split]) + P_MAX * sent / uplink_bps


STRONG_UPLINK_BPS = 1e6 * math.log2(1 + 3)  # 2 Mbit/s
STRONG_DOWNLINK_BPS = 1e6 * math.log2(1 + 15)  # 4 Mbit/s
EDGE_AT_R_MAX = R_MAX * EDGE_UNIT_FLOPS


def one_strong_user() -> Scenario:
    return hand_scenario([[STRONG_UP, STRONG_UP / 3]], [[STRONG_DN / 2, STRONG_DN]])


def test_hand_latencies_are_what_the_numbers_say() -> None:
    # The instance is built so that latency and energy prefer different splits.
    latencies = [hand_latency(s, STRONG_UPLINK_BPS, STRONG_DOWNLINK_BPS, EDGE_AT_R_MAX) for s in range(4)]
    np.testing.assert_allclose(latencies, [2.05, 0.83, 0.72, 0.8], rtol=1e-12)
    energies = [hand_device_energy(s, STRONG_UPLINK_BPS) for s in range(4)]
    np.testing.assert_allclose(energies, [0.2, 0.44, 0.61, 0.8], rtol=1e-12)


def test_device_only_costs_the_whole_model_on_the_device() -> None:
    scenario = one_strong_user()
    plan = solve(scenario, "device-only")
    result = evaluate(scenario, plan)
    user = result.users[0]
    assert user.split == 3 and not user.offloads
    assert plan.users[0].uplink_subchannel is None
    assert user.latency_s == pytest.approx(sum(LAYER_FLOPS) / DEVICE_FLOPS, rel=1e-12)
    assert user.energy_j == pytest.approx(ENERGY_PER_FLOP * sum(LAYER_FLOPS), rel=1e-12)
    assert plan.solver.objective == pytest.approx(user.latency_s, rel=1e-12)  # latency weight 1


def test_edge_only_uploads_the_input_on_the_best_subchannel_at_full_power() -> None:
    scenario = one_strong_user()
    plan = solve(scenario, "edge-only")
    decision = plan.users[0]
    assert decision.split == 0
    assert (decision.uplink_subchannel, decision.downlink_subchannel) == (
        0,
        1,
    )  # its strongest in each direction
    assert (decision.uplink_power_w, decision.downlink_power_w, decision.compute_units) == (
        P_MAX,
        BIG_P_MAX,
        R_MAX,
    )
    result = evaluate(scenario, plan)
    expected = hand_latency(0, STRONG_UPLINK_BPS, STRONG_DOWNLINK_BPS, EDGE_AT_R_MAX)
    assert result.users[0].latency_s == pytest.approx(expected, rel=1e-12)


def test_edge_only_shares_capacity_and_leaves_users_beyond_m_on_the_device() -> None:
    gains = [[STRONG_UP, STRONG_UP], [STRONG_UP / 2, STRONG_UP / 2], [STRONG_UP / 4, STRONG_UP / 4]]
    scenario = hand_scenario(gains, gains[:][:], edge_capacity_units=[3.0])
    # Three users, two subchannels: the weakest finds none; the two others share 3 units: 1.5 each.
    plan = solve(scenario, "edge-only")
    splits = [decision.split for decision in plan.decisions_by_user()]
    assert splits == [0, 0, 3]
    assert {decision.uplink_subchannel for decision in plan.users[:2]} == {0, 1}
    assert [decision.compute_units for decision in plan.decisions_by_user()[:2]] == [1.5, 1.5]
    assert find_violations(scenario, plan) == []
    # A capacity of 1 unit (= r_min) admits only one user.
    tight = hand_scenario(gains, gains, edge_capacity_units=[1.0])
    plan = solve(tight, "edge-only")
    assert [decision.split for decision in plan.decisions_by_user()] == [0, 3, 3]
    assert plan.decisions_by_user()[0].compute_units == 1.0


@pytest.mark.parametrize(("mode", "expected_split"), [("latency", 2), ("energy", 0)])
def test_neurosurgeon_picks_the_hand_computed_split(mode: str, expected_split: int) -> None:
    scenario = one_strong_user()
    plan = solve(scenario, "neurosurgeon", settings={"mode": mode})
    assert plan.users[0].split == expected_split
    result = evaluate(scenario, plan)
    # One user, one AP: no interference, so the model's latency is the user's own estimate.
    expected = hand_latency(expected_split, STRONG_UPLINK_BPS, STRONG_DOWNLINK_BPS, EDGE_AT_R_MAX)
    assert result.users[0].latency_s == pytest.approx(expected, rel=1e-12)


def test_neurosurgeon_weak_user_stays_on_the_device_and_frees_its_subchannel() -> None:
    # User 1 (served first: strongest) offloads; user 0 is weak (SNR 0.3) and keeps everything local.
    weak = STRONG_UP / 10
    scenario = hand_scenario([[weak, weak], [STRONG_UP, STRONG_UP]], [[STRONG_DN, STRONG_DN]] * 2)
    plan = solve(scenario, "neurosurgeon").decisions_by_user()
    weak_rate = 1e6 * math.log2(1.3)
    weak_latencies = [hand_latency(s, weak_rate, STRONG_DOWNLINK_BPS, EDGE_AT_R_MAX) for s in range(4)]
    assert int(np.argmin(weak_latencies)) == 3  # by hand: Device-Only
    assert (plan[0].split, plan[0].uplink_subchannel) == (3, None)
    assert plan[1].split == 2


def test_neurosurgeon_ignores_interference_that_the_model_counts() -> None:
    # Two APs, one subchannel: both users offload (checked) and interfere with each other across cells.
    scenario = random_scenario(0, num_aps=2, num_users=2, num_subchannels=1)
    model = SystemModel(scenario)
    tables = user_tables(model)
    plan = solve(scenario, "neurosurgeon")
    result = evaluate(scenario, plan)
    assert [outcome.offloads for outcome in result.users] == [True, True]
    edge = scenario.compute_units_max * scenario.edge_unit_flops_per_s  # linear compensation
    for decision in plan.decisions_by_user():
        user = decision.user
        uplink, downlink = noise_only_rates(scenario, user, 0, 0)
        estimate, _ = estimated_split_costs(tables[user], uplink, downlink, edge, scenario.uplink_power_max_w)
        assert decision.split == int(np.argmin(estimate))  # chosen on the noise-only estimate ...
        outcome = result.users[user]
        assert outcome.uplink_rate_bps < uplink  # ... which the model's interference lowers
        assert outcome.latency_s > estimate[decision.split]


# --- DNN Surgery: min cut ---
def chain_by_loop(graph: LayerGraph) -> float:
    """Best single split of a chain, by a plain loop over split points (eq. 12's structure)."""
    count = graph.num_layers
    best = math.inf
    for split in range(count + 1):
        cost = sum(graph.device_cost[:split]) + sum(graph.edge_cost[split:])
        if split < count:
            cost += (graph.input_cost if split == 0 else graph.output_cost[split - 1]) + graph.result_cost
        best = min(best, cost)
    return best


def random_costs(rng: np.random.Generator, count: int) -> dict:
    def draw(size: int | None = None) -> np.ndarray:
        values = rng.exponential(1.0, size=size)
        return np.where(rng.random(size) < 0.15, 0.0, values)  # some free entries: ties and degenerate cuts

    return {
        "device_cost": draw(count).tolist(),
        "edge_cost": (draw(count) * 0.3).tolist(),
        "output_cost": draw(count).tolist(),
        "input_cost": float(draw()),
        "result_cost": float(draw() * 0.2),
    }


@pytest.mark.parametrize("seed", range(30))
def test_min_cut_equals_brute_force_on_random_chains(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = chain_graph(**random_costs(rng, int(rng.integers(1, 10))))
    device_layers, cost = min_cut_partition(graph)
    assert device_layers == frozenset(range(len(device_layers)))  # a prefix: one split point
    assert cost == pytest.approx(chain_by_loop(graph), rel=1e-12, abs=1e-12)
    assert cost == pytest.approx(brute_force_partition(graph)[1], rel=1e-12, abs=1e-12)
    # The chain's own cut (by the cost of each split): the same cost, and the same split unless another split
    # costs the same (these costs have zeros: ties).
    chain_layers, chain_cost = chain_min_cut(graph)
    assert chain_cost == pytest.approx(cost, rel=1e-12, abs=1e-12)
    split_costs = sorted(partition_cost(graph, frozenset(range(s))) for s in range(graph.num_layers + 1))
    if len(split_costs) == 1 or split_costs[1] - split_costs[0] > 1e-9 * max(1.0, split_costs[0]):
        assert chain_layers == device_layers


def test_chain_min_cut_refuses_a_dag() -> None:
    graph = LayerGraph(
        device_cost=(1.0, 1.0, 1.0),
        edge_cost=(1.0, 1.0, 1.0),
        output_cost=(1.0, 1.0, 1.0),
        edges=((0, 1), (0, 2)),
        input_cost=1.0,
        result_cost=1.0,
    )
    with pytest.raises(ValueError, match="needs a chain"):
        chain_min_cut(graph)


# A residual block (0 -> {1, 2} -> 3) followed by a branch to two heads, and a graph with two inputs.
DAGS = {
    "residual-two-heads": ((0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (3, 5), (4, 6)),
    "two-entries": ((0, 2), (1, 2), (2, 3), (1, 4), (3, 5), (4, 5)),
}


@pytest.mark.parametrize("name", sorted(DAGS))
@pytest.mark.parametrize("seed", range(15))
def test_min_cut_equals_brute_force_on_small_dags(name: str, seed: int) -> None:
    edges = DAGS[name]
    count = 1 + max(max(edge) for edge in edges)
    graph = LayerGraph(
        edges=edges,
        **{
            key: tuple(v) if isinstance(v, list) else v
            for key, v in random_costs(np.random.default_rng(seed), count).items()
        },
    )
    device_layers, cost = min_cut_partition(graph)
    assert all(not (u not in device_layers and w in device_layers) for u, w in edges)  # monotone
    assert cost == pytest.approx(brute_force_partition(graph)[1], rel=1e-12, abs=1e-12)


def test_partition_cost_sends_a_shared_output_once() -> None:
    graph = LayerGraph(
        device_cost=(1.0, 2.0, 3.0, 4.0),
        edge_cost=(0.1, 0.2, 0.3, 0.4),
        output_cost=(5.0, 6.0, 7.0, 8.0),
        edges=((0, 1), (0, 2), (1, 3), (2, 3)),
        input_cost=9.0,
        result_cost=0.5,
    )
    # Layer 0 on the device feeds 1 and 2 on the edge: its output goes up once.
    assert partition_cost(graph, frozenset({0})) == pytest.approx(1.0 + 0.2 + 0.3 + 0.4 + 5.0 + 0.5)
    assert partition_cost(graph, frozenset({0, 1})) == pytest.approx(1.0 + 2.0 + 0.3 + 0.4 + 5.0 + 6.0 + 0.5)
    assert partition_cost(graph, frozenset()) == pytest.approx(1.0 + 9.0 + 0.5)
    assert partition_cost(graph, frozenset(range(4))) == pytest.approx(10.0)
    # By hand, the other monotone partitions cost {0, 2}: 17.1, {0, 1, 2}: 24.9; {0} is the cheapest.
    assert partition_cost(graph, frozenset({0, 2})) == pytest.approx(17.1)
    assert min_cut_partition(graph) == (frozenset({0}), pytest.approx(7.4))


@pytest.mark.parametrize("seed", range(4))
def test_min_cut_of_a_users_chain_is_the_best_split_of_eq_12(seed: int) -> None:
    scenario = random_scenario(seed, num_layers=6, mixed_models=True)
    model = SystemModel(scenario)
    rng = np.random.default_rng(seed)
    for tables in user_tables(model):
        uplink, downlink, edge = rng.uniform(1e4, 1e7), rng.uniform(1e5, 1e7), rng.uniform(1e9, 1e11)
        latency, _ = estimated_split_costs(tables, uplink, downlink, edge, 0.1)
        graph = latency_graph(tables, uplink, downlink, edge)
        split = min_cut_split(tables, uplink, downlink, edge)
        assert latency[split] == pytest.approx(latency.min(), rel=1e-12)
        assert min_cut_partition(graph)[1] == pytest.approx(latency.min(), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_light_load_dnn_surgery_splits_like_neurosurgeon_on_chains(seed: int) -> None:
    scenario = random_scenario(seed, num_users=12, num_layers=6)
    light = solve(scenario, "dnn-surgery", settings={"mode": "light"})
    neurosurgeon = solve(scenario, "neurosurgeon")
    assert [d.split for d in light.decisions_by_user()] == [d.split for d in neurosurgeon.decisions_by_user()]


def test_heavy_load_dnn_surgery_shares_the_server_by_hand() -> None:
    # Two strong users share a 2-unit server: 1 unit each. By hand the split stays 2 (0.73 s against 0.80 s
    # on the device and 0.85 s at split 1): the second best-response sweep changes nothing.
    gains = [[STRONG_UP, STRONG_UP]] * 2
    scenario = hand_scenario(gains, [[STRONG_DN, STRONG_DN]] * 2, edge_capacity_units=[2.0])
    shared = [hand_latency(s, STRONG_UPLINK_BPS, STRONG_DOWNLINK_BPS, EDGE_UNIT_FLOPS) for s in range(4)]
    assert int(np.argmin(shared)) == 2
    plan = solve(scenario, "dnn-surgery")
    assert plan.solver.extra["mode_used"] == "heavy"
    assert (plan.solver.extra["sweeps"], plan.solver.extra["settled"]) == (2, True)
    assert [(d.split, d.compute_units) for d in plan.decisions_by_user()] == [(2, 1.0), (2, 1.0)]
    result = evaluate(scenario, plan)
    for outcome in result.users:
        assert outcome.latency_s == pytest.approx(shared[2], rel=1e-12)


def test_heavy_load_without_any_capacity_is_light_load() -> None:
    scenario = random_scenario(3, num_users=10)
    heavy = solve(scenario, "dnn-surgery")
    assert heavy.solver.extra["mode_used"] == "light"
    assert "no edge capacity" in heavy.solver.message
    plenty = solve(scenario, "dnn-surgery", settings={"server_capacity_units": 1e6})
    assert plenty.solver.extra["mode_used"] == "heavy"
    assert [d.split for d in plenty.users] == [d.split for d in heavy.users]


def test_a_server_sized_per_user_equals_the_same_capacity_given_per_ap() -> None:
    scenario = random_scenario(6, num_aps=2, num_users=10, num_subchannels=6)
    served = np.bincount(np.asarray(scenario.association), minlength=scenario.num_aps)
    per_user = solve(scenario, "dnn-surgery", settings={"server_units_per_user": 0.5})
    assert per_user.solver.extra["capacity_source"] == "settings per user"
    as_scenario = solve(scenario.replace(edge_capacity_units=(0.5 * served).tolist()), "dnn-surgery")
    assert [(d.split, d.compute_units) for d in per_user.users] == [
        (d.split, d.compute_units) for d in as_scenario.users
    ]
    # At most floor(C / r_min) users of an AP may offload.
    offloading = np.bincount(
        [scenario.association[d.user] for d in per_user.users if d.uplink_subchannel is not None],
        minlength=scenario.num_aps,
    )
    assert np.all(offloading <= np.floor(0.5 * served / scenario.compute_units_min))
    assert find_violations(scenario, per_user) == []


@pytest.mark.parametrize("seed", range(4))
def test_heavy_load_settled_splits_are_min_cuts_at_the_actual_share(seed: int) -> None:
    scenario = random_scenario(seed, num_aps=2, num_users=10, num_subchannels=4)
    scenario = scenario.replace(edge_capacity_units=[2.5, 4.0])
    plan = solve(scenario, "dnn-surgery")
    assert find_violations(scenario, plan) == []
    assert plan.solver.extra["settled"], plan.solver.message
    # Settled: every offloading user's split is its best cut at the share it actually gets (a fixed point).
    model = SystemModel(scenario)
    tables = user_tables(model)
    for decision in plan.decisions_by_user():
        if decision.uplink_subchannel is None:
            continue
        rates = noise_only_rates(scenario, decision.user, decision.uplink_subchannel, decision.downlink_subchannel)
        speed = decision.compute_units * scenario.edge_unit_flops_per_s
        assert decision.split == min_cut_split(tables[decision.user], *rates, speed)


# --- every baseline: feasible, registered with a citation, settings validated ---
SCENARIOS = [
    (0, {}),
    (1, {"access": "oma"}),
    (2, {"num_aps": 2, "num_users": 14, "num_subchannels": 2}),  # more users than M per AP
    (3, {"num_aps": 4, "num_users": 12, "num_subchannels": 5, "mixed_models": True}),
    (4, {"ties": True}),
]
VARIANTS = [
    ("device-only", {}),
    ("edge-only", {}),
    ("neurosurgeon", {}),
    ("neurosurgeon", {"mode": "energy"}),
    ("dnn-surgery", {"mode": "light"}),
    ("dnn-surgery", {"server_capacity_units": 2.5}),
]


@pytest.mark.parametrize(("seed", "kwargs"), SCENARIOS)
@pytest.mark.parametrize("capacity", [None, 3.0])
def test_every_baseline_plan_is_feasible_and_discrete(seed: int, kwargs: dict, capacity: float | None) -> None:
    scenario = random_scenario(seed, **kwargs)
    if capacity is not None:
        scenario = scenario.replace(edge_capacity_units=[capacity] * scenario.num_aps)
    for name, settings in VARIANTS:
        plan = solve(scenario, name, settings=settings)
        assert plan.solver.success, (name, plan.solver.message)
        assert find_violations(scenario, plan) == [], name
        assert math.isfinite(plan.solver.objective)
        # K = 1: no two users of one AP on one subchannel, even when the scenario allows NOMA clusters.
        for direction in ("uplink_subchannel", "downlink_subchannel"):
            used = [(scenario.association[d.user], getattr(d, direction)) for d in plan.users]
            used = [pair for pair in used if pair[1] is not None]  # Device-Only users hold none
            assert len(used) == len(set(used)), (name, direction)


def test_a_k1_plan_costs_the_same_under_the_noma_and_the_oma_model() -> None:
    scenario = random_scenario(5, num_aps=2, num_users=8, num_subchannels=4)
    plan = Plan(users=solve(scenario, "edge-only").users)
    noma = SystemModel(scenario)
    oma = SystemModel(scenario.replace(access="oma", cluster_size=1))
    with torch.no_grad():
        noma_costs = noma.costs(decision_from_plan(noma, plan))
        oma_costs = oma.costs(decision_from_plan(oma, plan))
    assert noma_costs.offloads.sum() > 1
    torch.testing.assert_close(noma_costs.latency_s, oma_costs.latency_s, rtol=1e-12, atol=0)
    torch.testing.assert_close(noma_costs.energy_j, oma_costs.energy_j, rtol=1e-12, atol=0)


def test_baselines_are_registered_with_citations() -> None:
    for name in (*BASELINES, "ecc-noma", "ecc-oma"):
        assert ALGORITHMS[name].cite and ALGORITHMS[name].summary
    assert "ASPLOS" in ALGORITHMS["neurosurgeon"].cite
    assert "INFOCOM" in ALGORITHMS["dnn-surgery"].cite and "TCC" in ALGORITHMS["dnn-surgery"].cite


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("neurosurgeon", {"mode": "throughput"}),
        ("neurosurgeon", {"speed": 1}),
        ("dnn-surgery", {"server_capacity_units": -1.0}),
        ("dnn-surgery", {"max_iterations": 0}),
        ("dnn-surgery", {"server_units_per_user": 0.0}),
        ("dnn-surgery", {"server_units_per_user": 1.0, "server_capacity_units": 8.0}),
        ("device-only", {"anything": 1}),
    ],
)
def test_bad_settings_are_input_errors(name: str, settings: dict) -> None:
    with pytest.raises(InputError):
        solve(random_scenario(0), name, settings=settings)


# --- ECC wrappers over ligd ---
needs_ligd = pytest.mark.skipif("ligd" not in ALGORITHMS, reason="the 'ligd' solver is not registered yet")


@pytest.mark.slow
@needs_ligd
@pytest.mark.parametrize("seed", range(2))
def test_ecc_is_no_worse_than_device_only(seed: int) -> None:
    scenario = random_scenario(seed, num_aps=2, num_users=6, num_subchannels=3)
    device_only = solve(scenario, "device-only").solver.objective
    for name in ("ecc-noma", "ecc-oma"):
        plan = solve(scenario, name)
        assert find_violations(scenario, plan) == [], name
        assert plan.solver.objective <= device_only * (1 + 1e-9), name
        assert plan.solver.extra["inner_algorithm"] == "ligd"


@pytest.mark.slow
@needs_ligd
def test_ecc_oma_keeps_one_user_of_an_ap_per_subchannel() -> None:
    scenario = random_scenario(1, num_aps=2, num_users=8, num_subchannels=4)
    plan = solve(scenario, "ecc-oma")
    assert plan.solver.extra["access_solved"] == "oma"
    for direction in ("uplink_subchannel", "downlink_subchannel"):
        used = [(scenario.association[d.user], getattr(d, direction)) for d in plan.users]
        used = [pair for pair in used if pair[1] is not None]
        assert len(used) == len(set(used))


@needs_ligd
def test_ecc_passes_bad_ligd_settings_back_as_input_errors() -> None:
    with pytest.raises(InputError, match="ligd"):
        solve(random_scenario(0), "ecc-noma", settings={"ligd": {"no_such_setting": 1}})


def test_ecc_settings_reject_unknown_keys() -> None:
    with pytest.raises(InputError):
        solve(random_scenario(0), "ecc-oma", settings={"learning_rate": 0.1})


def test_the_python_example_in_docs_runs() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "baselines.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/baselines.md", "exec"), {})
