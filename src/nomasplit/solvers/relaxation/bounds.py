"""Interference-free lower bounds on each user's utility at a given split (used to prune split candidates).

Interference only lowers a rate, and a user's relaxed rate ``sum_m beta[i, m] b log2(1 + SINR[i, m])`` with
``beta`` on the simplex is at most its best subchannel's interference-free rate. So, per user ``i`` at split
``s`` (spec eq. 12, 17, 19), with ``k = max_m G_own[i, m] / sigma^2``:

- device part: exact, ``w_T D/c + w_E e_dev D``;
- edge part: ``Edge * min_x (w_T / x + w_E xi_e phi_e x^2)`` over the edge speed ``x = lambda(r) c_min`` in
  ``[lambda(r_min) c_min, lambda(r_max) c_min]`` (convex in ``x``: the minimiser ``(w_T / (2 w_E xi_e phi_e))^(1/3)``
  clipped to the interval), exact without an edge capacity and a lower bound with one;
- each transfer: ``bits * min_p (w_T + w_E p) / (b log2(1 + k p))`` over the power box, bounded below on each
  interval ``[p_a, p_b]`` of a geometric grid by ``(w_T + w_E p_a) / (b log2(1 + k p_b))`` (a valid bound, tight
  as the grid refines).

The sum over users bounds ``Gamma`` of any relaxed or discrete decision at those splits from below.

:func:`plan_lower_bound` turns these into a lower bound on the optimum of the whole problem (any splits, any
subchannels), recorded on every plan by :func:`nomasplit.solvers.solve`: each user's best of Device-Only and its
interference-free offloading cost on each subchannel (:func:`side_costs`), with the cluster size ``K`` (at most
``K`` users of an AP on one subchannel and direction) kept by a min-cost assignment of each AP's users to its
``M K`` slots of one direction (the other direction relaxed to its best subchannel): the larger of the uplink and
the downlink assignment is the bound. It ignores interference (intra- and inter-cell) and edge capacities, so it
is loose where those bind: docs/solvers.md says how loose on instances of growing size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from nomasplit.model.system import SystemModel
from nomasplit.solvers.search.group_bnb import minimise_cost_per_bit

#: Intervals of the geometric power grid of the transfer bounds.
POWER_GRID_INTERVALS = 128


def _transfer_cost_per_bit(
    model: SystemModel, gain_per_noise: torch.Tensor, low_w: float, high_w: float, bandwidth_hz: float
) -> torch.Tensor:
    """Lower bound of ``min_p (w_T + w_E p) / (b log2(1 + k p))`` per user, ``[U]`` (cost per bit)."""
    return _cost_per_bit(model.latency_weight, gain_per_noise, low_w, high_w, bandwidth_hz)


def _cost_per_bit(
    weight_t: torch.Tensor, gain_per_noise: torch.Tensor, low_w: float, high_w: float, bandwidth_hz: float
) -> torch.Tensor:
    """:func:`_transfer_cost_per_bit` for latency weights and gains of the same shape ``[B]``."""
    weight_e = 1.0 - weight_t  # [B]
    start = max(low_w, high_w * 1e-9)
    grid = torch.logspace(
        math.log10(start),
        math.log10(high_w),
        POWER_GRID_INTERVALS + 1,
        dtype=gain_per_noise.dtype,
        device=gain_per_noise.device,
    )  # [G+1]
    if low_w < start:
        grid = torch.cat([grid.new_tensor([low_w]), grid])
    lower, upper = grid[:-1], grid[1:]  # [G] interval ends
    numerator = weight_t[:, None] + weight_e[:, None] * lower[None, :]  # [B, G]
    rate = bandwidth_hz * torch.log2(1.0 + gain_per_noise[:, None] * upper[None, :])  # [B, G] bit/s
    return (numerator / rate).min(dim=1).values  # [B]


def optimal_edge_speed(model: SystemModel) -> torch.Tensor:
    """The edge speed ``x = lambda(r) c_min`` minimising ``w_T / x + w_E xi_e phi_e x^2`` over the speed interval
    (convex in ``x``: ``(w_T / (2 w_E xi_e phi_e))^(1/3)`` clipped), per user ``[U]`` FLOP/s. It does not depend
    on the split, so it is every offloading user's optimal edge speed when no edge capacity binds."""
    scenario = model.scenario
    bounds = torch.tensor([scenario.compute_units_min, scenario.compute_units_max], dtype=model.dtype)
    speed_low, speed_high = (model.compensation(bounds) * model.edge_unit_flops_per_s).tolist()
    weight_t = model.latency_weight
    energy = (1.0 - weight_t) * model.edge_energy_coefficient  # [U] w_E xi_e phi_e
    ideal = torch.where(
        energy > 0, (weight_t / (2.0 * energy.clamp_min(1e-300))) ** (1.0 / 3.0), torch.full_like(energy, speed_high)
    )
    return ideal.clamp(speed_low, speed_high)  # [U]


def optimal_compute_units(model: SystemModel) -> torch.Tensor:
    """The compute units ``r_i*`` reaching :func:`optimal_edge_speed` (``lambda`` inverted by bisection). ``[U]``."""
    scenario = model.scenario
    target = optimal_edge_speed(model) / model.edge_unit_flops_per_s  # [U] lambda(r*)
    low = torch.full_like(target, scenario.compute_units_min)
    high = torch.full_like(target, scenario.compute_units_max)
    for _ in range(100):
        middle = 0.5 * (low + high)
        below = model.compensation(middle) < target
        low = torch.where(below, middle, low)
        high = torch.where(below, high, middle)
    return high


def _edge_cost_per_flop(model: SystemModel) -> torch.Tensor:
    """``min_x (w_T / x + w_E xi_e phi_e x^2)`` over the edge speed interval, per user ``[U]``."""
    weight_t = model.latency_weight
    energy = (1.0 - weight_t) * model.edge_energy_coefficient  # [U] w_E xi_e phi_e
    speed = optimal_edge_speed(model)
    return weight_t / speed + energy * speed**2


def utility_lower_bound(model: SystemModel, split: torch.Tensor) -> torch.Tensor:
    """A lower bound on every user's utility ``U_i`` at the given splits, for any other decision. ``[U]``.

    Exact for Device-Only users (``split = F_i``).
    """
    split = torch.minimum(split, model.num_layers)
    offloads = model.offloads(split)
    device_latency = torch.gather(model.device_latency_table, 1, split[:, None])[:, 0]  # [U]
    device_energy = torch.gather(model.device_energy_table, 1, split[:, None])[:, 0]  # [U]
    edge_flops = torch.gather(model.edge_work_table, 1, split[:, None])[:, 0]  # [U]
    upload_bits = torch.gather(model.upload_bits_table, 1, split[:, None])[:, 0]  # [U]
    weight_t = model.latency_weight
    device = weight_t * device_latency + (1.0 - weight_t) * device_energy
    scenario = model.scenario
    uplink_k = model.uplink_gain_own.max(dim=1).values / model.uplink_noise_w  # [U]
    downlink_k = model.downlink_gain_own.max(dim=1).values / model.downlink_noise_w  # [U]
    uplink = upload_bits * _transfer_cost_per_bit(
        model, uplink_k, scenario.uplink_power_min_w, scenario.uplink_power_max_w, model.uplink_subchannel_hz
    )
    downlink = model.result_bits * _transfer_cost_per_bit(
        model, downlink_k, scenario.downlink_power_min_w, scenario.downlink_power_max_w, model.downlink_subchannel_hz
    )
    edge = edge_flops * _edge_cost_per_flop(model)
    return device + torch.where(offloads, edge + uplink + downlink, torch.zeros_like(device))


def common_split_lower_bounds(model: SystemModel, splits: list[int]) -> list[float]:
    """``sum_i`` of :func:`utility_lower_bound` for each common split candidate (capped at each ``F_i``)."""
    with torch.no_grad():
        return [float(utility_lower_bound(model, model.common_split(split)).sum().item()) for split in splits]


def device_only_objective(model: SystemModel) -> float:
    """``Gamma`` when every user runs Device-Only (the bound is exact there)."""
    with torch.no_grad():
        return float(utility_lower_bound(model, model.full_split()).sum().item())


#: Users whose split-minimised uplink bounds are computed at once (bounds the memory to about 30 MB).
BOUND_CHUNK_USERS = 64


def _per_subchannel_cost_per_bit(
    model: SystemModel, gain_own: torch.Tensor, noise_w: float, low_w: float, high_w: float, bandwidth_hz: float
) -> torch.Tensor:
    """``min_p (w_T + w_E p) / (b log2(1 + k p))`` on every subchannel, interference-free: ``[U, M]`` cost per bit.

    The rigorous lower bound of the closed-form minimiser
    (:func:`~nomasplit.solvers.search.group_bnb.minimise_cost_per_bit`), about 30x faster than the power grid of
    :func:`_transfer_cost_per_bit` at the paper's scale and tight.
    """
    snr_per_watt = (gain_own / noise_w).cpu().numpy().astype(np.float64)  # [U, M]
    weights = model.latency_weight.cpu().numpy().astype(np.float64)[:, None]  # [U, 1]
    _, per_nat = minimise_cost_per_bit(weights, snr_per_watt, np.asarray(low_w), np.asarray(high_w))  # [U, M]
    return torch.as_tensor(per_nat * (math.log(2.0) / bandwidth_hz), dtype=model.dtype, device=model.device)


@dataclass(frozen=True)
class SideCosts:
    """Interference-free lower bounds of each user's utility by subchannel, split into the two directions.

    Attributes:
        device_only: ``[U]`` the exact utility of Device-Only (``s = F_i``).
        uplink: ``[U, M]`` lower bound of the device, edge and upload terms on uplink subchannel ``m``, minimised
            over the offloading splits ``s < F_i`` (``inf`` for a user without one).
        downlink: ``[U, M]`` lower bound of the result's transfer on downlink subchannel ``m``.
    """

    device_only: torch.Tensor
    uplink: torch.Tensor
    downlink: torch.Tensor


def side_costs(model: SystemModel) -> SideCosts:
    """The per-subchannel bounds of :class:`SideCosts` (the terms of :func:`utility_lower_bound`, not yet
    minimised over subchannels)."""
    scenario = model.scenario
    weight_t = model.latency_weight[:, None]  # [U, 1]
    device = weight_t * model.device_latency_table + (1.0 - weight_t) * model.device_energy_table  # [U, F+1]
    edge = model.edge_work_table * _edge_cost_per_flop(model)[:, None]  # [U, F+1]
    splits = torch.arange(model.max_layers + 1, device=model.device)[None, :]  # [1, F+1]
    offloading = splits < model.num_layers[:, None]  # [U, F+1]
    fixed = torch.where(offloading, device + edge, torch.full_like(device, math.inf))  # [U, F+1]
    per_bit_up = _per_subchannel_cost_per_bit(
        model,
        model.uplink_gain_own,
        model.uplink_noise_w,
        scenario.uplink_power_min_w,
        scenario.uplink_power_max_w,
        model.uplink_subchannel_hz,
    )  # [U, M]
    per_bit_dn = _per_subchannel_cost_per_bit(
        model,
        model.downlink_gain_own,
        model.downlink_noise_w,
        scenario.downlink_power_min_w,
        scenario.downlink_power_max_w,
        model.downlink_subchannel_hz,
    )  # [U, M]
    uplink = torch.empty_like(per_bit_up)
    for first in range(0, model.num_users, BOUND_CHUNK_USERS):
        rows = slice(first, first + BOUND_CHUNK_USERS)
        # [C, M, F+1]: the fixed terms plus the upload at each split, minimised over the split
        total = fixed[rows, None, :] + model.upload_bits_table[rows, None, :] * per_bit_up[rows, :, None]
        uplink[rows] = total.min(dim=2).values
    device_only = torch.gather(device, 1, model.num_layers[:, None])[:, 0]  # [U]
    return SideCosts(device_only=device_only, uplink=uplink, downlink=model.result_bits[:, None] * per_bit_dn)


def _assignment_bound(cost_on_slot: np.ndarray, device_only: np.ndarray, slots_per_subchannel: int) -> float:
    """Least total cost of one AP's users when each either stays on the device (``device_only [u]``) or takes one
    of ``slots_per_subchannel`` slots of a subchannel (``cost_on_slot [u, M]``): a rectangular assignment
    (:func:`scipy.optimize.linear_sum_assignment`) over ``M K`` slot columns and ``u`` Device-Only columns."""
    num_users = device_only.shape[0]
    if num_users == 0:
        return 0.0
    slot_columns = np.repeat(cost_on_slot, slots_per_subchannel, axis=1)  # [u, M K]
    stay_columns = np.repeat(device_only[:, None], num_users, axis=1)  # [u, u]
    cost = np.concatenate([slot_columns, stay_columns], axis=1)
    # A user that cannot offload has inf on every slot; linear_sum_assignment wants finite entries.
    finite_cap = 1e6 * max(1.0, float(np.max(device_only)))
    cost = np.where(np.isfinite(cost), np.minimum(cost, finite_cap), finite_cap)
    rows, columns = linear_sum_assignment(cost)
    return float(cost[rows, columns].sum())


@dataclass(frozen=True)
class LowerBound:
    """A certified lower bound on the optimum of P0 (eq. 20 over every feasible discrete plan).

    Attributes:
        value: the bound (the larger of ``uplink_slots`` and ``downlink_slots``).
        interference_free: ``sum_i min(Device-Only, best subchannel each way)``: no interference, no slot limits.
        uplink_slots: the cluster size kept on the uplink by assignment (downlink relaxed to its best subchannel).
        downlink_slots: the same with the directions exchanged.
        method: one line saying what was relaxed.
    """

    value: float
    interference_free: float
    uplink_slots: float
    downlink_slots: float
    method: str = (
        "interference-free per-user costs (power grid bound), edge capacities relaxed, the cluster size K kept per "
        "AP and direction by assignment; the larger direction"
    )


def plan_lower_bound(model: SystemModel) -> LowerBound:
    """A lower bound on ``Gamma`` of every feasible discrete plan of the model's scenario (module docstring).

    Valid for any splits (per user), subchannels, powers and compute units: interference only lowers rates, so each
    offloading user's utility is at least its interference-free cost on its own subchannels, and each AP has ``M K``
    slots per direction. Exact for a scenario where nobody can gain by offloading (all Device-Only).
    """
    with torch.no_grad():
        costs = side_costs(model)
        device_only = costs.device_only.cpu().numpy().astype(np.float64)  # [U]
        uplink = costs.uplink.cpu().numpy().astype(np.float64)  # [U, M]
        downlink = costs.downlink.cpu().numpy().astype(np.float64)  # [U, M]
    best_up = uplink.min(axis=1)  # [U]
    best_down = downlink.min(axis=1)  # [U]
    interference_free = float(np.minimum(device_only, best_up + best_down).sum())
    association = np.asarray(model.scenario.association)
    slots = model.cluster_size
    up_total = down_total = 0.0
    for ap in range(model.num_aps):
        users = np.flatnonzero(association == ap)
        if users.size == 0:
            continue
        up_total += _assignment_bound(uplink[users] + best_down[users, None], device_only[users], slots)
        down_total += _assignment_bound(downlink[users] + best_up[users, None], device_only[users], slots)
    # Each assignment is at least the slot-free bound (up to the rounding of the sums): keep the largest.
    value = max(interference_free, up_total, down_total)
    return LowerBound(
        value=value, interference_free=interference_free, uplink_slots=up_total, downlink_slots=down_total
    )
