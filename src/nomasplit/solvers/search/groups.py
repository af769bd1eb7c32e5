"""Group search: a local search over the discrete plan that prices every move with globally optimal powers.

For a fixed set of offloading users and fixed subchannels, ``Gamma`` is the Device-Only cost of the other users
plus a sum of group costs ``G(d, m, S)``, one per direction ``d`` and subchannel ``m`` (users ``S`` on it, over
every AP), each minimised over the group's powers (and, uplink, its users' splits) by the certified branch and
bound of :mod:`.group_bnb`, with each offloading user at its optimal compute units ``r_i*``.

Why: the power problem of a group is not convex. When latency weighs most, the best powers of a NOMA cluster or
of two cells sharing a subchannel are often a hierarchy: one user at full power, another near its minimum so
that the first gets through. Gradient polishing from the current powers stays in the local optimum it starts
in, so a move priced that way can look bad while it is good at the group's best powers (measured: ``ligd`` up to
5.4 % above the proven optimum on latency-only instances before this search; docs/benchmarks.md).

Moves, in each direction: relocation (one user to another subchannel), swap (two users exchange subchannels),
cluster swap (the users of one AP on two subchannels exchange them); and Device-Only switch, activation (a
Device-Only user offloads on any pair of subchannels) and exchange (a Device-Only user takes an offloading
user's two slots). Every move must keep at most ``K`` users of an AP per subchannel and at most
:data:`MAX_GROUP_USERS` users per group. Best improvement per round, until no move improves, ``max_rounds``
or the deadline; then up to :data:`KICKS` kicks (a non-improving move followed by a descent, kept when it ends
lower). Group costs are cached, so a round prices only the groups it has not seen, and a move whose new groups'
lower bounds (each group's root box, no branching) already show that it cannot beat the best move of the round
is not priced further. Pricing is staged (:data:`FIRST_NODES`, :data:`RECHECKED`): a round's moves are priced
with few branch-and-bound nodes per new group, its best few again with the full :data:`GROUP_NODES`. The search
stops at the deadline or once ``max_nodes`` nodes are spent (a bound on work that does not depend on the
machine's speed; it may overshoot by one round's rechecks and the final plan's groups).

It applies to scenarios without an edge capacity (with one, the units ``r_i*`` could exceed it) and is used by
the improvement phase where ``nomasplit.solvers.algorithms.ligd.thorough_phase`` holds, after each descent.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np

from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.search import driver
from nomasplit.solvers.search import moves as kinds
from nomasplit.solvers.search.driver import KICKS, Record
from nomasplit.solvers.search.group_bnb import DOWNLINK, UPLINK, GroupCache, cost_tables, decision_from_groups

#: Largest group (users on one subchannel in one direction, over all APs) whose powers are searched.
MAX_GROUP_USERS = 6

#: Relative tolerance to which each group's branch and bound is closed, and its node budget per group.
GROUP_TOLERANCE = 1e-6
GROUP_NODES = 2048

#: Staged pricing: a move's new groups are first searched with this many nodes each; the :data:`RECHECKED`
#: best moves of a round (and every group of the current plan) get the full :data:`GROUP_NODES` before one is
#: taken. More nodes only lower a group's cost, so a move priced with few nodes can only look worse than it is.
FIRST_NODES = 256
RECHECKED = 16

#: A move must lower the estimate by more than this fraction to be taken.
MIN_GAIN = 1e-9


@dataclass
class GroupSearchResult:
    """The plan the search ended at (``None`` when it did not apply) and its evidence."""

    decision: Decision | None
    start_estimate: float
    estimate: float
    rounds: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    groups_priced: int = 0
    stop_reason: str = ""


def applies(model: SystemModel) -> bool:
    """Whether the decomposition holds: no edge capacity couples the users' compute units."""
    return model.scenario.edge_capacity_units is None


def _popcount(mask: int) -> int:
    return bin(mask).count("1")


class GroupSearch:
    """The search on one model (module docstring)."""

    def __init__(self, model: SystemModel, *, deadline: float, max_nodes: float = math.inf) -> None:
        self.model = model
        self.deadline = deadline
        self.max_nodes = max_nodes
        self.nodes_used = 0
        self.tables = cost_tables(model)
        self.groups = GroupCache(model, self.tables)
        self.num_users = model.num_users
        self.num_subchannels = model.num_subchannels
        self.cluster = model.cluster_size
        association = self.tables.association
        self.association = association
        self.cell_masks = [
            sum(1 << user for user in np.flatnonzero(association == ap).tolist()) for ap in range(model.num_aps)
        ]
        self.device_only_cost = self.tables.device_only_cost
        self.costs: dict[tuple[int, int, int], float] = {}
        self.nodes_spent: dict[tuple[int, int, int], int] = {}

    # --- prices -------------------------------------------------------------------------------------------
    def group_cost(self, direction: int, subchannel: int, mask: int, nodes: int = GROUP_NODES) -> float:
        """``G(d, m, S)`` at the group's best powers found with at least ``nodes`` nodes of its branch and bound
        (fewer when it closed earlier; ``inf`` for a group too large to search)."""
        if mask == 0:
            return 0.0
        key = (direction, subchannel, mask)
        cost = self.costs.get(key)
        if cost is not None and self.nodes_spent.get(key, GROUP_NODES) >= nodes:
            return cost
        if _popcount(mask) > MAX_GROUP_USERS:
            cost, spent = math.inf, GROUP_NODES
        else:
            search = self.groups.search(direction, subchannel, mask)
            spent = self.nodes_spent.get(key, 0)
            before = search.nodes
            search.refine(GROUP_TOLERANCE * abs(search.upper_bound), max_nodes=nodes - spent, deadline=self.deadline)
            # a search that stopped short of its budget closed its gap: more nodes would not change it
            closed = search.nodes - before < nodes - spent and time.perf_counter() <= self.deadline
            self.nodes_used += search.nodes - before
            spent = GROUP_NODES if closed else nodes
            cost = search.upper_bound
        self.costs[key] = cost
        self.nodes_spent[key] = spent
        return cost

    def group_bound(self, direction: int, subchannel: int, mask: int) -> float:
        """A lower bound on ``G(d, m, S)``: its cost when already searched, else the bound of the root box (the
        members' costs with every interferer at its lowest power), which needs no branching."""
        if mask == 0:
            return 0.0
        cost = self.costs.get((direction, subchannel, mask))
        if cost is not None:
            return cost
        if _popcount(mask) > MAX_GROUP_USERS:
            return math.inf
        return self.groups.search(direction, subchannel, mask).lower_bound

    def _fits(self, mask: int) -> bool:
        return all(_popcount(mask & cell) <= self.cluster for cell in self.cell_masks)

    def _change(
        self,
        channels: list[list[int]],
        masks: list[list[int]],
        moves: dict[tuple[int, int], int],
        cutoff: float = math.inf,
        nodes: int = GROUP_NODES,
    ) -> float:
        """Change of the estimate if ``moves`` ((direction, user) -> subchannel, -1: none) were applied. When even
        the new groups' lower bounds give a change of at least ``cutoff``, that bound is returned instead and no
        new group is searched (the move cannot beat ``cutoff``)."""
        new_masks: dict[tuple[int, int], int] = {}
        change = 0.0
        toggled: dict[int, bool] = {}
        for (direction, user), target in moves.items():
            source = channels[direction][user]
            if source == target:
                continue
            if source >= 0:
                key = (direction, source)
                new_masks[key] = new_masks.get(key, masks[direction][source]) & ~(1 << user)
            if target >= 0:
                key = (direction, target)
                new_masks[key] = new_masks.get(key, masks[direction][target]) | (1 << user)
            if direction == UPLINK and (source < 0) != (target < 0):
                toggled[user] = target >= 0
        if not all(self._fits(mask) for mask in new_masks.values()):
            return math.inf
        toggle_change = sum(
            -self.device_only_cost[user] if offloads else self.device_only_cost[user]
            for user, offloads in toggled.items()
        )
        if cutoff < math.inf:
            optimistic = toggle_change + sum(
                self.group_bound(direction, subchannel, mask)
                - self.group_cost(direction, subchannel, masks[direction][subchannel])
                for (direction, subchannel), mask in new_masks.items()
            )
            if optimistic >= cutoff:
                return optimistic
        for (direction, subchannel), mask in new_masks.items():
            old = self.group_cost(direction, subchannel, masks[direction][subchannel])
            new = self.group_cost(direction, subchannel, mask, nodes)
            if math.isinf(new):
                return math.inf
            change += new - old
        return change + toggle_change

    def estimate(self, channels: list[list[int]]) -> float:
        """The plan's cost at every group's best powers found."""
        masks = self._masks(channels)
        total = float(sum(self.device_only_cost[user] for user in range(self.num_users) if channels[UPLINK][user] < 0))
        for direction in (UPLINK, DOWNLINK):
            for subchannel in range(self.num_subchannels):
                total += self.group_cost(direction, subchannel, masks[direction][subchannel])
        return total

    def _masks(self, channels: list[list[int]]) -> list[list[int]]:
        masks = [[0] * self.num_subchannels for _ in (UPLINK, DOWNLINK)]
        for direction in (UPLINK, DOWNLINK):
            for user, subchannel in enumerate(channels[direction]):
                if subchannel >= 0:
                    masks[direction][subchannel] |= 1 << user
        return masks

    # --- moves --------------------------------------------------------------------------------------------
    def _moves(self, channels: list[list[int]]) -> list[tuple[str, dict[tuple[int, int], int]]]:
        users, subchannels = range(self.num_users), range(self.num_subchannels)
        active = [channels[UPLINK][user] >= 0 for user in users]
        moves: list[tuple[str, dict[tuple[int, int], int]]] = []
        for direction in (UPLINK, DOWNLINK):
            here = channels[direction]
            for user in users:
                if not active[user]:
                    continue
                for subchannel in subchannels:
                    if subchannel != here[user]:
                        moves.append((kinds.RELOCATION, {(direction, user): subchannel}))
                for other in range(user + 1, self.num_users):
                    if active[other] and here[other] != here[user]:
                        moves.append((kinds.SWAP, {(direction, user): here[other], (direction, other): here[user]}))
            for cell in range(len(self.cell_masks)):
                members = [user for user in users if active[user] and self.association[user] == cell]
                for first in subchannels:
                    for second in range(first + 1, self.num_subchannels):
                        swap = {
                            (direction, user): second if here[user] == first else first
                            for user in members
                            if here[user] in (first, second)
                        }
                        if swap:
                            moves.append((kinds.CHANNEL_SWAP, swap))
        for user in users:
            if active[user]:
                moves.append((kinds.DEVICE_ONLY, {(UPLINK, user): -1, (DOWNLINK, user): -1}))
                continue
            for up in subchannels:
                for down in subchannels:
                    moves.append((kinds.ACTIVATION, {(UPLINK, user): up, (DOWNLINK, user): down}))
            for other in users:
                if active[other]:
                    moves.append(
                        (
                            kinds.EXCHANGE,
                            {
                                (UPLINK, user): channels[UPLINK][other],
                                (DOWNLINK, user): channels[DOWNLINK][other],
                                (UPLINK, other): -1,
                                (DOWNLINK, other): -1,
                            },
                        )
                    )
        return moves

    # --- the search ---------------------------------------------------------------------------------------
    def stop_reason(self) -> str:
        """Why the search must stop now ("time limit", "work limit": ``max_nodes`` spent), or ``""``."""
        if time.perf_counter() > self.deadline:
            return "time limit"
        return "work limit" if self.nodes_used >= self.max_nodes else ""

    # --- the driver's engine (nomasplit.solvers.search.driver) ----------------------------------------------
    #: Kick starts generated at a time: all the kicks allowed.
    kick_batch = KICKS
    #: Rounds that improve at all are kept (every group cost is a search, so a stall rule would not save much).
    stalls = False

    def value(self, plan: list[list[int]]) -> float:
        return self.estimate(plan)

    def begin_descent(self) -> None:
        pass

    def at_round_cap(self, plan: list[list[int]], value: float) -> tuple[list[list[int]], float]:
        return plan, value

    def on_stall(self, plan: list[list[int]], value: float) -> None:
        return None

    def kick_starts(self, plan: list[list[int]], value: float, limit: int) -> list[list[list[int]]]:
        return self._kicks(plan, limit)

    def step(
        self, plan: list[list[int]], value: float, *, exhaustive: bool
    ) -> tuple[list[list[int]], float, dict[str, int]] | None:
        """The best improving move (staged pricing, module docstring), applied to ``plan`` in place; ``None`` at a
        local optimum."""
        channels = plan
        masks = self._masks(channels)
        threshold = -MIN_GAIN * abs(value)
        # the RECHECKED best moves priced with FIRST_NODES per new group (a max-heap by change, with a
        # counter so that ties keep the moves' order)
        leaders: list[tuple[float, int, str, dict[tuple[int, int], int]]] = []
        for order, (kind, moves) in enumerate(self._moves(channels)):
            cutoff = threshold if len(leaders) < RECHECKED else min(threshold, -leaders[0][0])
            change = self._change(channels, masks, moves, cutoff=cutoff, nodes=FIRST_NODES)
            if change < cutoff:
                heapq.heappush(leaders, (-change, -order, kind, moves))
                if len(leaders) > RECHECKED:
                    heapq.heappop(leaders)
            if self.stop_reason():
                break
        best: tuple[float, int, str, dict[tuple[int, int], int]] | None = None
        for _, negative_order, kind, moves in leaders:
            change = self._change(channels, masks, moves)  # every new group at GROUP_NODES
            if change < threshold and (best is None or (change, -negative_order) < best[:2]):
                best = (change, -negative_order, kind, moves)
        if best is None:
            return None
        _, _, kind, moves = best
        for (direction, user), target in moves.items():
            channels[direction][user] = target
        estimate = self.estimate(channels)
        return channels, estimate, {kind: 1}

    def _kicks(self, channels: list[list[int]], limit: int) -> list[list[list[int]]]:
        """Plans one non-improving move away (smallest increase first): starts of a further descent."""
        masks = self._masks(channels)
        priced = []
        for _, moves in self._moves(channels):
            change = self._change(channels, masks, moves, nodes=FIRST_NODES)
            if math.isfinite(change):
                priced.append((change, moves))
        priced.sort(key=lambda item: item[0])
        plans = []
        for _, moves in priced[:limit]:
            trial = [list(row) for row in channels]
            for (direction, user), target in moves.items():
                trial[direction][user] = target
            plans.append(trial)
        return plans

    def run(self, decision: Decision, *, max_rounds: int = 50, kicks: int = KICKS) -> GroupSearchResult:
        """Search from ``decision``'s offloading users and subchannels (its powers and splits are not used):
        descend, then try up to ``kicks`` single non-improving moves, each followed by a descent, and keep one
        whose descent ends lower (then descend and kick again from there)."""
        if not applies(self.model):
            return GroupSearchResult(None, math.nan, math.nan, stop_reason="edge capacity: not applicable")
        model = self.model
        offloads = (decision.split < model.num_layers).cpu().numpy()
        channels = [
            np.where(offloads, beta.argmax(dim=1).cpu().numpy(), -1).astype(int).tolist()
            for beta in (decision.beta_up, decision.beta_dn)
        ]
        start = self.estimate(channels)
        result = GroupSearchResult(None, start, start)
        if math.isinf(start):
            result.stop_reason = f"a group of more than {MAX_GROUP_USERS} users: not applicable"
            return result
        record = Record(time.perf_counter(), start)
        outcome = driver.search(self, channels, start, max_rounds=max_rounds, kicks=kicks, record=record)
        channels = outcome.plan
        result.estimate = outcome.value
        result.stop_reason = outcome.stop_reason
        result.rounds = record.rounds
        result.accepted = record.accepted
        result.groups_priced = len(self.costs)
        masks = self._masks(channels)
        active = sum(1 << user for user in range(self.num_users) if channels[UPLINK][user] >= 0)
        for direction in (UPLINK, DOWNLINK):  # make sure every chosen group has been searched
            for subchannel in range(self.num_subchannels):
                self.group_cost(direction, subchannel, masks[direction][subchannel])
        result.decision = decision_from_groups(model, self.tables, self.groups, active, masks)
        return result


__all__ = ["MAX_GROUP_USERS", "GroupSearch", "GroupSearchResult", "applies"]
