"""The interference-free lower bounds used to prune split candidates are valid and exact where they should be."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nomasplit.model import Decision, SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.relaxation.bounds import common_split_lower_bounds, device_only_objective, utility_lower_bound
from tests.factories import random_scenario


@pytest.mark.parametrize("seed", range(6))
def test_bound_never_exceeds_the_utility_of_any_decision(seed: int) -> None:
    scenario = random_scenario(seed, num_users=8, num_subchannels=3, access="oma" if seed % 3 == 0 else "noma")
    model = SystemModel(scenario)
    rng = np.random.default_rng(seed)
    num_users, num_subchannels = model.num_users, model.num_subchannels

    def tensor(values) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.float64)

    for _ in range(25):
        split = torch.as_tensor([rng.integers(0, layers + 1) for layers in model.num_layers.tolist()])
        decision = Decision(
            split,
            tensor(rng.dirichlet(np.ones(num_subchannels), num_users)),
            tensor(rng.dirichlet(np.ones(num_subchannels), num_users)),
            tensor(rng.uniform(scenario.uplink_power_min_w, scenario.uplink_power_max_w, num_users)),
            tensor(rng.uniform(scenario.downlink_power_min_w, scenario.downlink_power_max_w, num_users)),
            tensor(rng.uniform(scenario.compute_units_min, scenario.compute_units_max, num_users)),
        )
        utility = model.costs(decision).utility
        bound = utility_lower_bound(model, split)
        assert torch.all(bound <= utility * (1 + 1e-12))
        device_only = ~model.offloads(split)
        torch.testing.assert_close(bound[device_only], utility[device_only], rtol=1e-12, atol=0)


def test_bound_is_tight_for_a_lone_user_at_its_best_powers() -> None:
    """One user, one subchannel, no interference: the bound is within the power grid's resolution of the optimum.

    Alone, the user's utility separates into an uplink term in ``p``, a downlink term in ``P`` and an edge term in
    ``r``, so the grid optimum is found one variable at a time.
    """
    scenario = random_scenario(3, num_aps=1, num_users=1, num_subchannels=1)
    model = SystemModel(scenario)
    split = torch.tensor([0])
    one = torch.ones(1, 1, dtype=torch.float64)

    def utility(values: list[float]) -> float:
        powers = [torch.tensor([value], dtype=torch.float64) for value in values]
        return float(model.costs(Decision(split, one, one, *powers)).utility.item())

    grids = [
        np.geomspace(scenario.uplink_power_min_w, scenario.uplink_power_max_w, 400),
        np.geomspace(scenario.downlink_power_min_w, scenario.downlink_power_max_w, 400),
        np.linspace(scenario.compute_units_min, scenario.compute_units_max, 400),
    ]
    best = [float(grid[len(grid) // 2]) for grid in grids]
    for index, grid in enumerate(grids):
        best[index] = min(grid, key=lambda value: utility([*best[:index], value, *best[index + 1 :]]))
    bound = float(utility_lower_bound(model, split).item())
    assert bound <= utility(best) <= bound * 1.05


@pytest.mark.slow
def test_pruned_candidates_are_dominated_and_recorded() -> None:
    scenario = random_scenario(2, num_users=10, num_subchannels=3)
    plan = solve(scenario, "ligd", seed=0)
    assert plan.solver is not None
    skipped = plan.solver.extra["pruned_splits_lower_bound"]
    model = SystemModel(scenario)
    device_only = device_only_objective(model)
    for split, bound in skipped.items():
        assert bound >= device_only
        assert common_split_lower_bounds(model, [int(split)])[0] == pytest.approx(bound)
    tried = {entry.split for entry in plan.solver.history}
    assert tried.isdisjoint(int(split) for split in skipped)
    assert plan.solver.objective <= device_only * (1 + 1e-9)
