"""The polish's objective over each user's own subchannels (nomasplit.solvers.search.assigned) against the model."""

from __future__ import annotations

import pytest
import torch

from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.relaxation.gradient import ContinuousProblem, Variables
from nomasplit.solvers.search.assigned import AssignedProblem, assigned_subchannels, members_table
from tests.factories import random_scenario


def _random_discrete(model: SystemModel, seed: int) -> Decision:
    """One subchannel per user and direction (any: the objective does not need the cluster cap), a third of the
    users on their device, powers and units anywhere in their boxes."""
    scenario = model.scenario
    generator = torch.Generator().manual_seed(seed)
    users, channels = model.num_users, model.num_subchannels

    def one_hot() -> torch.Tensor:
        chosen = torch.randint(channels, (users,), generator=generator)
        return torch.nn.functional.one_hot(chosen, channels).to(model.dtype)

    def inside(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(users, generator=generator, dtype=model.dtype)

    split = torch.randint(0, 3, (users,), generator=generator)
    split = torch.where(torch.rand(users, generator=generator) < 0.33, model.num_layers, split)
    return Decision(
        split=split,
        beta_up=one_hot(),
        beta_dn=one_hot(),
        uplink_power_w=inside(scenario.uplink_power_min_w, scenario.uplink_power_max_w),
        downlink_power_w=inside(scenario.downlink_power_min_w, scenario.downlink_power_max_w),
        compute_units=inside(scenario.compute_units_min, scenario.compute_units_max),
    )


@pytest.mark.parametrize(
    ("seed", "access", "ties"), [(0, "noma", False), (1, "oma", False), (2, "noma", True), (3, "noma", False)]
)
def test_assigned_objective_and_gradient_equal_the_models(seed, access, ties) -> None:
    scenario = random_scenario(seed, num_aps=3, num_users=14, num_subchannels=3, access=access, ties=ties)
    model = SystemModel(scenario)
    for draw in range(3):
        decision = _random_discrete(model, 10 * seed + draw)
        assigned = AssignedProblem(model, decision)
        reference = ContinuousProblem(model, decision.split, frozen_beta=True)
        value, gradient = assigned.value_and_grad(assigned.start(decision))
        expected, expected_gradient = reference.value_and_grad(Variables.from_decision(decision))
        assert value == pytest.approx(expected, rel=1e-12)
        assert assigned.value(assigned.start(decision)) == pytest.approx(expected, rel=1e-12)
        for got, want in zip(gradient.tensors()[2:], expected_gradient.tensors()[2:], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12 * abs(expected))
        # The decision it hands back keeps the splits and subchannels and takes the variables' powers and units.
        moved = assigned.start(decision).map(lambda t: t * 0.5)
        back = assigned.decision(moved)
        assert torch.equal(back.beta_up, decision.beta_up) and torch.equal(back.split, decision.split)
        assert torch.equal(back.uplink_power_w, decision.uplink_power_w * 0.5)


def test_assigned_subchannels_and_members() -> None:
    scenario = random_scenario(5, num_users=10, num_subchannels=4)
    model = SystemModel(scenario)
    decision = _random_discrete(model, 5)
    up, down = assigned_subchannels(model, decision)
    offloading = model.offloads(decision.split)
    assert torch.equal(up >= 0, offloading) and torch.equal(down >= 0, offloading)
    assert torch.equal(up[offloading], decision.beta_up.argmax(dim=1)[offloading])
    table = members_table(up, model.num_subchannels)
    for channel in range(model.num_subchannels):
        listed = [user for user in table[channel].tolist() if user >= 0]
        assert listed == torch.nonzero(up == channel).flatten().tolist()


def test_discrete_costs_equal_the_models_and_refuse_a_relaxed_decision() -> None:
    from nomasplit.solvers.search.assigned import discrete_costs

    scenario = random_scenario(6, num_users=12, num_subchannels=3)
    model = SystemModel(scenario)
    decision = _random_discrete(model, 6)
    mine = discrete_costs(model, decision)
    with torch.no_grad():
        theirs = model.costs(decision)
    for name in ("utility", "latency_s", "energy_j", "uplink_rate_bps", "downlink_rate_bps"):
        torch.testing.assert_close(getattr(mine, name), getattr(theirs, name), rtol=1e-12, atol=0)
    relaxed = Decision(
        decision.split,
        torch.full_like(decision.beta_up, 1.0 / model.num_subchannels),
        decision.beta_dn,
        decision.uplink_power_w,
        decision.downlink_power_w,
        decision.compute_units,
    )
    with pytest.raises(ValueError, match="discrete"):
        discrete_costs(model, relaxed)
