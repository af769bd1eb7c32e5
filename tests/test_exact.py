"""``exact``: brute force on tiny cases, no worse than other algorithms, refusals, time limit, capacity."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from nomasplit.data import Scenario
from nomasplit.errors import SolverError
from nomasplit.model.evaluate import find_violations
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers import ALGORITHMS, solve
from nomasplit.solvers.search.group_bnb import Group, GroupBranchAndBound, _bisect, group_cost, minimise_cost_per_bit

from .factories import random_scenario

POWER_GRID = 48  # log-spaced points per power in the brute force
UNITS_GRID = 400


def _log_grid(low: float, high: float, count: int) -> np.ndarray:
    return np.geomspace(max(low, 1e-9), high, count)


def _decoded_after(gain: np.ndarray, later: int, earlier: int, strongest_first: bool) -> bool:
    if gain[later] != gain[earlier]:
        return gain[later] < gain[earlier] if strongest_first else gain[later] > gain[earlier]
    return later > earlier


def _brute_force(scenario: Scenario) -> tuple[float, Decision]:
    """Enumerate every offloading set, split and subchannel assignment; powers and units on dense grids.

    Written from the spec's formulas (eq. 1-20) with explicit loops over users; returns the best grid plan.
    """
    model = SystemModel(scenario)
    num_users, num_subchannels = scenario.num_users, scenario.num_subchannels
    assoc = scenario.association
    layers = scenario.user_num_layers()
    noma = scenario.access == "noma"
    capacity = scenario.effective_cluster_size
    w_t = scenario.latency_weight
    w_e = 1.0 - w_t
    dev_flops = model.device_flops_table.numpy()
    up_bits = model.upload_bits_table.numpy()
    total = model.total_flops.numpy()
    result = model.result_bits.numpy()
    per_dev_flop = w_t / scenario.device_flops_per_s + w_e * (
        scenario.device_switched_capacitance * scenario.device_flops_per_s**2 * scenario.device_cycles_per_flop
    )
    units_grid = np.linspace(scenario.compute_units_min, scenario.compute_units_max, UNITS_GRID)
    speed = model.compensation(torch.as_tensor(units_grid)).numpy() * scenario.edge_unit_flops_per_s
    kappa = scenario.edge_switched_capacitance * scenario.edge_cycles_per_flop
    per_edge = w_t[:, None] / speed[None, :] + w_e[:, None] * kappa * speed[None, :] ** 2  # [U, grid]
    best_units = units_grid[np.argmin(per_edge, axis=1)]
    edge_cost = per_edge.min(axis=1)
    direction_data = {
        "up": (scenario.uplink_gain, scenario.uplink_bandwidth_hz, scenario.uplink_power_min_w,
               scenario.uplink_power_max_w),
        "dn": (scenario.downlink_gain, scenario.downlink_bandwidth_hz, scenario.downlink_power_min_w,
               scenario.downlink_power_max_w),
    }  # fmt: skip

    def per_bit_costs(kind: str, users: list[int], channel: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``[grid..., k]`` cost per bit of each user on every point of the power grid, and the grid."""
        gain, band, low, high = direction_data[kind]
        width = band / num_subchannels
        noise = scenario.noise_psd_w_per_hz * width
        axes = np.meshgrid(*[_log_grid(low, high, POWER_GRID)] * len(users), indexing="ij")
        power = np.stack(axes, axis=-1)  # [grid..., k]
        out = np.empty_like(power)
        for a, i in enumerate(users):
            m, n = channel[a], assoc[i]
            own = gain[n, :, m] if kind == "up" else gain[assoc, np.arange(num_users), m]
            interference = np.zeros(power.shape[:-1])
            for b, j in enumerate(users):
                if j == i or channel[b] != m:
                    continue
                if assoc[j] != n:
                    interference += power[..., b] * (gain[n, j, m] if kind == "up" else gain[assoc[j], i, m])
                elif noma and _decoded_after(own, j, i, strongest_first=(kind == "up")):
                    interference += power[..., b] * (gain[n, j, m] if kind == "up" else gain[n, i, m])
            sinr = power[..., a] * gain[n, i, m] / (interference + noise)
            out[..., a] = (w_t[i] + w_e[i] * power[..., a]) / (width * np.log2(1 + sinr))
        return out, power

    def fits(users: list[int], channel: list[int]) -> bool:
        counts: dict[tuple[int, int], int] = {}
        for i, m in zip(users, channel, strict=True):
            counts[(assoc[i], m)] = counts.get((assoc[i], m), 0) + 1
        return all(count <= capacity for count in counts.values())

    best_value, best = math.inf, None
    for active_bits in itertools.product([0, 1], repeat=num_users):
        users = [i for i in range(num_users) if active_bits[i]]
        if scenario.edge_capacity_units is not None:
            used = [sum(best_units[i] for i in users if assoc[i] == n) for n in range(scenario.num_aps)]
            if any(u > c for u, c in zip(used, scenario.edge_capacity_units, strict=True)):
                continue
        base = sum(per_dev_flop[i] * total[i] for i in range(num_users) if not active_bits[i])
        empty = ((), np.zeros(0))
        up_best, down_best = ((0.0, empty), (0.0, empty)) if not users else ((math.inf, None), (math.inf, None))
        for channel in itertools.product(range(num_subchannels), repeat=len(users)) if users else ():
            if not fits(users, list(channel)):
                continue
            per_bit, power = per_bit_costs("up", users, list(channel))
            cost = np.zeros(per_bit.shape[:-1])
            for a, i in enumerate(users):
                options = [
                    per_dev_flop[i] * dev_flops[i, s] + edge_cost[i] * (total[i] - dev_flops[i, s])
                    + up_bits[i, s] * per_bit[..., a]
                    for s in range(layers[i])
                ]  # fmt: skip
                cost = cost + np.min(np.stack(options), axis=0)
            flat = int(np.argmin(cost))
            if cost.flat[flat] < up_best[0]:
                up_best = (float(cost.flat[flat]), (channel, power.reshape(-1, len(users))[flat]))
            per_bit, power = per_bit_costs("dn", users, list(channel))
            cost = (per_bit * result[users]).sum(axis=-1)
            flat = int(np.argmin(cost))
            if cost.flat[flat] < down_best[0]:
                down_best = (float(cost.flat[flat]), (channel, power.reshape(-1, len(users))[flat]))
        value = base + up_best[0] + down_best[0]
        if value < best_value:
            best_value, best = value, (users, up_best[1], down_best[1])
    assert best is not None
    users, (up_channel, up_power), (dn_channel, dn_power) = best
    split = layers.copy()
    beta_up = np.zeros((num_users, num_subchannels))
    beta_dn = np.zeros((num_users, num_subchannels))
    p = np.full(num_users, scenario.uplink_power_min_w)
    big_p = np.full(num_users, scenario.downlink_power_min_w)
    units = np.full(num_users, scenario.compute_units_min)
    for a, i in enumerate(users):
        beta_up[i, up_channel[a]] = 1.0
        beta_dn[i, dn_channel[a]] = 1.0
        p[i], big_p[i], units[i] = up_power[a], dn_power[a], best_units[i]
    decision = Decision(
        split=torch.as_tensor(split),
        beta_up=torch.as_tensor(beta_up),
        beta_dn=torch.as_tensor(beta_dn),
        uplink_power_w=torch.as_tensor(p),
        downlink_power_w=torch.as_tensor(big_p),
        compute_units=torch.as_tensor(units),
    )
    # The best split of each offloading user at the chosen powers.
    rate_up, _ = model.rates(
        Decision(decision.split * 0, decision.beta_up, decision.beta_dn, decision.uplink_power_w,
                 decision.downlink_power_w, decision.compute_units)
    )  # fmt: skip
    for i in users:
        per_bit = (w_t[i] + w_e[i] * p[i]) / float(rate_up[i])
        options = [
            per_dev_flop[i] * dev_flops[i, s] + edge_cost[i] * (total[i] - dev_flops[i, s]) + up_bits[i, s] * per_bit
            for s in range(layers[i])
        ]
        split[i] = int(np.argmin(options))
    names = ("beta_up", "beta_dn", "uplink_power_w", "downlink_power_w", "compute_units")
    decision = Decision(torch.as_tensor(split), *[getattr(decision, name) for name in names])
    with torch.no_grad():
        model_value = float(model.objective(decision))
    assert model_value == pytest.approx(best_value, rel=1e-9)  # the brute force's formulas agree with the model
    return model_value, decision


TINY_CASES = [
    dict(seed=11, num_aps=2, num_users=2, num_subchannels=2, num_layers=3),
    dict(seed=12, num_aps=2, num_users=3, num_subchannels=1, num_layers=3),
    dict(seed=13, num_aps=1, num_users=3, num_subchannels=2, num_layers=3, cluster_size=2),
    dict(seed=14, num_aps=2, num_users=3, num_subchannels=2, num_layers=3, access="oma"),
]


@pytest.mark.parametrize("case", TINY_CASES, ids=lambda case: f"seed{case['seed']}")
def test_exact_matches_brute_force(case: dict) -> None:
    scenario = random_scenario(**case)
    brute_value, _ = _brute_force(scenario)
    plan = solve(scenario, "exact", settings={"gap_tolerance": 1e-6})
    info = plan.solver
    assert info is not None and info.success, info.message if info else ""
    assert info.objective is not None and info.bound is not None
    # exact beats every point of the dense grid, and the grid comes close to it
    assert info.objective <= brute_value * (1 + 1e-9)
    assert info.objective >= brute_value * (1 - 2e-3)
    assert info.bound <= brute_value * (1 + 1e-9)
    assert info.bound <= info.objective
    assert not find_violations(scenario, plan)


def test_cost_per_bit_minimum_and_bound_against_a_grid() -> None:
    rng = np.random.default_rng(3)
    weight = rng.uniform(0, 1, 50)
    snr = 10 ** rng.uniform(8, 15, 50)
    low, high = 1e-3, 0.5
    argmin, bound = minimise_cost_per_bit(weight, snr, np.full(50, low), np.full(50, high))
    grid = np.geomspace(low, high, 20001)[:, None]
    values = (weight + (1 - weight) * grid) / np.log1p(snr * grid)
    at_argmin = (weight + (1 - weight) * argmin) / np.log1p(snr * argmin)
    assert np.all(bound <= values.min(axis=0) * (1 + 1e-12))
    assert np.all(at_argmin <= values.min(axis=0) * (1 + 1e-12))
    assert np.all((argmin >= low) & (argmin <= high))


def test_closed_form_cost_per_bit_matches_bisection_in_every_regime() -> None:
    # latency only (c = 0), energy only (a = 0), tiny and huge SNR per watt, narrow and wide boxes: the closed
    # form (Lambert W, checked on a small bracket) gives the bisection's minimum and a bound at least as tight
    rng = np.random.default_rng(11)
    n = 20000
    weight = rng.uniform(0, 1, n)
    weight[:500], weight[500:1000] = 0.0, 1.0
    snr = 10 ** rng.uniform(-3, 16, n)
    low = 10 ** rng.uniform(-6, -2, n)
    high = low * 10 ** rng.uniform(0, 4, n)

    def sign(x, a, c, q):  # the derivative's sign, as minimise_cost_per_bit defines it
        return c * np.log1p(q * x) - (a + c * x) * q / (1 + q * x)

    left, right = _bisect(sign, weight, 1 - weight, snr, low, high)
    argmin, bound = minimise_cost_per_bit(weight, snr, low, high)

    def f(x):
        return (weight + (1 - weight) * x) / np.log1p(snr * x)

    bisection_bound = (weight + (1 - weight) * left) / np.log1p(snr * right)
    assert np.all((argmin >= low) & (argmin <= high))
    assert np.all(f(argmin) <= f(right) * (1 + 1e-12))
    assert np.all(bound <= f(argmin))
    assert np.all(bound >= bisection_bound * (1 - 1e-8))


def test_group_search_brackets_the_grid_minimum() -> None:
    group = Group(
        users=(0, 1),
        gain=np.array([2e-11, 5e-12]),
        coupling=np.array([[0.0, 3e-11], [1e-11, 0.0]]),
        noise_w=2e-15,
        bandwidth_hz=5e5,
        latency_weight=np.array([0.4, 0.7]),
        offset=np.array([[0.0, 0.01], [0.0, 0.02]]),
        slope=np.array([[1e5, 2e4], [8e4, 1e4]]),
        low_w=1e-3,
        high_w=0.3,
    )
    search = GroupBranchAndBound(group)
    search.refine(1e-4, max_nodes=200_000, deadline=math.inf)
    axis = np.geomspace(1e-3, 0.3, 600)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    grid_min = float(group_cost(group, grid).min())
    assert search.lower_bound <= grid_min <= search.upper_bound * (1 + 1e-3)
    assert search.upper_bound <= grid_min + 1e-4
    assert search.upper_bound - search.lower_bound <= 1e-4
    assert float(group_cost(group, search.power_w)) == pytest.approx(search.upper_bound, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22])
def test_exact_no_worse_than_any_registered_algorithm(seed: int) -> None:
    scenario = random_scenario(seed, num_aps=2, num_users=4, num_subchannels=2, num_layers=4)
    exact = solve(scenario, "exact", settings={"gap_tolerance": 1e-5}).solver
    assert exact is not None and exact.success and exact.objective is not None and exact.bound is not None
    others = sorted(name for name in ALGORITHMS if name != "exact")
    assert others, "no other algorithm registered"
    for name in others:
        info = solve(scenario, name, seed=0).solver
        assert info is not None and info.objective is not None
        assert exact.bound <= info.objective * (1 + 1e-9), name
        assert exact.objective <= info.objective * (1 + 1e-5) + 1e-12, name


def test_exact_refuses_large_instances() -> None:
    scenario = random_scenario(1, num_aps=2, num_users=12, num_subchannels=2)
    with pytest.raises(SolverError, match=r"12 users.*max_users = 8"):
        solve(scenario, "exact")
    scenario = random_scenario(1, num_aps=2, num_users=4, num_subchannels=6)
    with pytest.raises(SolverError, match=r"6 subchannels.*max_subchannels = 4"):
        solve(scenario, "exact")


def test_time_limit_reports_bound_and_gap() -> None:
    scenario = random_scenario(3, num_aps=3, num_users=6, num_subchannels=3, num_layers=9)
    plan = solve(scenario, "exact", settings={"time_limit_s": 0.05})
    info = plan.solver
    assert info is not None and info.objective is not None and info.bound is not None and info.gap is not None
    assert not info.success
    assert "time limit" in info.message
    assert info.bound <= info.objective
    assert info.gap == pytest.approx((info.objective - info.bound) / info.objective)
    assert info.gap > 0
    assert not find_violations(scenario, plan)


def test_exact_respects_edge_capacity() -> None:
    base = random_scenario(31, num_aps=2, num_users=3, num_subchannels=2, num_layers=3)
    # r* = r_min here, so a capacity of 1.5 r_min lets at most one user per AP offload.
    capped = base.replace(edge_capacity_units=[1.5 * base.compute_units_min] * 2)
    free = solve(base, "exact").solver
    plan = solve(capped, "exact", settings={"gap_tolerance": 1e-6})
    info = plan.solver
    assert free is not None and info is not None and info.success and info.objective is not None
    assert not find_violations(capped, plan)
    offloading = [u.user for u in plan.users if u.uplink_subchannel is not None]
    per_ap = [sum(1 for user in offloading if capped.association[user] == ap) for ap in range(2)]
    assert max(per_ap) <= 1
    assert free.objective is not None and info.objective >= free.objective * (1 - 1e-9)
    brute_value, _ = _brute_force(capped)
    assert brute_value * (1 - 2e-3) <= info.objective <= brute_value * (1 + 1e-9)


def test_exact_refuses_a_capacity_that_binds_on_units() -> None:
    scenario = random_scenario(32, num_aps=1, num_users=3, num_subchannels=2).replace(
        compute_units_min=0.05, edge_switched_capacitance=1e-30, edge_capacity_units=[0.3]
    )
    with pytest.raises(SolverError, match="binds on the compute units"):
        solve(scenario, "exact")
