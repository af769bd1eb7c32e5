"""The vectorised system model against a plain-loop transcription of the spec, a hand case, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomasplit.data import AmdahlCompensation, PowerCompensation
from nomasplit.model import Decision, SystemModel
from tests.factories import random_scenario, small_profile
from tests.reference_model import reference_costs


def random_decision(model: SystemModel, rng: np.random.Generator, *, device_only_fraction: float = 0.2):
    num_users, num_subchannels = model.num_users, model.num_subchannels
    layers = model.num_layers.numpy()
    split = np.array([rng.integers(0, f + 1) for f in layers])
    device_only = rng.random(num_users) < device_only_fraction
    split[device_only] = layers[device_only]
    beta_up = rng.dirichlet(np.ones(num_subchannels), size=num_users)
    beta_dn = rng.dirichlet(np.ones(num_subchannels), size=num_users)
    p = rng.uniform(0.001, 0.3, size=num_users)
    big_p = rng.uniform(0.01, 1.0, size=num_users)
    r = rng.uniform(1.0, 8.0, size=num_users)
    return split, beta_up, beta_dn, p, big_p, r


def to_decision(split, beta_up, beta_dn, p, big_p, r) -> Decision:
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return Decision(torch.as_tensor(split), t(beta_up), t(beta_dn), t(p), t(big_p), t(r))


@pytest.mark.parametrize(
    ("seed", "kwargs"),
    [
        (0, {}),
        (1, {"num_aps": 1, "num_users": 6}),
        (2, {"ties": True}),
        (3, {"access": "oma"}),
        (4, {"num_aps": 4, "num_users": 14, "num_subchannels": 5, "mixed_models": True}),
        (5, {"ties": True, "num_aps": 2, "num_users": 10, "num_subchannels": 2}),
    ],
)
def test_vectorised_model_matches_plain_loops(seed: int, kwargs: dict) -> None:
    scenario = random_scenario(seed, **kwargs)
    model = SystemModel(scenario)
    rng = np.random.default_rng(seed + 100)
    for _ in range(3):
        args = random_decision(model, rng)
        expected = reference_costs(scenario, *args)
        costs = model.costs(to_decision(*args))
        for key, values in expected.items():
            np.testing.assert_allclose(getattr(costs, key).numpy(), values, rtol=1e-10, atol=0, err_msg=key)


def test_ties_are_broken_by_user_index() -> None:
    """Two users of one AP with equal gains: uplink, the lower index is decoded first (sees the other)."""
    scenario = random_scenario(0, num_aps=1, num_users=2, num_subchannels=1)
    gains = np.full((1, 2, 1), 1e-10)
    scenario = scenario.replace(uplink_gain=gains, downlink_gain=gains, user_profile=[0, 0])
    model = SystemModel(scenario)
    ones = torch.ones(2, 1, dtype=torch.float64)
    power = torch.tensor([0.1, 0.1], dtype=torch.float64)
    active = torch.ones(2, dtype=torch.float64)
    sinr_up = model.uplink_sinr(ones, power, active)
    sinr_dn = model.downlink_sinr(ones, power, active)
    noise = model.uplink_noise_w
    # Uplink: user 0 decoded first, interfered by user 1; user 1 decoded last, interference-free.
    assert sinr_up[0, 0].item() == pytest.approx(0.1e-10 / (0.1e-10 + noise), rel=1e-12)
    assert sinr_up[1, 0].item() == pytest.approx(0.1e-10 / noise, rel=1e-12)
    # Downlink: user 0 decodes first (weaker by the tie rule), so it is interfered by user 1's signal.
    noise_dn = model.downlink_noise_w
    assert sinr_dn[0, 0].item() == pytest.approx(0.1e-10 / (0.1e-10 + noise_dn), rel=1e-12)
    assert sinr_dn[1, 0].item() == pytest.approx(0.1e-10 / noise_dn, rel=1e-12)


def test_two_users_one_cell_by_hand() -> None:
    """A 2-user NOMA cell on one subchannel, every number computed by hand from the spec."""
    profile = small_profile("hand", num_layers=2)
    scenario = random_scenario(0, num_aps=1, num_users=2, num_subchannels=1).replace(
        profiles=[profile],
        user_profile=[0, 0],
        workload_tasks=np.ones(2),
        latency_weight=np.array([0.5, 0.25]),
        uplink_gain=np.array([[[4e-10], [1e-10]]]),
        downlink_gain=np.array([[[2e-10], [8e-10]]]),
        uplink_bandwidth_hz=1e6,
        downlink_bandwidth_hz=1e6,
        noise_psd_w_per_hz=1e-20,
    )
    model = SystemModel(scenario)
    split = torch.tensor([0, 1])
    ones = torch.ones(2, 1, dtype=torch.float64)
    p = torch.tensor([0.2, 0.1], dtype=torch.float64)
    big_p = torch.tensor([0.5, 0.3], dtype=torch.float64)
    r = torch.tensor([2.0, 4.0], dtype=torch.float64)
    costs = model.costs(Decision(split, ones, ones, p, big_p, r))
    noise = 1e-20 * 1e6
    # Uplink: user 0 (4e-10) decoded first -> interfered by user 1's 0.1 * 1e-10; user 1 interference-free.
    sinr_up = [0.2 * 4e-10 / (0.1 * 1e-10 + noise), 0.1 * 1e-10 / noise]
    # Downlink: user 0 (2e-10) weaker -> decodes first, interfered by user 1's power over its own channel.
    sinr_dn = [0.5 * 2e-10 / (2e-10 * 0.3 + noise), 0.3 * 8e-10 / noise]
    rate_up = [1e6 * math.log2(1 + s) for s in sinr_up]
    rate_dn = [1e6 * math.log2(1 + s) for s in sinr_dn]
    np.testing.assert_allclose(costs.uplink_rate_bps.numpy(), rate_up, rtol=1e-12)
    np.testing.assert_allclose(costs.downlink_rate_bps.numpy(), rate_dn, rtol=1e-12)
    flops = [layer.flops for layer in profile.layers]
    bits = [profile.input_bits, profile.layers[0].output_bits]
    energy_per_flop = 2.5e-30 * 1e10**2 * 1.0
    for user, (s, units) in enumerate(((0, 2.0), (1, 4.0))):
        edge_speed = units * 3e10
        device = sum(flops[:s])
        edge = sum(flops[s:])
        t_up, t_dn = bits[s] / rate_up[user], 320.0 / rate_dn[user]
        latency = device / 1e10 + edge / edge_speed + t_up + t_dn
        energy = energy_per_flop * device + 1.1e-31 * edge_speed**2 * edge + p[user].item() * t_up
        energy += big_p[user].item() * t_dn
        weight = [0.5, 0.25][user]
        assert costs.latency_s[user].item() == pytest.approx(latency, rel=1e-12)
        assert costs.energy_j[user].item() == pytest.approx(energy, rel=1e-12)
        assert costs.utility[user].item() == pytest.approx(weight * latency + (1 - weight) * energy, rel=1e-12)


@pytest.mark.parametrize("compensation", [PowerCompensation(exponent=1.3), AmdahlCompensation(parallel_fraction=0.9)])
def test_nonlinear_compensation_matches_reference(compensation) -> None:
    scenario = random_scenario(7).replace(compensation=compensation)
    model = SystemModel(scenario)
    args = random_decision(model, np.random.default_rng(7))
    expected = reference_costs(scenario, *args)
    costs = model.costs(to_decision(*args))
    np.testing.assert_allclose(costs.utility.numpy(), expected["utility"], rtol=1e-10)


def test_an_extra_interferer_never_raises_any_sinr() -> None:
    scenario = random_scenario(11, num_aps=3, num_users=12, num_subchannels=2)
    model = SystemModel(scenario)
    rng = np.random.default_rng(0)
    _, beta_up, beta_dn, p, big_p, _ = random_decision(model, rng)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    for newcomer in range(scenario.num_users):
        before = torch.ones(scenario.num_users, dtype=torch.float64)
        before[newcomer] = 0.0
        after = torch.ones(scenario.num_users, dtype=torch.float64)
        others = torch.arange(scenario.num_users) != newcomer
        for sinr in (model.uplink_sinr, model.downlink_sinr):
            beta, power = (t(beta_up), t(p)) if sinr == model.uplink_sinr else (t(beta_dn), t(big_p))
            assert torch.all(sinr(beta, power, after)[others] <= sinr(beta, power, before)[others] * (1 + 1e-12))


def test_device_only_cost_does_not_depend_on_the_channel() -> None:
    scenario = random_scenario(3)
    model = SystemModel(scenario)
    rng = np.random.default_rng(1)
    _, beta_up, beta_dn, p, big_p, r = random_decision(model, rng)
    full = model.full_split().numpy()
    base = model.costs(to_decision(full, beta_up, beta_dn, p, big_p, r))
    faded = scenario.replace(uplink_gain=scenario.uplink_gain * 7, downlink_gain=scenario.downlink_gain / 3)
    other = SystemModel(faded)
    changed = other.costs(to_decision(full, beta_up[::-1].copy(), beta_dn, p * 0.5, big_p * 2, r + 1))
    assert torch.equal(base.latency_s, changed.latency_s)
    assert torch.equal(base.energy_j, changed.energy_j)
    assert torch.all(base.uplink_rate_bps == 0) and torch.all(base.edge_latency_s == 0)


def test_gradients_are_finite_and_match_finite_differences() -> None:
    scenario = random_scenario(5, num_users=6, num_subchannels=2, num_aps=2)
    model = SystemModel(scenario)
    rng = np.random.default_rng(2)
    split, beta_up, beta_dn, p, big_p, r = random_decision(model, rng, device_only_fraction=0.0)
    variables = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (beta_up, beta_dn, p, big_p, r)]
    objective = model.objective(Decision(torch.as_tensor(split), *variables))
    grads = torch.autograd.grad(objective, variables)
    for variable, grad in zip(variables, grads, strict=True):
        assert torch.all(torch.isfinite(grad))
        flat = variable.detach().clone().reshape(-1)
        for index in range(min(flat.numel(), 4)):
            step = 1e-6 * max(abs(flat[index].item()), 1e-3)
            values = []
            for sign in (1, -1):
                shifted = flat.clone()
                shifted[index] += sign * step
                args = [v.detach() if v is not variable else shifted.reshape(variable.shape) for v in variables]
                values.append(model.objective(Decision(torch.as_tensor(split), *args)).item())
            numeric = (values[0] - values[1]) / (2 * step)
            assert grad.reshape(-1)[index].item() == pytest.approx(numeric, rel=1e-4, abs=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    num_aps=st.integers(1, 4),
    num_users=st.integers(1, 10),
    num_subchannels=st.integers(1, 4),
    access=st.sampled_from(["noma", "oma"]),
    ties=st.booleans(),
)
def test_property_random_scenarios_agree_with_loops(seed, num_aps, num_users, num_subchannels, access, ties) -> None:
    scenario = random_scenario(
        seed, num_aps=num_aps, num_users=num_users, num_subchannels=num_subchannels, access=access, ties=ties
    )
    model = SystemModel(scenario)
    args = random_decision(model, np.random.default_rng(seed))
    expected = reference_costs(scenario, *args)
    costs = model.costs(to_decision(*args))
    for key in ("uplink_rate_bps", "downlink_rate_bps", "utility"):
        np.testing.assert_allclose(getattr(costs, key).numpy(), expected[key], rtol=1e-10, err_msg=key)
    assert torch.all(torch.isfinite(costs.objective))
    # Costs are positive and the objective is their weighted sum.
    assert torch.all(costs.latency_s > 0) and torch.all(costs.energy_j > 0)


def test_listed_profile_no_user_runs_is_ignored() -> None:
    """A scenario may list a longer profile that no user runs (e.g. a nin/vgg16 mix where all drew nin)."""
    scenario = random_scenario(3, num_users=4, mixed_models=True)
    only_short = scenario.replace(user_profile=[0] * scenario.num_users)
    model = SystemModel(only_short)
    assert model.max_layers == only_short.profiles[0].num_layers
    decision = Decision(
        model.full_split(),
        torch.zeros(4, 3, dtype=torch.float64),
        torch.zeros(4, 3, dtype=torch.float64),
        torch.ones(4, dtype=torch.float64),
        torch.ones(4, dtype=torch.float64),
        torch.ones(4, dtype=torch.float64),
    )
    assert torch.isfinite(model.objective(decision))


def test_the_sic_order_of_the_model_is_the_one_decoding_predicate() -> None:
    """SicOrder (the model) sorts every AP's users exactly as decoded_after (the search and exact) orders pairs,
    ties in gain included."""
    from nomasplit.model.noma import CellTables, SicOrder, decoded_after, to_slots

    rng = np.random.default_rng(0)
    num_users, num_subchannels = 9, 3
    association = torch.as_tensor(rng.integers(0, 2, num_users))
    gains = torch.as_tensor(rng.choice([0.5, 1.0, 2.0], (num_users, num_subchannels)))  # many ties
    cells = CellTables.build(association, 2)
    for uplink in (True, False):
        order = SicOrder.build(to_slots(gains, cells), cells.slot_valid, strongest_first=uplink)
        decoding = torch.flip(order.last_first, [1])  # [N, U_max, M] slots in decoding order
        for ap in range(2):
            for channel in range(num_subchannels):
                users = [int(cells.cell_users[ap, slot]) for slot in decoding[ap, :, channel].tolist()]
                users = [user for user in users if user < num_users]
                for position, earlier in enumerate(users):
                    for later in users[position + 1 :]:
                        assert bool(
                            decoded_after(gains[later, channel], later, gains[earlier, channel], earlier, uplink=uplink)
                        )


def test_later_sum_adds_exactly_the_users_decoded_after_each_user() -> None:
    """later_sum (the model's intra-cell interference) equals the brute-force sum over the users of the same AP
    that decoded_after puts after each user, on every subchannel, ties in gain included."""
    from nomasplit.model.noma import CellTables, SicOrder, decoded_after, later_sum, to_slots

    rng = np.random.default_rng(2)
    num_users, num_subchannels, num_aps = 11, 4, 3
    gains = torch.as_tensor(rng.choice([0.5, 1.0, 2.0], (num_users, num_subchannels)))  # many ties
    association = torch.as_tensor(rng.integers(0, num_aps, num_users))
    values = torch.as_tensor(rng.uniform(0.1, 1.0, (num_users, num_subchannels)))
    cells = CellTables.build(association, num_aps)
    for uplink in (True, False):
        order = SicOrder.build(to_slots(gains, cells), cells.slot_valid, strongest_first=uplink)
        summed = later_sum(values, order.later_sum_index(cells, association))
        for user in range(num_users):
            for channel in range(num_subchannels):
                expected = sum(
                    float(values[other, channel])
                    for other in range(num_users)
                    if other != user
                    and association[other] == association[user]
                    and bool(decoded_after(gains[other, channel], other, gains[user, channel], user, uplink=uplink))
                )
                assert float(summed[user, channel]) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_decoding_positions_order_every_pair_as_decoded_after() -> None:
    """The search compares decoding positions instead of gains: for every pair of users of one AP on a subchannel
    (ties in gain included), a larger position is exactly decoded_after."""
    from nomasplit.model.noma import CellTables, SicOrder, decoded_after, to_slots

    rng = np.random.default_rng(1)
    gains = torch.as_tensor(rng.choice([0.5, 1.0, 2.0], (12, 4)))  # many ties
    association = torch.as_tensor(rng.integers(0, 3, 12))
    cells = CellTables.build(association, 3)
    for uplink in (True, False):
        order = SicOrder.build(to_slots(gains, cells), cells.slot_valid, strongest_first=uplink)
        positions = order.positions(cells, association)
        for ap in range(3):
            members = (association == ap).nonzero().flatten()
            assert sorted(positions[members, 0].tolist()) == sorted(set(positions[members, 0].tolist()))
        for channel in range(4):
            for later in range(12):
                for earlier in range(12):
                    if later == earlier or association[later] != association[earlier]:
                        continue
                    expected = bool(
                        decoded_after(gains[later, channel], later, gains[earlier, channel], earlier, uplink=uplink)
                    )
                    assert bool(positions[later, channel] > positions[earlier, channel]) == expected


def test_with_dtype_holds_what_a_model_built_in_that_type_holds() -> None:
    """A float32 copy of a float64 model has the tables of a float32 model built from the scenario, shares its
    SIC orders, and evaluates a decision to the same Gamma."""
    scenario = random_scenario(5, num_users=12, num_subchannels=4, num_aps=2)
    model = SystemModel(scenario)
    copied, built = model.with_dtype(torch.float32), SystemModel(scenario, dtype=torch.float32)
    assert model.with_dtype(torch.float64) is model
    floats = [
        name for name, value in vars(built).items() if isinstance(value, torch.Tensor) and value.is_floating_point()
    ]
    assert "uplink_gain_own" in floats and "device_latency_table" in floats
    for name in floats:
        assert getattr(copied, name).dtype == torch.float32, name
        assert torch.equal(getattr(copied, name), getattr(built, name)), name
    assert copied.uplink_order is model.uplink_order and model.dtype == torch.float64
    parts = to_decision(*random_decision(built, np.random.default_rng(6)))
    decision = Decision(
        parts.split,
        *(
            t.to(torch.float32)
            for t in (parts.beta_up, parts.beta_dn, parts.uplink_power_w, parts.downlink_power_w, parts.compute_units)
        ),
    )
    assert math.isfinite(float(built.objective(decision)))
    assert float(copied.objective(decision)) == float(built.objective(decision))
    assert torch.equal(copied.device_only_utility(), built.device_only_utility())
