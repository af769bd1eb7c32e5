"""DNN Surgery / DADS (Hu et al., INFOCOM'19; Liang et al., TCC'23): minimum-cut partition of the layer graph.

Light-load mode (DADS's light-load case): each user minimises the latency of one frame, device compute plus
transfers plus edge compute, by a minimum s-t cut of its model's layer graph
(:func:`~nomasplit.solvers.baselines.layer_graph.min_cut_partition`), on the same information as
Neurosurgeon: the noise-only rate of its OMA subchannels at maximum power and the edge speed of ``r_max``
units. On a chain the minimum cut is the best single split point, so light-load DNN Surgery picks the same
splits as Neurosurgeon's latency mode; what the min cut adds is that it also handles DAG models.

DAG models (a profile with a ``graph``, docs/profiles.md): the cut is taken on the real graph of the units,
each unit's output sent once however many edge units read it, the input sent when any unit reading it runs
on the edge. A minimum cut need not be a prefix of the profile's order (e.g. a residual block's shortcut on
the device and its branch on the edge). A plan can only hold split points of that order, and the runtime runs
those, so such a cut is costed honestly rather than executed as if it were free: the user takes the split
point whose cut costs least under the same single-user estimate (the cheapest prefix), and the plan's
``extra`` counts the users whose true minimum cut was not a split point (``cuts_off_order``) and the largest
estimated latency the order cost them (``max_cut_gap_s``); the plan itself is then evaluated by the system
model like every other plan.

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

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from nomasplit.data.profile import ModelProfile
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
from nomasplit.solvers.baselines.layer_graph import (
    LayerGraph,
    chain_graph,
    chain_min_cut,
    dag_graph,
    is_prefix,
    min_cut_partition,
    partition_cost,
)
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
    tables: UserTables,
    uplink_rate_bps: float,
    downlink_rate_bps: float,
    edge_flops_per_s: float,
    profile: ModelProfile | None = None,
) -> LayerGraph:
    """The graph of one user's model with latency costs (seconds): compute per unit, transfers per rate.

    Without a DAG ``profile`` (none, or one without ``graph``) the units form a chain and unit ``delta``'s
    output costs ``k w(delta) / rate``. With one, the edges are its graph's and each unit's own output costs
    ``k tensor_bits / rate``, where the workload ``k`` is ``tables.upload_bits[0] / profile.input_bits``.
    """
    with np.errstate(divide="ignore"):
        input_s = tables.upload_bits[0] / uplink_rate_bps
        result_s = tables.result_bits / downlink_rate_bps
        if profile is not None and profile.graph is not None:
            workload = tables.upload_bits[0] / profile.input_bits
            tensor_bits = np.array([unit.tensor_bits for unit in profile.graph.units])  # [F]
            return dag_graph(
                device_cost=np.diff(tables.device_latency_s).tolist(),
                edge_cost=(-np.diff(tables.edge_work) / edge_flops_per_s).tolist(),
                output_cost=(workload * tensor_bits / uplink_rate_bps).tolist(),
                layer_inputs=[list(unit.inputs) for unit in profile.graph.units],
                input_cost=float(input_s),
                result_cost=float(result_s),
            )
        output_s = tables.upload_bits[1:] / uplink_rate_bps  # [F] sending unit delta's output up
    return chain_graph(
        device_cost=np.diff(tables.device_latency_s).tolist(),
        edge_cost=(-np.diff(tables.edge_work) / edge_flops_per_s).tolist(),
        output_cost=output_s.tolist(),
        input_cost=float(input_s),
        result_cost=float(result_s),
    )


@dataclass(frozen=True)
class CutChoice:
    """One user's minimum-cut decision.

    Attributes:
        split: the split point used (units ``1..split`` on the device).
        cut_is_split: whether the true minimum cut is that split point (always, for a chain).
        gap_s: estimated latency of the split minus that of the true minimum cut (0 when it is a split) [s].
    """

    split: int
    cut_is_split: bool
    gap_s: float


def min_cut_choice(
    tables: UserTables,
    uplink_rate_bps: float,
    downlink_rate_bps: float,
    edge_flops_per_s: float,
    profile: ModelProfile | None = None,
) -> CutChoice:
    """One user's minimum-latency cut of its layer graph, as a split point of its profile (module docstring).

    A rate of 0 either way (a gain of 0, inside the documented range) leaves no finite cut but all-device."""
    if not (uplink_rate_bps > 0 and downlink_rate_bps > 0):
        return CutChoice(split=tables.num_layers, cut_is_split=True, gap_s=0.0)
    graph = latency_graph(tables, uplink_rate_bps, downlink_rate_bps, edge_flops_per_s, profile)
    chain = profile is None or profile.graph is None
    device_layers, cut_cost = chain_min_cut(graph) if chain else min_cut_partition(graph)
    if is_prefix(device_layers):
        return CutChoice(split=len(device_layers), cut_is_split=True, gap_s=0.0)
    prefix_costs = [partition_cost(graph, frozenset(range(split))) for split in range(graph.num_layers + 1)]
    split = int(np.argmin(prefix_costs))
    return CutChoice(split=split, cut_is_split=False, gap_s=float(prefix_costs[split] - cut_cost))


def min_cut_split(
    tables: UserTables,
    uplink_rate_bps: float,
    downlink_rate_bps: float,
    edge_flops_per_s: float,
    profile: ModelProfile | None = None,
) -> int:
    """The split point of one user's minimum-latency cut: the number of units on the device."""
    return min_cut_choice(tables, uplink_rate_bps, downlink_rate_bps, edge_flops_per_s, profile).split


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool, np.ndarray, np.ndarray]:
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
        ``split [U]``, ``uplink [U]``, ``downlink [U]``, the sweeps run, whether the last changed nothing,
        ``[U]`` whether each user's last true minimum cut was not a split point (DAG models), and ``[U]`` the
        estimated latency that cost it [s] (:class:`CutChoice`).
    """
    scenario = model.scenario
    association = np.asarray(scenario.association)
    num_layers = scenario.user_num_layers()
    tables = user_tables(model)
    profiles = [scenario.profiles[index] for index in scenario.user_profile]  # [U]
    scheduler = OmaScheduler(scenario, max_offloaders_per_ap(scenario, admission_capacity))
    split = num_layers.copy()  # everyone Device-Only until served
    num_offloading = np.zeros(scenario.num_aps, dtype=np.int64)  # [N]
    order = service_order(scenario)
    cut_gap_s = np.zeros(scenario.num_users)  # [U] of each user's last choice
    off_order = np.zeros(scenario.num_users, dtype=bool)  # [U]
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
                choice = min_cut_choice(tables[user], *rates, edge_speed_flops_per_s(model, units), profiles[user])
                cut_gap_s[user] = 0.0 if choice.cut_is_split else choice.gap_s
                off_order[user] = not choice.cut_is_split
                if choice.split < num_layers[user]:
                    split[user] = choice.split
                    num_offloading[ap] += 1
                else:
                    scheduler.release(user)
            if (split[user], scheduler.uplink[user], scheduler.downlink[user]) != before:
                settled = False
    return split, scheduler.uplink.copy(), scheduler.downlink.copy(), sweeps, settled, off_order, cut_gap_s


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
    split, uplink, downlink, sweeps, settled, off_order, cut_gap_s = best_response_partition(
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
    extra: dict[str, object] = {}
    if any(profile.graph is not None for profile in scenario.profiles):  # DAG models only: chain plans unchanged
        extra = {"cuts_off_order": int(off_order.sum()), "max_cut_gap_s": float(cut_gap_s.max(initial=0.0))}
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
            **extra,
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
