"""Edge-Only: every user that gets an OMA subchannel uploads its raw input (``s_i = 0``) at maximum power.

Policy (``common`` module): users are served strongest first; each takes its best free subchannel of its AP
in each direction (``K = 1``); users beyond ``M`` per AP (or beyond ``floor(C_n / r_min)`` with an edge
capacity) find none and run Device-Only. Compute share: ``r_max`` each, or the AP's capacity divided equally
among its offloading users (clipped to ``[r_min, r_max]``).
"""

from __future__ import annotations

from nomasplit.solvers.baselines.common import (
    OmaScheduler,
    build_decision,
    capacity_of,
    compute_share,
    max_offloaders_per_ap,
    service_order,
)
from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register


class EdgeOnlySettings(AlgorithmSettings):
    """Edge-Only has no settings."""


def run_edge_only(context: SolveContext, settings: EdgeOnlySettings) -> SolveOutcome:
    """Split 0 on one OMA subchannel per direction at ``p_max`` / ``P_max`` for every user that gets one."""
    scenario = context.scenario
    capacity = capacity_of(scenario)
    scheduler = OmaScheduler(scenario, max_offloaders_per_ap(scenario, capacity))
    split = scenario.user_num_layers().copy()
    for user in service_order(scenario):
        if scheduler.take(int(user)):
            split[user] = 0
    offloads = split == 0
    units = compute_share(scenario, offloads, capacity)
    decision = build_decision(context.model, split, scheduler.uplink, scheduler.downlink, units)
    left_out = int(scenario.num_users - offloads.sum())
    message = (
        "every user offloads its whole model"
        if left_out == 0
        else (f"{left_out} user(s) found no subchannel or edge capacity at their AP and run Device-Only")
    )
    return SolveOutcome(decision=decision, message=message, extra={"num_device_only": left_out})


EDGE_ONLY = register(
    Algorithm(
        name="edge-only",
        summary="split 0: raw input up on one OMA subchannel at maximum power, equal edge compute share",
        cite="Edge-Only baseline of Section VI",
        settings_type=EdgeOnlySettings,
        run=run_edge_only,
    )
)
