"""``ligd``, the default: the relaxed sweep of Li-GD made robust, then the discrete search on the best starts.

1. The relaxed sweep (:mod:`~nomasplit.solvers.relaxation.sweep`): the common split candidates ``j = 0..F`` in
   order (``j = 0`` is Edge-Only; candidates that provably cannot beat Device-Only are skipped, ``prune``), each
   descent warm-started from the previous one's solution, with
   :class:`~nomasplit.solvers.relaxation.gradient.ScaledRprop` (box-scaled, per-coordinate sign steps with a
   monotone safeguard) and relative stopping rules; the first candidate starts from a one-hot assignment by channel
   gain. The ``finalists`` best relaxed candidates are refined, rounded and polished.
2. The starts: those finalists, the Device-Only, Edge-Only, Neurosurgeon and DNN Surgery plans, and a previous plan
   when one is given (``solve(..., start=)``).
3. The discrete search (:mod:`~nomasplit.solvers.search`) on the best starts, in the ``phase`` the settings choose
   (thorough on small instances, cheap on large ones by default), and the best plan of all is returned: never worse
   than any start.

Li-GD and GD as Table I states them are :mod:`.ligd_paper`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.algorithms.ligd_paper import PAPER_CITE
from nomasplit.solvers.registry import (
    Algorithm,
    AlgorithmSettings,
    SolveContext,
    SolveOutcome,
    get_algorithm,
    register,
)
from nomasplit.solvers.relaxation.bounds import common_split_lower_bounds, device_only_objective
from nomasplit.solvers.relaxation.gradient import (
    ScaledRprop,
    StoppingRule,
    flush_denormals,
)
from nomasplit.solvers.relaxation.sweep import (
    Candidate,
    Finalised,
    candidate_splits,
    common_split_of,
    convert_decision,
    converted_with_objective,
    finalise,
    outcome_from,
    refine,
    sweep_common_splits,
    to_model,
    working_model,
)
from nomasplit.solvers.search.assigned import discrete_costs
from nomasplit.solvers.search.driver import KICKS
from nomasplit.solvers.search.groups import GroupSearch
from nomasplit.solvers.search.groups import applies as group_search_applies
from nomasplit.solvers.search.local import EXHAUSTIVE_PAIRS, KICKS_PER_ROUND, MOVE_RTOL, LocalSearch, SearchResult
from nomasplit.solvers.search.warm_start import warm_path_starts

#: With ``phase="auto"``, instances with at most ``THOROUGH_PAIRS`` (user, subchannel) pairs get the thorough
#: phase: 4 starts, the group search after each descent and 16 kicks (else the cheap phase: 2 starts raced, neither).
#: Measured (docs/benchmarks.md, "Wider instances" and "Dense instances"): on 72-80 pairs (1.1-1.25 users per
#: subchannel) the cheap phase was 1.9 % above the proven optimum on average and 8.5 % in the worst case, the
#: thorough one at most 0.5 %; on dense instances (19-30 users on 4-6 subchannels) the cheap plan was up to 3.7 %
#: above the thorough one. Its group search is bounded by work, :data:`GROUP_SEARCH_NODES` branch-and-bound nodes
#: per solve, so that a solve's plan does not depend on the machine's speed.
THOROUGH_PAIRS = 256

#: Default work bound of the group search: branch-and-bound nodes over all its runs in one solve.
GROUP_SEARCH_NODES = 1_000_000


def thorough_phase(num_users: int, num_subchannels: int) -> bool:
    """Whether an instance of this size gets the thorough improvement phase (see :data:`THOROUGH_PAIRS`)."""
    return num_users * num_subchannels <= max(THOROUGH_PAIRS, EXHAUSTIVE_PAIRS)


#: The settings groups of :class:`LigdSettings`, in the order docs/solvers.md lists them.
SETTING_GROUPS = ("relaxation", "search", "budget")


def _in(group: str, **kwargs: Any) -> Any:
    """A field of :class:`LigdSettings` in one of :data:`SETTING_GROUPS`."""
    return Field(json_schema_extra={"group": group}, **kwargs)


#: The cheap phase races its starts: each descends until a round gains less than this fraction of ``Gamma``, and
#: only the lowest goes on.
RACE_RTOL = 1e-3

#: What each ``phase`` runs: best starts improved, kicks from the best local optimum, group search on or off, the
#: gain per round below which the starts' race ends and only the lowest descent goes on (0: every start descends
#: in full), and the relaxed finalists rounded and polished. The cheap phase rounds one finalist: it races only its
#: two best starts, and at the paper's scale a second finalist never won (VGG16's, at split 10, raced and lost on
#: all five seeds of the paper-scale benchmark, docs/benchmarks.md; NiN has one).
PHASES: dict[str, tuple[int, int, bool, float, int]] = {
    "thorough": (4, KICKS, True, 0, 3),
    "cheap": (2, 0, False, RACE_RTOL, 1),
}

#: Settings that only ``phase="custom"`` reads (setting one of them without a phase chooses "custom").
CUSTOM_PHASE_SETTINGS = ("improve_starts", "kicks", "group_search", "race_rtol", "finalists")


class LigdSettings(AlgorithmSettings):
    """Settings of ``ligd`` (the default), in three groups: the relaxed sweep (``relaxation``), the discrete
    search (``search``) and the work it may do (``budget``)."""

    # --- relaxation: the sweep over common splits, rounding and polishing
    start: Literal["gain", "center"] = _in(
        "relaxation", default="gain", description="first start point: one-hot by channel gain, or uniform weights"
    )
    max_iterations: int = _in(
        "relaxation", default=5, ge=0, description="cap on iterations per split candidate (sweep)"
    )
    refine_iterations: int = _in(
        "relaxation", default=10, ge=0, description="further iterations on each finalist before it is rounded"
    )
    objective_rtol: float = _in(
        "relaxation",
        default=1e-4,
        gt=0,
        lt=1,
        description="stop when Gamma fell by less than this fraction over `patience`",
    )
    patience: int = _in("relaxation", default=3, ge=1, description="iterations over which the objective rule looks")
    gradient_rtol: float = _in("relaxation", default=1e-7, ge=0, description="relative projected-gradient tolerance")
    variable_tol: float = _in("relaxation", default=1e-5, ge=0, description="largest change in box-scaled units")
    initial_step: float = _in(
        "relaxation", default=0.05, gt=0, le=1, description="first step length in box-scaled units"
    )
    polish_iterations: int = _in(
        "relaxation",
        default=10,
        ge=0,
        description="cap on iterations of the polish step after rounding (the search polishes with at least 30 on "
        "instances small enough for its exhaustive checks)",
    )
    include_edge_only: bool = _in(
        "relaxation",
        default=True,
        description="also try j = 0 (Edge-Only); Table I starts at j = 1 (ligd-paper keeps that)",
    )
    warm_start: bool = _in(
        "relaxation", default=True, description="start each candidate from the previous one's solution"
    )
    prune: bool = _in(
        "relaxation",
        default=True,
        description="skip split candidates whose interference-free lower bound on Gamma is not below the "
        "Device-Only objective (they cannot win; see nomasplit.solvers.relaxation.bounds)",
    )
    precision: Literal["float32", "float64"] = _in(
        "relaxation",
        default="float32",
        description="float type of the sweep and the search (float32: about 4x faster; the final plan is re-checked "
        "in float64)",
    )
    # --- search: the discrete search on the best starts
    improve: bool = _in(
        "search", default=True, description="run the discrete search (nomasplit.solvers.search) on the best starts"
    )
    phase: Literal["auto", "thorough", "cheap", "custom"] = _in(
        "search",
        default="auto",
        description="how much search: 'thorough' rounds 3 relaxed finalists, improves the 4 best starts, runs the "
        "group search after each descent (without an edge capacity) and 16 kicks; 'cheap' rounds 1 finalist, races "
        "2 starts (each descends until a round gains less than 0.1 %, then only the lowest goes on), no group "
        f"search, no kicks; 'auto' is thorough up to {THOROUGH_PAIRS} (user, subchannel) pairs and cheap above; "
        "'custom' takes finalists, improve_starts, kicks, group_search and race_rtol (setting one of them without a "
        "phase chooses 'custom')",
    )
    finalists: int = _in(
        "search",
        default=3,
        ge=1,
        description="phase 'custom': best relaxed offloading candidates that are rounded and polished as starts "
        "(Device-Only is a start anyway)",
    )
    improve_starts: int = _in(
        "search", default=2, ge=1, le=20, description="phase 'custom': best starts that the search improves"
    )
    kicks: int = _in(
        "search",
        default=0,
        ge=0,
        le=1000,
        description="phase 'custom': kicks (a non-improving move, then a descent) from the best local optimum",
    )
    kick_batch: int = _in(
        "search",
        default=KICKS_PER_ROUND,
        ge=1,
        le=1000,
        description="kick starts (the best-priced non-improving moves, each followed by a trial descent) tried from "
        "one local optimum before the kicks stop; the first whose descent ends lower is kept and kicking goes on "
        "from there (the search from the current interference; the group search tries 16)",
    )
    group_search: bool = _in(
        "search",
        default=False,
        description="phase 'custom': run the group search (moves priced at every subchannel group's globally "
        "optimal powers, nomasplit.solvers.search.groups) after each descent, when no edge capacity is set",
    )
    race_rtol: float = _in(
        "search",
        default=0.0,
        ge=0,
        lt=1,
        description="phase 'custom': with several starts, each descends until a round gains less than this fraction "
        "of Gamma, and only the lowest goes on (0: every start descends in full)",
    )
    joint_pricing: bool = _in(
        "search",
        default=True,
        description="on instances past the exhaustive checks (more than 64 user-subchannel pairs), where a round "
        "finds no improving move, price the same moves again with each joiner at the power of least own cost plus "
        "harm (nomasplit.solvers.search.local.LocalSearch.joint_prices)",
    )
    joint_below: float = _in(
        "search",
        default=0.0,
        ge=0,
        lt=1,
        description="with joint_pricing, also price a round jointly when the round before it lowered Gamma by less "
        "than this fraction of Gamma (0: only where a round finds no improving move); the warm re-plan of "
        "nomasplit.experiments.online sets it",
    )
    settle_below: float = _in(
        "search",
        default=0.0,
        ge=0,
        lt=1,
        description="end a descent once a round lowered Gamma by less than this fraction of it, with the polish of "
        "the round cap (0: never; a raced start settles at the phase's race_rtol instead and goes on if it leads); "
        "the warm re-plan of nomasplit.experiments.online sets it",
    )
    search_threads: int = _in(
        "search",
        default=1,
        ge=1,
        le=2,
        description="threads of the discrete search on the CPU: 2 prices the uplink and the downlink at once on a "
        "second core past nomasplit.solvers.search.local.THREADED_PAIRS (user, subchannel) pairs (the same plans; "
        "the warm re-plan of nomasplit.experiments.online uses 2, a sweep's workers 1)",
    )
    move_rtol: float = _in(
        "search",
        default=MOVE_RTOL,
        gt=0,
        lt=1,
        description="a move is taken only when it lowers Gamma by more than this fraction of Gamma; a descent that "
        "ends because none does is a local optimum to this tolerance",
    )
    baseline_starts: bool = _in(
        "search",
        default=True,
        description="also start from the Device-Only, Edge-Only, Neurosurgeon and DNN Surgery plans (so the plan is "
        "never worse than any of them)",
    )
    warm_path: bool = _in(
        "search",
        default=False,
        description="with a start plan (solve(..., start=)): no relaxed sweep and no baseline starts; the search "
        "starts from the best of the mapped previous plan and two variants of it with subchannels matched anew to "
        "the new gains, one at the plan's most common split for every user "
        "(nomasplit.solvers.search.warm_start.warm_path_starts); the plan is never worse than the mapped one",
    )
    # --- budget: the work the search may do (and an opt-in clock)
    improve_max_rounds: int = _in(
        "budget", default=200, ge=0, description="cap on rounds of the search's descent per start"
    )
    group_search_nodes: int = _in(
        "budget",
        default=GROUP_SEARCH_NODES,
        ge=0,
        description="work bound of the group search: branch-and-bound nodes of its group costs over all its runs "
        "in one solve (it then keeps the best plan found)",
    )
    time_limit_s: float | None = _in(
        "budget",
        default=None,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="opt-in wall-clock cap of the whole solve (the best plan so far is kept when it runs out; a "
        "plan stopped by it depends on the machine's speed and load). None (the default): the solve stops on "
        "work alone (rounds, moves, kicks, group-search nodes), so the same scenario and seed give the same plan "
        "on any machine",
    )

    @model_validator(mode="before")
    @classmethod
    def _custom_phase(cls, data: Any) -> Any:
        """Setting improve_starts, kicks or group_search without a phase chooses ``custom``; with another phase
        they would be ignored, so that is an error."""
        if not isinstance(data, dict):
            return data
        given = [name for name in CUSTOM_PHASE_SETTINGS if name in data]
        if given and "phase" not in data:
            return {**data, "phase": "custom"}
        if given and data["phase"] != "custom":
            raise ValueError(f"{', '.join(given)} only apply with phase='custom' (phase is {data['phase']!r})")
        return data


@dataclass(frozen=True)
class Phase:
    """The search a solve runs, as resolved from ``phase`` and the instance's size."""

    name: str
    improve_starts: int
    kicks: int
    group_search: bool
    race_rtol: float
    finalists: int
    reason: str

    def describe(self) -> str:
        race = f", raced to gains below {self.race_rtol:g}" if self.race_rtol and self.improve_starts > 1 else ""
        return (
            f"{self.name} ({self.reason}): {self.finalists} relaxed finalist{'' if self.finalists == 1 else 's'}, "
            f"{self.improve_starts} starts{race}, "
            f"{self.kicks} kicks, group search {'on' if self.group_search else 'off'}"
        )


def resolve_phase(settings: LigdSettings, model: SystemModel) -> Phase:
    """The search that ``settings`` run on ``model``'s instance."""
    if settings.phase == "custom":
        custom = (settings.improve_starts, settings.kicks, settings.group_search, settings.race_rtol)
        return Phase("custom", *custom, settings.finalists, "as set")
    if settings.phase == "auto":
        thorough = thorough_phase(model.num_users, model.num_subchannels)
        name = "thorough" if thorough else "cheap"
        pairs = model.num_users * model.num_subchannels
        reason = f"auto: {pairs} pairs {'<=' if thorough else '>'} {max(THOROUGH_PAIRS, EXHAUSTIVE_PAIRS)}"
    else:
        name, reason = settings.phase, "as set"
    return Phase(name, *PHASES[name], reason)


def ligd_method(settings: LigdSettings) -> ScaledRprop:
    """The gradient method of ``ligd``."""
    return ScaledRprop(initial_step=settings.initial_step)


def ligd_stopping(settings: LigdSettings, max_iterations: int) -> StoppingRule:
    """The relative stopping rules of ``ligd``."""
    return StoppingRule(
        gradient_tol=settings.gradient_rtol,
        objective_tol=settings.objective_rtol,
        variable_tol=settings.variable_tol,
        max_iterations=max_iterations,
        relative=True,
        patience=settings.patience,
    )


def pruned_splits(model: SystemModel, settings: LigdSettings) -> tuple[list[int], dict[str, float]]:
    """The split candidates worth a descent, and the lower bound of each one that was skipped.

    A candidate is skipped when the sum of the users' interference-free lower bounds
    (:func:`~nomasplit.solvers.relaxation.bounds.common_split_lower_bounds`) is not below the Device-Only objective: no
    relaxed or discrete decision at that split can beat Device-Only, which the polish step's fallback always
    reaches. The largest split (Device-Only for every user) is always kept.
    """
    splits = candidate_splits(model, settings.include_edge_only)
    if not settings.prune:
        return splits, {}
    bounds = common_split_lower_bounds(model, splits)
    device_only = device_only_objective(model)
    keep = [split for split, bound in zip(splits, bounds, strict=True) if bound < device_only or split == splits[-1]]
    skipped = {str(split): bound for split, bound in zip(splits, bounds, strict=True) if split not in keep}
    return keep, skipped


def ligd_candidates(model: SystemModel, settings: LigdSettings, splits: list[int] | None = None) -> list[Candidate]:
    """The relaxed sweep of ``ligd`` over the common split candidates (all of them unless ``splits`` is given)."""
    return sweep_common_splits(
        model,
        candidate_splits(model, settings.include_edge_only) if splits is None else splits,
        ligd_method(settings),
        ligd_stopping(settings, settings.max_iterations),
        warm_start=settings.warm_start,
        start=settings.start,
    )


def finalise_best(
    model: SystemModel, candidates: list[Candidate], settings: LigdSettings, finalists: int
) -> list[Finalised]:
    """Refine, round and polish the ``finalists`` candidates with the smallest relaxed objective.

    The refined candidates replace their sweep entries in ``candidates`` (in place), so that their histories
    hold every iteration.
    """
    # The all-Device-Only candidate is a start of its own (baseline starts and the fallback reach it), so it does
    # not take a finalist's place unless it is the only candidate.
    offloading = [item for item in candidates if bool(model.offloads(item.problem.split).any())] or candidates
    ranked = sorted(offloading, key=lambda item: item.objective if math.isfinite(item.objective) else math.inf)
    method = ligd_method(settings)
    polish_stopping = ligd_stopping(settings, settings.polish_iterations)
    refine_stopping = ligd_stopping(settings, settings.refine_iterations)
    finals = []
    for item in ranked[:finalists]:
        refined = refine(item, method, refine_stopping)
        candidates[candidates.index(item)] = refined
        finals.append(finalise(model, refined, method, polish_stopping))
    return finals


#: Baselines whose plans are starts of the improvement phase (feasible plans of the same problem).
BASELINE_STARTS = ("device-only", "edge-only", "neurosurgeon", "dnn-surgery")

#: A named discrete decision that the improvement phase may start from.
Start = tuple[str, Decision]


def baseline_start_plans(context: SolveContext) -> list[Start]:
    """The plans of :data:`BASELINE_STARTS` with their default settings, on the context's model."""
    starts = []
    for name in BASELINE_STARTS:
        algorithm = get_algorithm(name)
        starts.append((name, algorithm.run(context, algorithm.settings_type()).decision))
    return starts


def improve_and_choose(
    context: SolveContext,
    settings: LigdSettings,
    working: SystemModel,
    starts: list[Start],
    *,
    started: float,
    improvable: Callable[[list[float]], set[str]] | None = None,
) -> tuple[Start, dict[str, Any]]:
    """Run the improvement phase on the best starts and return the best plan of all (improved or not).

    Every start stays a candidate, so the result is never worse than any start (each objective is the model's,
    in its float type, by :func:`~nomasplit.solvers.search.assigned.discrete_costs`). Returns the winner and the
    evidence for the plan's ``extra``. ``improvable``: given each start's ``Gamma`` as given (before its conversion),
    the names of the starts the search may improve (None: all).
    """
    model = context.model
    deadline = started + (settings.time_limit_s if settings.time_limit_s is not None else math.inf)
    converted = [(name, *converted_with_objective(working, decision)) for name, decision in starts]
    work_starts = [(name, decision) for name, decision, _ in converted]
    start_values = [value for _, _, value in converted]
    # Gamma of each start as given, in the model's float type: each is a candidate at the end.
    given = [float(discrete_costs(model, decision).objective.item()) for _, decision in starts]
    allowed = None if improvable is None else improvable(given)
    order = sorted(
        range(len(work_starts)), key=lambda i: start_values[i] if math.isfinite(start_values[i]) else math.inf
    )
    candidates: list[Start] = list(starts)
    improved: list[tuple[str, Decision, float]] = []  # improved plans, back in the model's float type, and Gamma
    improvement: dict[str, Any] = {}
    chosen = resolve_phase(settings, working)
    phase = "none"
    resolved: dict[str, Any] = {
        "phase": "none",
        "improve_starts": 0,
        "kicks": 0,
        "race_rtol": 0.0,
        "group_search": False,
        "joint_pricing": False,
        "finalists": chosen.finalists,
    }
    if settings.improve and working.num_users:
        small = working.num_users * working.num_subchannels <= EXHAUSTIVE_PAIRS
        improve_starts, kicks = chosen.improve_starts, chosen.kicks
        search_polish = max(settings.polish_iterations, 30) if small else settings.polish_iterations
        search = LocalSearch(
            working,
            ligd_method(settings),
            ligd_stopping(settings, search_polish),
            joint_pricing=settings.joint_pricing,
            joint_below=settings.joint_below,
            move_rtol=settings.move_rtol,
            kick_batch=settings.kick_batch,
            threads=settings.search_threads,
        )
        units = search.best_units  # optimal_compute_units(working), computed by the search
        seen: list[float] = []
        results = []
        phase = chosen.describe()
        grouper = (
            GroupSearch(model, deadline=deadline, max_nodes=settings.group_search_nodes)
            if chosen.group_search and group_search_applies(model)
            else None
        )
        resolved = {
            "phase": chosen.name,
            "improve_starts": improve_starts,
            "kicks": kicks,
            "group_search": grouper is not None,
            "joint_pricing": search.joint_pricing and not search.exhaustive,
            "finalists": chosen.finalists,
        }
        picked: list[Start] = []
        for index in order:
            if len(picked) >= improve_starts:
                break
            value = start_values[index]
            if allowed is not None and work_starts[index][0] not in allowed:
                continue
            if not math.isfinite(value) or any(abs(value - other) <= 1e-12 * abs(value) for other in seen):
                continue
            seen.append(value)
            picked.append(work_starts[index])
        race = chosen.race_rtol if len(picked) > 1 else 0.0
        descents = []
        for name, decision in picked:
            offset = time.perf_counter() - started
            result = search.run(
                decision,
                units,
                deadline=deadline,
                max_rounds=settings.improve_max_rounds,
                max_kicks=0,
                settle_rtol=race or settings.settle_below,
                finish_settled=not race,
            )
            descents.append((name, offset, result))
        if race:
            # The starts raced: each descended until a round gained less than `race`; only the lowest goes on (the
            # others are kept as they are, candidates still).
            leader = min(descents, key=lambda item: item[2].objective)
            for _, _, result in descents:
                if result is not leader[2] and result.stop_reason == "settled":
                    result.stop_reason = "lost the race"
            name, offset, result = leader
            if result.stop_reason == "settled":
                resumed = time.perf_counter() - started
                more = search.run(
                    result.decision,
                    units,
                    deadline=deadline,
                    max_rounds=max(settings.improve_max_rounds - result.rounds, 0),
                    max_kicks=0,
                    settle_rtol=settings.settle_below,
                    finish_settled=True,
                )
                descents[descents.index(leader)] = (name, offset, continued(result, more, resumed - offset))
        for name, offset, result in descents:
            results.append((name, offset, result))
            if grouper is not None:
                # The group search from each descent's plan, right after it (its group costs are cached across
                # these runs, so the later ones mostly reuse them).
                offset = time.perf_counter() - started
                grouped = group_search_result(working, grouper, result, deadline=deadline)
                if grouped is not None:
                    results.append((f"{name} + group search", offset, grouped))
        if results and kicks > 0:
            # Kicks (non-improving moves followed by a descent) only from the best local optimum found.
            name, _, best_result = min(results, key=lambda item: item[2].objective)
            offset = time.perf_counter() - started
            kicked = search.run(
                best_result.decision, units, deadline=deadline, max_rounds=settings.improve_max_rounds, max_kicks=kicks
            )
            results.append((f"{name} + improve", offset, kicked))
        for name, offset, result in results:
            improvement[name] = {
                "start_objective": result.start_objective,
                "objective": result.objective,
                "rounds": result.rounds,
                "accepted_moves": result.accepted,
                "stop_reason": result.stop_reason,
                "anytime": [[round(offset + seconds, 6), value] for seconds, value in result.anytime],
            }
            improved.append((f"{name} + improve", *converted_with_objective(model, result.decision)))
    values = list(given)
    candidates += [(name, decision) for name, decision, _ in improved]
    values += [value for _, _, value in improved]
    finite = [i for i, value in enumerate(values) if math.isfinite(value)] or list(range(len(values)))
    best = min(finite, key=lambda i: values[i])
    won_search = improvement.get(candidates[best][0].removesuffix(" + improve"))
    evidence = {
        "start_won": candidates[best][0],
        "starts": {name: value for (name, _), value in zip(candidates, values, strict=True)},
        "improvement": improvement,
        "improvement_phase": phase,
        "resolved_settings": resolved,
        # True when the plan returned ends a descent with no improving move under either pricing and no gain from
        # re-optimising its continuous variables (not "stalled", "max_rounds" or "time limit").
        "local_optimum": won_search is not None and won_search["stop_reason"] == "local optimum",
    }
    return candidates[best], evidence


def continued(first: SearchResult, more: SearchResult, delay_s: float) -> SearchResult:
    """One descent's result from its first part and its continuation, which began ``delay_s`` after it."""
    accepted = dict(first.accepted)
    for kind, count in more.accepted.items():
        accepted[kind] = accepted.get(kind, 0) + count
    return SearchResult(
        decision=more.decision,
        objective=more.objective,
        start_objective=first.start_objective,
        rounds=first.rounds + more.rounds,
        accepted=accepted,
        anytime=first.anytime + [(delay_s + seconds, value) for seconds, value in more.anytime[1:]],
        stop_reason=more.stop_reason,
    )


#: Share of the time left that one run of the group search may take (the rest stays for the other starts).
GROUP_SEARCH_SHARE = 0.5


def group_search_result(
    working: SystemModel, grouper: GroupSearch, best: SearchResult, *, deadline: float
) -> SearchResult | None:
    """The group search (:mod:`~nomasplit.solvers.search.groups`) from ``best``'s plan, as a result of the
    improvement phase (``None`` when it does not apply to that plan). It may use :data:`GROUP_SEARCH_SHARE` of
    the time left before ``deadline``."""
    begun = time.perf_counter()
    grouper.deadline = min(deadline, begun + GROUP_SEARCH_SHARE * (deadline - begun))
    found = grouper.run(convert_decision(grouper.model, best.decision)[0])
    if found.decision is None:
        return None
    decision = convert_decision(working, found.decision)[0]
    with torch.no_grad():
        objective = float(working.objective(decision).item())
    accepted = dict(found.accepted)
    accepted["groups priced"] = found.groups_priced
    accepted["group nodes"] = grouper.nodes_used  # so far, over every run on this model
    return SearchResult(
        decision=decision,
        objective=objective,
        start_objective=best.objective,
        rounds=found.rounds,
        accepted=accepted,
        anytime=[(0.0, best.objective), (time.perf_counter() - begun, objective)],
        stop_reason=found.stop_reason,
    )


def run_ligd(context: SolveContext, settings: LigdSettings, *, extra_starts: tuple[Start, ...] = ()) -> SolveOutcome:
    """``ligd``: scaled, monotone Li-GD with relative tolerances, then the discrete improvement phase on the
    best of its rounded finalists, the baseline plans and ``extra_starts`` (module docstring); with a start plan
    and ``warm_path``, :func:`run_warm_path` instead."""
    started = time.perf_counter()
    if settings.warm_path and context.start_decision is not None:
        return run_warm_path(context, settings, context.start_decision, started=started)
    model = context.model
    working = working_model(model, settings.precision)
    splits, skipped = pruned_splits(model, settings)
    with flush_denormals():
        candidates = ligd_candidates(working, settings, splits)
        finalists = resolve_phase(settings, working).finalists
        finals = [to_model(model, item) for item in finalise_best(working, candidates, settings, finalists)]
        starts: list[Start] = [(f"ligd split {item.candidate.split}", item.decision) for item in finals]
        if settings.baseline_starts:
            starts += baseline_start_plans(context)
        starts += list(extra_starts)
        if context.start_decision is not None:  # a previous plan mapped onto this scenario (solve(..., start=))
            starts.append(("previous plan", context.start_decision))
        (won, decision), evidence = improve_and_choose(context, settings, working, starts, started=started)
    outcome = outcome_from(model, candidates, finals, label="ligd")
    outcome.decision = decision
    outcome.chosen_split = common_split_of(model, decision)
    offloading = int(model.offloads(decision.split).sum().item())
    outcome.message = (
        f"ligd: best plan from start '{won}' after {len(candidates)} descents; {offloading}/{model.num_users} users "
        "offload"
        + ("" if outcome.chosen_split is None else f" (common split {outcome.chosen_split})")
        + ("; a local optimum of its moves" if evidence["local_optimum"] else "")
    )
    with torch.no_grad():
        outcome.success = bool(torch.isfinite(model.objective(decision)).item())
    outcome.extra["pruned_splits_lower_bound"] = skipped
    outcome.extra["offloading_users"] = offloading
    outcome.extra.update(evidence)
    return outcome


def improvable_warm_starts(starts: list[Start], given: list[float]) -> set[str]:
    """The warm path's starts worth improving, from their ``Gamma`` as given: the previous plan (the first start)
    only where it is the lowest, its subchannels still fitting the new gains; the rematched ones always. Ranked
    after their conversion (which applies the Device-Only fallback), a stale previous plan can look best because
    the fallback sent many of its users to their devices, and its descent must then bring them back: measured, at
    the paper's scale with ``w_T`` = 0.1 under Jakes fading it ended 5-6 % above a cold solve in 2 of 10 slots."""
    names = {name for name, _ in starts}
    if len(starts) < 2 or given[0] <= min(given[1:]):
        return names
    return names - {starts[0][0]}


def run_warm_path(context: SolveContext, settings: LigdSettings, start: Decision, *, started: float) -> SolveOutcome:
    """``ligd``'s warm path: the discrete search from :func:`~nomasplit.solvers.search.warm_start.warm_path_starts`
    of the mapped previous plan ``start`` alone (no relaxed sweep, no baseline starts). Every start stays a
    candidate, so the plan is never worse than ``start``."""
    model = context.model
    working = working_model(model, settings.precision)
    with flush_denormals():
        starts: list[Start] = warm_path_starts(model, start)
        (won, decision), evidence = improve_and_choose(
            context, settings, working, starts, started=started, improvable=partial(improvable_warm_starts, starts)
        )
    offloading = int(model.offloads(decision.split).sum().item())
    outcome = SolveOutcome(
        decision=decision,
        success=math.isfinite(evidence["starts"][won]),  # Gamma of the plan chosen, in the model's float type
        message=f"ligd (warm path): best plan from start '{won}'; {offloading}/{model.num_users} users offload"
        + ("; a local optimum of its moves" if evidence["local_optimum"] else ""),
        chosen_split=common_split_of(model, decision),
    )
    outcome.extra.update({"warm_path": True, "offloading_users": offloading, **evidence})
    return outcome


register(
    Algorithm(
        name="ligd",
        summary="Li-GD made robust (default): box-scaled sign steps, monotone safeguard, relative tolerances",
        cite=PAPER_CITE + ", with scaled adaptive steps (this project)",
        settings_type=LigdSettings,
        run=run_ligd,
    )
)
