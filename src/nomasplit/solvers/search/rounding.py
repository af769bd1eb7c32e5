"""Rounding relaxed subchannel weights to a feasible discrete assignment (Table I, line 18, made feasible).

The paper rounds ``beta > 0.5 -> 1, otherwise 0``. That can leave a user with no subchannel (all weights at or
below 0.5) or put more than ``K`` users of an AP on one subchannel, which constraints (18.e, 18.f) and the
cluster size forbid. This module solves the rounding exactly instead, as a **maximum-weight b-matching** per AP:
every subchannel of an AP offers ``K`` slots (``K = 1`` for OMA), every offloading user wants one slot, and the
matching maximises the sum of the relaxed weights ``beta[i, m]`` of the chosen (user, subchannel) pairs. Copying
each subchannel ``K`` times turns it into a rectangular assignment problem, solved by
:func:`scipy.optimize.linear_sum_assignment` (a kept library, not a hand-written greedy).

**Joint directions.** A user is served only if it has a slot in both directions. The uplink matching is solved
first, with each user's weight raised by its best downlink weight (so that, in an overloaded cell, the users
with the most to gain in both directions are the ones served); the downlink matching then assigns only the
users the uplink served. Both directions offer ``K M`` slots per AP, so every user served on the uplink gets a
downlink slot: no slot is wasted on a user that cannot be served (the old independent greedy served 2 of 30
users on 10 OMA subchannels). Users left without a slot (more than ``K M`` at their AP) run Device-Only.

Properties (tested): the assignment respects the cluster size; ``min(|U_n|, K M)`` users of each AP are served;
the matching's total weight is maximal (checked against brute force on small cases).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from nomasplit.model.system import Decision, SystemModel


def assign_subchannels(
    weights: torch.Tensor,
    association: torch.Tensor,
    active: torch.Tensor,
    num_aps: int,
    cluster_size: int,
    *,
    bonus: torch.Tensor | None = None,
) -> torch.Tensor:
    """Maximum-weight assignment of one subchannel per active user, at most ``K`` users per AP and subchannel.

    Args:
        weights: ``[U, M]`` relaxed weights (larger is preferred).
        association: ``[U]`` long, serving AP of each user.
        active: ``[U]`` bool, users that need a subchannel.
        num_aps: ``N``.
        cluster_size: ``K``, slots per subchannel and AP.
        bonus: ``[U]`` added to every weight of a user: decides who is served when an AP has more active
            users than slots (``None``: 0).

    Returns:
        ``[U]`` long: the subchannel of each user, ``-1`` for inactive users and users left without one.
    """
    num_users, num_subchannels = weights.shape
    values = weights.detach().cpu().numpy().astype(np.float64)  # [U, M]
    if bonus is not None:
        values = values + bonus.detach().cpu().numpy().astype(np.float64)[:, None]
    values = np.nan_to_num(values, nan=-1e300, neginf=-1e300, posinf=1e300)
    association_np = association.cpu().numpy()
    active_np = active.cpu().numpy()
    assigned = np.full(num_users, -1, dtype=np.int64)
    slot_subchannel = np.repeat(np.arange(num_subchannels), cluster_size)  # [M K] subchannel of each slot
    for ap in range(num_aps):
        users = np.flatnonzero(active_np & (association_np == ap))
        if users.size == 0:
            continue
        profit = values[np.ix_(users, slot_subchannel)]  # [|U_n|, M K]
        rows, cols = linear_sum_assignment(profit, maximize=True)
        assigned[users[rows]] = slot_subchannel[cols]
    return torch.as_tensor(assigned, device=weights.device)


def assign_directions(
    beta_up: torch.Tensor,
    beta_dn: torch.Tensor,
    association: torch.Tensor,
    active: torch.Tensor,
    num_aps: int,
    cluster_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint rounding of both directions (module docstring): ``(uplink [U], downlink [U])``, ``-1`` if unserved.

    A user gets a downlink subchannel only if it got an uplink one, and every user with an uplink subchannel
    gets a downlink one.
    """
    best_downlink = beta_dn.detach().max(dim=1).values if beta_dn.shape[1] else None
    up = assign_subchannels(beta_up, association, active, num_aps, cluster_size, bonus=best_downlink)
    down = assign_subchannels(beta_dn, association, active & (up >= 0), num_aps, cluster_size)
    return up, down


def one_hot_rows(assigned: torch.Tensor, num_subchannels: int, dtype: torch.dtype) -> torch.Tensor:
    """``[U, M]`` one-hot rows from a ``[U]`` assignment; rows of ``-1`` entries are all zero."""
    rows = torch.zeros(assigned.shape[0], num_subchannels, dtype=dtype, device=assigned.device)
    has = assigned >= 0
    rows[has, assigned[has]] = 1.0
    return rows


def round_decision(model: SystemModel, decision: Decision) -> Decision:
    """Round a relaxed decision: one subchannel per offloading user and direction, at most ``K`` per AP.

    Users left without a subchannel get ``split = F_i`` (Device-Only) and all-zero rows. Powers and compute
    units are kept.

    Returns:
        A discrete decision (one-hot rows for offloading users).
    """
    active = model.offloads(decision.split)  # [U]
    up, down = assign_directions(
        decision.beta_up, decision.beta_dn, model.association, active, model.num_aps, model.cluster_size
    )
    served = active & (up >= 0) & (down >= 0)  # [U]
    split = torch.where(active & ~served, model.num_layers, decision.split)
    return Decision(
        split=split,
        beta_up=one_hot_rows(torch.where(served, up, -1), model.num_subchannels, model.dtype),
        beta_dn=one_hot_rows(torch.where(served, down, -1), model.num_subchannels, model.dtype),
        uplink_power_w=decision.uplink_power_w.detach().clone(),
        downlink_power_w=decision.downlink_power_w.detach().clone(),
        compute_units=decision.compute_units.detach().clone(),
    )
