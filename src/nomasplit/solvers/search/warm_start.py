"""Warm start: a previous plan mapped onto a new snapshot of the same network, as a feasible discrete decision.

Between two slots of a moving network (:mod:`nomasplit.generate.dynamics`) users are kept, gone or new. A user's
identity is read from the scenario's ``provenance["dynamics"]["user_ids"]`` (written by the simulator for every
slot after the first); a scenario without it numbers its users ``0..U-1``. The mapping:

- a **kept** user keeps its split, its uplink and downlink subchannels, its powers and compute units (clipped to
  the bounds);
- a user that is **gone** is dropped; a **new** user runs Device-Only (``s_i = F_i``);
- the subchannels are then made feasible by the exact rounding
  (:func:`~nomasplit.solvers.search.rounding.round_decision`):
  a maximum-weight matching per AP with weight 1 on each kept user's previous subchannel, so that as many kept
  users as possible keep their subchannel; a user whose cell now has too many users on it (it moved to another AP,
  or another user moved in) gets a free subchannel of its AP, or runs Device-Only where none is left;
- the edge capacity, if any, is restored as the solvers do (the least-benefiting users to Device-Only, then the
  projection of the compute units onto the capped box).

The result is a feasible discrete :class:`~nomasplit.model.system.Decision` of the new model. ``solve(..., start=)``
hands it to the algorithm as one more start (``SolveContext.start_decision``); ``ligd``'s improvement phase keeps
every start as a candidate, so a warm solve is never worse than the mapped plan.

``ligd``'s warm path (setting ``warm_path``) starts from :func:`warm_path_starts` only: the mapped plan and the same
plan with its subchannels matched anew to this slot's gains (:func:`rematched_decision`), which is the better
start when the small-scale fading is new (with 1 s slots it practically always is, docs/online.md).
"""

from __future__ import annotations

import numpy as np
import torch

from nomasplit.data.hashing import sha256_of
from nomasplit.data.plan import Plan
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.model.evaluate import plan_from_decision
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.relaxation.gradient import ContinuousProblem, Variables
from nomasplit.solvers.search.polish import enforce_edge_capacity
from nomasplit.solvers.search.rounding import assign_directions, one_hot_rows, round_decision

#: Algorithms that use a start plan (the others would ignore it, so ``solve`` refuses one for them).
WARM_START_ALGORITHMS = ("ligd",)

#: Where a snapshot records its users' identities: ``provenance[DYNAMICS_KEY][USER_IDS_KEY]``.
DYNAMICS_KEY = "dynamics"
USER_IDS_KEY = "user_ids"


def user_ids_of(scenario: Scenario) -> np.ndarray:
    """The stable identity of each user (``[U]`` int64): the snapshot's record, else ``0..U-1``."""
    record = scenario.provenance.get(DYNAMICS_KEY)
    ids = record.get(USER_IDS_KEY) if isinstance(record, dict) else None
    if ids is None:
        return np.arange(scenario.num_users, dtype=np.int64)
    values = np.asarray(ids, dtype=np.int64)
    if values.shape != (scenario.num_users,) or np.unique(values).size != values.size:
        raise InputError(
            f"scenario provenance.{DYNAMICS_KEY}.{USER_IDS_KEY} must hold {scenario.num_users} distinct user ids"
        )
    return values


def check_same_network(previous: Scenario, scenario: Scenario) -> None:
    """Raise :class:`InputError` unless both scenarios describe the same network: APs (number and positions),
    subchannels, access, cluster size, bandwidths and power bounds. Users, gains and workloads may differ."""
    for name in (
        "num_aps", "num_subchannels", "access", "cluster_size", "uplink_bandwidth_hz", "downlink_bandwidth_hz",
        "uplink_power_min_w", "uplink_power_max_w", "downlink_power_min_w", "downlink_power_max_w",
        "compute_units_min", "compute_units_max", "edge_capacity_units",
    ):  # fmt: skip
        before, now = getattr(previous, name), getattr(scenario, name)
        if before != now:
            raise InputError(f"the start plan is for another network: its {name} is {before}, this scenario's is {now}")
    before_m, now_m = previous.ap_positions_m, scenario.ap_positions_m
    if before_m is not None and now_m is not None and not np.allclose(before_m, now_m, rtol=0, atol=1e-6):
        raise InputError("the start plan is for another network: its APs stand elsewhere")
    if [profile.model for profile in previous.profiles] != [profile.model for profile in scenario.profiles]:
        raise InputError("the start plan is for another network: its users run other models")


def previous_index(previous: Scenario, scenario: Scenario) -> np.ndarray:
    """For each user of ``scenario``, its index in ``previous`` (``-1``: a new user). ``[U]`` int64."""
    before = user_ids_of(previous)
    now = user_ids_of(scenario)
    position = {int(user_id): index for index, user_id in enumerate(before)}
    return np.array([position.get(int(user_id), -1) for user_id in now], dtype=np.int64)


def map_decision(plan: Plan, previous: Scenario, model: SystemModel) -> Decision:
    """The previous ``plan`` (made for ``previous``) mapped onto ``model``'s scenario (module docstring).

    Raises:
        InputError: the plan does not fit ``previous``, or ``previous`` is another network.
    """
    scenario = model.scenario
    check_same_network(previous, scenario)
    try:
        plan.check_against(previous)
    except InputError as exc:
        raise InputError(f"start plan: {exc}") from None
    index = previous_index(previous, scenario)  # [U]
    by_user = {decision.user: decision for decision in plan.users}
    previous_layers = previous.user_num_layers()
    num_layers = model.num_layers.cpu().numpy()
    split = num_layers.copy()  # [U] Device-Only unless kept and offloading
    uplink = np.full(model.num_users, -1, dtype=np.int64)  # [U]
    downlink = np.full(model.num_users, -1, dtype=np.int64)  # [U]
    powers = np.array(
        [[scenario.uplink_power_max_w], [scenario.downlink_power_max_w], [scenario.compute_units_min]]
    ) * np.ones((3, model.num_users))  # [3, U] uplink, downlink, units
    for user, before in enumerate(index):
        if before < 0:
            continue
        entry = by_user[int(before)]
        powers[:, user] = (entry.uplink_power_w, entry.downlink_power_w, entry.compute_units)
        if entry.split >= min(previous_layers[before], num_layers[user]):
            continue
        if entry.uplink_subchannel is None or entry.downlink_subchannel is None:
            continue
        split[user] = entry.split
        uplink[user] = entry.uplink_subchannel
        downlink[user] = entry.downlink_subchannel
    return feasible_decision(model, split, uplink, downlink, powers)


def feasible_decision(
    model: SystemModel, split: np.ndarray, uplink: np.ndarray, downlink: np.ndarray, powers: np.ndarray
) -> Decision:
    """A feasible discrete decision as close as the constraints allow to the wanted per-user choices.

    Args:
        split: ``[U]`` wanted split points (clipped to ``0..F_i``; ``F_i`` is Device-Only).
        uplink: ``[U]`` wanted uplink subchannels (``-1``: none; an offloading user without one gets a free
            subchannel of its AP, or runs Device-Only when none is left).
        downlink: ``[U]`` wanted downlink subchannels (the same).
        powers: ``[3, U]`` wanted uplink power [W], downlink power [W] and compute units (clipped to their boxes).

    Returns:
        The decision after the exact rounding (a maximum-weight matching per AP with weight 1 on each wanted
        subchannel: as many users as possible get theirs, at most ``K`` per AP and subchannel), the edge capacity
        (least-benefiting users to Device-Only) and the projection of powers and units onto their feasible set.
    """
    scenario = model.scenario
    num_users, num_subchannels = model.num_users, model.num_subchannels
    users = np.arange(num_users)
    num_layers = model.num_layers.cpu().numpy()
    split = np.clip(np.asarray(split, dtype=np.int64), 0, num_layers)  # [U]
    beta_up = np.zeros((num_users, num_subchannels))  # [U, M]
    beta_dn = np.zeros((num_users, num_subchannels))  # [U, M]
    for beta, wanted in ((beta_up, np.asarray(uplink)), (beta_dn, np.asarray(downlink))):
        has = (wanted >= 0) & (wanted < num_subchannels) & (split < num_layers)
        beta[users[has], wanted[has]] = 1.0
    bounds = (
        (scenario.uplink_power_min_w, scenario.uplink_power_max_w),
        (scenario.downlink_power_min_w, scenario.downlink_power_max_w),
        (scenario.compute_units_min, scenario.compute_units_max),
    )
    clipped = np.stack([np.clip(np.asarray(powers[row], dtype=np.float64), *bounds[row]) for row in range(3)])

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=model.dtype, device=model.device)

    decision = Decision(
        split=torch.as_tensor(split, dtype=torch.long, device=model.device),
        beta_up=tensor(beta_up),
        beta_dn=tensor(beta_dn),
        uplink_power_w=tensor(clipped[0]),
        downlink_power_w=tensor(clipped[1]),
        compute_units=tensor(clipped[2]),
    )
    return _within_capacity_and_boxes(model, round_decision(model, decision))


def _within_capacity_and_boxes(model: SystemModel, decision: Decision) -> Decision:
    """A discrete ``decision`` with the edge capacity restored and powers and units projected onto their boxes."""
    decision = enforce_edge_capacity(model, decision)
    problem = ContinuousProblem(model, decision.split, frozen_beta=True)
    return problem.decision(problem.project(Variables.from_decision(decision))).detach()


def rematched_decision(model: SystemModel, decision: Decision, split: torch.Tensor | None = None) -> Decision:
    """``decision`` (discrete, feasible) with its offloading users' subchannels chosen anew for the model's gains.

    Powers and compute units are kept, and the splits unless ``split`` (``[U]``) gives new ones. The subchannels are
    the exact rounding's maximum-weight matching per AP (at most ``K`` users per subchannel) on each user's own
    channel gain in dB below its best subchannel, in each direction: the weights of the relaxed sweep's ``gain``
    start (:meth:`~nomasplit.solvers.relaxation.gradient.ContinuousProblem.start_point`). Users left without a
    slot run Device-Only; the edge capacity is restored as in :func:`feasible_decision`.
    """
    split = decision.split if split is None else torch.minimum(split, model.num_layers)  # [U]
    up_weight, down_weight = (
        torch.log10(gain / gain.max(dim=1, keepdim=True).values)  # [U, M], <= 0
        for gain in (model.uplink_gain_own, model.downlink_gain_own)
    )
    active = model.offloads(split)  # [U]
    up, down = assign_directions(up_weight, down_weight, model.association, active, model.num_aps, model.cluster_size)
    served = active & (up >= 0) & (down >= 0)  # [U]
    rematched = Decision(
        split=torch.where(served, split, model.num_layers),
        beta_up=one_hot_rows(torch.where(served, up, -1), model.num_subchannels, model.dtype),
        beta_dn=one_hot_rows(torch.where(served, down, -1), model.num_subchannels, model.dtype),
        uplink_power_w=decision.uplink_power_w.detach().clone(),
        downlink_power_w=decision.downlink_power_w.detach().clone(),
        compute_units=decision.compute_units.detach().clone(),
    )
    return _within_capacity_and_boxes(model, rematched)


def common_split(model: SystemModel, decision: Decision) -> int | None:
    """The split most of ``decision``'s offloading users take (the smallest of equals), None if nobody offloads."""
    splits = decision.split[model.offloads(decision.split)]  # [offloading users]
    if splits.numel() == 0:
        return None
    values, counts = torch.unique(splits, return_counts=True)
    return int(values[counts.argmax()].item())


def warm_path_starts(model: SystemModel, mapped: Decision) -> list[tuple[str, Decision]]:
    """The starts of ``ligd``'s warm path, from the mapped previous plan: the plan itself; the plan with its
    subchannels matched to the new gains (:func:`rematched_decision`); and every user at the plan's most common
    split (:func:`common_split`), subchannels matched to the new gains. Where the small-scale fading is new, a plan's
    subchannels and, for the users it had put on the device, its splits are stale; the last start offers every user
    the edge again, as the relaxed sweep's common-split starts do."""
    starts = [("previous plan", mapped), ("previous plan, rematched", rematched_decision(model, mapped))]
    split = common_split(model, mapped)
    if split is not None:
        everyone = torch.full_like(mapped.split, split)  # [U]
        starts.append((f"every user at split {split}, rematched", rematched_decision(model, mapped, everyone)))
    return starts


def start_decision(
    plan: Plan, scenario: Scenario, model: SystemModel, *, start_scenario: Scenario | None = None
) -> Decision:
    """The decision that ``solve(scenario, start=plan, start_scenario=...)`` starts from.

    Without ``start_scenario`` the plan must be for ``scenario`` itself (its recorded hash, when it has one).

    Raises:
        InputError: a plan for another scenario without ``start_scenario``, or one for another network.
    """
    if start_scenario is None:
        recorded = plan.scenario_sha256
        if recorded is not None and recorded != sha256_of(scenario):
            raise InputError(
                f"the start plan was made for another scenario (sha256 {recorded}); pass the scenario it was made "
                "for as start_scenario to map it onto this one"
            )
        start_scenario = scenario
    return map_decision(plan, start_scenario, model)


def mapped_plan(plan: Plan, previous: Scenario, scenario: Scenario, *, model: SystemModel | None = None) -> Plan:
    """The previous plan mapped onto ``scenario`` without any optimisation (the "static" policy's plan)."""
    model = model if model is not None else SystemModel(scenario)
    return Plan(users=plan_from_decision(model, map_decision(plan, previous, model)))
