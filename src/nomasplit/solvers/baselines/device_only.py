"""Device-Only: every user runs its whole model locally (``s_i = F_i``); nothing is sent."""

from __future__ import annotations

import numpy as np

from nomasplit.solvers.baselines.common import NO_SUBCHANNEL, build_decision
from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register


class DeviceOnlySettings(AlgorithmSettings):
    """Device-Only has no settings."""


def run_device_only(context: SolveContext, settings: DeviceOnlySettings) -> SolveOutcome:
    """``s_i = F_i`` for every user; no subchannel, minimum powers (unused), ``r_min`` (unused)."""
    model = context.model
    split = model.full_split().cpu().numpy()
    none = np.full(model.num_users, NO_SUBCHANNEL, dtype=np.int64)
    decision = build_decision(model, split, none, none, np.full(model.num_users, model.scenario.compute_units_min))
    return SolveOutcome(decision=decision, message="every user runs its whole model on the device")


DEVICE_ONLY = register(
    Algorithm(
        name="device-only",
        summary="every user runs its whole DNN on its device (s_i = F_i)",
        cite="Device-Only baseline of Section VI (the paper's normalisation reference)",
        settings_type=DeviceOnlySettings,
        run=run_device_only,
    )
)
