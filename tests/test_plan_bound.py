"""Every plan carries a certified lower bound on the optimum: it never exceeds a proven optimum, and the gap is
``(objective - bound) / |objective|``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from benchmarks.hard_instances import committed_instances

from nomasplit.model import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.relaxation.bounds import _assignment_bound, plan_lower_bound, side_costs
from tests.factories import random_scenario


@pytest.mark.parametrize("name", ["optimality", "optimality-wide", "optimality-latency-only"])
def test_the_bound_never_exceeds_a_proven_optimum_of_the_benchmark_instances(name: str) -> None:
    rows = list(committed_instances(name))
    assert len(rows) >= 12
    below = 0
    for row, scenario in rows:
        assert scenario.num_users * scenario.num_subchannels == row["pairs"]  # the instance is the benchmark's
        bound = plan_lower_bound(SystemModel(scenario))
        optimum = row["exact"]["objective"]  # within exact's gap tolerance of the optimum, never below it
        assert bound.value <= optimum * (1 + 1e-9), (row["seed"], bound.value, optimum)
        assert bound.interference_free <= bound.value
        below += bound.value < optimum * (1 - 1e-6)
    assert below >= 1  # a bound that always met the optimum on these would be suspicious of the test itself


def test_the_slot_assignment_is_the_least_cost_assignment_by_brute_force() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        users, subchannels, slots = int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        cost = rng.uniform(0.1, 1.0, (users, subchannels))
        stay = rng.uniform(0.2, 1.5, users)
        best = math.inf
        for choice in np.ndindex(*([subchannels + 1] * users)):  # subchannels: 0..M-1, M: Device-Only
            counts = np.bincount([c for c in choice if c < subchannels], minlength=subchannels)
            if np.any(counts > slots):
                continue
            total = sum(stay[i] if c == subchannels else cost[i, c] for i, c in enumerate(choice))
            best = min(best, total)
        assert _assignment_bound(cost, stay, slots) == pytest.approx(best, rel=1e-12)


def test_the_slot_limit_binds_in_an_overloaded_cell() -> None:
    """More users than ``M K`` slots: the assignment bound must leave some on the device and rise above the
    slot-free bound, and it stays below the objective of a solved plan."""
    scenario = random_scenario(2, num_aps=1, num_users=8, num_subchannels=2, access="oma")
    model = SystemModel(scenario)
    costs = side_costs(model)
    offload_gain = costs.device_only - (costs.uplink.min(dim=1).values + costs.downlink.min(dim=1).values)
    assert int((offload_gain > 0).sum()) > 2  # more users want to offload than the 2 OMA slots hold
    bound = plan_lower_bound(model)
    assert bound.value > bound.interference_free * (1 + 1e-6)
    plan = solve(scenario, "ligd")
    assert plan.solver is not None and plan.solver.bound is not None
    assert plan.solver.bound == pytest.approx(bound.value, rel=1e-12)
    assert plan.solver.bound <= plan.solver.objective


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ligd", "ligd-peruser", "ecc-noma", "ecc-oma", "device-only", "exact"])
def test_every_plan_records_a_bound_below_its_objective_and_the_gap(algorithm: str) -> None:
    scenario = random_scenario(5, num_users=5, num_subchannels=2)
    info = solve(scenario, algorithm).solver
    assert info is not None and info.bound is not None and info.gap is not None
    assert info.bound <= info.objective * (1 + 1e-12)
    assert info.gap == pytest.approx((info.objective - info.bound) / abs(info.objective), rel=1e-9, abs=1e-15)
    evidence = info.extra["lower_bound"]
    assert evidence["relaxation"] <= info.bound
    if algorithm == "exact":  # exact proves a tighter bound than the relaxation
        assert evidence["source"] == "algorithm" and info.gap < 1e-3
    else:
        assert evidence["source"] == "relaxation"


def test_the_bound_is_exact_when_nobody_gains_by_offloading() -> None:
    """An edge and an air far slower than the devices: Device-Only is optimal, and the bound equals its objective."""
    scenario = random_scenario(1, num_users=4, num_subchannels=2)
    scenario = scenario.replace(edge_unit_flops_per_s=1.0, uplink_bandwidth_hz=1.0, downlink_bandwidth_hz=1.0)
    info = solve(scenario, "device-only").solver
    assert info is not None
    assert plan_lower_bound(SystemModel(scenario)).value == pytest.approx(info.objective, rel=1e-12)
    assert info.gap == pytest.approx(0.0, abs=1e-12)
