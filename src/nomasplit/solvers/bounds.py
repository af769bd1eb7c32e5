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
"""

from __future__ import annotations

import math

import torch

from nomasplit.model.system import SystemModel

#: Intervals of the geometric power grid of the transfer bounds.
POWER_GRID_INTERVALS = 128


def _transfer_cost_per_bit(
    model: SystemModel, gain_per_noise: torch.Tensor, low_w: float, high_w: float, bandwidth_hz: float
) -> torch.Tensor:
    """Lower bound of ``min_p (w_T + w_E p) / (b log2(1 + k p))`` per user, ``[U]`` (cost per bit)."""
    weight_t = model.latency_weight  # [U]
    weight_e = 1.0 - weight_t  # [U]
    start = max(low_w, high_w * 1e-9)
    grid = torch.logspace(
        math.log10(start), math.log10(high_w), POWER_GRID_INTERVALS + 1, dtype=model.dtype, device=model.device
    )  # [G+1]
    if low_w < start:
        grid = torch.cat([grid.new_tensor([low_w]), grid])
    lower, upper = grid[:-1], grid[1:]  # [G] interval ends
    numerator = weight_t[:, None] + weight_e[:, None] * lower[None, :]  # [U, G]
    rate = bandwidth_hz * torch.log2(1.0 + gain_per_noise[:, None] * upper[None, :])  # [U, G] bit/s
    return (numerator / rate).min(dim=1).values  # [U]


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
