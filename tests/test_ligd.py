"""Li-GD family: feasibility, never worse than Device-Only / Edge-Only, capacity, warm starts, golden
values."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from nomasplit.model.evaluate import find_violations
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.ligd import sweep_common_splits
from nomasplit.solvers.algorithms.peruser import split_utility_table
from nomasplit.solvers.relaxation.gradient import (
    ContinuousProblem,
    FixedStepGradient,
    ScaledRprop,
    StoppingRule,
    minimize,
)
from tests.factories import random_scenario

#: Small caps keep the fixed-step variants fast; the defaults are exercised by the CLI test and benchmarks.
FAST = {
    "ligd-paper": {"max_iterations": 15, "polish_iterations": 15},
    "gd-paper": {"max_iterations": 15, "polish_iterations": 15},
    "ligd": {},
    "ligd-peruser": {"max_rounds": 3},
}


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", sorted(FAST))
@pytest.mark.parametrize(("seed", "access"), [(0, "noma"), (1, "noma"), (2, "oma")])
def test_plans_are_feasible_and_beat_device_only_and_edge_only(algorithm, seed, access) -> None:
    scenario = random_scenario(seed, num_users=10, num_subchannels=3, access=access)
    plan = solve(scenario, algorithm, settings=FAST[algorithm], seed=seed)
    info = plan.solver
    assert info is not None and info.success, info.message if info else ""
    assert find_violations(scenario, plan) == []
    # Device-Only costs do not depend on powers, so any powers give the Device-Only objective.
    device_only = float(SystemModel(scenario).device_only_utility().sum())
    assert info.objective is not None and info.objective <= device_only * (1 + 1e-9)
    edge_only = solve(scenario, "edge-only").solver
    assert edge_only is not None and edge_only.objective is not None
    assert info.objective <= edge_only.objective * (1 + 1e-9)
    # Evidence: one history per candidate, consistent iteration counts.
    assert sum(item.iterations for item in info.history) == info.iterations_total
    for item in info.history:
        assert len(item.objective) == item.iterations + 1
        assert item.stop_reason


@pytest.mark.slow
def test_ligd_histories_never_increase() -> None:
    plan = solve(random_scenario(4, num_users=10), "ligd")
    assert plan.solver is not None
    for item in plan.solver.history:
        assert all(b <= a for a, b in itertools.pairwise(item.objective))


@pytest.mark.slow
def test_peruser_is_never_worse_than_ligd() -> None:
    for seed in range(2):
        scenario = random_scenario(seed, num_users=10, mixed_models=True)
        # Both stop on work, not on the 8 s default budget: the guarantee holds for solves that finish, and under
        # load the budget cut ligd-peruser's improvement phase before it reached ligd's plan (seen once).
        # The group search is off: the guarantee comes from ligd's plan being a start of ligd-peruser, whatever
        # the improvement phase does, and with it these 10-user solves take 25-30 s each.
        settings = NO_TIME_LIMIT | {"phase": "custom", "improve_starts": 4, "kicks": 16}
        ligd = solve(scenario, "ligd", settings=settings).solver
        peruser = solve(scenario, "ligd-peruser", settings=settings).solver
        assert ligd is not None and peruser is not None
        assert peruser.objective is not None and ligd.objective is not None
        assert peruser.objective <= ligd.objective * (1 + 1e-9)


@pytest.mark.parametrize("algorithm", ["ligd", "ligd-paper"])
def test_edge_capacity_is_respected(algorithm) -> None:
    base = random_scenario(5, num_users=12, num_subchannels=3)
    scenario = base.replace(edge_capacity_units=[3.5, 2.0, 9.0])
    plan = solve(scenario, algorithm, settings=FAST[algorithm])
    assert find_violations(scenario, plan) == []
    totals = [0.0, 0.0, 0.0]
    layers = scenario.user_num_layers()
    for user in plan.users:
        if user.split < layers[user.user]:
            totals[scenario.association[user.user]] += user.compute_units
    assert all(total <= cap * (1 + 1e-9) for total, cap in zip(totals, [3.5, 2.0, 9.0], strict=True))


def test_warm_start_continues_from_previous_candidate_and_cold_start_does_not() -> None:
    model = SystemModel(random_scenario(6, num_users=8))
    stopping = StoppingRule(1e-12, 1e-12, 1e-12, max_iterations=4)
    method = FixedStepGradient(step_size=1e-4)
    warm = sweep_common_splits(model, [1, 2, 3], method, stopping, warm_start=True)
    cold = sweep_common_splits(model, [1, 2, 3], method, stopping, warm_start=False)
    for previous, current in itertools.pairwise(warm):
        assert current.history.objective[0] == pytest.approx(current.problem.value(previous.variables), rel=1e-12)
    start = cold[0].problem.start_point()
    for item in cold:
        assert item.history.objective[0] == pytest.approx(item.problem.value(start), rel=1e-12)


def test_stopping_rules_of_table_one() -> None:
    model = SystemModel(random_scenario(7, num_users=6))
    # All users Device-Only: the gradient is zero at once.
    device = ContinuousProblem(model, model.full_split())
    run = minimize(FixedStepGradient(1e-3), device, device.start_point(), StoppingRule(1e-9, 1e-9, 1e-9, 50))
    assert run.history.stop_reason == "gradient" and run.history.iterations == 0
    # A tiny step changes the variables by less than epsilon.
    problem = ContinuousProblem(model, model.common_split(1))
    run = minimize(FixedStepGradient(1e-30), problem, problem.start_point(), StoppingRule(0.0, 0.0, 1e-20, 50))
    assert run.history.stop_reason == "variables" and run.history.iterations == 1
    run = minimize(FixedStepGradient(1e-30), problem, problem.start_point(), StoppingRule(0.0, 1e3, 0.0, 50))
    assert run.history.stop_reason == "objective"
    run = minimize(ScaledRprop(), problem, problem.start_point("gain"), StoppingRule(0.0, 0.0, 0.0, 7, True))
    assert run.history.stop_reason == "max_iterations" and run.history.iterations == 7


def test_split_utility_table_matches_the_model_user_by_user() -> None:
    scenario = random_scenario(8, num_users=7, mixed_models=True)
    model = SystemModel(scenario)
    generator = torch.Generator().manual_seed(0)
    beta = torch.rand(7, 3, generator=generator, dtype=torch.float64)
    beta = beta / beta.sum(1, keepdim=True)
    powers = [torch.rand(7, generator=generator, dtype=torch.float64) * 0.2 + 0.05 for _ in range(2)]
    units = torch.rand(7, generator=generator, dtype=torch.float64) * 3 + 1
    split = torch.minimum(torch.full((7,), 1), model.num_layers)
    decision = Decision(split, beta, beta.flip(1), powers[0], powers[1], units)
    table = split_utility_table(model, decision)
    for user in range(7):
        for point in range(model.max_layers + 1):
            if point > int(model.num_layers[user]):
                assert math.isinf(float(table[user, point]))
                continue
            moved = split.clone()
            moved[user] = point
            with torch.no_grad():
                expected = model.costs(Decision(moved, *list(decision.__dict__.values())[1:])).utility[user]
            assert float(table[user, point]) == pytest.approx(float(expected), rel=1e-10)


# Golden objectives: obtained by running each algorithm with its default settings (FAST caps for the paper
# variants) on random_scenario(seed, num_users=10, num_subchannels=3) at commit time of this test, float64
# evaluation of the final plan; a change here means the algorithms' results changed.
GOLDEN: dict[tuple[str, int], float] = {
    # ligd and ligd-peruser re-pinned when the discrete improvement phase came (was 0.4798, 0.4824, 0.4798), and
    # again when the group search came (was 0.47306, 0.44840, 0.47306: 1.7 % and 0.25 % lower now).
    ("ligd", 0): 0.4652312424437217,
    ("ligd", 1): 0.4472821866834701,
    ("ligd-paper", 0): 0.7032106461584198,
    ("gd-paper", 0): 0.7032106461584198,
    ("ligd-peruser", 0): 0.4652312424437217,
}

#: The improvement phase stops at a local optimum, not at its time budget, in the golden runs (deterministic).
NO_TIME_LIMIT = {"time_limit_s": 3600.0}


@pytest.mark.slow
@pytest.mark.parametrize(("algorithm", "seed"), sorted(GOLDEN))
def test_golden_objectives(algorithm, seed) -> None:
    scenario = random_scenario(seed, num_users=10, num_subchannels=3)
    settings = FAST[algorithm] | (NO_TIME_LIMIT if algorithm in ("ligd", "ligd-peruser") else {})
    plan = solve(scenario, algorithm, settings=settings, seed=0)
    assert plan.solver is not None
    assert plan.solver.objective == pytest.approx(GOLDEN[(algorithm, seed)], rel=1e-4)


def test_fixed_step_is_a_projected_gradient_step_and_frozen_weights_get_no_gradient() -> None:
    model = SystemModel(random_scenario(9, num_users=6))
    problem = ContinuousProblem(model, model.common_split(2))
    start = problem.start_point()
    method = FixedStepGradient(step_size=1e-3)
    state = method.init(problem, start)
    after = method.step(problem, state)
    # Plain reference: x - lambda * g, then the projections one by one.
    expected = problem.project(start.zip_map(state.gradient, lambda x, g: x - 1e-3 * g))
    for got, want in zip(after.variables.tensors(), expected.tensors(), strict=True):
        assert torch.allclose(got, want, rtol=0, atol=1e-15)
    assert after.objective == pytest.approx(problem.value(after.variables), rel=1e-12)
    frozen = ContinuousProblem(model, model.common_split(2), frozen_beta=True)
    _, free_grad = problem.value_and_grad(start)
    _, frozen_grad = frozen.value_and_grad(start)
    assert not frozen_grad.beta_up.any() and not frozen_grad.beta_dn.any()
    for name in ("uplink_power_w", "downlink_power_w", "compute_units"):
        assert torch.allclose(getattr(frozen_grad, name), getattr(free_grad, name), rtol=1e-12, atol=0)
    assert torch.equal(frozen.project(start).beta_up, start.beta_up)


def test_scaled_rprop_steps_never_raise_the_objective() -> None:
    model = SystemModel(random_scenario(10, num_users=9))
    problem = ContinuousProblem(model, model.common_split(1))
    method = ScaledRprop(initial_step=0.5)  # large first steps force rejections
    state = method.init(problem, problem.start_point())
    for _ in range(15):
        new = method.step(problem, state)
        assert new.objective <= state.objective
        state = new
