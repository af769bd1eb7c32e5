"""Rounding: always feasible (property test), complete while slots remain, optimal (brute force), joint."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nomasplit.data.plan import Plan
from nomasplit.model.evaluate import find_violations, plan_from_decision
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.relaxation.projections import project_simplex_rows
from nomasplit.solvers.search.rounding import assign_directions, assign_subchannels, round_decision
from tests.factories import random_scenario


def _brute_force_best_weight(weights: np.ndarray, users: list[int], num_subchannels: int, cluster_size: int) -> float:
    """Largest total weight of an assignment of as many users as slots allow (plain enumeration)."""
    best = -np.inf
    slots = min(len(users), cluster_size * num_subchannels)
    for chosen in itertools.combinations(users, slots):
        for channels in itertools.product(range(num_subchannels), repeat=slots):
            if max(np.bincount(np.array(channels, dtype=int), minlength=num_subchannels), default=0) > cluster_size:
                continue
            best = max(best, sum(weights[u, c] for u, c in zip(chosen, channels, strict=True)))
    return float(best) if slots else 0.0


@given(
    num_aps=st.integers(1, 3),
    num_users=st.integers(1, 14),
    num_subchannels=st.integers(1, 5),
    cluster_size=st.integers(1, 3),
    sparse=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=80, deadline=None)
def test_assignment_is_feasible_and_complete(num_aps, num_users, num_subchannels, cluster_size, sparse, seed) -> None:
    rng = np.random.default_rng(seed)
    raw = rng.random((num_users, num_subchannels))
    if sparse:  # many ties at zero and exact one-hot rows
        raw = (raw > 0.7) * raw
    weights = project_simplex_rows(torch.tensor(raw))
    association = torch.tensor(rng.integers(0, num_aps, size=num_users))
    active = torch.tensor(rng.random(num_users) < 0.8)
    assigned = assign_subchannels(weights, association, active, num_aps, cluster_size)
    assert torch.all(assigned[~active] == -1)
    load = np.zeros((num_aps, num_subchannels), dtype=int)
    for user in range(num_users):
        if assigned[user] >= 0:
            load[association[user], assigned[user]] += 1
    assert load.max(initial=0) <= cluster_size
    for ap in range(num_aps):
        users = [u for u in range(num_users) if association[u] == ap and active[u]]
        served = sum(int(assigned[u] >= 0) for u in users)
        # Complete: everybody is served unless the AP's slots ran out.
        assert served == min(len(users), cluster_size * num_subchannels)


@given(
    num_users=st.integers(1, 5),
    num_subchannels=st.integers(1, 3),
    cluster_size=st.integers(1, 2),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=40, deadline=None)
def test_assignment_has_the_largest_total_weight(num_users, num_subchannels, cluster_size, seed) -> None:
    """The b-matching is optimal: its total weight equals brute force over all assignments."""
    rng = np.random.default_rng(seed)
    weights = rng.random((num_users, num_subchannels))
    association = torch.zeros(num_users, dtype=torch.long)
    active = torch.ones(num_users, dtype=torch.bool)
    assigned = assign_subchannels(torch.tensor(weights), association, active, 1, cluster_size).numpy()
    total = sum(weights[u, c] for u, c in enumerate(assigned) if c >= 0)
    expected = _brute_force_best_weight(weights, list(range(num_users)), num_subchannels, cluster_size)
    assert total == pytest.approx(expected, abs=1e-12)


def test_joint_rounding_serves_every_slot_of_an_overloaded_oma_cell() -> None:
    """30 users on 10 OMA subchannels: 10 are served in both directions (the old greedy served 2)."""
    rng = np.random.default_rng(0)
    beta_up = project_simplex_rows(torch.tensor(rng.random((30, 10)) ** 4))
    beta_dn = project_simplex_rows(torch.tensor(rng.random((30, 10)) ** 4))
    association = torch.zeros(30, dtype=torch.long)
    active = torch.ones(30, dtype=torch.bool)
    up, down = assign_directions(beta_up, beta_dn, association, active, 1, 1)
    assert int((up >= 0).sum()) == 10
    assert torch.equal(up >= 0, down >= 0)
    assert sorted(up[up >= 0].tolist()) == list(range(10))
    assert sorted(down[down >= 0].tolist()) == list(range(10))


def test_oma_one_user_per_subchannel_and_overflow_runs_device_only() -> None:
    scenario = random_scenario(3, num_aps=1, num_users=5, num_subchannels=3, access="oma")
    model = SystemModel(scenario)
    uniform = torch.full((5, 3), 1 / 3, dtype=torch.float64)
    relaxed = Decision(model.common_split(1), uniform, uniform, *(torch.ones(5, dtype=torch.float64),) * 3)
    rounded = round_decision(model, relaxed)
    offloading = model.offloads(rounded.split)
    assert int(offloading.sum()) == 3  # 3 subchannels, K = 1: two users run Device-Only
    assert torch.all(rounded.split[~offloading] == model.num_layers[~offloading])
    assert torch.all(rounded.beta_up[~offloading] == 0)


@given(seed=st.integers(0, 10_000), access=st.sampled_from(["noma", "oma"]), split=st.integers(0, 4))
@settings(max_examples=25, deadline=None)
def test_rounded_plans_pass_the_evaluator(seed, access, split) -> None:
    scenario = random_scenario(seed, num_users=10, num_subchannels=2, access=access)
    model = SystemModel(scenario)
    rng = np.random.default_rng(seed)
    num_users, num_subchannels = scenario.num_users, scenario.num_subchannels
    beta_up = project_simplex_rows(torch.tensor(rng.random((num_users, num_subchannels))))
    beta_dn = project_simplex_rows(torch.tensor(rng.random((num_users, num_subchannels))))
    powers = [
        torch.full((num_users,), value, dtype=torch.float64)
        for value in (scenario.uplink_power_max_w, scenario.downlink_power_max_w, scenario.compute_units_min)
    ]
    rounded = round_decision(model, Decision(model.common_split(split), beta_up, beta_dn, *powers))
    plan = Plan(users=plan_from_decision(model, rounded))
    assert find_violations(scenario, plan) == []
