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
share, so the splits are recomputed with the new share until they repeat. If they cycle, the state of the
cycle with the smallest estimated total latency is kept. ``C`` is the scenario's ``edge_capacity_units``,
else the ``server_capacity_units`` setting; with neither, the server is not shared and heavy-load is
light-load. (DADS's own heavy-load case maximises the throughput of a stream of frames, which the paper's
one-inference-per-user model does not have; see docs/baselines.md.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from nomasplit.data.scenario import Scenario
from nomasplit.solvers.baselines.common import (
    UserTables,
    admit_and_split,
    ap_share,
    build_decision,
    capacity_of,
    edge_speed_flops_per_s,
    estimated_split_costs,
    max_offloaders_per_ap,
    noise_only_rates,
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
    max_iterations: int = Field(
        default=50, ge=1, le=10_000, description="heavy mode: rounds of re-partitioning"
    )


def latency_graph(
    tables: UserTables, uplink_rate_bps: float, downlink_rate_bps: float, edge_flops_per_s: float
) -> LayerGraph:
    """The chain of one user's model with latency costs (seconds): compute per unit, transfers per rate."""
    flops = tables.layer_flops()  # [F]
    with np.errstate(divide="ignore"):
        output_s = tables.upload_bits[1:] / uplink_rate_bps  # [F] sending unit delta's output up
        input_s = tables.upload_bits[0] / uplink_rate_bps
        result_s = tables.result_bits / downlink_rate_bps
    return chain_graph(
        device_cost=(flops / tables.device_flops_per_s).tolist(),
        edge_cost=(flops / edge_flops_per_s).tolist(),
        output_cost=output_s.tolist(),
        input_cost=float(input_s),
        result_cost=float(result_s),
    )


def min_cut_split(
    tables: UserTables, uplink_rate_bps: float, downlink_rate_bps: float, edge_flops_per_s: float
) -> int:
    """The split point of one user's minimum-latency cut: the number of units on the device."""
    device_layers, _ = min_cut_partition(
        latency_graph(tables, uplink_rate_bps, downlink_rate_bps, edge_flops_per_s)
    )
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
    return None, "none"


def run_dnn_surgery(context: SolveContext, settings: DnnSurgerySettings) -> SolveOutcome:
    """Min-cut partition per user, light-load or heavy-load (module docstring)."""
    model = context.model
    scenario = context.scenario
    association = np.asarray(scenario.association)
    num_layers = scenario.user_num_layers()
    if settings.mode == "heavy":
        capacity, capacity_source = _heavy_capacity(scenario, settings)
    else:
        capacity, capacity_source = (
            capacity_of(scenario),
            "scenario" if scenario.edge_capacity_units else "none",
        )
    limit = max_offloaders_per_ap(scenario, capacity)
    tables = user_tables(model)

    def partition(share_units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        speeds = [edge_speed_flops_per_s(model, float(units)) for units in share_units]  # [N]

        def rule(user: int, user_table: UserTables, uplink_rate: float, downlink_rate: float) -> int:
            return min_cut_split(user_table, uplink_rate, downlink_rate, speeds[association[user]])

        return admit_and_split(model, rule, limit)

    def actual_share(split: np.ndarray) -> np.ndarray:
        counts = np.bincount(association[split < num_layers], minlength=scenario.num_aps)
        return ap_share(scenario, counts, capacity)

    def estimated_total_latency(split: np.ndarray, uplink: np.ndarray, downlink: np.ndarray) -> float:
        share = actual_share(split)
        total = 0.0
        for user in range(scenario.num_users):
            if split[user] >= num_layers[user]:
                total += tables[user].total_flops / tables[user].device_flops_per_s
                continue
            rates = noise_only_rates(scenario, user, int(uplink[user]), int(downlink[user]))
            speed = edge_speed_flops_per_s(model, float(share[association[user]]))
            latency, _ = estimated_split_costs(tables[user], *rates, speed, scenario.uplink_power_max_w)
            total += float(latency[split[user]])
        return total

    share = np.full(scenario.num_aps, scenario.compute_units_max)  # round 0: light load, r_max each
    states: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    seen: dict[bytes, int] = {}
    rounds_limit = settings.max_iterations if (settings.mode == "heavy" and capacity is not None) else 1
    chosen = None
    note = ""
    for _ in range(rounds_limit):
        state = partition(share)
        key = state[0].tobytes()
        if key in seen:
            cycle = states[seen[key] :]
            if len(cycle) > 1:
                note = f"; splits cycled over {len(cycle)} states, kept the one of least estimated latency"
                chosen = min(cycle, key=lambda item: estimated_total_latency(*item))
            else:
                chosen = state
            break
        seen[key] = len(states)
        states.append(state)
        share = actual_share(state[0])
    if chosen is None:
        chosen = states[-1]
        if rounds_limit > 1:
            note = f"; splits did not settle in {rounds_limit} rounds, kept the last"
    split, uplink, downlink = chosen
    offloads = split < num_layers
    units = np.full(scenario.num_users, scenario.compute_units_min)
    units[offloads] = actual_share(split)[association[offloads]]
    decision = build_decision(model, split, uplink, downlink, units)
    mode_used = "heavy" if rounds_limit > 1 else "light"
    message = (
        f"min-cut partition per user, {mode_used}-load"
        + (
            " (heavy requested, but no edge capacity is known: light-load)"
            if settings.mode == "heavy" and mode_used == "light"
            else ""
        )
        + note
    )
    return SolveOutcome(
        decision=decision,
        message=message,
        iterations_total=len(states),
        extra={
            "mode_used": mode_used,
            "capacity_source": capacity_source,
            "rounds": len(states),
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
