"""The relaxed sweep over common split points (Table I, lines 2-18) and what turns its candidates into plans.

For each candidate split ``j`` (in order, each descent warm-started from the previous one's solution when asked),
the problem at that split is relaxed (``beta`` continuous) and descended (:mod:`.gradient`); a candidate is then
refined, rounded (:mod:`~nomasplit.solvers.search.rounding`) and polished (:mod:`~nomasplit.solvers.search.polish`).
Used by ``ligd-paper``, ``gd-paper``, ``ligd`` and ``ligd-peruser``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from nomasplit.data.plan import SplitHistory
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.registry import SolveOutcome
from nomasplit.solvers.relaxation.gradient import ContinuousProblem, Method, StoppingRule, Variables, minimize
from nomasplit.solvers.search.assigned import discrete_costs
from nomasplit.solvers.search.polish import fall_back_to_device, fall_back_with_objective, polish
from nomasplit.solvers.search.rounding import round_decision


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


def working_model(model: SystemModel, precision: str) -> SystemModel:
    """The model in the descent's float type (the same model if it already has it)."""
    return model.with_dtype(torch.float32 if precision == "float32" else torch.float64)


def convert_decision(model: SystemModel, decision: Decision) -> tuple[Decision, int]:
    """A discrete decision in ``model``'s float type: projected onto the feasible set there (the capped box of
    ``r`` must hold in that precision) and with the Device-Only fallback re-applied. The same decision if it
    already has that type. Returns the decision and the number of users the fallback switched."""
    if decision.beta_up.dtype == model.dtype and decision.split.device == model.device:
        return decision, 0
    return fall_back_to_device(model, _projected(model, decision))


def converted_with_objective(model: SystemModel, decision: Decision) -> tuple[Decision, float]:
    """:func:`convert_decision`'s decision and its ``Gamma`` in ``model`` (the fallback's last evaluation where
    there was one, so the decision is evaluated once; :func:`~nomasplit.solvers.search.assigned.discrete_costs`,
    the model's costs over each user's own subchannels)."""
    if decision.beta_up.dtype == model.dtype and decision.split.device == model.device:
        return decision, float(discrete_costs(model, decision).objective.item())
    converted, _, objective = fall_back_with_objective(model, _projected(model, decision))
    return converted, objective


def _projected(model: SystemModel, decision: Decision) -> Decision:
    """``decision`` in ``model``'s float type and device, projected onto the feasible set there."""
    converted = Decision(
        decision.split.to(model.device),
        *(t.to(device=model.device, dtype=model.dtype) for t in Variables.from_decision(decision).tensors()),
    )
    problem = ContinuousProblem(model, converted.split, frozen_beta=True)
    return problem.decision(problem.project(Variables.from_decision(converted)))


def to_model(model: SystemModel, final: Finalised) -> Finalised:
    """Move a finalised decision to ``model``'s float type (:func:`convert_decision`) and recompute ``Gamma``."""
    if final.decision.beta_up.dtype == model.dtype:
        return final
    converted, switched = convert_decision(model, final.decision)
    with torch.no_grad():
        objective = float(model.objective(converted).item())
    return replace(final, decision=converted, objective=objective, fallback_users=final.fallback_users + switched)


def common_split_of(model: SystemModel, decision: Decision) -> int | None:
    """The one split all offloading users share, or None (nobody offloads, or splits differ)."""
    splits = torch.unique(decision.split[model.offloads(decision.split)])
    return int(splits[0]) if splits.numel() == 1 else None
