"""``Gamma`` of a discrete plan from each user's own subchannels: the objective the polish descends.

At a discrete assignment (one subchannel per offloading user and direction) a user's SINR depends only on the users
that share its subchannel: in its own cell those decoded after it by SIC, in the other cells all of them (eq. 5 and
8; Device-Only users send nothing). :class:`AssignedProblem` is problem (22) at fixed splits *and* subchannels,
written over those members alone: ``[U, g]`` tensors (``g``: the most users on one subchannel, over all cells)
instead of the model's ``[U, M]`` ones, which a relaxed decision needs. Its value is the model's ``Gamma`` up to the
order of the sums (a test compares them); every other equation (latency, energy, utility) is the model's own
(:meth:`~nomasplit.model.system.SystemModel.costs_at_rates`). At the paper's scale (1,250 users, 250 subchannels) a
gradient step costs about a tenth of the model's (docs/benchmarks.md).

The continuous variables are powers and compute units; the subchannel weights stay outside the descent (their
slots in :class:`~nomasplit.solvers.relaxation.gradient.Variables` hold ``[U, 0]`` tensors, so the method's
elementwise work is ``[U]``-sized).
"""

from __future__ import annotations

import torch

from nomasplit.model.system import Costs, Decision, SystemModel
from nomasplit.solvers.relaxation.gradient import ContinuousProblem, Variables


def members_table(assignment: torch.Tensor, num_subchannels: int) -> torch.Tensor:
    """``[M, g]`` the users on each subchannel (ascending user index, ``-1`` padding) from ``[U]`` assignments
    (``-1``: none)."""
    active = assignment >= 0
    users = torch.nonzero(active).flatten()
    channels = assignment[users]
    counts = torch.bincount(channels, minlength=num_subchannels)
    width = max(int(counts.max().item()) if counts.numel() else 0, 1)
    table = torch.full((num_subchannels, width), -1, dtype=torch.long, device=assignment.device)
    if users.numel():
        order = torch.argsort(channels, stable=True)
        sorted_channels = channels[order]
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(users.numel(), device=assignment.device) - starts[sorted_channels]
        table[sorted_channels, position] = users[order]
    return table


def interferes(
    model: SystemModel,
    direction: int,
    movers: torch.Tensor,
    channels: torch.Tensor,
    victims: torch.Tensor,
    mover_ap: torch.Tensor,
    victim_ap: torch.Tensor,
) -> torch.Tensor:
    """Whether a mover's signal on a subchannel interferes with a victim there (eq. 5 and 8; both directions): a
    user of another cell always, one of the victim's own cell only if SIC decodes it after the victim (NOMA), the
    victim itself never. All arguments broadcast together (users, subchannels and their APs); the SIC places are
    read by flat index (:meth:`~nomasplit.model.system.SystemModel.sic_positions`)."""
    result = mover_ap != victim_ap
    if model.noma:
        position = model.sic_positions()[direction]
        num_subchannels = model.num_subchannels
        later = torch.take(position, movers * num_subchannels + channels) > torch.take(
            position, victims * num_subchannels + channels
        )
        result = result | later
    return result & (movers != victims)


def assigned_subchannels(model: SystemModel, decision: Decision) -> tuple[torch.Tensor, torch.Tensor]:
    """Each offloading user's uplink and downlink subchannel in a discrete decision (``[U]`` each; ``-1`` for
    Device-Only users and rows without weight)."""
    active = model.offloads(decision.split)
    assigned = []
    for beta in (decision.beta_up, decision.beta_dn):
        weight, channel = beta.max(dim=1)
        assigned.append(torch.where(active & (weight > 0), channel, torch.full_like(channel, -1)))
    return assigned[0], assigned[1]


def discrete_costs(model: SystemModel, decision: Decision) -> Costs:
    """``model.costs(decision)`` of a discrete decision (no gradient), from each user's own subchannels: about a
    seventh of the model's time at the paper's scale.

    Raises:
        ValueError: a subchannel weight that is neither 0 nor 1 (a relaxed decision: use the model).
    """
    for beta in (decision.beta_up, decision.beta_dn):
        if not bool(((beta == 0) | (beta == 1)).all()):
            raise ValueError("discrete_costs needs a discrete decision (subchannel weights 0 or 1)")
    with torch.no_grad():
        problem = AssignedProblem(model, decision)
        return model.costs_at_rates(decision, *problem.rates(decision.uplink_power_w, decision.downlink_power_w))


class AssignedProblem(ContinuousProblem):
    """Problem (22) at the splits *and* subchannels of a discrete ``decision``: powers and compute units only.

    Args:
        model: the system model.
        decision: a discrete decision (one-hot or zero rows); its subchannel weights are kept as they are.
    """

    def __init__(self, model: SystemModel, decision: Decision) -> None:
        super().__init__(model, decision.split, frozen_beta=True)
        self.beta = (decision.beta_up, decision.beta_dn)
        users = torch.arange(model.num_users, device=model.device)
        association = model.association
        noise = (model.uplink_noise_w, model.downlink_noise_w)
        bandwidth = (model.uplink_subchannel_hz, model.downlink_subchannel_hz)
        #: Per direction: whether the user is served there, its subchannel's other users ``[U, g]`` (index 0 where
        #: none), the gain through which each reaches it ``[U, g]`` (0 where it does not interfere), its own gain
        #: ``[U]``, the noise and the subchannel's bandwidth.
        self.links = []
        for direction, assignment in enumerate(assigned_subchannels(model, decision)):
            served = assignment >= 0
            channel = assignment.clamp_min(0)
            others = members_table(assignment, model.num_subchannels)[channel]  # [U, g]
            other = others.clamp_min(0)
            other_ap = association[other]  # [U, g]
            same_cell = other_ap == association[:, None]
            if direction == 0:  # eq. (5): another cell's user reaches the AP; one of the cell, if decoded later
                own = model.uplink_gain_own[users, channel]  # [U]
                across = model.uplink_gain_other_mun[channel[:, None], other, association[:, None]]
                within = model.uplink_gain_own[other, channel[:, None]]
            else:  # eq. (8): another AP reaches the user; its own AP's power for users decoded after it
                own = model.downlink_gain_own[users, channel]  # [U]
                across = model.downlink_gain_other_mnu[channel[:, None], other_ap, users[:, None]]
                within = own[:, None].expand_as(across)
            gain = torch.where(same_cell, within, across)
            reaches = (others >= 0) & served[:, None]
            reaches &= interferes(
                model, direction, other, channel[:, None], users[:, None], other_ap, association[:, None]
            )
            gain = torch.where(reaches, gain, torch.zeros_like(gain))
            self.links.append((served, other, gain, own, noise[direction], bandwidth[direction]))

    def decision(self, variables: Variables) -> Decision:
        """The model's decision: this problem's splits and subchannels, the variables' powers and units."""
        return Decision(self.split, self.beta[0], self.beta[1], *variables.tensors()[2:])

    def rates(self, uplink_power_w: torch.Tensor, downlink_power_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``R_i`` and ``Phi_i`` (``[U]`` bit/s, eq. 6 and 9; 0 where a user is not served) at these powers."""
        rates = []
        for (served, other, gain, own, noise, bandwidth), power in zip(
            self.links, (uplink_power_w, downlink_power_w), strict=True
        ):
            interference = (gain * power[other]).sum(dim=1) + noise  # [U]
            rate = bandwidth * torch.log2(1.0 + power * own / interference)
            rates.append(torch.where(served, rate, torch.zeros_like(rate)))
        return rates[0], rates[1]

    def objective(self, uplink_power_w: torch.Tensor, downlink_power_w: torch.Tensor, units: torch.Tensor):
        """``Gamma`` (a differentiable scalar) at these powers and compute units."""
        decision = Decision(self.split, self.beta[0], self.beta[1], uplink_power_w, downlink_power_w, units)
        return self.model.costs_at_rates(decision, *self.rates(uplink_power_w, downlink_power_w)).objective

    def value(self, variables: Variables) -> float:
        """``Gamma`` (no gradient)."""
        self.evaluations += 1
        with torch.no_grad():
            return float(self.objective(*variables.tensors()[2:]).item())

    def value_and_grad(self, variables: Variables) -> tuple[float, Variables]:
        """``Gamma`` and its gradient in powers and compute units (the weights' slots: empty tensors)."""
        self.evaluations += 1
        leaves = [t.detach().requires_grad_(True) for t in variables.tensors()[2:]]
        objective = self.objective(*leaves)
        grads = torch.autograd.grad(objective, leaves)
        return float(objective.item()), Variables(variables.beta_up, variables.beta_dn, *grads)

    def start(self, decision: Decision) -> Variables:
        """The descent's start: the decision's powers and units, with empty weight slots."""
        empty = decision.uplink_power_w.new_zeros((self.model.num_users, 0))
        return Variables(
            empty,
            empty.clone(),
            decision.uplink_power_w.detach().clone(),
            decision.downlink_power_w.detach().clone(),
            decision.compute_units.detach().clone(),
        )
