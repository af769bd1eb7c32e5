"""Projected gradient methods on the relaxed problem at fixed split points (optax style: init / step).

A :class:`ContinuousProblem` is problem (22) of the paper at fixed splits ``s`` (one per user): minimise
``Gamma`` over ``beta_up``, ``beta_dn`` (rows on the simplex, Corollary 1), ``p``, ``P`` (boxes 18.c) and ``r``
(box 18.d, or the capped box ``sum_{i in U_n, offloading} r_i <= capacity_n`` when the scenario sets
``edge_capacity_units``). With ``frozen_beta`` the subchannel weights are constants (the "polish" step after rounding).

A method is a pair ``init(problem, variables) -> GradientState`` and ``step(problem, state) -> GradientState``;
:func:`minimize` is the one loop shared by every method: it applies a :class:`StoppingRule` and records the
objective history of the run as a :class:`~nomasplit.data.plan.SplitHistory`.

Methods:

- :class:`FixedStepGradient`: Table I of the paper, ``x <- Proj(x - lambda * grad)`` in the raw variables
  (watts, units, weights) with one fixed step ``lambda``.
- :class:`ScaledRprop`: the robust default of ``ligd``. Each variable is measured in units of its box
  (``z = (x - low) / (high - low)``; weights are already in ``[0, 1]``), and each coordinate has its own step
  length in those units, grown by ``increase`` while its gradient keeps its sign and shrunk by ``decrease``
  when the sign flips (resilient propagation, Riedmiller and Braun 1993, iRprop- variant), so the steps do not
  depend on the gradient's scale at all. A step that raises ``Gamma`` is rejected and every step length is cut
  (a backtracking safeguard), so the accepted objectives never increase.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Protocol

import torch

from nomasplit.data.plan import SplitHistory
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.relaxation.projections import (
    project_box,
    project_capped_box,
    project_rows_with_column_caps,
    project_simplex_rows,
)
from nomasplit.solvers.search.rounding import assign_subchannels, one_hot_rows

#: Ascent steps of the OMA column caps' multipliers per projection, warm-started from the previous projection of
#: the same problem (rows exact, caps as far as the multipliers converged; see projections).
COLUMN_CAP_ITERATIONS = 3


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on the CPU while solving (restored afterwards).

    On the paper-scale scenario the model's forward and backward passes meet subnormal numbers, and x86 CPUs
    handle those in microcode: a forward pass took 0.94 s instead of 0.11 s (split 0, 1250 users, 2 cores).
    Values below ``2.2e-308`` have no meaning in this model, so they are flushed to zero.
    """
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


@dataclass(frozen=True)
class Variables:
    """The continuous (relaxed) decision variables; shapes ``[U, M]``, ``[U, M]``, ``[U]``, ``[U]``,
    ``[U]``."""

    beta_up: torch.Tensor
    beta_dn: torch.Tensor
    uplink_power_w: torch.Tensor
    downlink_power_w: torch.Tensor
    compute_units: torch.Tensor

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The tensors in field order."""
        return tuple(getattr(self, f.name) for f in fields(self))

    @staticmethod
    def of(tensors: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> Variables:
        """Build from tensors in field order."""
        return Variables(*tensors)

    def map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> Variables:
        """Apply ``function`` to every tensor."""
        return Variables.of([function(t) for t in self.tensors()])

    def zip_map(self, other: Variables, function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Variables:
        """Apply ``function`` to the pairs of tensors of ``self`` and ``other``."""
        return Variables.of([function(a, b) for a, b in zip(self.tensors(), other.tensors(), strict=True)])

    @staticmethod
    def from_decision(decision: Decision) -> Variables:
        """The continuous part of a decision (detached copies)."""
        return Variables(
            decision.beta_up.detach().clone(),
            decision.beta_dn.detach().clone(),
            decision.uplink_power_w.detach().clone(),
            decision.downlink_power_w.detach().clone(),
            decision.compute_units.detach().clone(),
        )


def max_abs(variables: Variables) -> float:
    """``max_k |x_k|`` over all tensors."""
    return max(float(t.abs().max().item()) if t.numel() else 0.0 for t in variables.tensors())


class ContinuousProblem:
    """Problem (22) at fixed split points: objective, gradient, projection and box scales.

    Args:
        model: the system model (all tensors live on ``model.device``).
        split: ``[U]`` long, the split point of every user (``F_i``: Device-Only).
        frozen_beta: keep ``beta_up``, ``beta_dn`` fixed (zero gradient, identity projection).
    """

    def __init__(self, model: SystemModel, split: torch.Tensor, *, frozen_beta: bool = False) -> None:
        scenario = model.scenario
        self.model = model
        self.split = split.to(model.device)
        self.frozen_beta = frozen_beta
        self.active = model.offloads(self.split)  # [U] bool
        self.bounds = (
            (scenario.uplink_power_min_w, scenario.uplink_power_max_w),
            (scenario.downlink_power_min_w, scenario.downlink_power_max_w),
            (scenario.compute_units_min, scenario.compute_units_max),
        )
        self.capacity = (
            None
            if scenario.edge_capacity_units is None
            else torch.tensor(scenario.edge_capacity_units, dtype=model.dtype, device=model.device)
        )  # [N]
        self.evaluations = 0  # objective evaluations, with or without gradient
        # OMA: at most one user of an AP per subchannel, so the relaxed weights of an AP's users on a subchannel sum
        # to at most 1 (or |U_n| / M where the cell has more offloading users than subchannels). Without it the
        # relaxation puts a whole cell on its best subchannel, which no OMA plan can do.
        self.column_caps: torch.Tensor | None = None
        if model.cluster_size == 1 and not frozen_beta:
            offloading = torch.bincount(model.association[self.active], minlength=model.num_aps).to(model.dtype)
            self.column_caps = torch.clamp(offloading / model.num_subchannels, min=1.0)  # [N]
        # The caps' multipliers of the last projection, uplink and downlink weights (the next one starts there).
        self.cap_duals: list[torch.Tensor | None] = [None, None]

    # --- model --------------------------------------------------------------------------------------
    def decision(self, variables: Variables) -> Decision:
        """The model's decision at these variables."""
        return Decision(self.split, *variables.tensors())

    def value(self, variables: Variables) -> float:
        """``Gamma`` (no gradient)."""
        self.evaluations += 1
        with torch.no_grad():
            return float(self.model.objective(self.decision(variables)).item())

    def value_and_grad(self, variables: Variables) -> tuple[float, Variables]:
        """``Gamma`` and its gradient with autograd (zero for frozen weights)."""
        self.evaluations += 1
        leaves = [t.detach().requires_grad_(True) for t in variables.tensors()]
        if self.frozen_beta:
            leaves[0].requires_grad_(False)
            leaves[1].requires_grad_(False)
        objective = self.model.objective(Decision(self.split, *leaves))
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        grads = list(torch.autograd.grad(objective, wanted))
        if self.frozen_beta:
            grads = [torch.zeros_like(leaves[0]), torch.zeros_like(leaves[1]), *grads]
        return float(objective.item()), Variables.of(grads)

    # --- geometry -----------------------------------------------------------------------------------
    def scales(self) -> tuple[float, ...]:
        """Length of each variable's box (1 for the weights): the unit of the scaled coordinates."""
        return (1.0, 1.0, *(max(high - low, 1e-300) for low, high in self.bounds))

    def project(self, variables: Variables) -> Variables:
        """Euclidean projection onto the feasible set (simplex rows, boxes, capped box of ``r``).

        With OMA's column caps it keeps the caps' multipliers for the next call (:attr:`cap_duals`, a warm start
        only): the same point projected twice may differ in the caps' last digits."""
        beta_up, beta_dn = variables.beta_up, variables.beta_dn
        if not self.frozen_beta and self.column_caps is not None:
            model = self.model
            projected = []
            for direction, beta in enumerate((beta_up, beta_dn)):
                weights, self.cap_duals[direction] = project_rows_with_column_caps(
                    beta,
                    model.association,
                    model.num_aps,
                    self.column_caps,
                    iterations=COLUMN_CAP_ITERATIONS,
                    duals=self.cap_duals[direction],
                )
                projected.append(weights)
            beta_up, beta_dn = projected
        elif not self.frozen_beta:
            beta_up, beta_dn = project_simplex_rows(beta_up), project_simplex_rows(beta_dn)
        (p_low, p_high), (q_low, q_high), (r_low, r_high) = self.bounds
        if self.capacity is None:
            units = project_box(variables.compute_units, r_low, r_high)
        else:
            units = project_capped_box(
                variables.compute_units, r_low, r_high, self.model.association, self.capacity, self.active
            )
        return Variables(
            beta_up,
            beta_dn,
            project_box(variables.uplink_power_w, p_low, p_high),
            project_box(variables.downlink_power_w, q_low, q_high),
            units,
        )

    def start_point(self, kind: str = "center") -> Variables:
        """A feasible start point (Table I, line 1 leaves it open).

        ``center``: uniform weights ``1/M`` and every box variable at the middle of its box (no information on
        the optimum). ``gain``: the same boxes, but one-hot weights from the capacity-constrained assignment of
        :mod:`~nomasplit.solvers.search.rounding` applied to each user's own channel gains in dB below its best
        subchannel (a maximum-weight matching of users to the slots of their AP), so the start is a feasible
        discrete assignment.
        """
        model = self.model
        num_users, num_subchannels = model.num_users, model.num_subchannels
        dtype, device = model.dtype, model.device
        uniform = torch.full((num_users, num_subchannels), 1.0 / num_subchannels, dtype=dtype, device=device)
        boxes = [torch.full((num_users,), 0.5 * (low + high), dtype=dtype, device=device) for low, high in self.bounds]
        if kind == "center":
            return self.project(Variables(uniform, uniform.clone(), *boxes))
        if kind != "gain":
            raise ValueError(f"unknown start {kind!r}; allowed: center, gain")
        betas = []
        for gain in (model.uplink_gain_own, model.downlink_gain_own):  # [U, M] each
            # Weights in dB below each user's best subchannel, so that strong users do not dominate the matching.
            relative = torch.log10(gain / gain.max(dim=1, keepdim=True).values)  # [U, M], <= 0
            assigned = assign_subchannels(relative, model.association, self.active, model.num_aps, model.cluster_size)
            rows = one_hot_rows(assigned, num_subchannels, model.dtype)
            betas.append(torch.where((assigned >= 0)[:, None], rows, uniform))
        return self.project(Variables(betas[0], betas[1], *boxes))

    def stationarity(self, variables: Variables, gradient: Variables, objective: float) -> float:
        """Relative projected-gradient measure in scaled units (0 at a KKT point).

        ``max_k |z_k - Proj(z - grad_z Gamma / |Gamma|)_k|`` where ``z`` are the box-scaled coordinates: the
        largest move a unit step on the relative gradient would make.
        """
        scale = max(abs(objective), 1e-300)
        scales = self.scales()
        moved_raw = Variables.of(
            [x - g * s * s / scale for x, g, s in zip(variables.tensors(), gradient.tensors(), scales, strict=True)]
        )
        moved = self.project(moved_raw)
        return max(
            float(((a - b).abs() / s).max().item()) if a.numel() else 0.0
            for a, b, s in zip(moved.tensors(), variables.tensors(), scales, strict=True)
        )

    def scaled_change(self, before: Variables, after: Variables) -> float:
        """``max_k |z_k(after) - z_k(before)|`` in box-scaled units."""
        return max(
            float(((a - b).abs() / s).max().item()) if a.numel() else 0.0
            for a, b, s in zip(after.tensors(), before.tensors(), self.scales(), strict=True)
        )


@dataclass(frozen=True)
class GradientState:
    """State of a gradient method after an iteration.

    Attributes:
        variables: the current (feasible) point.
        objective: ``Gamma`` there.
        gradient: the gradient there.
        iteration: iterations done.
        last_change_raw: ``max(||dB||, ||dP||, ||dr||)`` of the last step (2-norms of the raw blocks).
        last_change_scaled: largest change of the last step in box-scaled units.
        step: method-specific step lengths (per coordinate for :class:`ScaledRprop`).
        previous_gradient: the gradient used by sign-based methods.
        accepted: whether the last step was accepted.
    """

    variables: Variables
    objective: float
    gradient: Variables
    iteration: int = 0
    last_change_raw: float = math.inf
    last_change_scaled: float = math.inf
    step: Variables | None = None
    previous_gradient: Variables | None = None
    accepted: bool = True


class Method(Protocol):
    """A gradient method (optax style)."""

    def init(self, problem: ContinuousProblem, variables: Variables) -> GradientState: ...

    def step(self, problem: ContinuousProblem, state: GradientState) -> GradientState: ...


def _raw_change(before: Variables, after: Variables) -> float:
    """Table I, line 9: ``max{||B' - B||, ||P' - P||, ||r' - r||}`` with ``B = (beta_up, beta_dn)``, ``P =
    (p, P)``."""
    diffs = [(a - b) for a, b in zip(after.tensors(), before.tensors(), strict=True)]
    block_b = math.sqrt(float((diffs[0] ** 2).sum() + (diffs[1] ** 2).sum()))
    block_p = math.sqrt(float((diffs[2] ** 2).sum() + (diffs[3] ** 2).sum()))
    block_r = float(diffs[4].norm())
    return max(block_b, block_p, block_r)


@dataclass(frozen=True)
class FixedStepGradient:
    """Table I: ``x_{k+1} = Proj(x_k - lambda * g_k)`` with a fixed step ``lambda`` on the raw variables."""

    step_size: float

    def init(self, problem: ContinuousProblem, variables: Variables) -> GradientState:
        objective, gradient = problem.value_and_grad(variables)
        return GradientState(variables=variables, objective=objective, gradient=gradient)

    def step(self, problem: ContinuousProblem, state: GradientState) -> GradientState:
        moved = state.variables.zip_map(state.gradient, lambda x, g: x - self.step_size * g)
        new = problem.project(moved)
        objective, gradient = problem.value_and_grad(new)
        return GradientState(
            variables=new,
            objective=objective,
            gradient=gradient,
            iteration=state.iteration + 1,
            last_change_raw=_raw_change(state.variables, new),
            last_change_scaled=problem.scaled_change(state.variables, new),
        )


@dataclass(frozen=True)
class ScaledRprop:
    """Sign-based steps with per-coordinate lengths in box-scaled units, and a monotone safeguard.

    Each coordinate ``k`` moves by ``-sign(g_k) * step_k * scale_k``; ``step_k`` is multiplied by ``increase``
    when ``g_k`` kept its sign since the last accepted step, by ``decrease`` when it flipped (and that
    coordinate then rests one step), and stays within ``[min_step, max_step]``. A trial point with a larger
    (or non-finite) ``Gamma`` is rejected and every step length is multiplied by ``decrease``.
    """

    initial_step: float = 0.05
    increase: float = 1.5
    decrease: float = 0.5
    min_step: float = 1e-7
    max_step: float = 0.5
    max_rejections: int = 8

    def init(self, problem: ContinuousProblem, variables: Variables) -> GradientState:
        objective, gradient = problem.value_and_grad(variables)
        step = variables.map(lambda t: torch.full_like(t, self.initial_step))
        zeros = variables.map(torch.zeros_like)
        return GradientState(
            variables=variables, objective=objective, gradient=gradient, step=step, previous_gradient=zeros
        )

    def step(self, problem: ContinuousProblem, state: GradientState) -> GradientState:
        assert state.step is not None and state.previous_gradient is not None
        sign_now = state.gradient.map(torch.sign)
        agreement = sign_now.zip_map(state.previous_gradient.map(torch.sign), torch.mul)
        step = Variables.of(
            [
                torch.where(a > 0, s * self.increase, torch.where(a < 0, s * self.decrease, s)).clamp(
                    self.min_step, self.max_step
                )
                for s, a in zip(state.step.tensors(), agreement.tensors(), strict=True)
            ]
        )
        # iRprop-: a coordinate whose gradient flipped rests this step.
        direction = Variables.of(
            [
                torch.where(a < 0, torch.zeros_like(g), g)
                for g, a in zip(sign_now.tensors(), agreement.tensors(), strict=True)
            ]
        )
        scales = problem.scales()
        for _ in range(self.max_rejections + 1):
            moved = Variables.of(
                [
                    x - d * s * scale
                    for x, d, s, scale in zip(
                        state.variables.tensors(), direction.tensors(), step.tensors(), scales, strict=True
                    )
                ]
            )
            new = problem.project(moved)
            objective, gradient = problem.value_and_grad(new)
            if math.isfinite(objective) and objective <= state.objective:
                return GradientState(
                    variables=new,
                    objective=objective,
                    gradient=gradient,
                    iteration=state.iteration + 1,
                    last_change_raw=_raw_change(state.variables, new),
                    last_change_scaled=problem.scaled_change(state.variables, new),
                    step=step,
                    previous_gradient=direction,
                )
            step = step.map(lambda s: (s * self.decrease).clamp(min=self.min_step))
        # No decrease even with the smallest steps: stay, with the shrunken steps (the loop will stop).
        return replace(
            state,
            iteration=state.iteration + 1,
            last_change_raw=0.0,
            last_change_scaled=0.0,
            step=step,
            previous_gradient=state.gradient.map(torch.zeros_like),
            accepted=False,
        )


@dataclass(frozen=True)
class StoppingRule:
    """The three stopping rules of Table I (lines 6 and 9) plus an iteration cap.

    ``relative=False`` (the paper): stop when ``||g||_2 < gradient_tol``, or ``|Gamma_{k+1} - Gamma_k| <
    objective_tol``, or ``max(||dB||, ||dP||, ||dr||) < variable_tol`` (raw units).
    ``relative=True`` (``ligd``): stop when the relative projected gradient in box-scaled units
    (:meth:`ContinuousProblem.stationarity`) is below ``gradient_tol``, or ``Gamma`` fell by less than
    ``objective_tol * |Gamma|`` over the last ``patience`` iterations, or the largest box-scaled change of a
    step is below ``variable_tol``.
    """

    gradient_tol: float
    objective_tol: float
    variable_tol: float
    max_iterations: int
    relative: bool = False
    patience: int = 1

    def check(self, problem: ContinuousProblem, state: GradientState, objectives: list[float]) -> str | None:
        """The reason to stop now, or None."""
        if self.relative:
            zero = all(not bool(g.any()) for g in state.gradient.tensors())
            # The projected gradient costs a projection: look at it on the first and every 5th iteration.
            if zero or (
                state.iteration % 5 == 0
                and problem.stationarity(state.variables, state.gradient, state.objective) < self.gradient_tol
            ):
                return "gradient"
        else:
            norm = math.sqrt(sum(float((g**2).sum()) for g in state.gradient.tensors()))
            if norm < self.gradient_tol:
                return "gradient"
        if not math.isfinite(state.objective):
            return "non-finite objective"
        if state.iteration >= 1:
            if self.relative:
                if len(objectives) > self.patience:
                    drop = objectives[-1 - self.patience] - objectives[-1]
                    if drop < self.objective_tol * abs(objectives[-1]):
                        return "objective"
            elif abs(objectives[-1] - objectives[-2]) < self.objective_tol:
                return "objective"
            change = state.last_change_scaled if self.relative else state.last_change_raw
            if change < self.variable_tol:
                return "variables"
        if state.iteration >= self.max_iterations:
            return "max_iterations"
        return None


@dataclass
class RunResult:
    """Outcome of :func:`minimize`."""

    state: GradientState
    history: SplitHistory
    evaluations: int = 0
    objectives: list[float] = field(default_factory=list)


def minimize(
    method: Method,
    problem: ContinuousProblem,
    start: Variables,
    stopping: StoppingRule,
    *,
    label: int = -1,
) -> RunResult:
    """Run ``method`` from ``start`` until ``stopping`` says so; record the objective after each iteration.

    Args:
        label: the split recorded in the history (the common split, or -1 for per-user splits).
    """
    evaluations_before = problem.evaluations
    state = method.init(problem, problem.project(start))
    objectives = [state.objective]
    reason = stopping.check(problem, state, objectives) if stopping.max_iterations > 0 else "max_iterations"
    while reason is None:
        state = method.step(problem, state)
        objectives.append(state.objective)
        reason = stopping.check(problem, state, objectives)
    history = SplitHistory(
        split=label, iterations=state.iteration, objective=[float(v) for v in objectives], stop_reason=reason
    )
    return RunResult(
        state=state,
        history=history,
        evaluations=problem.evaluations - evaluations_before,
        objectives=objectives,
    )
