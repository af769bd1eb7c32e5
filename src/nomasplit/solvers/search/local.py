"""Discrete improvement phase: a local search over the discrete plan after rounding ("improve").

With one subchannel per user and direction, ``Gamma`` separates (docs/exact.md): a Device-Only user costs its
own ``U_i``; an offloading user's utility splits into an *uplink side* (device and edge computing plus the
upload, which depends on the split) and a *downlink side* (the result's transfer), and each side depends only
on the users sharing that user's subchannel in that direction (SIC in its own cell, inter-cell interference
from every other cell). So ``Gamma = sum_{Device-Only} U_i + sum_m G_up(m) + sum_m G_dn(m)``, one group cost per
subchannel and direction. A move touches a few groups; its exact effect is the change of those groups' costs.

Each round of the search:

1. **Split best response** (exact): every offloading user takes the split minimising
   ``A_i(s) + B_i W_i(s)`` at its current uplink cost per bit ``B_i`` (nobody else is affected).
2. **Pricing** of every candidate move from the current interference, vectorised over users and subchannels:
   a user to another subchannel with a free slot at its AP (its own power and split re-chosen), a swap of two
   users of one AP between subchannels, a channel swap (all users of a cell on one subchannel trade places with
   those on another), a user to Device-Only (its interference leaves both groups), a Device-Only user back onto
   the best free uplink and downlink slots, an exchange (a Device-Only user takes an offloading user's slots),
   and a user's own power on a grid. Each price counts the mover's own change and the change it causes to every
   member of the groups it leaves and joins (members' splits and powers held); relocations, power moves and
   Device-Only switches are priced exactly, swaps and exchanges approximately.
3. **Exact verification**: the best-priced moves whose touched groups (and users) are disjoint are applied
   together and the plan is evaluated once by the system model; since the groups are disjoint, each move's
   exact change is the change of its own groups. Moves that did not lower ``Gamma`` are undone.

When no priced move improves: on small instances the approximately priced neighbours are evaluated exactly one
by one (the best :data:`EXHAUSTIVE_POLISHED` polished first); then the continuous variables are re-optimised at
the fixed assignment (the gradient "polish" of :mod:`~nomasplit.solvers.search.polish`, kept only if it lowers
``Gamma``) and the search resumes. The descent and the kicks are run by :mod:`.driver` (shared with the group
search): a descent stops at a local optimum, when its last rounds gained almost nothing ("stalled", after one round
at joint prices), at ``max_rounds`` or at the deadline; kicks are non-improving single moves, each followed by a
descent, kept when the descent ends lower. ``Gamma`` never
increases: every accepted step was evaluated exactly. The anytime curve (``Gamma`` against elapsed seconds) is
recorded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import torch

from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.relaxation.bounds import optimal_compute_units
from nomasplit.solvers.relaxation.gradient import Method, StoppingRule
from nomasplit.solvers.search import driver
from nomasplit.solvers.search import moves as kinds
from nomasplit.solvers.search.assigned import interferes, members_table
from nomasplit.solvers.search.driver import KICKS, Record
from nomasplit.solvers.search.polish import polish
from nomasplit.solvers.search.rounding import one_hot_rows

UP, DOWN = 0, 1

_T = TypeVar("_T")

#: Points of the own-power grid used to price moves (geometric between the power bounds).
POWER_GRID_POINTS = 9

#: Instances with at most this many (user, subchannel) pairs also get exhaustive exact checks of every move.
EXHAUSTIVE_PAIRS = 64

#: Subchannels per user whose harm to the members is priced each round (those of lowest own cost).
SHORTLIST = 24

#: Default of :attr:`LocalSearch.move_rtol`: a move must lower ``Gamma`` by more than this fraction of it.
MOVE_RTOL = 1e-6

#: Instances with more (user, subchannel) pairs verify channel swaps only in rounds where no other move is accepted
#: (:meth:`LocalSearch.verify_staged`). Measured: at the paper's scale this lowers the default plan's ``Gamma`` by
#: 2-3 % (a failing channel swap holds its two groups for the round); on the 12 instances of 72-80 pairs of the
#: wide optimality benchmark it raised one plan from 0.51 % to 2.09 % above the optimum.
STAGED_PAIRS = 256

#: With two threads, the uplink and the downlink are priced at once only past this many (user, subchannel) pairs.
#: Measured (warm re-plans, 1 s slots): 2 threads were slower at 300 and 4,500 pairs (30 users x 10 subchannels,
#: 150 x 30), 5-10 % faster at 18,000 (300 x 60) and 17 % faster at the paper's 312,500.
THREADED_PAIRS = 10_000

#: Kick starts generated at a time (the driver keeps the first whose descent ends lower).
KICKS_PER_ROUND = 8

#: Best exhaustive neighbours whose continuous variables are re-optimised before they are compared.
EXHAUSTIVE_POLISHED = 6


@dataclass
class PlanState:
    """A discrete plan as index vectors (all ``[U]``): ``-1`` = no subchannel (Device-Only users)."""

    split: torch.Tensor
    up: torch.Tensor
    down: torch.Tensor
    uplink_power_w: torch.Tensor
    downlink_power_w: torch.Tensor
    compute_units: torch.Tensor

    def copy(self) -> PlanState:
        return PlanState(*(t.clone() for t in self.tensors()))

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.split, self.up, self.down, self.uplink_power_w, self.downlink_power_w, self.compute_units)

    def restore(self, other: PlanState, users: torch.Tensor) -> None:
        """Copy ``users``' entries of every field from ``other`` (undo a move)."""
        for mine, theirs in zip(self.tensors(), other.tensors(), strict=True):
            mine[users] = theirs[users]


@dataclass
class Point:
    """A plan of the search and its evaluation (``None`` until the driver asks for its value)."""

    state: PlanState
    ev: Evaluation | None = None


@dataclass
class Evaluation:
    """Exact per-user and per-group costs of a plan (system model)."""

    objective: float
    up_side: torch.Tensor  # [U] uplink-side cost of offloading users (0 otherwise)
    down_side: torch.Tensor  # [U] downlink-side cost of offloading users (0 otherwise)
    alone: torch.Tensor  # [U] utility of Device-Only users (0 otherwise)
    up_group: torch.Tensor  # [M] sum of up_side over each uplink group
    down_group: torch.Tensor  # [M] sum of down_side over each downlink group
    uplink_rate_bps: torch.Tensor  # [U]
    downlink_rate_bps: torch.Tensor  # [U]
    sinrs: tuple[torch.Tensor, torch.Tensor]  # [U, M] each: every user on every subchannel, the others as now


@dataclass
class Move:
    """A priced move: the users it changes, the groups it touches, and how it changes the state."""

    predicted: float
    users: list[int]
    up_groups: list[int]
    down_groups: list[int]
    kind: str
    apply: dict[str, list[tuple[int, float | int]]] = field(default_factory=dict)


@dataclass
class SearchResult:
    """What the search returns: the decision, its objective and the evidence."""

    decision: Decision
    objective: float
    start_objective: float
    rounds: int
    accepted: dict[str, int]
    anytime: list[tuple[float, float]]
    stop_reason: str


class LocalSearch:
    """The improvement phase on one model (module docstring)."""

    def __init__(
        self,
        model: SystemModel,
        method: Method,
        polish_stopping: StoppingRule,
        *,
        joint_pricing: bool = True,
        joint_below: float = 0.0,
        move_rtol: float = MOVE_RTOL,
        kick_batch: int = KICKS_PER_ROUND,
        threads: int = 1,
    ) -> None:
        self.model = model
        #: 2: :meth:`run` prices the uplink and the downlink at once, on a second thread (:meth:`per_direction`).
        self.threads = threads
        self._helper: ThreadPoolExecutor | None = None
        self.joint_pricing = joint_pricing
        #: With ``joint_pricing``, a round is priced jointly once the round before it lowered ``Gamma`` by less than
        #: this fraction of it (0: only where a round at own prices finds nothing, :meth:`step`).
        self.joint_below = joint_below
        self._last_gain = math.inf
        #: Kick starts tried from one local optimum (best priced first) before the kicks stop.
        self.kick_batch = kick_batch
        #: A move is taken only when it lowers ``Gamma`` by more than this fraction of it.
        self.move_rtol = move_rtol
        self.method = method
        self.polish_stopping = polish_stopping
        scenario = model.scenario
        dtype, device = model.dtype, model.device

        def tensor(values: object) -> torch.Tensor:
            return torch.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, device=device)

        self.num_users, self.num_subchannels = model.num_users, model.num_subchannels
        self.association = model.association  # [U]
        self.gain_full = (tensor(scenario.uplink_gain), tensor(scenario.downlink_gain))  # [N, U, M] each
        self.gain_own = (model.uplink_gain_own, model.downlink_gain_own)  # [U, M] each
        self.bandwidth_hz = (model.uplink_subchannel_hz, model.downlink_subchannel_hz)
        self.power_bounds = (
            (scenario.uplink_power_min_w, scenario.uplink_power_max_w),
            (scenario.downlink_power_min_w, scenario.downlink_power_max_w),
        )
        self.power_grid = tuple(
            torch.logspace(math.log10(low), math.log10(high), POWER_GRID_POINTS, dtype=dtype, device=device)
            for low, high in self.power_bounds
        )  # [G] each
        self.latency_weight = model.latency_weight  # [U]
        self.energy_weight = 1.0 - model.latency_weight
        self.upload_bits = model.upload_bits_table  # [U, F+1]
        self.result_bits = model.result_bits  # [U]
        splits = torch.arange(model.max_layers + 1, device=device)
        self.offloading_split = splits[None, :] < model.num_layers[:, None]  # [U, F+1]
        self.device_only = model.device_only_utility()  # [U]
        self.capacity_units = scenario.edge_capacity_units
        #: ``[U]`` compute units an activated user gets (its optimum without an edge capacity); :meth:`run` sets them.
        self.best_units = optimal_compute_units(model).to(dtype)
        self.exhaustive = self.num_users * self.num_subchannels <= EXHAUSTIVE_PAIRS
        #: Whether rounds verify channel swaps only where no other move is accepted (:data:`STAGED_PAIRS`).
        self.staged = self.num_users * self.num_subchannels > STAGED_PAIRS
        self._shortlist: dict[int, torch.Tensor] = {}
        self._price_cache: dict[int, _PriceCache] = {}
        self._quiet_cache: dict[int, _QuietCache] = {}
        #: (user, subchannel) pairs priced by :meth:`shortlist_prices` so far, per direction (:attr:`priced_pairs`).
        self._priced = [0, 0]

    @property
    def priced_pairs(self) -> int:
        """(user, subchannel) pairs priced by :meth:`shortlist_prices` so far (evidence of its savings)."""
        return sum(self._priced)

    def per_direction(self, work: Callable[[int], _T]) -> tuple[_T, _T]:
        """``(work(UP), work(DOWN))``: at once on two threads inside :meth:`run` with :attr:`threads` 2, else one
        after the other. Each direction reads the round's shared tables and writes only its own entries of the
        caches, and torch's kernels release the GIL, so the results are the same either way; the second thread
        flushes subnormal numbers as this one does (:func:`_flushing_subnormals`)."""
        if self._helper is None:
            return work(UP), work(DOWN)
        flushing = _flushing_subnormals()

        def down() -> _T:
            torch.set_flush_denormal(flushing)
            return work(DOWN)

        pending = self._helper.submit(down)
        try:
            up = work(UP)
        finally:
            result = pending.result()
        return up, result

    @contextmanager
    def _helper_thread(self) -> Iterator[None]:
        """A second thread for :meth:`per_direction` while a search runs (:attr:`threads` 2, on the CPU, past
        :data:`THREADED_PAIRS`)."""
        pairs = self.num_users * self.num_subchannels
        if self.threads < 2 or self.model.device.type != "cpu" or pairs < THREADED_PAIRS:
            yield
            return
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nomasplit-pricing")
        try:
            yield
        finally:
            self._helper.shutdown(wait=True)
            self._helper = None

    # --- state <-> decision --------------------------------------------------------------------------
    def state_of(self, decision: Decision) -> PlanState:
        model = self.model
        active = model.offloads(decision.split) & (decision.beta_up.sum(1) > 0.5) & (decision.beta_dn.sum(1) > 0.5)
        none = torch.full_like(decision.split, -1)
        return PlanState(
            split=torch.where(active, decision.split, model.num_layers).clone(),
            up=torch.where(active, decision.beta_up.argmax(1), none),
            down=torch.where(active, decision.beta_dn.argmax(1), none),
            uplink_power_w=decision.uplink_power_w.detach().clone().to(model.dtype),
            downlink_power_w=decision.downlink_power_w.detach().clone().to(model.dtype),
            compute_units=decision.compute_units.detach().clone().to(model.dtype),
        )

    def decision_of(self, state: PlanState) -> Decision:
        model = self.model
        return Decision(
            split=state.split.clone(),
            beta_up=one_hot_rows(state.up, model.num_subchannels, model.dtype),
            beta_dn=one_hot_rows(state.down, model.num_subchannels, model.dtype),
            uplink_power_w=state.uplink_power_w.clone(),
            downlink_power_w=state.downlink_power_w.clone(),
            compute_units=state.compute_units.clone(),
        )

    # --- exact costs ---------------------------------------------------------------------------------
    def evaluate(self, state: PlanState) -> Evaluation:
        model = self.model
        decision = self.decision_of(state)
        with torch.no_grad():
            sinrs = model.sinrs(decision)
            costs = model.costs(decision, sinrs)
        weight_t, weight_e = self.latency_weight, self.energy_weight
        down_side = weight_t * costs.downlink_latency_s + weight_e * costs.downlink_energy_j
        active = costs.offloads
        zero = torch.zeros_like(down_side)
        up_side = torch.where(active, costs.utility - down_side, zero)
        down_side = torch.where(active, down_side, zero)
        alone = torch.where(active, zero, costs.utility)
        groups = []
        for side, index in ((up_side, state.up), (down_side, state.down)):
            total = torch.zeros(self.num_subchannels, dtype=model.dtype, device=model.device)
            groups.append(total.index_add(0, index[active], side[active]))
        return Evaluation(
            objective=float(costs.objective.item()),
            up_side=up_side,
            down_side=down_side,
            alone=alone,
            up_group=groups[0],
            down_group=groups[1],
            uplink_rate_bps=costs.uplink_rate_bps,
            downlink_rate_bps=costs.downlink_rate_bps,
            sinrs=sinrs,
        )

    # --- pieces of the prices -------------------------------------------------------------------------
    def split_cost_table(self, state: PlanState) -> torch.Tensor:
        """``A_i(s)``: device and edge cost of each offloading split at the user's compute units. ``[U, F+1]``
        (``inf`` at ``s >= F_i``)."""
        model = self.model
        edge_work = model.edge_work_table  # [U, F+1]
        speed = (model.compensation(state.compute_units) * model.edge_unit_flops_per_s)[:, None]  # [U, 1]
        latency = model.device_latency_table + edge_work / speed  # eq. (1), (3)
        energy = model.device_energy_table + model.edge_energy_coefficient * speed**2 * edge_work  # eq. (13), (16)
        table = self.latency_weight[:, None] * latency + self.energy_weight[:, None] * energy
        return torch.where(self.offloading_split, table, torch.full_like(table, math.inf))

    def best_split_cost(
        self, split_cost: torch.Tensor, cost_per_bit: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``min_s A_i(s) + B W_i(s)`` for ``cost_per_bit`` of shape ``[U, ...]``: the values and the splits."""
        extra = cost_per_bit.dim() - 1
        shape = (self.num_users,) + (1,) * extra + (-1,)
        total = split_cost.view(shape) + cost_per_bit[..., None] * self.upload_bits.view(shape)
        values, splits = torch.nan_to_num(total, nan=math.inf).min(dim=-1)
        return values, splits

    def _per_bit(self, direction: int, users: torch.Tensor, power: torch.Tensor, sinr: torch.Tensor) -> torch.Tensor:
        """``(w_T + w_E x) / (b log2(1 + SINR))`` (cost per bit), ``inf`` where the rate is 0."""
        weight_t = self.latency_weight[users]
        weight_e = self.energy_weight[users]
        rate = self.bandwidth_hz[direction] * torch.log2(1.0 + sinr)
        value = (weight_t + weight_e * power) / rate
        return torch.where(rate > 0, value, torch.full_like(value, math.inf))

    def members(self, assignment: torch.Tensor) -> torch.Tensor:
        """``[M, g]`` users on each subchannel (``-1`` padding), from ``[U]`` assignments."""
        return members_table(assignment, self.num_subchannels)

    def coupling(self, direction: int, movers: torch.Tensor, channels: torch.Tensor, victims: torch.Tensor):
        """Gain through which a mover's power reaches each victim on a subchannel (0 if it does not interfere).

        Args:
            movers: users; channels: subchannels; victims: users (``-1``: none); broadcast together.
        Returns:
            linear gain of the broadcast shape (uplink: the mover's gain at the victim's AP; downlink: the mover's
            AP's gain at the victim), 0 where the mover is decoded before the victim by SIC or the victim is ``-1``.
        """
        # Gathers by flat index (torch.take): several times faster than indexing with two or three tensors.
        valid = victims >= 0
        victim = victims.clamp_min(0)
        mover_ap, victim_ap = torch.take(self.association, movers), torch.take(self.association, victim)
        num_users, num_subchannels = self.num_users, self.num_subchannels
        if direction == UP:
            flat = (victim_ap * num_users + movers) * num_subchannels + channels
        else:
            flat = (mover_ap * num_users + victim) * num_subchannels + channels
        gain = torch.take(self.gain_full[direction], flat)
        reaches = valid & interferes(self.model, direction, movers, channels, victim, mover_ap, victim_ap)
        return torch.where(reaches, gain, torch.zeros_like(gain))

    def member_costs(self, direction: int, victims: torch.Tensor, extra_w: torch.Tensor) -> torch.Tensor:
        """Change of the victims' side cost when their interference grows by ``extra_w`` (splits, powers held).

        ``victims`` (``-1``: none, change 0) and ``extra_w`` (watts of received interference, negative: relief)
        broadcast to the result's shape; what depends on the victim alone is read at ``victims``' shape from the
        tables of :meth:`prepare` (index ``-1`` reads their last row: a victim with nothing to lose)."""
        signal, numerator, before, interference, bits = (
            torch.take(values, victims) for values in self._victims[direction]
        )  # index -1 reads the last row
        # The cost per bit after, (w_T + w_E x) / (b log2(1 + SINR)), computed in place: this is the search's
        # widest computation ([pairs, powers, members]).
        change = torch.add(interference, extra_w).clamp_min_(self._noise[direction])
        torch.div(signal, change, out=change)
        change.add_(1.0).log2_().mul_(self.bandwidth_hz[direction])  # the rate
        torch.div(numerator, change, out=change)  # inf where the rate is 0
        return change.sub_(before).mul_(bits).nan_to_num_(nan=math.inf)

    # --- one round -----------------------------------------------------------------------------------
    def prepare(self, state: PlanState, ev: Evaluation) -> None:
        """Interference, per-bit costs and bits of the current plan (used by every price)."""
        model = self.model
        sinr_up, sinr_dn = ev.sinrs  # [U, M] each (splits do not change them: `ev` may predate the split response)
        self._noise = (model.uplink_noise_w, model.downlink_noise_w)
        # Interference plus noise each user would see on each subchannel with everybody else as now. [U, M]
        self._hyp_interference = (
            state.uplink_power_w[:, None] * self.gain_own[UP] / sinr_up,
            state.downlink_power_w[:, None] * self.gain_own[DOWN] / sinr_dn,
        )
        users = torch.arange(self.num_users, device=model.device)
        self._interference = tuple(
            torch.where(
                assignment >= 0,
                hyp[users, assignment.clamp_min(0)],
                torch.full((self.num_users,), math.inf, dtype=model.dtype, device=model.device),
            )
            for hyp, assignment in zip(self._hyp_interference, (state.up, state.down), strict=True)
        )
        split = torch.minimum(state.split, model.num_layers)
        self._bits = (
            self.upload_bits.gather(1, split[:, None])[:, 0],
            self.result_bits,
        )
        self._split_cost = self.split_cost_table(state)
        self._members = (self.members(state.up), self.members(state.down))
        # What the member costs read per victim: its signal, the numerator of its cost per bit, that cost now, its
        # interference plus noise and its bits; a last row (victim -1) that loses nothing whatever it receives.
        self._victims = []
        for direction, assignment, power in (
            (UP, state.up, state.uplink_power_w),
            (DOWN, state.down, state.downlink_power_w),
        ):
            signal = power * self.gain_own[direction][users, assignment.clamp_min(0)]
            numerator = self.latency_weight + self.energy_weight * power
            interference = self._interference[direction]
            before = self._per_bit(direction, users, power, signal / interference)
            tables = (signal, numerator, before, interference, self._bits[direction])
            nothing = (1.0, 0.0, 0.0, 1.0, 0.0)
            self._victims.append(
                tuple(torch.cat([table, table.new_tensor([last])]) for table, last in zip(tables, nothing, strict=True))
            )
        #: The same per direction as one ``[U + 1, 5]`` table: what the price caches compare between rounds.
        self._victim_tables = tuple(torch.stack(tables, dim=1) for tables in self._victims)
        counts = []
        for assignment in (state.up, state.down):
            load = torch.zeros(model.num_aps, self.num_subchannels, dtype=torch.long, device=model.device)
            has = assignment >= 0
            load.index_put_((self.association[has], assignment[has]), torch.ones_like(assignment[has]), accumulate=True)
            counts.append(load)
        self._load = tuple(counts)
        #: ``[U, M]`` per direction: whether the subchannel has a free slot at the user's AP.
        self._free = tuple(load[self.association] < model.cluster_size for load in self._load)

    def shortlist(self, direction: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each user's gain over interference plus noise on every subchannel ``[U, M]``, and its shortlist
        ``[U, T]``: with more than :data:`SHORTLIST` subchannels only the ``SHORTLIST`` of highest ratio (a user's
        best cost falls as that ratio rises), else all of them. Kept for :meth:`harm`."""
        ratio = self.gain_own[direction] / self._hyp_interference[direction]  # [U, M]
        num_users, num_subchannels = ratio.shape
        cache = self._price_cache.get(direction)
        if num_subchannels <= SHORTLIST:
            channels = torch.arange(num_subchannels, device=ratio.device)[None, :].expand(num_users, -1)
        elif cache is None:
            channels = _largest(ratio, SHORTLIST)  # [U, T]
        else:
            # A row keeps its shortlist unless a listed ratio changed or a changed one reaches the row's least
            # listed ratio (or is NaN, which counts as largest): only those rows are selected again.
            least = ratio.gather(1, cache.channels).min(dim=1, keepdim=True).values
            changed = ratio != cache.ratio
            redo = torch.nonzero((changed & (cache.listed | ~(ratio < least))).any(dim=1)).flatten()
            channels = cache.channels.clone()
            if redo.numel():
                channels[redo] = _largest(ratio[redo], SHORTLIST)
        self._shortlist[direction] = channels
        return ratio, channels

    def own_pair_prices(
        self, direction: int, users: torch.Tensor, channels: torch.Tensor, ratio: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Best own side cost of each user ``users [P]`` on ``channels [P]`` (``ratio [P]``: its gain over
        interference plus noise there) over the power grid, and the power that reaches it. ``[P]`` each."""
        grid = self.power_grid[direction]  # [G]
        per_bit = self._per_bit(direction, users[:, None], grid[None, :], grid[None, :] * ratio[:, None])  # [P, G]
        best, index = per_bit.min(dim=1)  # [P]
        if direction == UP:
            totals = self._split_cost[users] + best[:, None] * self.upload_bits[users]  # [P, F+1]
            cost = torch.nan_to_num(totals, nan=math.inf).min(dim=1).values
        else:
            cost = self.result_bits[users] * best
        return torch.nan_to_num(cost, nan=math.inf), grid[index]

    def harm_pairs(self, direction: int, users: torch.Tensor, channels: torch.Tensor, powers: torch.Tensor):
        """Change of the members' costs on ``channels [P]`` if ``users [P]`` joined them at each of ``powers
        [P, K]`` (members' splits and powers held). ``[P, K]``."""
        victims = self._members[direction][channels]  # [P, g]
        gain = self.coupling(direction, users[:, None], channels[:, None], victims)  # [P, g]
        extra = gain[:, None, :] * powers[:, :, None]  # [P, K, g] watts received by each victim
        return self.member_costs(direction, victims[:, None, :], extra).sum(dim=2)

    def own_prices(self, direction: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Best own side cost of every user on every subchannel of its shortlist (:meth:`shortlist`), and the
        power that reaches it. ``[U, M]``; off the shortlist the cost is ``inf`` (not a candidate this round)."""
        ratio, channels = self.shortlist(direction)
        users = torch.arange(self.num_users, device=ratio.device)[:, None].expand_as(channels)
        cost, power = self.own_pair_prices(
            direction, users.flatten(), channels.flatten(), ratio.gather(1, channels).flatten()
        )
        full_cost = torch.full_like(ratio, math.inf).scatter(1, channels, cost.view(channels.shape))
        full_power = torch.full_like(ratio, float(self.power_grid[direction][-1]))
        return full_cost, full_power.scatter(1, channels, power.view(channels.shape))

    def harm(self, direction: int, state: PlanState, *powers: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Change of the members' costs on each subchannel if each user joined it with ``power [U, M]``, for each
        of ``powers`` (:meth:`harm_pairs` on the shortlist of :meth:`shortlist`, called first; the other
        subchannels get ``inf``)."""
        channels = self._shortlist[direction]  # [U, T]
        users = torch.arange(self.num_users, device=channels.device)[:, None].expand_as(channels)
        joined = torch.stack([power.gather(1, channels).flatten() for power in powers], dim=1)  # [U T, K]
        change = self.harm_pairs(direction, users.flatten(), channels.flatten(), joined)  # [U T, K]
        full = torch.full((self.num_users, self.num_subchannels), math.inf, dtype=change.dtype, device=change.device)
        return tuple(full.scatter(1, channels, values.view(channels.shape)) for values in change.unbind(dim=1))

    def shortlist_prices(self, direction: int, state: PlanState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`own_prices` and, at those powers, :meth:`harm`, ``[U, M]`` each, priced again only where their
        inputs changed since the last call (a user's shortlist or compute units; the pair's gain over
        interference plus noise; the members of the subchannel, or what :meth:`member_costs` reads of them): late
        in a descent a round moves a few users, and the other pairs keep their prices (:class:`_PriceCache`)."""
        ratio, channels = self.shortlist(direction)
        members = self._members[direction]
        victims = self._victim_tables[direction]  # [U + 1, 5]
        units = state.compute_units
        listed = torch.zeros_like(ratio, dtype=torch.bool).scatter_(1, channels, True)  # [U, M]
        cache = self._price_cache.get(direction)
        if cache is None:
            dirty = listed
            own = torch.full_like(ratio, math.inf)
            power = torch.full_like(ratio, float(self.power_grid[direction][-1]))
            harm = torch.full_like(ratio, math.inf)
        else:
            own, power, harm = cache.own, cache.power, cache.harm
            left = cache.listed & ~listed
            own.masked_fill_(left, math.inf), harm.masked_fill_(left, math.inf)
            power.masked_fill_(left, float(self.power_grid[direction][-1]))
            columns = self._changed_columns(direction, state, cache.members, cache.victims)  # [M]
            stale = ~cache.listed | columns[None, :] | (ratio != cache.ratio)  # [U, M]
            if direction == UP:  # the uplink side's split costs depend on the compute units
                stale |= (units != cache.units)[:, None]
            dirty = listed & stale
        users, pairs = torch.nonzero(dirty, as_tuple=True)
        cost, joined = self.own_pair_prices(direction, users, pairs, ratio[users, pairs])
        own[users, pairs] = cost
        power[users, pairs] = joined
        harm[users, pairs] = self.harm_pairs(direction, users, pairs, joined[:, None])[:, 0]
        self._price_cache[direction] = _PriceCache(
            ratio, channels, listed, members, victims, units.clone(), own, power, harm
        )
        self._priced[direction] += users.numel()
        return own.clone(), power.clone(), harm.clone()

    def _changed_columns(
        self, direction: int, state: PlanState, members: torch.Tensor, victims: torch.Tensor
    ) -> torch.Tensor:
        """``[M]`` whether a subchannel's harm prices are stale since ``members`` and ``victims`` (what a cache
        read): its members changed, or what :meth:`member_costs` reads of one of them."""
        columns = _rows_differ(self._members[direction], members)  # [M] subchannels whose members changed
        assignment = state.up if direction == UP else state.down
        # NaN counts as changed
        changed = (self._victim_tables[direction] != victims).any(dim=1)[:-1] & (assignment >= 0)
        columns[assignment[changed]] = True
        return columns

    def quiet_harm(self, direction: int, state: PlanState) -> torch.Tensor:
        """:meth:`harm` at the least grid power (each user joining each subchannel of its shortlist as quietly as
        it can; ``inf`` elsewhere), ``[U, M]``, priced again only on the subchannels whose members or their state
        changed since the last call and on pairs new to a shortlist (:meth:`shortlist` first)."""
        channels = self._shortlist[direction]  # [U, T]
        shape = (self.num_users, self.num_subchannels)
        listed = torch.zeros(shape, dtype=torch.bool, device=channels.device).scatter_(1, channels, True)
        cache = self._quiet_cache.get(direction)
        if cache is None:
            harm = torch.full(listed.shape, math.inf, dtype=self.model.dtype, device=channels.device)
            dirty = listed
        else:
            harm = cache.harm
            harm.masked_fill_(cache.listed & ~listed, math.inf)
            columns = self._changed_columns(direction, state, cache.members, cache.victims)
            dirty = listed & (~cache.listed | columns[None, :])
        users, pairs = torch.nonzero(dirty, as_tuple=True)
        least = self.power_grid[direction][:1].expand(users.numel())[:, None]  # [P, 1]
        harm[users, pairs] = self.harm_pairs(direction, users, pairs, least)[:, 0]
        self._quiet_cache[direction] = _QuietCache(
            listed, self._members[direction], self._victim_tables[direction], harm
        )
        return harm.clone()

    def joint_prices(
        self, direction: int, state: PlanState, users: torch.Tensor, channels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Own cost, power and harm of each user ``users [P]`` joining ``channels [P]`` at the grid power that
        minimises *own cost plus harm* (:meth:`own_prices` picks the power of least own cost, and the harm follows
        it: a quieter joiner can be cheaper in all). ``[P]`` each.

        Both terms are exact for a single move with every other user held (the member costs of
        :meth:`member_costs`), so a move with a negative joint price lowers ``Gamma`` when applied alone, up to
        the split the joiner re-chooses (which can only lower it further)."""
        grid = self.power_grid[direction]  # [G]
        ratio = self.gain_own[direction][users, channels] / self._hyp_interference[direction][users, channels]  # [P]
        per_bit = self._per_bit(direction, users[:, None], grid[None, :], grid[None, :] * ratio[:, None])  # [P, G]
        if direction == UP:
            totals = self._split_cost[users][:, None, :] + per_bit[:, :, None] * self.upload_bits[users][:, None, :]
            own = torch.nan_to_num(totals, nan=math.inf).min(dim=2).values  # [P, G]
        else:
            own = self.result_bits[users][:, None] * per_bit  # [P, G]
        harm = self.harm_pairs(direction, users, channels, grid[None, :].expand(users.numel(), -1))  # [P, G]
        total = torch.nan_to_num(own + harm, nan=math.inf)
        index = total.argmin(dim=1, keepdim=True)  # [P, 1]
        own_best = torch.nan_to_num(own.gather(1, index)[:, 0], nan=math.inf)
        return own_best, grid[index[:, 0]], harm.gather(1, index)[:, 0]

    def prices(
        self, state: PlanState, ev: Evaluation, tolerance: float, *, pricing: str
    ) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per direction, ``[U, M]`` own cost, power and harm of every user joining each subchannel, and ``[U]``
        relief of its leaving its own (:meth:`relief`); subchannels off a user's shortlist cost ``inf``.

        ``pricing="own"``: each joiner at the power of least own cost (:meth:`own_prices`) and its harm
        (:meth:`harm`). ``"joint"``: then, on every *promising* pair, at the power of least own cost plus harm
        (:meth:`joint_prices`). The own cost at the power of least own cost bounds own cost plus harm from below
        (harm >= 0), so a pair is promising when that bound makes a relocation (offloading users) or an activation
        or exchange (Device-Only users) improving; elsewhere no such move can improve, and the first prices stay
        (an upper bound of the joint ones, used by swaps and channel swaps)."""

        def first(direction: int) -> tuple[list[torch.Tensor], torch.Tensor | None]:
            own, power, harm = self.shortlist_prices(direction, state)
            quiet = self.quiet_harm(direction, state) if pricing == "joint" else None
            return [own, power, harm, self.relief(direction, state)], quiet

        found = self.per_direction(first)
        priced = {direction: found[direction][0] for direction in (UP, DOWN)}
        if pricing == "joint":
            quietest = {direction: found[direction][1] for direction in (UP, DOWN)}
            promising = {
                direction: (users, channels)
                for direction, users, channels in self._promising(state, ev, tolerance, priced, quietest)  # type: ignore[arg-type]
            }

            def joint(direction: int) -> None:
                if direction not in promising:
                    return
                users, channels = promising[direction]
                own, power, harm = self.joint_prices(direction, state, users, channels)
                for table, values in zip(priced[direction][:3], (own, power, harm), strict=True):
                    table[users, channels] = values

            self.per_direction(joint)
        return {direction: tuple(values) for direction, values in priced.items()}  # type: ignore[misc]

    def _promising(
        self,
        state: PlanState,
        ev: Evaluation,
        tolerance: float,
        priced: dict[int, list[torch.Tensor]],
        quietest: dict[int, torch.Tensor],
    ) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """The (direction, users, subchannels) pairs of :meth:`prices` whose joint price may make a relocation or
        an activation improve: at every grid power, own cost plus harm is at least the least own
        cost plus the harm at the least power (``quietest``; harm grows with the joiner's power)."""
        active = state.up >= 0
        lower = {direction: priced[direction][0] + quietest[direction] for direction in (UP, DOWN)}
        # A Device-Only user's best lower bound in each direction.
        best_own = {direction: lower[direction].min(dim=1).values for direction in (UP, DOWN)}
        found = []
        for direction in (UP, DOWN):
            relief = priced[direction][3]
            other = best_own[DOWN if direction == UP else UP]
            relocation = lower[direction] - self.own_current(direction, ev)[:, None] + relief[:, None]
            joining = lower[direction] + (other - self.device_only)[:, None]
            bound = torch.where(active[:, None], relocation, joining)
            users, channels = torch.nonzero(bound < -tolerance, as_tuple=True)
            if users.numel():
                found.append((direction, users, channels))
        return found

    def power_prices(self, direction: int, state: PlanState, ev: Evaluation) -> tuple[torch.Tensor, torch.Tensor]:
        """Best change of ``Gamma`` from one user's own power on the grid, its group's members held. ``[U]`` change
        (``inf`` for Device-Only users) and the power that reaches it."""
        assignment = state.up if direction == UP else state.down
        current_power = state.uplink_power_w if direction == UP else state.downlink_power_w
        active = assignment >= 0
        channel = assignment.clamp_min(0)
        users = torch.arange(self.num_users, device=assignment.device)
        grid = self.power_grid[direction]  # [G]
        gain = self.gain_own[direction][users, channel]  # [U]
        interference = self._interference[direction].clamp(max=torch.finfo(gain.dtype).max)  # [U]
        per_bit = self._per_bit(
            direction, users[:, None], grid[None, :], grid[None, :] * (gain / interference)[:, None]
        )
        if direction == UP:
            own = self.best_split_cost(self._split_cost, per_bit)[0]  # [U, G]
        else:
            own = self.result_bits[:, None] * per_bit
        members = self._members[direction][channel]  # [U, g]
        coupling = self.coupling(direction, users[:, None], channel[:, None], members)  # [U, g]
        extra = coupling[:, None, :] * (grid[None, :, None] - current_power[:, None, None])  # [U, G, g]
        harm = self.member_costs(direction, members[:, None, :], extra).sum(dim=2)
        change = own + harm - self.own_current(direction, ev)[:, None]  # [U, G]
        change = torch.where(active[:, None], torch.nan_to_num(change, nan=math.inf), torch.full_like(change, math.inf))
        best, index = change.min(dim=1)
        return best, grid[index]

    def relief(self, direction: int, state: PlanState) -> torch.Tensor:
        """Change of the members' costs in each user's current group if the user left it (<= 0). ``[U]``."""
        assignment = state.up if direction == UP else state.down
        power = state.uplink_power_w if direction == UP else state.downlink_power_w
        members = self._members[direction][assignment.clamp_min(0)]  # [U, g]
        movers = torch.arange(self.num_users, device=members.device)[:, None]
        gain = self.coupling(direction, movers, assignment.clamp_min(0)[:, None], members)
        change = self.member_costs(direction, members, -gain * power[:, None])
        return torch.where(assignment >= 0, change.sum(dim=1), torch.zeros_like(power))

    def own_current(self, direction: int, ev: Evaluation) -> torch.Tensor:
        return ev.up_side if direction == UP else ev.down_side

    def candidate_moves(
        self, state: PlanState, ev: Evaluation, tolerance: float, *, pricing: str = "own", channel_swaps: bool = True
    ) -> list[Move]:
        """Every priced move with a predicted gain (module docstring, step 2).

        ``pricing`` says how a user joining a subchannel chooses its power: ``"own"`` (the power of least own
        cost, :meth:`own_prices`, then its harm to the members) or ``"joint"`` (the power of least own cost plus
        harm, :meth:`joint_prices`; dearer, used where the first finds nothing). ``channel_swaps=False`` leaves
        them out (:meth:`verify_staged` prices them from the same relocation prices where it needs them)."""
        model = self.model
        moves: list[Move] = []
        active = state.up >= 0
        prices = self.prices(state, ev, tolerance, pricing=pricing)
        self._relocation_prices: dict[int, torch.Tensor] = {}
        for direction in (UP, DOWN):
            own, power, harm, relief = prices[direction]
            assignment = state.up if direction == UP else state.down
            free = self._free[direction]  # [U, M] subchannels with a free slot at the user's AP
            current = self.own_current(direction, ev)
            relocation = own + harm - current[:, None] + relief[:, None]  # [U, M] (relief <= 0)
            users = torch.arange(self.num_users, device=model.device)
            same = torch.zeros_like(free)
            same[users[active], assignment[active]] = True
            allowed = active[:, None] & free & ~same
            value = torch.where(allowed, relocation, torch.full_like(relocation, math.inf))
            best, channel = value.min(dim=1)
            improving = torch.nonzero(best < -tolerance).flatten()
            for user, gain, target, source, joined in zip(
                improving.tolist(),
                best[improving].tolist(),
                channel[improving].tolist(),
                assignment[improving].tolist(),
                power[improving, channel[improving]].tolist(),
                strict=True,
            ):
                groups = [source, target]
                moves.append(
                    Move(
                        gain,
                        [user],
                        groups if direction == UP else [],
                        groups if direction == DOWN else [],
                        kinds.RELOCATION,
                        {_channel_key(direction): [(user, target)], _power_key(direction): [(user, joined)]},
                    )
                )
            # Swaps of two users of one AP (needed when the target subchannels are full).
            unrestricted = relocation  # the same prices, before the masks of a relocation
            for ap in range(model.num_aps):
                cell = torch.nonzero(active & (self.association == ap)).flatten()
                if cell.numel() < 2:
                    continue
                channels = assignment[cell]
                # [n, n]: user a to b's subchannel (one flat gather)
                pair = torch.take(unrestricted, cell[:, None] * self.num_subchannels + channels[None, :])
                value = pair + pair.T
                value = torch.where(channels[:, None] == channels[None, :], torch.full_like(value, math.inf), value)
                best_pair, partner = value.min(dim=1)
                rows = torch.nonzero(best_pair < -tolerance).flatten().tolist()
                if not rows:
                    continue
                # Python lists: indexing a tensor element by element costs microseconds each.
                pair_value, partners = best_pair.tolist(), partner.tolist()
                cell_users, cell_channels = cell.tolist(), channels.tolist()
                powers = prices[direction][1]
                for row in rows:
                    other = partners[row]
                    if other < row and pair_value[other] <= pair_value[row] and partners[other] == row:
                        continue  # the same swap, seen from the partner
                    first, second = cell_users[row], cell_users[other]
                    ch_first, ch_second = cell_channels[row], cell_channels[other]
                    moves.append(
                        Move(
                            pair_value[row],
                            [first, second],
                            [ch_first, ch_second] if direction == UP else [],
                            [ch_first, ch_second] if direction == DOWN else [],
                            kinds.SWAP,
                            {
                                _channel_key(direction): [(first, ch_second), (second, ch_first)],
                                _power_key(direction): [
                                    (first, float(powers[first, ch_second])),
                                    (second, float(powers[second, ch_first])),
                                ],
                            },
                        )
                    )
            # Channel swaps: all users of one cell on subchannel a move to b and those on b to a (NOMA clusters
            # keep their members, only the subchannel changes), priced as the sum of the members' relocations.
            self._relocation_prices[direction] = unrestricted
            if channel_swaps:
                moves += self._channel_swaps(direction, state, unrestricted, tolerance)
        # Own power on the grid (its group's members held).
        power_prices = self.per_direction(lambda direction: self.power_prices(direction, state, ev))
        for direction in (UP, DOWN):
            change, power = power_prices[direction]
            assignment = state.up if direction == UP else state.down
            improving = torch.nonzero(change < -tolerance).flatten()
            for user, gain, channel_now, new_power in zip(
                improving.tolist(),
                change[improving].tolist(),
                assignment[improving].tolist(),
                power[improving].tolist(),
                strict=True,
            ):
                group = [channel_now]
                moves.append(
                    Move(
                        gain,
                        [user],
                        group if direction == UP else [],
                        group if direction == DOWN else [],
                        kinds.POWER,
                        {_power_key(direction): [(user, new_power)]},
                    )
                )
                if direction == UP:
                    moves[-1].apply["up"] = [(user, channel_now)]  # the split follows the new rate
        # To Device-Only: the user's own sides become U_i(F_i), its interference leaves both groups.
        leave = self.device_only - ev.up_side - ev.down_side + prices[UP][3] + prices[DOWN][3]
        leavers = torch.nonzero(active & (leave < -tolerance)).flatten()
        for user, gain, up_now, down_now, layers in zip(
            leavers.tolist(),
            leave[leavers].tolist(),
            state.up[leavers].tolist(),
            state.down[leavers].tolist(),
            model.num_layers[leavers].tolist(),
            strict=True,
        ):
            moves.append(
                Move(
                    gain,
                    [user],
                    [up_now],
                    [down_now],
                    kinds.DEVICE_ONLY,
                    {"split": [(user, layers)], "up": [(user, -1)], "down": [(user, -1)]},
                )
            )
        # Back from Device-Only onto the best free slots in both directions.
        if self._can_activate(state):
            best_sides = []
            for direction in (UP, DOWN):
                own, power, harm, _ = prices[direction]
                value = torch.where(self._free[direction], own + harm, torch.full_like(own, math.inf))
                best_sides.append(value.min(dim=1))
            join = best_sides[0].values + best_sides[1].values - self.device_only
            joiners = torch.nonzero(~active & (join < -tolerance)).flatten()
            up_channels, down_channels = best_sides[0].indices[joiners], best_sides[1].indices[joiners]
            for user, gain, up_channel, down_channel, up_power, down_power, units in zip(
                joiners.tolist(),
                join[joiners].tolist(),
                up_channels.tolist(),
                down_channels.tolist(),
                prices[UP][1][joiners, up_channels].tolist(),
                prices[DOWN][1][joiners, down_channels].tolist(),
                self.best_units[joiners].tolist(),
                strict=True,
            ):
                moves.append(
                    Move(
                        gain,
                        [user],
                        [up_channel],
                        [down_channel],
                        kinds.ACTIVATION,
                        {
                            "split": [(user, 0)],  # re-chosen by apply()
                            "up": [(user, up_channel)],
                            "down": [(user, down_channel)],
                            "uplink_power_w": [(user, up_power)],
                            "downlink_power_w": [(user, down_power)],
                            "compute_units": [(user, units)],
                        },
                    )
                )
            # Exchange: a Device-Only user takes both slots of an offloading user of its AP, who runs locally.
            leave_all = self.device_only - ev.up_side - ev.down_side + prices[UP][3] + prices[DOWN][3]  # [U]
            for ap in range(model.num_aps):
                idle = torch.nonzero(~active & (self.association == ap)).flatten()
                busy = torch.nonzero(active & (self.association == ap)).flatten()
                if idle.numel() == 0 or busy.numel() == 0:
                    continue
                up_ch, down_ch = state.up[busy], state.down[busy]
                join_up = (prices[UP][0] + prices[UP][2])[idle][:, up_ch]  # [idle, busy]
                join_down = (prices[DOWN][0] + prices[DOWN][2])[idle][:, down_ch]
                value = join_up + join_down - self.device_only[idle][:, None] + leave_all[busy][None, :]
                best_value, partner = value.min(dim=1)
                improving_rows = torch.nonzero(best_value < -tolerance).flatten()
                newcomers, chosen_leavers = idle[improving_rows], busy[partner[improving_rows]]
                for newcomer, leaver, gain, up_channel, down_channel, up_power, down_power, units, layers in zip(
                    newcomers.tolist(),
                    chosen_leavers.tolist(),
                    best_value[improving_rows].tolist(),
                    state.up[chosen_leavers].tolist(),
                    state.down[chosen_leavers].tolist(),
                    prices[UP][1][newcomers, state.up[chosen_leavers]].tolist(),
                    prices[DOWN][1][newcomers, state.down[chosen_leavers]].tolist(),
                    self.best_units[newcomers].tolist(),
                    model.num_layers[chosen_leavers].tolist(),
                    strict=True,
                ):
                    moves.append(
                        Move(
                            gain,
                            [newcomer, leaver],
                            [up_channel],
                            [down_channel],
                            kinds.EXCHANGE,
                            {
                                "split": [(newcomer, 0), (leaver, layers)],
                                "up": [(newcomer, up_channel), (leaver, -1)],
                                "down": [(newcomer, down_channel), (leaver, -1)],
                                "uplink_power_w": [(newcomer, up_power)],
                                "downlink_power_w": [(newcomer, down_power)],
                                "compute_units": [(newcomer, units)],
                            },
                        )
                    )
        return moves

    def _channel_swaps(
        self, direction: int, state: PlanState, relocation: torch.Tensor, tolerance: float
    ) -> list[Move]:
        """Improving channel swaps of every cell at once: for cells ``n`` and subchannels ``a < b``, the price is
        the sum of the relocation prices ``[U, M]`` of ``n``'s users on ``a`` to ``b`` and of those on ``b`` to
        ``a`` (``inf`` where one of them is unpriced); the ``M`` best of each cell are kept."""
        num_aps, num_subchannels = self.model.num_aps, self.num_subchannels
        assignment = state.up if direction == UP else state.down
        users = torch.nonzero(assignment >= 0).flatten()
        if users.numel() < 2:
            return []
        cell = self.association[users]
        key = cell * num_subchannels + assignment[users]  # the users' (cell, subchannel) groups
        prices = relocation[users]  # [A, M]
        known = torch.isfinite(prices)
        flat = (num_aps * num_subchannels, num_subchannels)
        cost = prices.new_zeros(flat).index_add_(0, key, torch.where(known, prices, torch.zeros_like(prices)))
        unknown = prices.new_zeros(flat).index_add_(0, key, (~known).to(prices.dtype))
        cost = torch.where(unknown > 0, torch.full_like(cost, math.inf), cost).view(num_aps, num_subchannels, -1)
        occupied = torch.bincount(key, minlength=flat[0]).view(num_aps, num_subchannels) > 0  # [N, M]
        upper = torch.ones(num_subchannels, num_subchannels, dtype=torch.bool, device=cost.device).triu(diagonal=1)
        crowded = torch.bincount(cell, minlength=num_aps) >= 2  # cells with a pair of offloading users
        allowed = upper[None] & (occupied[:, :, None] | occupied[:, None, :]) & crowded[:, None, None]
        value = torch.where(allowed, cost + cost.transpose(1, 2), torch.full_like(cost, math.inf))
        top = torch.topk(value.view(num_aps, -1), num_subchannels, dim=1, largest=False)  # [N, M] each
        moves: list[Move] = []
        for ap, (gains, indices) in enumerate(zip(top.values.tolist(), top.indices.tolist(), strict=True)):
            if not gains[0] < -tolerance:
                continue
            on_channel: dict[int, list[int]] = {}
            in_cell = users[cell == ap]
            for user, channel_of in zip(in_cell.tolist(), assignment[in_cell].tolist(), strict=True):
                on_channel.setdefault(channel_of, []).append(user)
            for gain, index in zip(gains, indices, strict=True):
                if not gain < -tolerance:
                    break
                first, second = divmod(index, num_subchannels)
                members_first, members_second = on_channel.get(first, []), on_channel.get(second, [])
                groups = [first, second]
                moves.append(
                    Move(
                        gain,
                        members_first + members_second,
                        groups if direction == UP else [],
                        groups if direction == DOWN else [],
                        kinds.CHANNEL_SWAP,
                        {
                            _channel_key(direction): [(u, second) for u in members_first]
                            + [(u, first) for u in members_second]
                        },
                    )
                )
        return moves

    def _can_activate(self, state: PlanState) -> bool:
        """Activation moves are priced only without an edge capacity (with one, the polish enforces it)."""
        return self.capacity_units is None

    def apply(self, state: PlanState, move: Move, *, resplit: bool = True) -> list[int]:
        """Apply a move's changes; returns the users that got a new uplink subchannel (whose split follows the
        new cost per bit, as priced: re-chosen here unless ``resplit`` is off, for a batch to do at once)."""
        for name, changes in move.apply.items():
            target = getattr(state, name)
            for user, value in changes:
                target[user] = value
        moved = [user for user, channel in move.apply.get("up", []) if channel >= 0]
        if resplit and moved:
            self.resplit(state, moved)
        return moved

    def resplit(self, state: PlanState, users: list[int]) -> None:
        """Re-choose the split of ``users`` at the per-bit cost their uplink would have with everybody else as
        when the round was priced (the price's assumption); the exact cost is evaluated afterwards."""
        index = torch.as_tensor(users, dtype=torch.long, device=state.up.device)
        index = index[state.up[index] >= 0]
        if index.numel() == 0:
            return
        channel = state.up[index]
        power = state.uplink_power_w[index]
        sinr = power * self.gain_own[UP][index, channel] / self._hyp_interference[UP][index, channel]
        per_bit = self._per_bit(UP, index, power, sinr)  # [P]
        totals = self._split_cost[index] + per_bit[:, None] * self.upload_bits[index]  # [P, F+1]
        state.split[index] = torch.nan_to_num(totals, nan=math.inf).argmin(dim=1)

    def split_response(self, state: PlanState, ev: Evaluation) -> tuple[Evaluation, float] | None:
        """Step 1: every offloading user takes its best split at its current uplink cost per bit (exact: a split
        changes its user's uplink side only, so the evaluation follows without the model). Returns it and the
        gain, ``None`` when no split changes."""
        active = state.up >= 0
        if not bool(active.any()):
            return None
        rate = ev.uplink_rate_bps
        per_bit = (self.latency_weight + self.energy_weight * state.uplink_power_w) / rate
        per_bit = torch.where(rate > 0, per_bit, torch.full_like(per_bit, math.inf))
        totals = self.split_cost_table(state) + per_bit[:, None] * self.upload_bits  # [U, F+1]
        totals = torch.nan_to_num(totals, nan=math.inf)
        values, splits = totals.min(dim=1)
        # Compared with the current split's value by the same formula (the model's uplink side is a difference
        # of larger numbers, not comparable to 1e-12).
        current = totals.gather(1, torch.minimum(state.split, self.model.num_layers)[:, None])[:, 0]
        better = active & (values < current * (1 - 1e-12))
        if not bool(better.any()):
            return None
        state.split = torch.where(better, splits, state.split)
        change = torch.where(better, values - current, torch.zeros_like(values))
        up_side = ev.up_side + change
        up_group = torch.zeros_like(ev.up_group).index_add(0, state.up[active], up_side[active])
        gain = -float(change.sum())
        return replace(ev, objective=ev.objective - gain, up_side=up_side, up_group=up_group), gain

    def verify(self, state: PlanState, ev: Evaluation, moves: list[Move], tolerance: float) -> tuple[Evaluation, dict]:
        """Step 3: apply disjoint moves together, keep those whose exact change is negative."""
        chosen: list[Move] = []
        used_up: set[int] = set()
        used_down: set[int] = set()
        used_users: set[int] = set()
        for move in sorted(moves, key=lambda item: item.predicted):
            if used_users & set(move.users) or used_up & set(move.up_groups) or used_down & set(move.down_groups):
                continue
            chosen.append(move)
            used_users |= set(move.users)
            used_up |= set(move.up_groups)
            used_down |= set(move.down_groups)
        before = state.copy()
        moved: list[int] = []
        for move in chosen:
            moved += self.apply(state, move, resplit=False)
        self.resplit(state, moved)
        trial = self.evaluate(state)
        accepted: dict[str, int] = {}
        undo = []
        changes = _Changes(ev, trial)
        for move in chosen:
            change = changes.of(move)
            if change < -tolerance:
                accepted[move.kind] = accepted.get(move.kind, 0) + 1
            else:
                undo.extend(move.users)
        if undo:
            state.restore(before, torch.tensor(sorted(set(undo)), device=state.split.device))
            trial = self.evaluate(state) if accepted else ev
        return trial, accepted

    def verify_staged(
        self, state: PlanState, ev: Evaluation, moves: list[Move], tolerance: float
    ) -> tuple[Evaluation, dict]:
        """:meth:`verify`, in two stages past :data:`STAGED_PAIRS` (``self.staged``): the moves of
        :meth:`candidate_moves` (priced without channel swaps), and the channel swaps of the same prices only
        where none of those is accepted. A channel swap is priced as the sum of its users' relocations, which
        misjudges how the moving users interfere with each other: at the paper's scale about nine in ten failed
        their exact check, each holding its two groups (and users) from the round's other moves and costing the
        round a second evaluation of the plan."""
        accepted: dict[str, int] = {}
        if moves:
            ev, accepted = self.verify(state, ev, moves, tolerance)
        if accepted or not self.staged:
            return ev, accepted
        # Nothing was accepted, so the plan is the one priced: its channel swaps, from the round's prices.
        swaps = [
            move
            for direction, relocation in self._relocation_prices.items()
            for move in self._channel_swaps(direction, state, relocation, tolerance)
        ]
        return self.verify(state, ev, swaps, tolerance) if swaps else (ev, {})

    def exhaustive_moves(self, state: PlanState, ev: Evaluation, tolerance: float) -> tuple[Evaluation, dict] | None:
        """Small instances: evaluate every neighbour exactly (relocations, swaps, Device-Only switches,
        activations, and exchanges of a Device-Only user with an offloading one, the newcomer on any subchannel
        whose occupant moves to the freed slot); the best few are also polished. Applies the best improving one."""
        model = self.model
        active = (state.up >= 0).tolist()
        cluster = model.cluster_size
        grid_power = (self.own_prices(UP)[1], self.own_prices(DOWN)[1])  # [U, M] each
        names = ("up", "down")
        power_names = ("uplink_power_w", "downlink_power_w")
        candidates: list[tuple[str, PlanState]] = []

        def place(trial: PlanState, user: int, direction: int, channel: int, vacated: int) -> bool:
            """Put ``user`` on ``channel``; if that overfills it, one same-cell occupant moves to ``vacated``."""
            assignment = getattr(trial, names[direction])
            assignment[user] = channel
            getattr(trial, power_names[direction])[user] = grid_power[direction][user, channel]
            ap = self.association[user]
            same = (assignment == channel) & (self.association == ap)
            if int(same.sum()) <= cluster:
                return True
            if vacated < 0:
                return False
            occupant = int(torch.nonzero(same & (torch.arange(self.num_users, device=same.device) != user))[0])
            assignment[occupant] = vacated
            return True

        # Relocations and Device-Only switches are priced exactly by candidate_moves; here come the moves whose
        # prices are approximate: swaps within a cell, and (below) activations and exchanges on any slots.
        for direction in (UP, DOWN):  # channel swaps within a cell
            assignment = getattr(state, names[direction])
            for ap in range(model.num_aps):
                in_cell = (self.association == ap) & (assignment >= 0)
                for first in range(self.num_subchannels):
                    for second in range(first + 1, self.num_subchannels):
                        on_first = in_cell & (assignment == first)
                        on_second = in_cell & (assignment == second)
                        if not bool((on_first | on_second).any()):
                            continue
                        trial = state.copy()
                        moved = getattr(trial, names[direction])
                        moved[on_first] = second
                        moved[on_second] = first
                        candidates.append((kinds.CHANNEL_SWAP, trial))
        for user in range(self.num_users):
            ap = int(self.association[user])
            if active[user]:
                for direction in (UP, DOWN):
                    assignment = getattr(state, names[direction])
                    here = int(assignment[user])
                    for other in range(user + 1, self.num_users):
                        there = int(assignment[other])
                        if not active[other] or there == here or int(self.association[other]) != ap:
                            continue
                        trial = state.copy()
                        place(trial, user, direction, there, -1)
                        getattr(trial, names[direction])[other] = here
                        getattr(trial, power_names[direction])[other] = grid_power[direction][other, here]
                        candidates.append((kinds.SWAP, trial))
            elif self._can_activate(state):
                leavers = [
                    other for other in range(self.num_users) if active[other] and int(self.association[other]) == ap
                ]
                # Where an activation finds its subchannel full, an occupant may move on to a free slot.
                free = [
                    [c for c in range(self.num_subchannels) if int(self._load[direction][ap, c]) < cluster] or [-1]
                    for direction in (UP, DOWN)
                ]
                for leaver in [-1, *leavers]:
                    for up_channel in range(self.num_subchannels):
                        for down_channel in range(self.num_subchannels):
                            up_moves = [-1] if leaver >= 0 else free[UP]
                            down_moves = [-1] if leaver >= 0 else free[DOWN]
                            for up_free in up_moves:
                                for down_free in down_moves:
                                    trial = state.copy()
                                    vacated = (up_free, down_free)
                                    if leaver >= 0:
                                        vacated = (int(trial.up[leaver]), int(trial.down[leaver]))
                                        trial.up[leaver], trial.down[leaver] = -1, -1
                                        trial.split[leaver] = model.num_layers[leaver]
                                    trial.compute_units[user] = self.best_units[user]
                                    if not (
                                        place(trial, user, UP, up_channel, vacated[0])
                                        and place(trial, user, DOWN, down_channel, vacated[1])
                                    ):
                                        continue
                                    trial.split[user] = 0
                                    candidates.append((kinds.ACTIVATION if leaver < 0 else kinds.EXCHANGE, trial))
        for kind, trial in candidates:
            if kind != kinds.DEVICE_ONLY:
                self.resplit(trial, [u for u in range(self.num_users) if int(trial.up[u]) >= 0])
        scored = []
        for kind, trial in candidates:
            trial_ev = self.evaluate(trial)
            if math.isfinite(trial_ev.objective):
                scored.append((trial_ev.objective, kind, trial, trial_ev))
        scored.sort(key=lambda item: item[0])
        best: tuple[float, str, PlanState, Evaluation] | None = None
        if scored and scored[0][0] < ev.objective - tolerance:
            scored = scored[:1]  # an improving neighbour as it is: no polish needed to see it
        for value, kind, trial, trial_ev in scored[:EXHAUSTIVE_POLISHED]:
            polished, _, _ = polish(model, self.decision_of(trial), self.method, self.polish_stopping)
            polished_state = self.state_of(polished)
            polished_ev = self.evaluate(polished_state)
            if polished_ev.objective < value:
                value, trial, trial_ev = polished_ev.objective, polished_state, polished_ev
            if value < ev.objective - tolerance and (best is None or value < best[0]):
                best = (value, kind, trial, trial_ev)
        if best is None and scored and scored[0][0] < ev.objective - tolerance:
            best = scored[0]
        if best is None:
            return None
        _, kind, trial, trial_ev = best
        for mine, theirs in zip(state.tensors(), trial.tensors(), strict=True):
            mine.copy_(theirs)
        return trial_ev, {kind: 1}

    # --- the driver's engine (nomasplit.solvers.search.driver) ----------------------------------------------
    #: Descents end "stalled" when rounds gain almost nothing (after one round at joint prices, where it applies).
    stalls = True

    def value(self, plan: Point) -> float:
        if plan.ev is None:
            plan.ev = self.evaluate(plan.state)
        return plan.ev.objective

    def begin_descent(self) -> None:
        self._polished_at: float | None = None
        self._last_gain = math.inf

    def stop_reason(self) -> str:
        return "time limit" if time.perf_counter() > self.deadline else ""

    def step(self, plan: Point, value: float, *, exhaustive: bool) -> tuple[Point, float, dict[str, int]] | None:
        """One round (module docstring): split best response, priced moves verified exactly, the exhaustive
        checks on small instances, joint prices where those are out of reach (from the start of the round once
        the round before it gained less than :attr:`joint_below`), and a polish of the continuous variables when
        no move improves. ``None`` at a local optimum."""
        state, ev = plan.state, plan.ev
        assert ev is not None
        tolerance = self.move_rtol * max(abs(ev.objective), 1e-300)
        accepted: dict[str, int] = {}
        responded = self.split_response(state, ev)
        if responded is not None:
            ev, gain = responded
            if gain > tolerance:
                accepted["split"] = 1
        self.prepare(state, ev)
        joint = self.joint_pricing and not self.exhaustive and self._last_gain < self.joint_below
        pricing = "joint" if joint else "own"
        moves = self.candidate_moves(state, ev, tolerance, pricing=pricing, channel_swaps=not self.staged)
        ev, verified = self.verify_staged(state, ev, moves, tolerance)
        self._last_gain = (value - ev.objective) / max(abs(value), 1e-300)  # the split response's gain included
        accepted.update(verified if not joint else {f"{kind} (joint price)": n for kind, n in verified.items()})
        if not accepted and exhaustive and self.exhaustive:
            self.prepare(state, ev)
            found = self.exhaustive_moves(state, ev, tolerance)
            if found is not None:
                ev, accepted = found
        if not accepted and not joint and not self.exhaustive and self.joint_pricing:
            # Where the exhaustive checks are out of reach: the same moves, each joiner at the power of least
            # own cost plus harm (single relocations and activations are then priced exactly on the grid).
            step = self.joint_round(Point(state, ev))
            if step is not None and step[1] < ev.objective:
                return step
        if not accepted:
            # Re-optimise the continuous variables at the fixed assignment, then search again.
            if self._polished_at is not None and self._polished_at <= ev.objective:
                return None
            self._polished_at = ev.objective
            polished_state, polished_ev = self._polished(state, ev)
            if not polished_ev.objective < ev.objective - tolerance:
                return None
            state, ev = polished_state, polished_ev
            accepted = {"polish": 1}
            self._polished_at = ev.objective
        return Point(state, ev), ev.objective, accepted

    def on_stall(self, plan: Point, value: float) -> tuple[Point, float, dict[str, int]] | None:
        """When a descent stalls, one round at joint prices: the first pricing may be finding only small moves
        while the joint one would find larger ones."""
        return self.joint_round(plan)

    def joint_round(self, plan: Point) -> tuple[Point, float, dict[str, int]] | None:
        """A round at joint prices (past the exhaustive size, where ``joint_pricing`` is on; ``None`` elsewhere or
        when no move is priced as improving): each joiner at the power of least own cost plus harm."""
        if self.exhaustive or not self.joint_pricing:
            return None
        state, ev = plan.state, plan.ev
        assert ev is not None
        self.prepare(state, ev)
        tolerance = self.move_rtol * max(abs(ev.objective), 1e-300)
        moves = self.candidate_moves(state, ev, tolerance, pricing="joint", channel_swaps=not self.staged)
        ev, verified = self.verify_staged(state, ev, moves, tolerance)
        if not verified:
            return None
        return Point(state, ev), ev.objective, {f"{kind} (joint price)": count for kind, count in verified.items()}

    def at_round_cap(self, plan: Point, value: float) -> tuple[Point, float]:
        """Capped before a local optimum: still re-optimise the continuous variables of the plan reached (the
        moves leave powers and compute units where the start had them)."""
        assert plan.ev is not None
        if self.polish_at_cap and (self._polished_at is None or self._polished_at > plan.ev.objective):
            state, ev = self._polished(plan.state, plan.ev)
            return Point(state, ev), ev.objective
        return plan, value

    def kick_starts(self, plan: Point, value: float, limit: int) -> list[Point]:
        assert plan.ev is not None
        return [Point(trial) for trial in self.kicks(plan.state, plan.ev, limit)]

    def _polished(self, state: PlanState, ev: Evaluation) -> tuple[PlanState, Evaluation]:
        """The plan with its continuous variables re-optimised at its assignment, or the plan itself if that
        is not lower."""
        polished, _, _ = polish(self.model, self.decision_of(state), self.method, self.polish_stopping)
        polished_state = self.state_of(polished)
        polished_ev = self.evaluate(polished_state)
        return (polished_state, polished_ev) if polished_ev.objective < ev.objective else (state, ev)

    def kicks(self, state: PlanState, ev: Evaluation, limit: int) -> list[PlanState]:
        """Plans one priced move away, improving or not (best price first): starts of a further descent."""
        self.prepare(state, ev)
        moves = sorted(
            (move for move in self.candidate_moves(state, ev, -math.inf) if move.kind != kinds.POWER),
            key=lambda move: move.predicted,
        )
        plans = []
        for move in moves[:limit]:
            trial = state.copy()
            self.apply(trial, move)
            plans.append(trial)
        return plans

    def run(
        self,
        decision: Decision,
        best_units: torch.Tensor,
        *,
        deadline: float,
        max_rounds: int = 200,
        max_kicks: int = KICKS,
        polish_at_cap: bool = True,
        settle_rtol: float = 0.0,
        finish_settled: bool = False,
    ) -> SearchResult:
        """Improve a discrete, feasible decision: descend to a local optimum, then try up to ``max_kicks``
        single moves that do not improve on their own, each followed by a descent, and keep a kick whose
        descent ends lower (a variable-neighbourhood step); until no kick helps, ``max_rounds`` or ``deadline``.
        ``polish_at_cap``: re-optimise the continuous variables of a plan that ``max_rounds`` stopped (off for a
        descent that will be continued); ``settle_rtol``: also stop ("settled") once a round gains less than this
        fraction of ``Gamma``, with ``finish_settled`` polished as at the round cap."""
        self.best_units = best_units.to(self.model.dtype)
        self.deadline = deadline
        self.polish_at_cap = polish_at_cap
        state = self.state_of(decision)
        ev = self.evaluate(state)
        record = Record(time.perf_counter(), ev.objective)
        with self._helper_thread():
            outcome = driver.search(
                self,
                Point(state, ev),
                ev.objective,
                max_rounds=max_rounds,
                kicks=max_kicks,
                record=record,
                settle_rtol=settle_rtol,
                finish_settled=finish_settled,
            )
        return SearchResult(
            decision=self.decision_of(outcome.plan.state),
            objective=outcome.value,
            start_objective=record.start_objective,
            rounds=record.rounds,
            accepted=record.accepted,
            anytime=record.anytime,
            stop_reason=outcome.stop_reason,
        )


def _channel_key(direction: int) -> str:
    return "up" if direction == UP else "down"


def _power_key(direction: int) -> str:
    return "uplink_power_w" if direction == UP else "downlink_power_w"


class _Changes:
    """The exact change of each group's and each Device-Only user's cost between two evaluations, read once as
    Python floats: a move's exact change is the sum over what it touches (``inf`` where not finite)."""

    def __init__(self, old: Evaluation, new: Evaluation) -> None:
        self.up = (new.up_group - old.up_group).tolist()
        self.down = (new.down_group - old.down_group).tolist()
        self.alone = (new.alone - old.alone).tolist()

    def of(self, move: Move) -> float:
        change = 0.0
        for group in move.up_groups:
            change += self.up[group]
        for group in move.down_groups:
            change += self.down[group]
        for user in move.users:
            change += self.alone[user]
        return change if math.isfinite(change) else math.inf


@dataclass
class _PriceCache:
    """What :meth:`LocalSearch.shortlist_prices` priced last, per direction, and the inputs it read."""

    ratio: torch.Tensor  # [U, M]
    channels: torch.Tensor  # [U, T] the shortlist
    listed: torch.Tensor  # [U, M] bool: the shortlist as a mask
    members: torch.Tensor  # [M, g]
    victims: torch.Tensor  # [U + 1, 5] what member_costs reads of each user
    units: torch.Tensor  # [U]
    own: torch.Tensor  # [U, M]
    power: torch.Tensor  # [U, M]
    harm: torch.Tensor  # [U, M]


@dataclass
class _QuietCache:
    """What :meth:`LocalSearch.quiet_harm` priced last, per direction, and the inputs it read."""

    listed: torch.Tensor  # [U, M] bool: the shortlist as a mask
    members: torch.Tensor  # [M, g]
    victims: torch.Tensor  # [U + 1, 5]
    harm: torch.Tensor  # [U, M]


def _flushing_subnormals() -> bool:
    """Whether this thread's CPU flushes subnormal floats to zero (:func:`torch.set_flush_denormal` sets it per
    thread): a subnormal operand then reads as zero."""
    return float(torch.tensor([1e-40], dtype=torch.float32).mul(1.0).item()) == 0.0


def _largest(values: torch.Tensor, count: int) -> torch.Tensor:
    """``[rows, count]`` indices of the ``count`` largest entries of each row of ``values`` (NaN counts as largest),
    in no particular order: numpy's partial sort on the CPU (2.4x faster than ``torch.topk`` on the paper's
    ``[1250, 250]`` ratios), ``torch.topk`` elsewhere."""
    if values.device.type != "cpu":
        return torch.topk(values, count, dim=1).indices
    partitioned = np.argpartition(values.numpy(), values.shape[1] - count, axis=1)[:, values.shape[1] - count :]
    return torch.from_numpy(np.ascontiguousarray(partitioned)).to(torch.long)


def _rows_differ(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``[M]`` whether row ``m`` of two ``-1``-padded tables of possibly different widths differs."""
    width = max(first.shape[1], second.shape[1])
    padded = [torch.nn.functional.pad(table, (0, width - table.shape[1]), value=-1) for table in (first, second)]
    return (padded[0] != padded[1]).any(dim=1)
