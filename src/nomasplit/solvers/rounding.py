"""Rounding relaxed subchannel weights to a feasible discrete assignment (Table I, line 18, made feasible).

The paper rounds ``beta > 0.5 -> 1, otherwise 0``. That can leave a user with no subchannel (all weights at or
below 0.5) or put more than ``K`` users of an AP on one subchannel, which constraints (18.e, 18.f) and the
cluster size forbid. This module uses a **capacity-constrained greedy assignment by the relaxed weights**
instead, separately per AP and direction:

- every subchannel of an AP has ``K`` slots (``K = 1`` for OMA);
- in rounds, every offloading user still without a subchannel proposes the subchannel with the largest
  weight ``beta[i, m]`` among those that still have a free slot at its AP; a subchannel with ``q`` free slots
  accepts its ``q`` proposers with the largest weights (ties: the lower user index), the rest propose again in
  the next round.

Properties (tested): every assignment respects the cluster size; every offloading user gets a subchannel as long
as its AP has a free slot anywhere (so users are left out only when ``|U_n| > K * M``); a user with a one-hot
row whose subchannel has room keeps it; and no user prefers (by weight) a subchannel that still has a free slot
at the end. Users left without a subchannel in either direction run Device-Only (spec "Decisions").
"""

from __future__ import annotations

import torch

from nomasplit.model.system import Decision, SystemModel


def assign_subchannels(
    weights: torch.Tensor,
    association: torch.Tensor,
    active: torch.Tensor,
    num_aps: int,
    cluster_size: int,
) -> torch.Tensor:
    """Capacity-constrained greedy assignment of one subchannel per active user (module docstring).

    Args:
        weights: ``[U, M]`` relaxed weights (larger is preferred).
        association: ``[U]`` long, serving AP of each user.
        active: ``[U]`` bool, users that need a subchannel.
        num_aps: ``N``.
        cluster_size: ``K``, slots per subchannel and AP.

    Returns:
        ``[U]`` long: the subchannel of each user, ``-1`` for inactive users and users left without one.
    """
    num_users, num_subchannels = weights.shape
    device = weights.device
    weights = weights.detach()
    assigned = torch.full((num_users,), -1, dtype=torch.long, device=device)  # [U]
    free = torch.full((num_aps, num_subchannels), cluster_size, dtype=torch.long, device=device)  # [N, M]
    waiting = active.clone()  # [U] bool
    users = torch.arange(num_users, device=device)
    neg_inf = torch.tensor(float("-inf"), dtype=weights.dtype, device=device)
    while True:
        has_room = free[association] > 0  # [U, M]
        waiting = waiting & has_room.any(dim=1)
        if not bool(waiting.any()):
            break
        proposers = users[waiting]  # [P]
        masked = torch.where(has_room[proposers], weights[proposers], neg_inf)  # [P, M]
        choice = masked.argmax(dim=1)  # [P] first maximum: ties go to the lower subchannel index
        weight = masked.gather(1, choice[:, None])[:, 0]  # [P]
        key = association[proposers] * num_subchannels + choice  # [P] (AP, subchannel) of each proposal
        # Order proposals by key, then by weight descending, then by user index (stable sorts, last key
        # first).
        order = torch.argsort(-weight, stable=True)
        order = order[torch.argsort(key[order], stable=True)]
        sorted_key = key[order]
        position = torch.arange(order.numel(), device=device)
        first = torch.ones_like(sorted_key, dtype=torch.bool)
        first[1:] = sorted_key[1:] != sorted_key[:-1]
        group_start = torch.cummax(torch.where(first, position, torch.zeros_like(position)), dim=0).values
        rank = position - group_start  # [P] rank within its (AP, subchannel)
        accepted = rank < free.view(-1)[sorted_key]
        winners = proposers[order[accepted]]
        won_key = sorted_key[accepted]
        assigned[winners] = won_key % num_subchannels
        free.view(-1).index_add_(0, won_key, -torch.ones_like(won_key))
        waiting[winners] = False
    return assigned


def one_hot_rows(assigned: torch.Tensor, num_subchannels: int, dtype: torch.dtype) -> torch.Tensor:
    """``[U, M]`` one-hot rows from a ``[U]`` assignment; rows of ``-1`` entries are all zero."""
    rows = torch.zeros(assigned.shape[0], num_subchannels, dtype=dtype, device=assigned.device)
    has = assigned >= 0
    rows[has, assigned[has]] = 1.0
    return rows


def round_decision(model: SystemModel, decision: Decision) -> Decision:
    """Round a relaxed decision: one subchannel per offloading user and direction, at most ``K`` per AP.

    Users left without a subchannel in either direction get ``split = F_i`` (Device-Only) and all-zero rows.
    Powers and compute units are kept.

    Returns:
        A discrete decision (one-hot rows for offloading users).
    """
    active = model.offloads(decision.split)  # [U]
    up = assign_subchannels(decision.beta_up, model.association, active, model.num_aps, model.cluster_size)
    down = assign_subchannels(decision.beta_dn, model.association, active, model.num_aps, model.cluster_size)
    served = active & (up >= 0) & (down >= 0)  # [U]
    up = torch.where(served, up, torch.full_like(up, -1))
    down = torch.where(served, down, torch.full_like(down, -1))
    split = torch.where(active & ~served, model.num_layers, decision.split)
    return Decision(
        split=split,
        beta_up=one_hot_rows(up, model.num_subchannels, model.dtype),
        beta_dn=one_hot_rows(down, model.num_subchannels, model.dtype),
        uplink_power_w=decision.uplink_power_w.detach().clone(),
        downlink_power_w=decision.downlink_power_w.detach().clone(),
        compute_units=decision.compute_units.detach().clone(),
    )
