"""Li-GD (Table I of the paper) and GD: one split point shared by all users, a gradient descent per candidate.

Three registered algorithms share this code:

- ``ligd-paper``: Table I as written. Candidates ``j = 1..F`` in order (``F`` = most split points of any user's
  model; ``j`` is capped at each user's ``F_i``, and ``j = F_i`` is Device-Only), each gradient descent
  warm-started from the previous candidate's solution; fixed step ``lambda`` on the raw variables; the three
  stopping rules with one ``epsilon``; the candidate with the smallest relaxed ``Gamma`` is rounded
  (:mod:`~nomasplit.solvers.rounding`) and polished (:mod:`~nomasplit.solvers.polish`) with the same method.
- ``gd-paper``: the same, every candidate started from the same initial point (no warm start).
- ``ligd`` (default): the same sweep with warm starts, but with :class:`~nomasplit.solvers.gradient.ScaledRprop`
  (box-scaled, per-coordinate sign steps with a monotone safeguard) and relative stopping rules; the
  ``finalists`` best relaxed candidates are each rounded and polished, and the best result is kept.

``include_edge_only`` adds the candidate ``j = 0`` (Edge-Only) before ``j = 1``: off for the paper variants
(Table I's range starts at 1), on for ``ligd``. ``ligd`` also skips candidates that provably cannot beat
Device-Only (``prune``, :mod:`~nomasplit.solvers.bounds`). The first candidate starts from uniform weights and
every box variable at its centre (the paper variants) or from a one-hot assignment by channel gain (``ligd``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from pydantic import Field

from nomasplit.data.plan import SplitHistory
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.bounds import common_split_lower_bounds, device_only_objective, optimal_compute_units
from nomasplit.solvers.gradient import (
    ContinuousProblem,
    FixedStepGradient,
    Method,
    ScaledRprop,
    StoppingRule,
    Variables,
    flush_denormals,
    minimize,
)
from nomasplit.solvers.group_search import GroupSearch
from nomasplit.solvers.group_search import applies as group_search_applies
from nomasplit.solvers.improve import EXHAUSTIVE_PAIRS, KICKS, LocalSearch, SearchResult
from nomasplit.solvers.polish import fall_back_to_device, polish
from nomasplit.solvers.registry import (
    Algorithm,
    AlgorithmSettings,
    SolveContext,
    SolveOutcome,
    get_algorithm,
    register,
)
from nomasplit.solvers.rounding import round_decision

#: Instances with at most ``THOROUGH_PAIRS`` (user, subchannel) pairs get the thorough improvement phase: 4
#: starts, the group search after each descent and 16 kicks (else 2 starts and neither). Measured
#: (docs/benchmarks.md, "Wider instances" and "Dense instances"): on 72-80 pairs (1.1-1.25 users per subchannel)
#: the cheap phase was 2.4 % above the proven optimum on average and 8.5 % in the worst case, the thorough one at
#: most 0.5 %; on dense instances (18-30 users on 4-6 subchannels) the cheap plan was up to 12.9 % above the
#: thorough one. Its group search is bounded by work, :data:`GROUP_SEARCH_NODES` branch-and-bound nodes per solve
#: (about 10 s), so that a solve's plan does not depend on the machine's speed where the time budget is ample.
THOROUGH_PAIRS = 256

#: Default work bound of the group search: branch-and-bound nodes over all its runs in one solve.
GROUP_SEARCH_NODES = 1_000_000


def thorough_phase(num_users: int, num_subchannels: int) -> bool:
    """Whether an instance of this size gets the thorough improvement phase (see :data:`THOROUGH_PAIRS`)."""
    return num_users * num_subchannels <= max(THOROUGH_PAIRS, EXHAUSTIVE_PAIRS)


PAPER_CITE = (
    "Table I (Li-GD) of 'High Efficiency Inference Accelerating Algorithm for NOMA-based Mobile Edge Computing'"
)


class PaperSettings(AlgorithmSettings):
    """Settings of ``ligd-paper`` and ``gd-paper`` (Table I: step size ``lambda``, accuracy ``epsilon``)."""

    # 1e-2 gave the lowest objective among 1e-3, 1e-2, 1e-1, 1 on the tiny-yolov2 instance of
    # benchmarks/solver_convergence.py (docs/solvers.md); the paper gives no value.
    step_size: float = Field(default=1e-2, gt=0, allow_inf_nan=False, description="fixed step lambda")
    epsilon: float = Field(default=1e-6, gt=0, allow_inf_nan=False, description="accuracy of all three rules")
    max_iterations: int = Field(default=200, ge=0, description="cap on iterations per split candidate")
    polish_iterations: int = Field(default=200, ge=0, description="cap on iterations of the polish step")
    include_edge_only: bool = Field(default=False, description="also try j = 0 (Edge-Only)")


class LigdSettings(AlgorithmSettings):
    """Settings of ``ligd`` (the default)."""

    start: Literal["gain", "center"] = Field(
        default="gain", description="first start point: one-hot by channel gain, or uniform weights"
    )
    max_iterations: int = Field(default=5, ge=0, description="cap on iterations per split candidate (sweep)")
    refine_iterations: int = Field(
        default=10, ge=0, description="further iterations on each finalist before it is rounded"
    )
    objective_rtol: float = Field(
        default=1e-4,
        gt=0,
        lt=1,
        description="stop when Gamma fell by less than this fraction over `patience`",
    )
    patience: int = Field(default=3, ge=1, description="iterations over which the objective rule looks")
    gradient_rtol: float = Field(default=1e-7, ge=0, description="relative projected-gradient tolerance")
    variable_tol: float = Field(default=1e-5, ge=0, description="largest change in box-scaled units")
    initial_step: float = Field(default=0.05, gt=0, le=1, description="first step length in box-scaled units")
    finalists: int = Field(
        default=3,
        ge=1,
        description="best relaxed offloading candidates that are rounded and polished (Device-Only is a start anyway)",
    )
    polish_iterations: int = Field(
        default=10,
        ge=0,
        description="cap on iterations of the polish step after rounding (the improvement phase polishes with at "
        "least 30 on instances small enough for its exhaustive checks)",
    )
    include_edge_only: bool = Field(
        default=True, description="also try j = 0 (Edge-Only); Table I starts at j = 1 (ligd-paper keeps that)"
    )
    warm_start: bool = Field(default=True, description="start each candidate from the previous one's solution")
    prune: bool = Field(
        default=True,
        description="skip split candidates whose interference-free lower bound on Gamma is not below the "
        "Device-Only objective (they cannot win; see nomasplit.solvers.bounds)",
    )
    improve: bool = Field(
        default=True, description="run the discrete improvement phase (nomasplit.solvers.improve) on the best starts"
    )
    improve_starts: int | None = Field(
        default=None,
        ge=1,
        le=20,
        description="best starts that the improvement phase improves (None: 4 on instances where "
        "thorough_phase holds, at most 256 (user, subchannel) pairs; 2 otherwise)",
    )
    kicks: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="kicks (a non-improving move, then a descent) tried from the best local optimum (None: 16 on "
        "instances where thorough_phase holds, as for improve_starts; 0 otherwise)",
    )
    group_search: bool | None = Field(
        default=None,
        description="run the group search (nomasplit.solvers.group_search: moves priced at every subchannel group's "
        "globally optimal powers) after each descent, from its plan, before the kicks (None: where "
        "thorough_phase holds, as for improve_starts, when no edge capacity is set)",
    )
    group_search_nodes: int = Field(
        default=GROUP_SEARCH_NODES,
        ge=0,
        description="work bound of the group search: branch-and-bound nodes of its group costs over all its runs "
        "in one solve (it then keeps the best plan found; the time budget bounds it too)",
    )
    baseline_starts: bool = Field(
        default=True,
        description="also start from the Device-Only, Edge-Only, Neurosurgeon and DNN Surgery plans (so the plan is "
        "never worse than any of them)",
    )
    time_limit_s: float | None = Field(
        default=None,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="opt-in wall-clock cap of the whole solve (the best plan so far is kept when it runs out; a "
        "plan stopped by it depends on the machine's speed and load). None (the default): the solve stops on "
        "work alone (rounds, moves, kicks, group-search nodes), so the same scenario and seed give the same plan "
        "on any machine",
    )
    improve_max_rounds: int = Field(default=200, ge=0, description="cap on rounds of the improvement phase per start")
    joint_pricing: bool = Field(
        default=True,
        description="on instances past the exhaustive checks (more than 64 user-subchannel pairs), where a round "
        "finds no improving move, price the same moves again with each joiner at the power of least own cost plus "
        "harm (nomasplit.solvers.improve.LocalSearch.joint_prices)",
    )
    precision: Literal["float32", "float64"] = Field(
        default="float32",
        description="float type of the descent (float32: about 4x faster; the final plan is re-checked in float64)",
    )


@dataclass
class Candidate:
    """The relaxed solution of one split candidate."""

    split: int
    problem: ContinuousProblem
    variables: Variables
    objective: float
    history: SplitHistory


def candidate_splits(model: SystemModel, include_edge_only: bool) -> list[int]:
    """``[0,] 1, ..., F`` with ``F = max_i F_i``."""
    return list(range(0 if include_edge_only else 1, model.max_layers + 1))


def sweep_common_splits(
    model: SystemModel,
    splits: list[int],
    method: Method,
    stopping: StoppingRule,
    *,
    warm_start: bool,
    start: str = "center",
) -> list[Candidate]:
    """Run the gradient method for each common split in order (Table I, lines 2-16)."""
    candidates: list[Candidate] = []
    first_start: Variables | None = None
    for split in splits:
        problem = ContinuousProblem(model, model.common_split(split))
        if first_start is None:
            first_start = problem.start_point(start)
        initial = candidates[-1].variables if warm_start and candidates else first_start
        run = minimize(method, problem, initial, stopping, label=split)
        candidates.append(Candidate(split, problem, run.state.variables, run.state.objective, run.history))
    return candidates


@dataclass
class Finalised:
    """A candidate after rounding and polishing."""

    candidate: Candidate
    decision: Decision
    objective_rounded: float
    objective: float
    fallback_users: int
    polish_history: list[float]


def finalise(model: SystemModel, candidate: Candidate, method: Method, stopping: StoppingRule) -> Finalised:
    """Round a relaxed candidate, polish it, apply the Device-Only fallback (Table I, line 18, made
    feasible)."""
    rounded = round_decision(model, candidate.problem.decision(candidate.variables))
    with torch.no_grad():
        objective_rounded = float(model.objective(rounded).item())
    polished, run, fallback = polish(model, rounded, method, stopping)
    with torch.no_grad():
        objective = float(model.objective(polished).item())
    return Finalised(
        candidate=candidate,
        decision=polished,
        objective_rounded=objective_rounded,
        objective=objective,
        fallback_users=fallback,
        polish_history=[] if run is None else run.objectives,
    )


def outcome_from(
    model: SystemModel, candidates: list[Candidate], finals: list[Finalised], *, label: str
) -> SolveOutcome:
    """Pick the best finalised candidate and pack the evidence."""
    best = min(finals, key=lambda item: item.objective if math.isfinite(item.objective) else math.inf)
    iterations = sum(item.history.iterations for item in candidates)
    evaluations = sum(item.problem.evaluations for item in candidates)
    offloading = int(model.offloads(best.decision.split).sum().item())
    chosen = best.candidate.split if best.candidate.split >= 0 else None
    message = (
        f"{label}: "
        + (f"common split {chosen}" if chosen is not None else "per-user splits")
        + f" chosen after {len(candidates)} descents; "
        f"{offloading}/{model.num_users} users offload"
        + (f", {best.fallback_users} fell back to Device-Only" if best.fallback_users else "")
    )
    return SolveOutcome(
        decision=best.decision,
        success=math.isfinite(best.objective),
        message=message,
        objective_relaxed=best.candidate.objective,
        objective_rounded=best.objective_rounded,
        chosen_split=chosen,
        iterations_total=iterations,
        history=[item.history for item in candidates],
        extra={
            "objective_evaluations": evaluations,
            "relaxed_objective_per_split": {str(item.split): item.objective for item in candidates},
            "finalists": [
                {
                    "split": item.candidate.split,
                    "objective_relaxed": item.candidate.objective,
                    "objective_rounded": item.objective_rounded,
                    "objective": item.objective,
                    "fallback_users": item.fallback_users,
                }
                for item in finals
            ],
            "polish_objective": best.polish_history,
            "offloading_users": offloading,
        },
    )


def _paper_stopping(settings: PaperSettings, max_iterations: int) -> StoppingRule:
    return StoppingRule(
        gradient_tol=settings.epsilon,
        objective_tol=settings.epsilon,
        variable_tol=settings.epsilon,
        max_iterations=max_iterations,
    )


def _run_paper(context: SolveContext, settings: PaperSettings, *, warm_start: bool, label: str) -> SolveOutcome:
    model = context.model
    method = FixedStepGradient(step_size=settings.step_size)
    splits = candidate_splits(model, settings.include_edge_only)
    with flush_denormals():
        candidates = sweep_common_splits(
            model, splits, method, _paper_stopping(settings, settings.max_iterations), warm_start=warm_start
        )
        finite = [item for item in candidates if math.isfinite(item.objective)] or candidates
        best = min(finite, key=lambda item: item.objective)  # Table I, line 17
        final = finalise(model, best, method, _paper_stopping(settings, settings.polish_iterations))
    return outcome_from(model, candidates, [final], label=label)


def run_ligd_paper(context: SolveContext, settings: PaperSettings) -> SolveOutcome:
    """Table I as written (warm starts)."""
    return _run_paper(context, settings, warm_start=True, label="ligd-paper")


def run_gd_paper(context: SolveContext, settings: PaperSettings) -> SolveOutcome:
    """Table I without warm starts (every candidate from the same start point)."""
    return _run_paper(context, settings, warm_start=False, label="gd-paper")


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
    (:func:`~nomasplit.solvers.bounds.common_split_lower_bounds`) is not below the Device-Only objective: no
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


def refine(candidate: Candidate, method: Method, stopping: StoppingRule) -> Candidate:
    """Continue the descent of a candidate; its history gets the further iterations appended."""
    if stopping.max_iterations == 0:
        return candidate
    run = minimize(method, candidate.problem, candidate.variables, stopping, label=candidate.split)
    history = candidate.history.model_copy(
        update={
            "iterations": candidate.history.iterations + run.history.iterations,
            "objective": candidate.history.objective + run.history.objective[1:],
            "stop_reason": run.history.stop_reason,
        }
    )
    return replace(candidate, variables=run.state.variables, objective=run.state.objective, history=history)


def finalise_best(model: SystemModel, candidates: list[Candidate], settings: LigdSettings) -> list[Finalised]:
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
    for item in ranked[: settings.finalists]:
        refined = refine(item, method, refine_stopping)
        candidates[candidates.index(item)] = refined
        finals.append(finalise(model, refined, method, polish_stopping))
    return finals


def working_model(model: SystemModel, precision: str) -> SystemModel:
    """The model in the descent's float type (the same model if it already has it)."""
    dtype = torch.float32 if precision == "float32" else torch.float64
    if dtype == model.dtype:
        return model
    return SystemModel(model.scenario, device=model.device, dtype=dtype)


def convert_decision(model: SystemModel, decision: Decision) -> tuple[Decision, int]:
    """A discrete decision in ``model``'s float type: projected onto the feasible set there (the capped box of
    ``r`` must hold in that precision) and with the Device-Only fallback re-applied. The same decision if it
    already has that type. Returns the decision and the number of users the fallback switched."""
    if decision.beta_up.dtype == model.dtype and decision.split.device == model.device:
        return decision, 0
    converted = Decision(
        decision.split.to(model.device),
        *(t.to(device=model.device, dtype=model.dtype) for t in Variables.from_decision(decision).tensors()),
    )
    problem = ContinuousProblem(model, converted.split, frozen_beta=True)
    converted = problem.decision(problem.project(Variables.from_decision(converted)))
    return fall_back_to_device(model, converted)


def to_model(model: SystemModel, final: Finalised) -> Finalised:
    """Move a finalised decision to ``model``'s float type (:func:`convert_decision`) and recompute ``Gamma``."""
    if final.decision.beta_up.dtype == model.dtype:
        return final
    converted, switched = convert_decision(model, final.decision)
    with torch.no_grad():
        objective = float(model.objective(converted).item())
    return replace(final, decision=converted, objective=objective, fallback_users=final.fallback_users + switched)


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
) -> tuple[Start, dict[str, Any]]:
    """Run the improvement phase on the best starts and return the best plan of all (improved or not).

    Every start stays a candidate, so the result is never worse than any start (each objective is the model's,
    in its float type). Returns the winner and the evidence for the plan's ``extra``.
    """
    model = context.model
    deadline = started + (settings.time_limit_s if settings.time_limit_s is not None else math.inf)
    work_starts = [(name, convert_decision(working, decision)[0]) for name, decision in starts]
    with torch.no_grad():
        start_values = [float(working.objective(decision).item()) for _, decision in work_starts]
    order = sorted(
        range(len(work_starts)), key=lambda i: start_values[i] if math.isfinite(start_values[i]) else math.inf
    )
    candidates: list[Start] = list(starts)
    improvement: dict[str, Any] = {}
    phase = "none"
    resolved: dict[str, Any] = {"improve_starts": 0, "kicks": 0, "group_search": False, "joint_pricing": False}
    if settings.improve and working.num_users:
        small = working.num_users * working.num_subchannels <= EXHAUSTIVE_PAIRS
        thorough = thorough_phase(working.num_users, working.num_subchannels)
        search_polish = max(settings.polish_iterations, 30) if small else settings.polish_iterations
        improve_starts = settings.improve_starts or (4 if thorough else 2)
        kicks = settings.kicks if settings.kicks is not None else (KICKS if thorough else 0)
        search = LocalSearch(
            working,
            ligd_method(settings),
            ligd_stopping(settings, search_polish),
            joint_pricing=settings.joint_pricing,
        )
        units = optimal_compute_units(working)
        seen: list[float] = []
        results = []
        group_search = settings.group_search if settings.group_search is not None else thorough
        phase = (
            f"{'thorough' if thorough else 'cheap'} by size: {improve_starts} starts, {kicks} kicks, group search "
            f"{'on' if group_search else 'off'}"
        )
        grouper = (
            GroupSearch(model, deadline=deadline, max_nodes=settings.group_search_nodes)
            if group_search and group_search_applies(model)
            else None
        )
        resolved = {
            "improve_starts": improve_starts,
            "kicks": kicks,
            "group_search": grouper is not None,
            "joint_pricing": search.joint_pricing and not search.exhaustive,
        }
        for index in order:
            if len(seen) >= improve_starts:
                break
            value = start_values[index]
            if not math.isfinite(value) or any(abs(value - other) <= 1e-12 * abs(value) for other in seen):
                continue
            seen.append(value)
            name, decision = work_starts[index]
            offset = time.perf_counter() - started
            result = search.run(decision, units, deadline=deadline, max_rounds=settings.improve_max_rounds, max_kicks=0)
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
            candidates.append((f"{name} + improve", convert_decision(model, result.decision)[0]))
    with torch.no_grad():
        values = [float(model.objective(decision).item()) for _, decision in candidates]
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


#: Share of the time left that one run of the group search may take (the rest stays for the other starts).
GROUP_SEARCH_SHARE = 0.5


def group_search_result(
    working: SystemModel, grouper: GroupSearch, best: SearchResult, *, deadline: float
) -> SearchResult | None:
    """The group search (:mod:`~nomasplit.solvers.group_search`) from ``best``'s plan, as a result of the
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


def common_split_of(model: SystemModel, decision: Decision) -> int | None:
    """The one split all offloading users share, or None (nobody offloads, or splits differ)."""
    splits = torch.unique(decision.split[model.offloads(decision.split)])
    return int(splits[0]) if splits.numel() == 1 else None


def run_ligd(context: SolveContext, settings: LigdSettings, *, extra_starts: tuple[Start, ...] = ()) -> SolveOutcome:
    """``ligd``: scaled, monotone Li-GD with relative tolerances, then the discrete improvement phase on the
    best of its rounded finalists, the baseline plans and ``extra_starts`` (module docstring)."""
    started = time.perf_counter()
    model = context.model
    working = working_model(model, settings.precision)
    splits, skipped = pruned_splits(model, settings)
    with flush_denormals():
        candidates = ligd_candidates(working, settings, splits)
        finals = [to_model(model, item) for item in finalise_best(working, candidates, settings)]
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


register(
    Algorithm(
        name="ligd-paper",
        summary="Li-GD as in Table I: common split, warm-started fixed-step GD per candidate, round, polish",
        cite=PAPER_CITE,
        settings_type=PaperSettings,
        run=run_ligd_paper,
    )
)
register(
    Algorithm(
        name="gd-paper",
        summary="GD as in the paper: like ligd-paper, but every candidate starts from the same point",
        cite=PAPER_CITE + " (GD comparison of Section IV-B, Corollary 4)",
        settings_type=PaperSettings,
        run=run_gd_paper,
    )
)
register(
    Algorithm(
        name="ligd",
        summary="Li-GD made robust (default): box-scaled sign steps, monotone safeguard, relative tolerances",
        cite=PAPER_CITE + ", with scaled adaptive steps (this project)",
        settings_type=LigdSettings,
        run=run_ligd,
    )
)
