"""Rounding: always feasible (property test), complete while slots remain, and greedy-consistent."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nomasplit.data.plan import Plan
from nomasplit.model.evaluate import find_violations, plan_from_decision
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.projections import project_simplex_rows
from nomasplit.solvers.rounding import assign_subchannels, round_decision
from tests.factories import random_scenario


@given(
    num_aps=st.integers(1, 3),
    num_users=st.integers(1, 14),
    num_subchannels=st.integers(1, 5),
    cluster_size=st.integers(1, 3),
    sparse=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=80, deadline=None)
def test_assignment_is_feasible_complete_and_greedy(
    num_aps, num_users, num_subchannels, cluster_size, sparse, seed
) -> None:
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
        # Greedy-consistent: no served user prefers a subchannel that still has a free slot.
        for user in users:
            if assigned[user] < 0:
                continue
            free = load[ap] < cluster_size
            if free.any():
                assert weights[user, free].max() <= weights[user, assigned[user]] + 1e-15


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
