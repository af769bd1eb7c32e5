"""Certified minimisation of the transmission cost of one subchannel group (helper of :mod:`exact` and
:mod:`group_search`).

A *group* is the set of offloading users that share one subchannel in one direction (uplink or downlink),
over every AP. Only these users interfere with each other, so the transmit powers of different groups never
interact. For user ``i`` of a group with powers ``x`` (``p`` uplink, ``P`` downlink) the cost per bit is

    B_i(x) = (wT_i + (1 - wT_i) x_i) / (b log2(1 + x_i g_i / (sigma2 + sum_j C_ij x_j)))   (eq. 7, 10, 14, 15)

(seconds of latency plus joules of transmit energy per bit, weighted), where ``C_ij >= 0`` is the interference
that user ``j`` causes to user ``i`` per watt (spec "Uplink" and "Downlink": SIC order within the AP, every
user of other APs). The group cost is ``sum_i phi_i(B_i(x))`` with ``phi_i(B) = min_s (A_is + B W_is)``: for
the uplink ``s`` runs over the user's offloading split points (``A``: device and edge cost, ``W``: bits sent
up), for the downlink ``phi_i(B) = m_i B`` (the result's bits). ``phi_i`` is increasing in ``B``.

Two facts give a proof of optimality:

1. For fixed interference the 1-D function ``f(x) = (a + c x) / ln(1 + q x)`` is quasiconvex: the sign of
   its derivative is that of ``h(x) = c ln(1 + q x) - (a + c x) q / (1 + q x)``, and
   ``h' = (a + c x) q^2 / (1 + q x)^2 >= 0``. Its root has a closed form (Lambert W); a sign change of ``h``
   checked on a small bracket ``[x1, x2]`` around it (bisection on ``h`` where rounding leaves that check
   open) proves that the minimiser lies in ``[x1, x2]``, and ``(a + c x1) / ln(1 + q x2)`` is a rigorous lower
   bound on ``min f`` (numerator and denominator both increase in ``x``).
2. ``B_i`` increases in every other user's power. On a box ``[lo, hi]`` of powers, user ``i``'s cost is
   at least its cost with every interferer at ``lo`` and its own power chosen best in ``[lo_i, hi_i]``.
   Summing these gives a lower bound on the box (the bound of monotonic optimisation); the powers that
   attain the per-user minima form a feasible point whose true cost is an upper bound. Branch and bound
   over boxes, splitting the widest interferer dimension geometrically, closes the gap.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import lambertw

from nomasplit.model.noma import decoded_after
from nomasplit.model.system import Decision, SystemModel

LN2 = math.log(2.0)

UPLINK, DOWNLINK = 0, 1

#: Bisection steps of the 1-D minimisation where its closed form is not proven: the bracket shrinks by a factor 2
#: per step in log scale.
BISECTION_STEPS = 64


@dataclass(frozen=True)
class Group:
    """The transmission subproblem of one subchannel in one direction (``k`` users).

    Attributes:
        users: ``[k]`` user indices (for the caller).
        gain: ``[k]`` own channel gain ``g_i`` on the subchannel.
        coupling: ``[k, k]`` interference per watt ``C_ij`` from user ``j`` at user ``i``'s receiver
            (zero diagonal).
        noise_w: noise power on the subchannel.
        bandwidth_hz: subchannel bandwidth ``b``.
        latency_weight: ``[k]`` ``wT_i``.
        offset: ``[k, S]`` ``A_is`` (``inf`` pads unused columns).
        slope: ``[k, S]`` ``W_is`` in bits.
        low_w, high_w: power box, the same for every user.
    """

    users: tuple[int, ...]
    gain: np.ndarray
    coupling: np.ndarray
    noise_w: float
    bandwidth_hz: float
    latency_weight: np.ndarray
    offset: np.ndarray
    slope: np.ndarray
    low_w: float
    high_w: float

    @property
    def size(self) -> int:
        return len(self.users)


def minimise_cost_per_bit(
    latency_weight: np.ndarray, snr_per_watt: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``f(x) = (a + c x) / ln(1 + q x)`` over ``[low, high]`` elementwise (broadcastable shapes).

    ``a = wT``, ``c = 1 - wT``, ``q`` the SNR per watt at fixed interference. ``f`` is quasiconvex (module
    docstring), so its minimiser on the box is the unconstrained one clipped to the box. That one solves
    ``h(x) = 0``: with ``y = 1 + q x`` this is ``y ln y - y + 1 = a q / c``, so ``ln y = 1 + W((a q / c - 1) / e)``
    with ``W`` the principal branch of the Lambert W function. The closed form is then checked: the sign of
    ``h`` must change within a relative ``CLOSED_FORM_BRACKET`` of it (or not at all on the box, at a bound);
    elements where rounding leaves that unproven (``q x`` near 0) fall back to bisection on the sign of ``h``.

    Returns:
        ``(argmin, lower_bound)``: a point of the final bracket ``[x1, x2]`` and the rigorous lower bound
        ``(a + c x1) / ln(1 + q x2)`` on ``min f``.
    """
    a = np.asarray(latency_weight, dtype=np.float64)
    c = 1.0 - a
    q = np.asarray(snr_per_watt, dtype=np.float64)
    low, high, a, c, q = np.broadcast_arrays(np.asarray(low, float), np.asarray(high, float), a, c, q)

    def slope_sign(x: np.ndarray, a: np.ndarray, c: np.ndarray, q: np.ndarray) -> np.ndarray:
        qx = q * x
        return c * np.log1p(qx) - (a + c * x) * q / (1.0 + qx)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(c > 0.0, a * q / np.where(c > 0.0, c, 1.0), np.inf)
        argument = np.maximum((ratio - 1.0) / math.e, -1.0 / math.e)
        log_y = 1.0 + lambertw(argument).real
        unconstrained = np.where(np.isfinite(ratio), np.expm1(log_y) / q, np.inf)
    point = np.fmin(np.fmax(unconstrained, low), high)  # nan (q = 0: f is inf everywhere) -> low
    left = np.maximum(point * (1.0 - CLOSED_FORM_BRACKET), low)
    right = np.minimum(point * (1.0 + CLOSED_FORM_BRACKET), high)
    # proven when h < 0 left of the bracket (or the bracket starts at low) and h >= 0 right of it (or it ends at
    # high); then the minimiser lies in [left, right]
    proven = ((left <= low) | (slope_sign(left, a, c, q) < 0.0)) & (
        (right >= high) | (slope_sign(right, a, c, q) >= 0.0)
    )
    left = np.where(point <= low, low, left)
    right = np.where(point >= high, high, right)
    if not proven.all():
        todo = ~proven
        left[todo], right[todo] = _bisect(slope_sign, a[todo], c[todo], q[todo], low[todo], high[todo])
    with np.errstate(divide="ignore"):
        bound = (a + c * left) / np.log1p(q * right)
    return np.where(proven, point, right), bound


#: Relative half-width of the bracket around the closed-form minimiser of :func:`minimise_cost_per_bit`.
CLOSED_FORM_BRACKET = 1e-9


def _bisect(
    slope_sign: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    a: np.ndarray,
    c: np.ndarray,
    q: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The bracket ``[left, right]`` of the minimiser of ``f`` on ``[low, high]`` by bisection on the sign of
    ``h`` (geometric midpoints, :data:`BISECTION_STEPS` steps)."""
    left = low.copy()
    right = high.copy()
    at_high = slope_sign(high, a, c, q) <= 0.0  # f decreasing on the whole box
    at_low = (slope_sign(low, a, c, q) >= 0.0) & ~at_high  # f increasing on the whole box
    inside = ~(at_high | at_low)
    left = np.where(at_high, high, left)
    right = np.where(at_low, low, right)
    tiny = 1e-12 * np.maximum(high, 1e-300)
    for _ in range(BISECTION_STEPS):
        if not inside.any():
            break
        middle = np.sqrt((left + tiny) * (right + tiny)) - tiny
        rising = slope_sign(middle, a, c, q) >= 0.0
        right = np.where(inside & rising, middle, right)
        left = np.where(inside & ~rising, middle, left)
    return left, right


def per_bit_cost(group: Group, power_w: np.ndarray) -> np.ndarray:
    """``B_i(x)`` for powers ``[..., k]`` (``inf`` where the rate is 0). Returns ``[..., k]``."""
    interference = power_w @ group.coupling.T  # [..., k]
    sinr = power_w * group.gain / (group.noise_w + interference)
    rate = group.bandwidth_hz * np.log1p(sinr) / LN2  # [..., k] bit/s
    weight = group.latency_weight + (1.0 - group.latency_weight) * power_w
    with np.errstate(divide="ignore"):
        return weight / rate


def user_costs(group: Group, per_bit: np.ndarray) -> np.ndarray:
    """``phi_i(B_i)`` for ``B`` of shape ``[..., k]``. Returns ``[..., k]``."""
    return np.min(group.offset + per_bit[..., None] * group.slope, axis=-1)


def group_cost(group: Group, power_w: np.ndarray) -> np.ndarray:
    """True cost of the group at powers ``[..., k]``. Returns ``[...]``."""
    return user_costs(group, per_bit_cost(group, power_w)).sum(axis=-1)


def _box_bounds(group: Group, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bound, candidate point and its cost for boxes ``[n, k]``."""
    interference = low @ group.coupling.T  # [n, k] interferers at their lowest powers
    snr_per_watt = group.gain / (group.noise_w + interference)
    candidate, f_bound = minimise_cost_per_bit(group.latency_weight, snr_per_watt, low, high)
    per_bit_bound = f_bound * LN2 / group.bandwidth_hz  # [n, k]
    bound = user_costs(group, per_bit_bound).sum(axis=-1)  # [n]
    return bound, candidate, group_cost(group, candidate)


class GroupBranchAndBound:
    """Resumable branch and bound over the power boxes of one group.

    Boxes whose bound is within ``tolerance`` of the incumbent are set aside, not dropped: a later call with a
    smaller tolerance takes them up again. :attr:`lower_bound` is the smallest bound of any box not yet
    split, so it is a valid lower bound on the group's optimum whenever the search stops.
    """

    def __init__(self, group: Group) -> None:
        self.group = group
        low = np.full((1, group.size), group.low_w)
        high = np.full((1, group.size), group.high_w)
        bound, candidate, cost = _box_bounds(group, low, high)
        self.upper_bound = float(cost[0])
        self.power_w = candidate[0].copy()
        self.nodes = 1
        self._interferers = np.flatnonzero(group.coupling.max(axis=0) > 0.0)  # users whose power hurts someone
        self._eps = 1e-9 * group.high_w
        self._next_id = 1
        self._open: list[tuple[float, int]] = []
        self._set_aside: list[tuple[float, int]] = []
        self._boxes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if self._interferers.size == 0:  # no coupling: the root bound is exact
            self._exact_bound = float(bound[0])
        else:
            self._exact_bound = math.nan
            self._push(float(bound[0]), low[0], high[0], math.inf)

    def _push(self, bound: float, low: np.ndarray, high: np.ndarray, limit: float) -> None:
        heapq.heappush(self._open if bound < limit else self._set_aside, (bound, self._next_id))
        self._boxes[self._next_id] = (low, high)
        self._next_id += 1

    @property
    def lower_bound(self) -> float:
        if not math.isnan(self._exact_bound):
            return min(self._exact_bound, self.upper_bound)
        floors = [heap[0][0] for heap in (self._open, self._set_aside) if heap]
        return min([self.upper_bound, *floors])

    def refine(self, tolerance: float, *, max_nodes: int, deadline: float, batch: int = 64) -> None:
        """Split boxes until ``upper_bound - lower_bound <= tolerance``, ``max_nodes`` boxes or deadline."""
        group = self.group
        while self._set_aside and self._set_aside[0][0] < self.upper_bound - tolerance:
            heapq.heappush(self._open, heapq.heappop(self._set_aside))
        created = 0
        while self._open and created < max_nodes and time.perf_counter() <= deadline:
            limit = self.upper_bound - tolerance
            taken: list[int] = []
            while self._open and len(taken) < batch:
                bound, node = heapq.heappop(self._open)
                if bound < limit:
                    taken.append(node)
                else:
                    heapq.heappush(self._set_aside, (bound, node))
            if not taken:
                break
            lows = np.stack([self._boxes[node][0] for node in taken])  # [t, k]
            highs = np.stack([self._boxes[node][1] for node in taken])
            for node in taken:
                del self._boxes[node]
            eps = self._eps
            widths = np.log((highs[:, self._interferers] + eps) / (lows[:, self._interferers] + eps))  # [t, j]
            axis = self._interferers[np.argmax(widths, axis=1)]  # [t] widest interferer, split geometrically
            rows = np.arange(len(taken))
            middle = np.sqrt((lows[rows, axis] + eps) * (highs[rows, axis] + eps)) - eps
            left_high = highs.copy()
            left_high[rows, axis] = middle
            right_low = lows.copy()
            right_low[rows, axis] = middle
            child_low = np.concatenate([lows, right_low])  # [2t, k]
            child_high = np.concatenate([left_high, highs])
            child_bound, child_candidate, child_cost = _box_bounds(group, child_low, child_high)
            created += child_low.shape[0]
            winner = int(np.argmin(child_cost))
            if child_cost[winner] < self.upper_bound:
                self.upper_bound = float(child_cost[winner])
                self.power_w = child_candidate[winner].copy()
            limit = self.upper_bound - tolerance
            for index in range(child_low.shape[0]):
                self._push(float(child_bound[index]), child_low[index], child_high[index], limit)
        self.nodes += created


# --- groups of a scenario (shared by exact and the group search) ---


@dataclass(frozen=True)
class CostTables:
    """What ``exact`` needs from the scenario, as numpy arrays (``U`` users, ``S`` offloading splits)."""

    num_users: int
    num_subchannels: int
    association: np.ndarray  # [U]
    num_layers: np.ndarray  # [U]
    latency_weight: np.ndarray  # [U]
    device_only_cost: np.ndarray  # [U] utility of Device-Only
    split_offset: np.ndarray  # [U, S] A_i(s): device + edge cost of offloading split s (inf if s >= F_i)
    split_bits: np.ndarray  # [U, S] W_i(s): bits sent up at split s (1 where padded)
    result_bits: np.ndarray  # [U]
    compute_units: np.ndarray  # [U] r_i*


def inverse_compensation(model: SystemModel, speed_ratio: np.ndarray, low: float, high: float) -> np.ndarray:
    """``r`` with ``lambda(r) = speed_ratio`` by bisection (``lambda`` increasing) on ``[low, high]``."""
    left = np.full_like(speed_ratio, low)
    right = np.full_like(speed_ratio, high)
    for _ in range(200):
        middle = 0.5 * (left + right)
        value = model.compensation(torch.as_tensor(middle, dtype=torch.float64)).numpy()
        below = value < speed_ratio
        left = np.where(below, middle, left)
        right = np.where(below, right, middle)
    return right


def cost_tables(model: SystemModel) -> CostTables:
    scenario = model.scenario

    def cpu(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(np.float64)

    num_layers = model.num_layers.cpu().numpy()
    latency_weight = cpu(model.latency_weight)
    energy_weight = 1.0 - latency_weight
    device_latency = cpu(model.device_latency_table)  # [U, F_max+1]
    device_energy = cpu(model.device_energy_table)  # [U, F_max+1]
    edge_work = cpu(model.edge_work_table)  # [U, F_max+1]
    upload_bits = cpu(model.upload_bits_table)
    # Device cost at each split: w_T T_dev + w_E E_dev (eq. 1, 13).
    device_cost = latency_weight[:, None] * device_latency + energy_weight[:, None] * device_energy  # [U, F_max+1]
    # Edge speed x = lambda(r) c_min; cost per edge FLOP k(x) = wT / x + wE kappa x^2 is convex in x.
    unit_speed = model.edge_unit_flops_per_s
    kappa = model.edge_energy_coefficient
    r_min, r_max = scenario.compute_units_min, scenario.compute_units_max

    def lam(units: float) -> float:
        return float(model.compensation(torch.tensor(units, dtype=torch.float64)))

    speed_low, speed_high = lam(r_min) * unit_speed, lam(r_max) * unit_speed
    quadratic = energy_weight * kappa
    with np.errstate(divide="ignore"):
        free_optimum = np.where(quadratic > 0, np.cbrt(latency_weight / (2.0 * np.maximum(quadratic, 1e-300))), np.inf)
    best_speed = np.clip(free_optimum, speed_low, speed_high)
    units = np.clip(inverse_compensation(model, best_speed / unit_speed, r_min, r_max), r_min, r_max)
    units = np.where(best_speed >= speed_high, r_max, np.where(best_speed <= speed_low, r_min, units))
    speed = np.array([lam(value) for value in units]) * unit_speed  # what the model will compute
    per_edge_flop = latency_weight / speed + quadratic * speed**2  # [U]

    max_layers = int(num_layers.max())
    splits = np.arange(max_layers)  # offloading splits 0..F_max-1
    offloading = splits[None, :] < num_layers[:, None]  # [U, S]
    offset = device_cost[:, :max_layers] + per_edge_flop[:, None] * edge_work[:, :max_layers]
    return CostTables(
        num_users=model.num_users,
        num_subchannels=model.num_subchannels,
        association=model.association.cpu().numpy(),
        num_layers=num_layers,
        latency_weight=latency_weight,
        device_only_cost=device_cost[np.arange(model.num_users), num_layers],
        split_offset=np.where(offloading, offset, np.inf),
        split_bits=np.where(offloading, upload_bits[:, :max_layers], 1.0),
        result_bits=cpu(model.result_bits),
        compute_units=units,
    )


class GroupCache:
    """Builds, solves and caches the subchannel groups of one scenario."""

    def __init__(self, model: SystemModel, tables: CostTables) -> None:
        self.scenario = model.scenario
        self.tables = tables
        self.noma = model.noma
        self.cache: dict[tuple[int, int, int], GroupBranchAndBound] = {}

    def build(self, direction: int, subchannel: int, mask: int) -> Group:
        tables, scenario = self.tables, self.scenario
        users = [user for user in range(tables.num_users) if mask >> user & 1]
        assoc = tables.association
        size = len(users)
        coupling = np.zeros((size, size))
        if direction == UPLINK:
            gain_tensor = scenario.uplink_gain
            own = gain_tensor[assoc, np.arange(tables.num_users), subchannel]  # [U]
            for row, user in enumerate(users):
                for col, other in enumerate(users):
                    if other == user:
                        continue
                    other_cell = assoc[other] != assoc[user]
                    if other_cell or (self.noma and decoded_after(own[other], other, own[user], user, uplink=True)):
                        coupling[row, col] = gain_tensor[assoc[user], other, subchannel]
            bandwidth = scenario.uplink_bandwidth_hz / tables.num_subchannels
            low, high = scenario.uplink_power_min_w, scenario.uplink_power_max_w
            offset = tables.split_offset[users]
            slope = tables.split_bits[users]
        else:
            gain_tensor = scenario.downlink_gain
            own = gain_tensor[assoc, np.arange(tables.num_users), subchannel]
            for row, user in enumerate(users):
                for col, other in enumerate(users):
                    if other == user:
                        continue
                    if assoc[other] != assoc[user]:
                        coupling[row, col] = gain_tensor[assoc[other], user, subchannel]
                    elif self.noma and decoded_after(own[other], other, own[user], user, uplink=False):
                        coupling[row, col] = own[user]
            bandwidth = scenario.downlink_bandwidth_hz / tables.num_subchannels
            low, high = scenario.downlink_power_min_w, scenario.downlink_power_max_w
            offset = np.zeros((size, 1))
            slope = tables.result_bits[users][:, None]
        return Group(
            users=tuple(users),
            gain=own[users].astype(np.float64),
            coupling=coupling,
            noise_w=scenario.noise_psd_w_per_hz * bandwidth,
            bandwidth_hz=bandwidth,
            latency_weight=tables.latency_weight[users],
            offset=offset,
            slope=slope,
            low_w=low,
            high_w=high,
        )

    def search(self, direction: int, subchannel: int, mask: int) -> GroupBranchAndBound:
        """The (cached) search of a group; a new one has evaluated its root box."""
        key = (direction, subchannel, mask)
        if key not in self.cache:
            self.cache[key] = GroupBranchAndBound(self.build(direction, subchannel, mask))
        return self.cache[key]

    @property
    def nodes(self) -> int:
        return sum(search.nodes for search in self.cache.values())


def decision_from_groups(
    model: SystemModel, tables: CostTables, groups: GroupCache, active: int, chosen: list[list[int]]
) -> Decision:
    """The discrete decision of the best structure, with the powers its groups found."""
    scenario = model.scenario
    num_users, num_subchannels = tables.num_users, tables.num_subchannels
    split = tables.num_layers.copy()
    beta = np.zeros((2, num_users, num_subchannels))
    power = np.array(
        [
            np.full(num_users, scenario.uplink_power_min_w),
            np.full(num_users, scenario.downlink_power_min_w),
        ]
    )
    units = np.where(
        [(active >> user) & 1 for user in range(num_users)], tables.compute_units, scenario.compute_units_min
    )
    for direction in (UPLINK, DOWNLINK):
        for subchannel, mask in enumerate(chosen[direction]):
            if not mask:
                continue
            search = groups.cache[(direction, subchannel, mask)]
            group = search.group
            users = list(group.users)
            beta[direction, users, subchannel] = 1.0
            power[direction, users] = search.power_w
            if direction == UPLINK:
                per_bit = per_bit_cost(group, search.power_w)  # [k]
                choice = np.argmin(group.offset + per_bit[:, None] * group.slope, axis=1)
                split[users] = choice
    device = model.device

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=model.dtype, device=device)

    return Decision(
        split=torch.as_tensor(split, dtype=torch.long, device=device),
        beta_up=tensor(beta[UPLINK]),
        beta_dn=tensor(beta[DOWNLINK]),
        uplink_power_w=tensor(power[UPLINK]),
        downlink_power_w=tensor(power[DOWNLINK]),
        compute_units=tensor(units),
    )
