"""Neurosurgeon (Kang et al., ASPLOS'17): each user picks its own best split from its own link estimate.

Each user is served by the OMA scheduler of ``common`` (one subchannel per direction, maximum power) and
estimates its uplink and downlink rates as the noise-only Shannon rates of those subchannels: it knows nothing
of the other users, so it ignores the inter-cell interference they cause and the sharing of the edge server
(it assumes the ``r_max`` units it would get alone). It then picks the split that minimises its estimated
latency (``mode="latency"``, Neurosurgeon's default goal) or its estimated device energy (``mode="energy"``:
device compute plus uplink transmission). The plan is then costed by the real model, interference and compute
share included: that gap is the point of the comparison. A user who picks Device-Only gives its subchannels
back to the next user of its AP.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from nomasplit.solvers.baselines.common import (
    UserTables,
    admit_and_split,
    build_decision,
    capacity_of,
    compute_share,
    edge_speed_flops_per_s,
    estimated_split_costs,
    max_offloaders_per_ap,
)
from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register


class NeurosurgeonSettings(AlgorithmSettings):
    """Settings of :func:`run_neurosurgeon`."""

    mode: Literal["latency", "energy"] = Field(
        default="latency", description="what each user minimises: its latency, or its device's energy"
    )


def run_neurosurgeon(context: SolveContext, settings: NeurosurgeonSettings) -> SolveOutcome:
    """Per-user best split on the user's own noise-only rate estimate (module docstring)."""
    model = context.model
    scenario = context.scenario
    capacity = capacity_of(scenario)
    assumed_edge = edge_speed_flops_per_s(model, scenario.compute_units_max)
    column = 0 if settings.mode == "latency" else 1

    def rule(user: int, tables: UserTables, uplink_rate: float, downlink_rate: float) -> int:
        costs = estimated_split_costs(tables, uplink_rate, downlink_rate, assumed_edge, scenario.uplink_power_max_w)
        return int(np.argmin(costs[column]))  # ties: the lowest split point

    split, uplink, downlink = admit_and_split(model, rule, max_offloaders_per_ap(scenario, capacity))
    offloads = split < scenario.user_num_layers()
    units = compute_share(scenario, offloads, capacity)
    decision = build_decision(model, split, uplink, downlink, units)
    return SolveOutcome(
        decision=decision,
        message=f"each user minimised its own estimated {settings.mode}",
        extra={"num_offloading": int(offloads.sum()), "splits": np.bincount(split).tolist()},
    )


NEUROSURGEON = register(
    Algorithm(
        name="neurosurgeon",
        summary="per user, the split minimising its latency (or device energy) on its noise-only OMA rate",
        cite="Y. Kang, J. Hauswald, C. Gao, A. Rovinski, T. Mudge, J. Mars, L. Tang, 'Neurosurgeon: "
        "Collaborative intelligence between the cloud and mobile edge', ASPLOS 2017 (paper ref. [38])",
        settings_type=NeurosurgeonSettings,
        run=run_neurosurgeon,
    )
)
