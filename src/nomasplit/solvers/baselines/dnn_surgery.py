"""DNN Surgery / DADS (Hu et al., INFOCOM'19; Liang et al., TCC'23): minimum-cut partition of the layer graph.

Light-load mode (DADS's light-load case): each user minimises the latency of one frame, device compute plus
transfers plus edge compute, by a minimum s-t cut of its model's layer graph
(:func:`~nomasplit.solvers.baselines.layer_graph.min_cut_partition`), on the same information as
Neurosurgeon: the noise-only rate of its OMA subchannels at maximum power and the edge speed of ``r_max``
units. On a chain the minimum cut is the best single split point, so light-load DNN Surgery picks the same
splits as Neurosurgeon's latency mode; what the min cut adds is that it also handles DAG models.

Heavy-load mode (our reading of the resource-constrained case of Liang et al., where the edge's resources for
inference are limited): the edge server of an AP has ``C`` compute units that its offloading users share
equally, ``clip(C / n_off, r_min, r_max)`` each, and at most ``floor(C / r_min)`` of them may offload. Each
user partitions its model with the speed of the share it expects; the number of offloading users changes the
share, so users take turns choosing their best cut given the others' current choices (best response) until a
whole sweep changes nothing. ``C`` is the scenario's ``edge_capacity_units``, else the
``server_capacity_units`` setting (the same at every AP), else ``server_units_per_user`` times the number of
users the AP serves (a server sized to its cell); with none of them, the server is not shared and heavy-load is
light-load.
(DADS's own heavy-load case maximises the throughput of a stream of frames, which the paper's
one-inference-per-user model does not have; see docs/baselines.md.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from nomasplit.data.scenario import Scenario
from nomasplit.model.system import SystemModel
from nomasplit.solvers.baselines.common import (
    OmaScheduler,
    UserTables,
    build_decision,
    capacity_of,
    compute_share,
    edge_speed_flops_per_s,
    max_offloaders_per_ap,
    noise_only_rates,
    service_order,
    user_tables,
)
from nomasplit.solvers.baselines.layer_graph import LayerGraph, chain_graph, min_cut_partition
from nomasplit.solvers.registry import Algorithm, AlgorithmSettings, SolveContext, SolveOutcome, register


class DnnSurgerySettings(AlgorithmSettings):
    """Settings of :func:`run_dnn_surgery`."""

    mode: Literal["light", "heavy"] = Field(
        default="heavy", description="light: server not shared; heavy: each AP's capacity shared by its users"
    )
    server_capacity_units: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="compute units of each AP's server in heavy mode when the scenario sets no edge capacity",
    )
    server_units_per_user: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="heavy mode, when the scenario sets no edge capacity and server_capacity_units is not "
        "given: each AP's server has this many compute units per user it serves",
    )
    max_iterations: int = Field(
        default=50, ge=1, le=10_000, description="heavy mode: most best-response sweeps over all users"
    )

    @model_validator(mode="after")
    def _one_server_size(self) -> DnnSurgerySettings:
        if self.server_capacity_units is not None and self.server_units_per_user is not None:
            raise ValueError("give server_capacity_units or server_units_per_user, not both")
        return self


def latency_graph(
    tables: UserTables, uplink_rate_bps: float, downlink_rate_bps: float, edge_flops_per_s: float
) -> LayerGraph:
    """The chain of one user's model with latency costs (seconds): compute per unit, transfers per rate."""
    with np.errstate(divide="ignore"):
        output_s = tables.upload_bits[1:] / uplink_rate_bps  # [F] sending unit delta's output up
        input_s = tables.upload_bits[0] / uplink_rate_bps
        result_s = tables.result_bits / downlink_rate_bps
    return chain_graph(
        device_cost=np.diff(tables.device_latency_s).tolist(),
        edge_cost=(-np.diff(tables.edge_work) / edge_flops_per_s).tolist(),
        output_cost=output_s.tolist(),
        input_cost=float(input_s),
        result_cost=float(result_s),
    )


def min_cut_split(tables: UserTables, uplink_rate_bps: float, downlink_rate_bps: float, edge_flops_per_s: float) -> int:
    """The split point of one user's minimum-latency cut: the number of units on the device."""
    device_layers, _ = min_cut_partition(latency_graph(tables, uplink_rate_bps, downlink_rate_bps, edge_flops_per_s))
    split = len(device_layers)
    if device_layers != frozenset(range(split)):  # a chain's monotone partitions are prefixes
        raise AssertionError(f"min cut of a chain is not a prefix: {sorted(device_layers)}")
    return split


def _heavy_capacity(scenario: Scenario, settings: DnnSurgerySettings) -> tuple[np.ndarray | None, str]:
    scenario_capacity = capacity_of(scenario)
    if scenario_capacity is not None:
        return scenario_capacity, "scenario"
    if settings.server_capacity_units is not None:
        return np.full(scenario.num_aps, settings.server_capacity_units), "settings"
    if settings.server_units_per_user is not None:
        served = np.bincount(np.asarray(scenario.association), minlength=scenario.num_aps)
        return settings.server_units_per_user * served.astype(np.float64), "settings per user"
    return None, "none"


def _share_units(scenario: Scenario, capacity: np.ndarray | None, ap: int, num_sharing: int) -> float:
    """Units each of ``num_sharing`` offloading users of AP ``ap`` gets (``r_max`` without capacity)."""
    if capacity is None:
        return scenario.compute_units_max
    return float(np.clip(capacity[ap] / num_sharing, scenario.compute_units_min, scenario.compute_units_max))


def best_response_partition(
    model: SystemModel,
    admission_capacity: np.ndarray | None,
    shared_capacity: np.ndarray | None,
    max_sweeps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Users, in service order, each choose their min-cut split given the others' current choices.

    A user leaves its current choice (giving back its subchannels), takes the best free OMA subchannels of its
    AP if any are left (and if the AP admits another offloading user), and partitions its model with the edge
    speed of the share it would get, ``C / (n_others + 1)``; if the cut puts everything on the device it gives
    the subchannels back. Sweeps repeat until a whole sweep changes nothing, at most ``max_sweeps``. With no
    shared capacity the share is ``r_max`` whatever the others do, and one sweep is Neurosurgeon's admission.

    Args:
        model: the scenario's model.
        admission_capacity: ``[N]`` capacity that limits how many users of an AP may offload, or None.
        shared_capacity: ``[N]`` capacity the users assume they share (heavy load), or None (``r_max`` each).
        max_sweeps: most sweeps over all users.

    Returns:
        ``split [U]``, ``uplink [U]``, ``downlink [U]``, the sweeps run, and whether the last changed nothing.
    """
    scenario = model.scenario
    association = np.asarray(scenario.association)
    num_layers = scenario.user_num_layers()
    tables = user_tables(model)
    scheduler = OmaScheduler(scenario, max_offloaders_per_ap(scenario, admission_capacity))
    split = num_layers.copy()  # everyone Device-Only until served
    num_offloading = np.zeros(scenario.num_aps, dtype=np.int64)  # [N]
    order = service_order(scenario)
    settled = False
    sweeps = 0
    while sweeps < max_sweeps and not settled:
        sweeps += 1
        settled = True
        for user in (int(index) for index in order):
            ap = association[user]
            before = (split[user], scheduler.uplink[user], scheduler.downlink[user])
            if split[user] < num_layers[user]:
                num_offloading[ap] -= 1
                scheduler.release(user)
                split[user] = num_layers[user]
            if scheduler.take(user):
                uplink, downlink = int(scheduler.uplink[user]), int(scheduler.downlink[user])
                rates = noise_only_rates(scenario, user, uplink, downlink)
                units = _share_units(scenario, shared_capacity, ap, int(num_offloading[ap]) + 1)
                choice = min_cut_split(tables[user], *rates, edge_speed_flops_per_s(model, units))
                if choice < num_layers[user]:
                    split[user] = choice
                    num_offloading[ap] += 1
                else:
                    scheduler.release(user)
            if (split[user], scheduler.uplink[user], scheduler.downlink[user]) != before:
                settled = False
    return split, scheduler.uplink.copy(), scheduler.downlink.copy(), sweeps, settled


def run_dnn_surgery(context: SolveContext, settings: DnnSurgerySettings) -> SolveOutcome:
    """Min-cut partition per user, light-load or heavy-load (module docstring)."""
    model = context.model
    scenario = context.scenario
    if settings.mode == "heavy":
        capacity, capacity_source = _heavy_capacity(scenario, settings)
    else:
        capacity = capacity_of(scenario)
        capacity_source = "none" if capacity is None else "scenario"
    heavy = settings.mode == "heavy" and capacity is not None
    # Light load: each user assumes r_max in one sweep; the scenario's capacity (if any) still limits how many
    # users offload and is shared among them in the plan.
    split, uplink, downlink, sweeps, settled = best_response_partition(
        model, capacity, capacity if heavy else None, settings.max_iterations if heavy else 1
    )
    offloads = split < scenario.user_num_layers()
    units = compute_share(scenario, offloads, capacity)
    decision = build_decision(model, split, uplink, downlink, units)
    message = f"min-cut partition per user, {'heavy' if heavy else 'light'}-load"
    if settings.mode == "heavy" and not heavy:
        message += " (heavy requested, but no edge capacity is known: light-load)"
    if heavy:
        message += f", {sweeps} sweep(s)" + ("" if settled else ", not settled: kept the last sweep")
    return SolveOutcome(
        decision=decision,
        success=True,
        message=message,
        iterations_total=sweeps,
        extra={
            "mode_used": "heavy" if heavy else "light",
            "capacity_source": capacity_source,
            "sweeps": sweeps,
            "settled": settled or not heavy,  # light load is one pass by definition
            "num_offloading": int(offloads.sum()),
            "splits": np.bincount(split).tolist(),
        },
    )


DNN_SURGERY = register(
    Algorithm(
        name="dnn-surgery",
        summary="per user, the minimum-latency s-t cut of its layer graph; heavy-load shares the edge",
        cite="C. Hu, W. Bao, D. Wang, F. Liu, 'Dynamic adaptive DNN surgery for inference acceleration on "
        "the edge', INFOCOM 2019; H. Liang, Q. Sang, C. Hu, D. Cheng, X. Zhou, D. Wang, W. Bao, Y. Wang, "
        "'DNN surgery: Accelerating DNN inference on the edge through layer partitioning', "
        "IEEE TCC 11(3), 2023 (paper ref. [14])",
        settings_type=DnnSurgerySettings,
        run=run_dnn_surgery,
    )
)
