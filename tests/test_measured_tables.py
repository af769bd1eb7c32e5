"""Measured per-unit latency tables and the measured ``lambda(r)``: equal to the FLOP model when the tables are
its own values, and used consistently by the model, the baselines and ``exact`` when they differ."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from nomasplit.data import MeasuredCompensation, Scenario
from nomasplit.measure.lambda_fit import fit_amdahl, fit_measured_compensation
from nomasplit.model import evaluate
from nomasplit.model.compensation import compensation_function
from nomasplit.model.system import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.peruser import split_utility_table
from nomasplit.solvers.baselines.common import estimated_split_costs, user_tables
from nomasplit.solvers.relaxation.bounds import utility_lower_bound
from nomasplit.solvers.search.group_bnb import cost_tables as exact_tables

from .factories import random_scenario
from .test_model import random_decision as random_arrays
from .test_model import to_decision


def random_decision(model: SystemModel, rng: np.random.Generator):
    return to_decision(*random_arrays(model, rng))


def flop_equal_tables(scenario: Scenario) -> Scenario:
    """The same scenario with measured tables holding exactly the FLOP model's per-unit times."""
    speed = float(scenario.device_flops_per_s[0])
    assert np.all(scenario.device_flops_per_s == speed)
    lambda_one = float(compensation_function(scenario.compensation)(torch.tensor(1.0, dtype=torch.float64)))
    edge_speed = lambda_one * scenario.edge_unit_flops_per_s
    return scenario.replace(
        device_unit_latency_s=[[layer.flops / speed for layer in profile.layers] for profile in scenario.profiles],
        edge_unit_latency_s=[[layer.flops / edge_speed for layer in profile.layers] for profile in scenario.profiles],
    )


@pytest.mark.slow
@pytest.mark.parametrize("compensation", [None, {"kind": "amdahl", "parallel_fraction": 0.8}])
def test_tables_equal_to_the_flop_model_change_nothing(compensation: dict | None) -> None:
    base = random_scenario(4, num_users=8, mixed_models=True)
    if compensation is not None:
        base = base.replace(compensation=compensation)
    measured = flop_equal_tables(base)
    flop_model, table_model = SystemModel(base), SystemModel(measured)
    for name in ("device_latency_table", "device_energy_table", "edge_work_table"):
        torch.testing.assert_close(getattr(table_model, name), getattr(flop_model, name), rtol=1e-12, atol=0)
    # The FLOP model's tables are the old formulas.
    torch.testing.assert_close(
        flop_model.device_latency_table, flop_model.device_flops_table / flop_model.device_flops_per_s[:, None]
    )
    torch.testing.assert_close(
        flop_model.edge_work_table, flop_model.total_flops[:, None] - flop_model.device_flops_table
    )
    rng = np.random.default_rng(0)
    for _ in range(3):
        decision = random_decision(flop_model, rng)
        left, right = flop_model.costs(decision), table_model.costs(decision)
        for field in ("latency_s", "energy_j", "device_latency_s", "edge_latency_s", "edge_energy_j", "utility"):
            torch.testing.assert_close(getattr(right, field), getattr(left, field), rtol=1e-12, atol=0)
        torch.testing.assert_close(
            utility_lower_bound(table_model, decision.split), utility_lower_bound(flop_model, decision.split)
        )
        torch.testing.assert_close(
            split_utility_table(table_model, decision), split_utility_table(flop_model, decision)
        )
    for left_user, right_user in zip(user_tables(flop_model), user_tables(table_model), strict=True):
        left_costs = estimated_split_costs(left_user, 1e6, 2e6, 3e10, 0.1)
        right_costs = estimated_split_costs(right_user, 1e6, 2e6, 3e10, 0.1)
        np.testing.assert_allclose(right_costs, left_costs, rtol=1e-12)
    left_exact, right_exact = exact_tables(flop_model), exact_tables(table_model)
    np.testing.assert_allclose(right_exact.split_offset, left_exact.split_offset, rtol=1e-12)
    np.testing.assert_allclose(right_exact.device_only_cost, left_exact.device_only_cost, rtol=1e-12)
    # ECC's search stops on work, not on the clock (its 8 s default budget binds here, at a point that depends
    # on the machine's load, and two solves cut at different points end at different plans).
    # The group search is off: it reads the same tables (exact_groups.cost_tables, compared above) and doubles
    # the time of these work-bound solves.
    on_work = {"ecc-noma": {"ligd": {"time_limit_s": 3600.0, "group_search": False}}}
    for algorithm in ("neurosurgeon", "dnn-surgery", "ecc-noma"):
        settings = on_work.get(algorithm)
        left_plan, right_plan = solve(base, algorithm, settings=settings), solve(measured, algorithm, settings=settings)
        assert [u.split for u in left_plan.users] == [u.split for u in right_plan.users], algorithm
        assert right_plan.solver.objective == pytest.approx(left_plan.solver.objective, rel=1e-9), algorithm


def test_measured_tables_set_device_and_edge_times() -> None:
    base = random_scenario(5, num_users=6)
    profile = base.profiles[0]
    device_s = [0.010, 0.020, 0.005, 0.001]
    edge_s = [0.004, 0.003, 0.002, 0.001]
    measured = base.replace(
        device_unit_latency_s=[device_s],
        edge_unit_latency_s=[edge_s],
        compensation={"kind": "measured", "units": [1, 2, 4], "speedup": [1.0, 1.8, 3.0]},
    )
    assert profile.num_layers == 4
    model = SystemModel(measured)
    rng = np.random.default_rng(1)
    decision = random_decision(model, rng)
    costs = model.costs(decision)
    split = decision.split.numpy()
    tasks = measured.workload_tasks
    lam = compensation_function(measured.compensation)
    for user in range(measured.num_users):
        s = int(min(split[user], 4))
        assert float(costs.device_latency_s[user]) == pytest.approx(tasks[user] * sum(device_s[:s]), rel=1e-12)
        speedup = float(lam(decision.compute_units[user : user + 1])[0])
        expected_edge = tasks[user] * sum(edge_s[s:]) / speedup if s < 4 else 0.0
        assert float(costs.edge_latency_s[user]) == pytest.approx(expected_edge, rel=1e-12, abs=1e-15)
        power_w = base.device_switched_capacitance[user] * base.device_flops_per_s[user] ** 3
        assert float(costs.device_energy_j[user]) == pytest.approx(power_w * tasks[user] * sum(device_s[:s]))

    # A baseline: Device-Only's latency is the device table's total.
    plan = solve(measured, "device-only")
    result = evaluate(measured, plan)
    for user, outcome in enumerate(result.users):
        assert outcome.latency_s == pytest.approx(tasks[user] * sum(device_s), rel=1e-12)
    # Neurosurgeon picks by the tables: a device 1000 times slower than its FLOPs say makes it offload.
    slow = measured.replace(device_unit_latency_s=[[1000.0 * t for t in device_s]])
    assert sum(u.split < 4 for u in solve(slow, "neurosurgeon").users) > 0

    # exact: its objective is the model's evaluation of its plan (it reads the same tables), and it differs
    # from the FLOP model's optimum.
    small = random_scenario(3, num_aps=2, num_users=3, num_subchannels=2, num_layers=4)
    small_measured = small.replace(
        device_unit_latency_s=[[5.0 * t for t in device_s]],
        edge_unit_latency_s=[edge_s],
        compensation={"kind": "measured", "units": [1, 2], "speedup": [1.0, 1.7]},
    )
    exact_plan = solve(small_measured, "exact")
    assert exact_plan.solver.objective is not None
    assert exact_plan.solver.objective == pytest.approx(evaluate(small_measured, exact_plan).totals.objective, rel=1e-6)
    flop_plan = solve(small, "exact")
    assert exact_plan.solver.objective != pytest.approx(flop_plan.solver.objective, rel=1e-3)
    assert exact_plan.solver.objective <= solve(small_measured, "device-only").solver.objective * (1 + 1e-9)


def test_measured_compensation_is_piecewise_linear_and_differentiable() -> None:
    spec = MeasuredCompensation(units=[1, 2, 4], speedup=[1.0, 1.8, 3.0])
    lam = compensation_function(spec)
    units = torch.tensor([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=torch.float64, requires_grad=True)
    values = lam(units)
    expected = [0.5, 1.0, 1.4, 1.8, 2.4, 3.0, 3.0 + 0.6 * 2]
    np.testing.assert_allclose(values.detach().numpy(), expected, rtol=1e-12)
    values.sum().backward()
    assert units.grad is not None
    np.testing.assert_allclose(units.grad.numpy(), [1.0, 0.8, 0.8, 0.6, 0.6, 0.6, 0.6], rtol=1e-12)
    single = compensation_function(MeasuredCompensation(units=[1], speedup=[1]))
    assert float(single(torch.tensor(3.0))) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"units": [1, 2], "speedup": [1.0]}, "must match"),
        ({"units": [2, 1], "speedup": [1.0, 1.5]}, "units must be strictly increasing"),
        ({"units": [1, 2], "speedup": [1.0, 0.9]}, "speedup must be strictly increasing"),
        ({"units": [0, 2], "speedup": [1.0, 1.5]}, "positive"),
        ({"units": [1, 2], "speedup": [1.0, math.inf]}, "positive finite"),
    ],
)
def test_measured_compensation_validation(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MeasuredCompensation(**data)


def test_fit_is_monotone_and_reports_its_error() -> None:
    compensation, fit = fit_measured_compensation([1, 2, 4], [1.0, 0.55, 0.6])
    assert compensation.units == [1.0, 2.0, 4.0]
    assert np.all(np.diff(compensation.speedup) > 0)
    assert fit["measured_speedup"] == pytest.approx([1.0, 1 / 0.55, 1 / 0.6])
    assert fit["table_max_relative_error"] > 0  # the dip at 4 units is pooled away
    assert 0 < fit["amdahl_parallel_fraction"] <= 1
    exact, fit_exact = fit_measured_compensation([1, 2], [1.0, 0.5])
    assert exact.speedup == pytest.approx([1.0, 2.0]) and fit_exact["table_max_relative_error"] == 0
    assert fit_amdahl([1, 2, 4], [1.0, 2.0, 4.0]) == pytest.approx(1.0)
    assert fit_amdahl([1, 2], [1.0, 1 / 0.6]) == pytest.approx(0.8)
    slower, fit_slower = fit_measured_compensation([1, 2], [1.0, 2.0])  # two units measured slower than one
    assert slower.speedup[0] == 1.0 and slower.speedup[1] == pytest.approx(1.001)
    assert fit_slower["measured_speedup"][1] == 0.5
    with pytest.raises(ValueError, match="include 1"):
        fit_measured_compensation([2, 4], [1.0, 0.5])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("device_unit_latency_s", [[0.1, 0.1]], "has 2 unit latencies"),
        ("device_unit_latency_s", [[0.1] * 4, None], "expected one per profile"),
        ("edge_unit_latency_s", [[0.1, -0.1, 0.1, 0.1]], "finite seconds >= 0"),
    ],
)
def test_scenario_tables_are_validated(field: str, value: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        random_scenario(0).replace(**{field: value})


def test_objective_gradient_in_r_with_measured_lambda_matches_finite_differences() -> None:
    scenario = random_scenario(6, num_users=5).replace(
        compensation={"kind": "measured", "units": [1, 2, 4, 8], "speedup": [1.0, 1.7, 2.6, 3.1]},
        edge_unit_latency_s=[[0.004, 0.003, 0.002, 0.001]],
    )
    model = SystemModel(scenario)
    decision = random_decision(model, np.random.default_rng(3))
    units = decision.compute_units.clone().requires_grad_(True)
    objective = model.objective(type(decision)(**{**decision.__dict__, "compute_units": units}))
    (gradient,) = torch.autograd.grad(objective, units)
    step = 1e-6
    for user in range(scenario.num_users):
        shifted = []
        for sign in (1.0, -1.0):
            values = decision.compute_units.clone()
            values[user] += sign * step
            shifted.append(float(model.objective(type(decision)(**{**decision.__dict__, "compute_units": values}))))
        assert float(gradient[user]) == pytest.approx((shifted[0] - shifted[1]) / (2 * step), rel=1e-4, abs=1e-9)
