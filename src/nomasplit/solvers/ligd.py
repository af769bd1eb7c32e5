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
from dataclasses import dataclass, replace
from typing import Literal

import torch
from pydantic import Field

from nomasplit.data.plan import SplitHistory
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.bounds import common_split_lower_bounds, device_only_objective
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
from nomasplit.solvers.polish import fall_back_to_device, polish
from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register
from nomasplit.solvers.rounding import round_decision

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
        default=30, ge=0, description="further iterations on each finalist before it is rounded"
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
    finalists: int = Field(default=2, ge=1, description="best relaxed candidates that are rounded and polished")
    polish_iterations: int = Field(default=30, ge=0, description="cap on iterations of the polish step")
    include_edge_only: bool = Field(
        default=True, description="also try j = 0 (Edge-Only); Table I starts at j = 1 (ligd-paper keeps that)"
    )
    warm_start: bool = Field(default=True, description="start each candidate from the previous one's solution")
    prune: bool = Field(
        default=True,
        description="skip split candidates whose interference-free lower bound on Gamma is not below the "
        "Device-Only objective (they cannot win; see nomasplit.solvers.bounds)",
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
    ranked = sorted(candidates, key=lambda item: item.objective if math.isfinite(item.objective) else math.inf)
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


def to_model(model: SystemModel, final: Finalised) -> Finalised:
    """Move a finalised decision to ``model``'s float type: project it onto the feasible set there (the capped
    box of ``r`` must hold in that precision), re-apply the Device-Only fallback and recompute ``Gamma``."""
    if final.decision.beta_up.dtype == model.dtype:
        return final
    decision = final.decision
    converted = Decision(
        decision.split,
        *(t.to(model.dtype) for t in Variables.from_decision(decision).tensors()),
    )
    problem = ContinuousProblem(model, converted.split, frozen_beta=True)
    converted = problem.decision(problem.project(Variables.from_decision(converted)))
    converted, switched = fall_back_to_device(model, converted)
    with torch.no_grad():
        objective = float(model.objective(converted).item())
    return replace(final, decision=converted, objective=objective, fallback_users=final.fallback_users + switched)


def run_ligd(context: SolveContext, settings: LigdSettings) -> SolveOutcome:
    """``ligd``: scaled, monotone Li-GD with relative tolerances (module docstring)."""
    model = context.model
    working = working_model(model, settings.precision)
    splits, skipped = pruned_splits(model, settings)
    with flush_denormals():
        candidates = ligd_candidates(working, settings, splits)
        finals = [to_model(model, item) for item in finalise_best(working, candidates, settings)]
    outcome = outcome_from(model, candidates, finals, label="ligd")
    outcome.extra["pruned_splits_lower_bound"] = skipped
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
