"""Group search: moves priced at every subchannel group's globally optimal powers (solvers/group_search.py)."""

from __future__ import annotations

import pytest
import torch

from nomasplit.data import Plan
from nomasplit.model.evaluate import decision_from_plan, find_violations, plan_from_decision
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.search.groups import FIRST_NODES, GROUP_NODES, MAX_GROUP_USERS, RECHECKED, GroupSearch

from .factories import random_scenario

#: Solves that stop on work, not on the 8 s default budget (deterministic whatever the machine's load).
WORK_BOUND = {"time_limit_s": 3600.0}
THOROUGH_WITHOUT_GROUPS = {"phase": "custom", "improve_starts": 4, "kicks": 16, "group_search": False}


def _latency_only(seed: int, **kwargs):
    """A scenario where latency is all that counts (w_T = 1): the powers of a group then form a hierarchy."""
    scenario = random_scenario(seed, **kwargs)
    return scenario.replace(latency_weight=[1.0] * scenario.num_users)


def test_the_group_search_finds_the_optimum_where_gradient_polishing_stalls() -> None:
    """Two cells, four users, two subchannels, w_T = 1: without the group search ligd stops 4.5 % above the
    proven optimum (its moves are priced at powers the gradient reaches from where they were); with it, at the
    optimum."""
    scenario = _latency_only(3, num_aps=2, num_users=4, num_subchannels=2)
    optimum = solve(scenario, "exact", settings={"gap_tolerance": 1e-6}).solver
    without = solve(scenario, "ligd", seed=0, settings={**WORK_BOUND, **THOROUGH_WITHOUT_GROUPS}).solver
    with_search = solve(scenario, "ligd", seed=0, settings=WORK_BOUND).solver
    assert optimum is not None and without is not None and with_search is not None
    assert optimum.success
    assert without.objective > optimum.objective * 1.01
    assert with_search.objective <= optimum.objective * (1 + 1e-5)
    assert any(name.endswith("group search") for name in with_search.extra["improvement"])
    assert not any(name.endswith("group search") for name in without.extra["improvement"])


@pytest.mark.parametrize(("seed", "access"), [(0, "noma"), (1, "noma"), (2, "oma")])
def test_its_estimate_is_the_models_objective_and_its_plan_is_feasible(seed: int, access: str) -> None:
    scenario = random_scenario(seed, num_aps=2, num_users=5, num_subchannels=2, access=access)
    model = SystemModel(scenario)
    start = decision_from_plan(model, solve(scenario, "edge-only"))
    with torch.no_grad():
        start_objective = float(model.objective(start))
    result = GroupSearch(model, deadline=float("inf")).run(start)
    assert result.decision is not None and result.stop_reason == "local optimum"
    with torch.no_grad():
        objective = float(model.objective(result.decision))
    # The decomposition is exact: the sum of group costs is the model's Gamma of the plan built from them.
    assert objective == pytest.approx(result.estimate, rel=1e-9)
    # Every group's powers are optimal (to the tolerance) for its users, so the search never ends above its start.
    assert result.estimate <= result.start_estimate * (1 + 1e-9)
    assert result.start_estimate <= start_objective * (1 + 1e-6)
    plan = Plan(users=plan_from_decision(model, result.decision))
    assert find_violations(scenario, plan) == []
    for direction in ("uplink_subchannel", "downlink_subchannel"):
        cells = [(scenario.association[user.user], getattr(user, direction)) for user in plan.users]
        cells = [cell for cell in cells if cell[1] is not None]
        assert all(cells.count(cell) <= scenario.cluster_size for cell in cells)


def test_staged_pricing_searches_a_group_further_only_when_asked() -> None:
    """A move's new groups are first priced with FIRST_NODES of their branch and bound; asking for GROUP_NODES
    resumes the same search (its cost can only fall), and asking again for fewer reuses it."""
    scenario = _latency_only(3, num_aps=2, num_users=4, num_subchannels=2, access="noma")
    search = GroupSearch(SystemModel(scenario), deadline=float("inf"))
    resumed = 0
    for mask in range(1, 1 << scenario.num_users):
        first = search.group_cost(0, 0, mask, nodes=FIRST_NODES)
        tree = search.groups.search(0, 0, mask)
        nodes_first = tree.nodes
        assert nodes_first <= FIRST_NODES + 2 * 64 + 1  # the budget, overshot by at most one batch of children
        full = search.group_cost(0, 0, mask)
        assert full <= first
        resumed += tree.nodes > nodes_first
        again = tree.nodes
        assert search.group_cost(0, 0, mask, nodes=FIRST_NODES) == full and tree.nodes == again
    assert resumed > 0  # some group did not close within FIRST_NODES and was searched further


def test_it_does_not_apply_with_an_edge_capacity() -> None:
    scenario = random_scenario(4, num_aps=2, num_users=4, num_subchannels=2)
    scenario = scenario.replace(edge_capacity_units=[3.0, 3.0])
    model = SystemModel(scenario)
    result = GroupSearch(model, deadline=float("inf")).run(decision_from_plan(model, solve(scenario, "edge-only")))
    assert result.decision is None and "edge capacity" in result.stop_reason
    info = solve(scenario, "ligd", seed=0).solver
    assert info is not None
    assert not any(name.endswith("group search") for name in info.extra["improvement"])


@pytest.mark.slow
def test_groups_above_the_cap_are_never_searched() -> None:
    """One cell, one subchannel, NOMA clusters of up to 8: a start with every user on the subchannel has a group
    above the cap, so the search declines; ligd still returns a feasible plan."""
    scenario = random_scenario(5, num_aps=1, num_users=MAX_GROUP_USERS + 1, num_subchannels=1, cluster_size=8)
    model = SystemModel(scenario)
    users = scenario.num_users
    full = torch.ones(users, 1, dtype=torch.float64)
    start = Decision(
        split=torch.zeros(users, dtype=torch.long),
        beta_up=full,
        beta_dn=full.clone(),
        uplink_power_w=torch.full((users,), scenario.uplink_power_max_w, dtype=torch.float64),
        downlink_power_w=torch.full((users,), scenario.downlink_power_max_w, dtype=torch.float64),
        compute_units=torch.full((users,), scenario.compute_units_min, dtype=torch.float64),
    )
    result = GroupSearch(model, deadline=float("inf")).run(start)
    assert result.decision is None and "more than" in result.stop_reason
    plan = solve(scenario, "ligd", seed=0)
    assert find_violations(scenario, plan) == []


@pytest.mark.slow
def test_the_thorough_phase_reaches_past_the_exhaustive_size_and_stops_at_its_own() -> None:
    """Up to 256 (user, subchannel) pairs, however dense, ligd runs the group search, 4 starts and the kicks by
    default (measured: on 72-80 pairs the cheap phase was up to 8.5 % above the optimum, on 19-30 users on 4-6
    subchannels up to 3.7 % above the thorough plan); larger instances get 2 starts and neither."""
    from nomasplit.solvers.algorithms.ligd import thorough_phase
    from nomasplit.solvers.search.local import EXHAUSTIVE_PAIRS

    assert thorough_phase(10, 8) and thorough_phase(16, 16) and thorough_phase(30, 2) and thorough_phase(30, 6)
    assert not thorough_phase(22, 12) and not thorough_phase(60, 5)  # above 256 pairs
    scenario = random_scenario(13, num_aps=2, num_users=9, num_subchannels=8)
    assert scenario.num_users * scenario.num_subchannels > EXHAUSTIVE_PAIRS
    thorough = solve(scenario, "ligd", seed=0, settings=WORK_BOUND).solver
    cheap_settings = {**WORK_BOUND, "phase": "cheap"}
    cheap = solve(scenario, "ligd", seed=0, settings=cheap_settings).solver
    assert thorough is not None and cheap is not None
    assert any(name.endswith("group search") for name in thorough.extra["improvement"])
    assert any(name.endswith(" + improve") for name in thorough.extra["improvement"])  # the kicks' run
    assert not any(name.endswith("group search") for name in cheap.extra["improvement"])
    phase = "thorough (auto: 72 pairs <= 256): 3 relaxed finalists, 4 starts, 16 kicks, group search on"
    assert thorough.extra["improvement_phase"] == phase
    cheap_phase = "cheap (as set): 1 relaxed finalist, 2 starts, raced to gains below 0.001, 0 kicks, group search off"
    assert cheap.extra["improvement_phase"] == cheap_phase
    assert cheap.extra["resolved_settings"]["phase"] == "cheap"
    # the cheap phase's descents are among the thorough phase's candidates
    assert thorough.objective <= cheap.objective * (1 + 1e-9)
    dense = random_scenario(8, num_users=30, num_subchannels=6)
    info = solve(dense, "ligd", seed=0).solver
    assert info is not None
    assert info.extra["improvement_phase"] == (
        "thorough (auto: 180 pairs <= 256): 3 relaxed finalists, 4 starts, 16 kicks, group search on"
    )
    wide = solve(random_scenario(7, num_aps=2, num_users=22, num_subchannels=12), "ligd", seed=0).solver
    assert wide is not None
    names = list(wide.extra["improvement"])
    assert not any(name.endswith(("group search", " + improve")) for name in names) and len(names) <= 2
    phase = (
        "cheap (auto: 264 pairs > 256): 1 relaxed finalist, 2 starts, raced to gains below 0.001, 0 kicks, group "
        "search off"
    )
    assert wide.extra["improvement_phase"] == phase


@pytest.mark.slow
def test_the_group_search_stops_on_its_node_budget_with_the_same_plan_every_time() -> None:
    """group_search_nodes bounds its work (so a solve on an ample time budget does not depend on the machine's
    speed): with a small budget it stops with "work limit", after about that many nodes, and a second solve gives
    the same plan."""
    scenario = _latency_only(2, num_aps=1, num_users=10, num_subchannels=3, access="noma")
    settings = {**WORK_BOUND, "group_search_nodes": 3000}
    first, second = (solve(scenario, "ligd", seed=0, settings=settings) for _ in range(2))
    assert first.solver is not None and second.solver is not None
    runs = [run for name, run in first.solver.extra["improvement"].items() if name.endswith("group search")]
    assert runs and all(run["stop_reason"] == "work limit" for run in runs[1:])
    assert runs[0]["stop_reason"] == "work limit"
    spent = max(run["accepted_moves"]["group nodes"] for run in runs)
    # it may overshoot by one round's rechecks (at most 4 new groups per move) and the final plan's groups
    assert 3000 <= spent <= 3000 + (RECHECKED * 4 + 2 * scenario.num_subchannels) * GROUP_NODES
    assert first.users == second.users
    unbounded = solve(scenario, "ligd", seed=0, settings=WORK_BOUND).solver
    assert unbounded is not None
    assert (
        max(
            run["accepted_moves"]["group nodes"]
            for name, run in unbounded.extra["improvement"].items()
            if name.endswith("group search")
        )
        > 3000
    )
