"""After rounding: re-optimise powers and compute units at the fixed discrete choice ("polish"), and let a user
fall back to Device-Only where offloading costs it more.

Fallback rule: an offloading user ``i`` whose utility ``U_i`` exceeds its Device-Only utility is switched to
Device-Only. Every such switch lowers ``Gamma``: the user's own utility drops, and since a Device-Only user sends
nothing, the other users lose an interferer, so their rates cannot fall and their utilities cannot rise. The
switches are applied to all such users at once and repeated until none is left, so the final ``Gamma`` is at
most the Device-Only objective (the ``s_i = F_i`` plan, whose cost does not depend on powers).

Edge capacity: if an AP's offloading users cannot all get ``r_min`` within its capacity, the users that gain the
least from offloading are switched to Device-Only until they can.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.relaxation.gradient import Method, RunResult, StoppingRule, minimize
from nomasplit.solvers.search.assigned import AssignedProblem, discrete_costs


def to_device_only(model: SystemModel, decision: Decision, users: torch.Tensor) -> Decision:
    """The decision with ``users`` (``[U]`` bool) switched to Device-Only (split ``F_i``, zero rows)."""
    keep = (~users).to(model.dtype)[:, None]
    return replace(
        decision,
        split=torch.where(users, model.num_layers, decision.split),
        beta_up=decision.beta_up * keep,
        beta_dn=decision.beta_dn * keep,
    )


def enforce_edge_capacity(model: SystemModel, decision: Decision) -> Decision:
    """Switch the least-benefiting users to Device-Only where ``r_min`` times the offloading users of an AP
    exceeds its capacity (nothing to do without ``edge_capacity_units``)."""
    scenario = model.scenario
    if scenario.edge_capacity_units is None:
        return decision
    benefit = (model.device_only_utility() - discrete_costs(model, decision).utility).cpu()  # [U]
    active = model.offloads(decision.split).cpu()
    association = model.association.cpu()
    switch = torch.zeros(model.num_users, dtype=torch.bool)
    for ap, capacity in enumerate(scenario.edge_capacity_units):
        users = torch.nonzero(active & (association == ap)).flatten()
        allowed = int(capacity // scenario.compute_units_min + 1e-9)
        if users.numel() > allowed:
            order = torch.argsort(benefit[users], descending=True, stable=True)
            switch[users[order[allowed:]]] = True
    return to_device_only(model, decision, switch.to(model.device)) if bool(switch.any()) else decision


def fall_back_to_device(model: SystemModel, decision: Decision, *, max_passes: int = 1000) -> tuple[Decision, int]:
    """Apply the fallback rule (module docstring) until no offloading user is better off on its device.

    Returns:
        The decision and the number of users switched.
    """
    decision, switched, _ = fall_back_with_objective(model, decision, max_passes=max_passes)
    return decision, switched


def fall_back_with_objective(
    model: SystemModel, decision: Decision, *, max_passes: int = 1000
) -> tuple[Decision, int, float]:
    """:func:`fall_back_to_device`, and ``Gamma`` of the decision it returns (read from its last pass where that
    evaluated the decision returned). Each pass evaluates the discrete decision by
    :func:`~nomasplit.solvers.search.assigned.discrete_costs` (the model's costs over each user's own subchannels)."""
    device_utility = model.device_only_utility()
    switched = 0
    objective: float | None = None
    for _ in range(max_passes):
        costs = discrete_costs(model, decision)
        worse = costs.offloads & ~(costs.utility <= device_utility)  # NaN utility counts as worse
        count = int(worse.sum().item())
        if count == 0:
            objective = float(costs.objective.item())
            break
        switched += count
        decision = to_device_only(model, decision, worse)
    if objective is None:  # the passes ran out after a switch
        objective = float(discrete_costs(model, decision).objective.item())
    return decision, switched, objective


def polish(
    model: SystemModel, decision: Decision, method: Method, stopping: StoppingRule
) -> tuple[Decision, RunResult | None, int]:
    """Re-optimise ``p``, ``P``, ``r`` at fixed splits and subchannels (keeping the start if the method ends
    above it), then apply the Device-Only fallback; if users fell back, polish once more (their interference
    is gone). The method descends :class:`~nomasplit.solvers.search.assigned.AssignedProblem`: ``Gamma`` over
    each user's own subchannels, the model's value at a fraction of its cost.

    Args:
        decision: a discrete, feasible decision.

    Returns:
        The polished decision, the last polishing run (None if nobody offloads), and the number of users that
        fell back to Device-Only.
    """
    decision = enforce_edge_capacity(model, decision)
    run: RunResult | None = None
    total_switched = 0
    for _ in range(2):
        if bool(model.offloads(decision.split).any()):
            problem = AssignedProblem(model, decision)
            run = minimize(method, problem, problem.start(decision), stopping)
            # A fixed-step method can end above its start; polish never makes the plan worse.
            if run.objectives[-1] <= run.objectives[0]:
                decision = problem.decision(run.state.variables)
        decision, switched = fall_back_to_device(model, decision)
        total_switched += switched
        if switched == 0:
            break
    return decision.detach(), run, total_switched
