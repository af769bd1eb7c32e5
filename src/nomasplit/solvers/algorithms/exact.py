"""``exact``: the proven global optimum of problem P0 for small instances.

No MINLP solver is needed; the structure of the problem gives an exact decomposition (docs/exact.md):

1. **Edge compute units** separate per user. With ``x = lambda(r) c_min`` the edge cost per FLOP is
   ``k_i(x) = wT_i / x + (1 - wT_i) xi_e phi_e x^2`` (eq. 3, 16), convex in ``x``; its minimiser
   ``x* = (wT / (2 (1 - wT) xi_e phi_e))^(1/3)`` clipped to the box is the optimum for every split
   (``Edge(s)`` only scales it). An edge capacity is handled exactly when it can only limit *how many*
   users offload (it never cuts into the ``r_i*`` of a set of users that fits it); otherwise ``exact``
   refuses.
2. **Splits** enter a user's cost as ``A_i(s) + B_i W_i(s)`` where ``A_i`` is device and edge cost, ``W_i(s)``
   the bits sent up and ``B_i`` the uplink cost per bit, so the best split is ``phi_i(B_i) = min_s (...)``,
   an increasing function of ``B_i`` evaluated inside the uplink group
   (:mod:`~nomasplit.solvers.search.group_bnb`).
3. **Uplink and downlink** are independent given which users offload; within a direction users interfere
   only with users on the same subchannel, so the cost is a sum over subchannels of group costs
   ``G(m, S)``, each minimised over the group's powers by a certified branch and bound
   (:mod:`~nomasplit.solvers.search.group_bnb`).
4. **Discrete choices** (which users offload, which subchannel each uses in each direction, at most ``K``
   users of one AP per subchannel) are searched exactly by dynamic programming over user subsets:
   ``f_m(R) = min_{S subset R} G(m, S) + f_{m+1}(R \\ S)``. Group costs start at a valid lower bound (the sum
   of the members' interference-free optima) and are refined lazily, only for groups that appear in the
   current best lower-bound solution, until that solution uses only groups solved to the gap tolerance.

The result is a discrete plan, a proven lower bound on ``Gamma`` and their relative gap. Everything is
numpy on the CPU (the ``device`` argument only sets where the model checks the final plan).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from pydantic import Field

from nomasplit.errors import SolverError
from nomasplit.model.system import SystemModel
from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register
from nomasplit.solvers.search.group_bnb import (
    DOWNLINK,
    UPLINK,
    CostTables,
    GroupCache,
    cost_tables,
    decision_from_groups,
)

#: Hard ceiling on ``max_users``: the subset DP costs ``M * 3^U`` and the tables ``2^U`` per subchannel.
USERS_CEILING = 10


class ExactSettings(AlgorithmSettings):
    """Settings of ``exact``."""

    time_limit_s: float = Field(
        default=60.0, gt=0, le=86400, allow_inf_nan=False, description="wall-clock limit in seconds"
    )
    gap_tolerance: float = Field(
        default=1e-4,
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="stop at (objective - bound) <= tol * objective",
    )
    max_users: int = Field(default=8, ge=1, le=USERS_CEILING, description="refuse scenarios with more users than this")
    max_subchannels: int = Field(default=4, ge=1, le=8, description="refuse scenarios with more subchannels")
    nodes_per_round: int = Field(
        default=512, ge=2, le=1_000_000, description="boxes a group may split before the subset DP is re-run"
    )


class _SubsetDP:
    """``f_m(R) = min_{S subset R} G[m, S] + f_{m+1}(R \\ S)`` over all user subsets ``R``, vectorised."""

    def __init__(self, num_users: int) -> None:
        supersets, subsets = [], []
        for superset in range(1 << num_users):
            subset = superset
            while True:
                supersets.append(superset)
                subsets.append(subset)
                if subset == 0:
                    break
                subset = (subset - 1) & superset
        self.supersets = np.array(supersets, dtype=np.int64)  # grouped by superset, ascending
        self.subsets = np.array(subsets, dtype=np.int64)
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.supersets) != 0])  # first pair of each superset

    def run(self, costs: np.ndarray) -> list[np.ndarray]:
        """``costs [M, 2^U]`` -> ``[f_0, ..., f_M]``, each ``[2^U]``."""
        num_subchannels, num_masks = costs.shape
        tail = np.full(num_masks, np.inf)
        tail[0] = 0.0
        values = [tail]
        for subchannel in range(num_subchannels - 1, -1, -1):
            pair_cost = costs[subchannel, self.subsets] + values[0][self.supersets ^ self.subsets]
            values.insert(0, np.minimum.reduceat(pair_cost, self.starts))
        return values

    def groups(self, costs: np.ndarray, values: list[np.ndarray], mask: int) -> list[int]:
        """The subset chosen on each subchannel for the users ``mask``, following the DP's argmin."""
        chosen = []
        remaining = mask
        for subchannel in range(costs.shape[0]):
            begin = self.starts[remaining]
            end = self.starts[remaining + 1] if remaining + 1 < len(self.starts) else len(self.subsets)
            subsets = self.subsets[begin:end]
            pair_cost = costs[subchannel, subsets] + values[subchannel + 1][remaining ^ subsets]
            subset = int(subsets[int(np.argmin(pair_cost))])
            chosen.append(subset)
            remaining ^= subset
        return chosen


def _check_size(model: SystemModel, settings: ExactSettings) -> None:
    if model.num_users > settings.max_users:
        raise SolverError(
            f"exact: the scenario has {model.num_users} users; exact proves optima for at most "
            f"max_users = {settings.max_users} (setting max_users, at most {USERS_CEILING}). "
            "Use a heuristic such as 'ligd'."
        )
    if model.num_subchannels > settings.max_subchannels:
        raise SolverError(
            f"exact: the scenario has {model.num_subchannels} subchannels; exact handles at most "
            f"max_subchannels = {settings.max_subchannels} (setting max_subchannels, at most 8). "
            "Use a heuristic such as 'ligd'."
        )


def _capacity_filter(model: SystemModel, tables: CostTables, bits: np.ndarray) -> np.ndarray:
    """``[2^U]`` bool: offloading sets that fit every AP's edge capacity with minimum units.

    Raises SolverError when the capacity would also cut into the optimal units ``r_i*`` of a set that fits,
    since then the compute units are coupled across users and this decomposition no longer proves optimality.
    """
    scenario = model.scenario
    allowed = np.ones(bits.shape[0], dtype=bool)
    if scenario.edge_capacity_units is None:
        return allowed
    r_min = scenario.compute_units_min
    for ap, capacity in enumerate(scenario.edge_capacity_units):
        members = np.flatnonzero(tables.association == ap)
        fits = bits[:, members].sum(axis=1) * r_min <= capacity * (1 + 1e-12)
        allowed &= fits
        needed = bits[:, members] @ tables.compute_units[members]  # [2^U] sum of r_i* of each set
        if np.any(fits & (needed > capacity * (1 + 1e-12))):
            raise SolverError(
                f"exact: the edge capacity of AP {ap} ({capacity:g} units) binds on the compute units of "
                f"users who offload together (their optimal units r_i* sum to {needed[fits].max():g}); exact "
                "only proves optima when the capacity limits how many users offload, not their units. "
                "Use 'ligd'."
            )
    return allowed


def run_exact(context: SolveContext, settings: ExactSettings) -> SolveOutcome:
    """Solve P0 to proven optimality (within ``gap_tolerance``) or until ``time_limit_s``."""
    start = time.perf_counter()
    model = context.model
    _check_size(model, settings)
    deadline = start + settings.time_limit_s
    tables = cost_tables(model)
    num_users, num_subchannels = tables.num_users, tables.num_subchannels
    num_masks = 1 << num_users
    masks = np.arange(num_masks)
    bits = ((masks[:, None] >> np.arange(num_users)[None, :]) & 1).astype(np.float64)  # [2^U, U]
    allowed = _capacity_filter(model, tables, bits)

    ap_onehot = np.eye(model.num_aps)[tables.association]  # [U, N]
    fits_cluster = np.all(bits @ ap_onehot <= model.cluster_size, axis=1)  # [2^U] at most K per AP
    groups = GroupCache(model, tables)
    lower = np.zeros((2, num_subchannels, num_masks))  # proven lower bounds of the group costs G(m, S)
    upper = np.full((2, num_subchannels, num_masks), np.inf)  # costs of the best powers found (inf: none yet)
    upper[:, :, 0] = 0.0
    for direction in (UPLINK, DOWNLINK):
        single = np.zeros((num_users, num_subchannels))
        for subchannel in range(num_subchannels):
            for user in range(num_users):
                search = groups.search(direction, subchannel, 1 << user)  # no interference: exact at once
                single[user, subchannel] = search.lower_bound
                upper[direction, subchannel, 1 << user] = search.upper_bound
        # Interference only raises costs, so the members' interference-free optima bound any group (summed over the
        # members only: a user with no rate there costs inf, and 0 * inf in a matrix product would be nan).
        lower[direction] = np.where(bits[:, :, None] > 0, single[None, :, :], 0.0).sum(axis=1).T
    lower[:, :, ~fits_cluster] = np.inf
    upper[:, :, ~fits_cluster] = np.inf

    device_only = (1.0 - bits) @ tables.device_only_cost  # [2^U] Device-Only cost of the others
    dp = _SubsetDP(num_users)

    def best(costs: np.ndarray) -> tuple[float, int, list[list[int]]]:
        up_values = dp.run(costs[UPLINK])
        dn_values = dp.run(costs[DOWNLINK])
        totals = np.where(allowed, device_only + up_values[0] + dn_values[0], np.inf)
        active = int(np.argmin(totals))
        chosen = [dp.groups(costs[UPLINK], up_values, active), dp.groups(costs[DOWNLINK], dn_values, active)]
        return float(totals[active]), active, chosen

    timed_out = False
    rounds = 0
    while True:
        bound, _, chosen = best(lower)
        incumbent, _, _ = best(upper)
        if incumbent - bound <= settings.gap_tolerance * abs(incumbent):
            break
        if time.perf_counter() > deadline:
            timed_out = True
            break
        # Closing every group of the lower-bound solution to this tolerance closes the global gap.
        tolerance = settings.gap_tolerance * abs(incumbent) / (2 * num_subchannels)
        pending = []
        for direction in (UPLINK, DOWNLINK):
            for subchannel, mask in enumerate(chosen[direction]):
                if not mask:
                    continue
                search = groups.search(direction, subchannel, mask)
                lower[direction, subchannel, mask] = search.lower_bound
                upper[direction, subchannel, mask] = search.upper_bound
                if search.upper_bound - search.lower_bound > tolerance:
                    pending.append((direction, subchannel, mask, search))
        if not pending:  # then incumbent <= bound + gap_tolerance * incumbent up to rounding
            break
        rounds += 1
        for direction, subchannel, mask, search in pending:
            search.refine(tolerance, max_nodes=settings.nodes_per_round, deadline=deadline)
            lower[direction, subchannel, mask] = search.lower_bound
            upper[direction, subchannel, mask] = search.upper_bound
    bound, _, _ = best(lower)
    objective_internal, active, chosen = best(upper)
    decision = decision_from_groups(model, tables, groups, active, chosen)
    with torch.no_grad():
        objective = float(model.objective(decision).item())
    bound = min(bound, objective)  # the two sums differ in the last bits when the gap is closed
    gap = (objective - bound) / abs(objective) if objective != 0 else 0.0
    proven = not timed_out and gap <= settings.gap_tolerance * (1 + 1e-9) + 1e-12
    if proven:
        message = f"proven optimal within relative gap {gap:.2e} (tolerance {settings.gap_tolerance:g})"
    elif timed_out:
        message = (
            f"time limit of {settings.time_limit_s:g} s reached: best plan {objective:.6g}, "
            f"proven lower bound {bound:.6g}, relative gap {gap:.2e}"
        )
    else:
        message = f"gap {gap:.2e} above tolerance {settings.gap_tolerance:g}"
    return SolveOutcome(
        decision=decision,
        success=proven,
        message=message,
        objective_rounded=objective_internal,
        iterations_total=groups.nodes,
        bound=bound,
        gap=gap,
        extra={
            "proven": proven,
            "groups_solved": len(groups.cache),
            "refinement_rounds": rounds,
            "branch_and_bound_nodes": groups.nodes,
            "offloading_users": [user for user in range(num_users) if active >> user & 1],
            "solve_time_s": time.perf_counter() - start,
        },
    )


register(
    Algorithm(
        name="exact",
        summary="proven global optimum for small instances: subset DP over offloading and subchannels, "
        "certified branch and bound over each subchannel group's powers",
        cite="this project (docs/exact.md); monotonic optimisation bound as in H. Tuy, "
        "'Monotonic optimization', SIAM J. Optim. 11(2), 2000",
        settings_type=ExactSettings,
        run=run_exact,
    )
)

__all__ = ["ExactSettings", "run_exact"]
