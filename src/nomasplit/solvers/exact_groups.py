"""Certified minimisation of the transmission cost of one subchannel group (helper of :mod:`exact`).

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
   ``h' = (a + c x) q^2 / (1 + q x)^2 >= 0``. So bisection on ``h`` brackets the minimiser in ``[x1, x2]``,
   and ``(a + c x1) / ln(1 + q x2)`` is a rigorous lower bound on ``min f`` (numerator and denominator
   both increase in ``x``).
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
from dataclasses import dataclass

import numpy as np

LN2 = math.log(2.0)

#: Bisection steps of the 1-D minimisation: the bracket shrinks by a factor 2 per step in log scale.
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
    docstring), so bisection on the sign of ``h`` brackets the minimiser.

    Returns:
        ``(argmin, lower_bound)``: a point of the final bracket and a rigorous lower bound on ``min f``.
    """
    a = np.asarray(latency_weight, dtype=np.float64)
    c = 1.0 - a
    q = np.asarray(snr_per_watt, dtype=np.float64)
    low, high, a, c, q = np.broadcast_arrays(np.asarray(low, float), np.asarray(high, float), a, c, q)

    def slope_sign(x: np.ndarray) -> np.ndarray:
        qx = q * x
        return c * np.log1p(qx) - (a + c * x) * q / (1.0 + qx)

    left = low.copy()
    right = high.copy()
    at_high = slope_sign(high) <= 0.0  # f decreasing on the whole box
    at_low = (slope_sign(low) >= 0.0) & ~at_high  # f increasing on the whole box
    inside = ~(at_high | at_low)
    left = np.where(at_high, high, left)
    right = np.where(at_low, low, right)
    tiny = 1e-12 * np.maximum(high, 1e-300)
    for _ in range(BISECTION_STEPS):
        if not inside.any():
            break
        middle = np.sqrt((left + tiny) * (right + tiny)) - tiny
        rising = slope_sign(middle) >= 0.0
        right = np.where(inside & rising, middle, right)
        left = np.where(inside & ~rising, middle, left)
    with np.errstate(divide="ignore"):
        bound = (a + c * left) / np.log1p(q * right)
    return right, bound


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


class GroupSearch:
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
