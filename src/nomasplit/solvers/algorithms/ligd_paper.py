"""Li-GD and GD as Table I of the paper states them: one split point shared by all users, a gradient descent per
candidate.

- ``ligd-paper``: Table I as written. Candidates ``j = 1..F`` in order (``F`` = most split points of any user's
  model; ``j`` is capped at each user's ``F_i``, and ``j = F_i`` is Device-Only), each gradient descent
  warm-started from the previous candidate's solution; fixed step ``lambda`` on the raw variables; the three
  stopping rules with one ``epsilon``; the candidate with the smallest relaxed ``Gamma`` is rounded
  (:mod:`~nomasplit.solvers.search.rounding`) and polished (:mod:`~nomasplit.solvers.search.polish`) with the
  same method. The first candidate starts from uniform weights and every box variable at its centre.
- ``gd-paper``: the same, every candidate started from the same initial point (no warm start).

``include_edge_only`` adds the candidate ``j = 0`` (Edge-Only) before ``j = 1`` (off: Table I's range starts at 1).
The project's default, ``ligd`` (:mod:`.ligd`), runs the same sweep with a robust method and then the discrete
search.
"""

from __future__ import annotations

import math

from pydantic import Field

from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register
from nomasplit.solvers.relaxation.gradient import FixedStepGradient, StoppingRule, flush_denormals
from nomasplit.solvers.relaxation.sweep import candidate_splits, finalise, outcome_from, sweep_common_splits

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
