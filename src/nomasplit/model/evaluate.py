"""Evaluate a discrete plan on its scenario: per-user costs, totals, feasibility and violations.

Constraints checked (problem 18 and the spec): every offloading user has one uplink and one downlink
subchannel (18.e, 18.f); at most ``K`` offloading users of one AP on one subchannel and direction (``K = 1``
for OMA); powers and compute units within their bounds (18.c, 18.d); the optional edge capacity per AP.
Device-Only users are exempt from all of them: they send nothing, whatever their plan entry says.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from nomasplit.data.hashing import sha256_of
from nomasplit.data.plan import Plan, UserDecision
from nomasplit.data.result import EvaluationResult, Totals, UserOutcome, Violation
from nomasplit.data.scenario import Scenario
from nomasplit.model.system import Decision, SystemModel

#: Relative tolerance on bounds (a plan written with ``%g`` must still pass).
BOUND_TOLERANCE = 1e-9


def decision_from_plan(model: SystemModel, plan: Plan) -> Decision:
    """One-hot :class:`Decision` tensors from a discrete plan (checked against the scenario first)."""
    plan.check_against(model.scenario)
    num_users, num_subchannels = model.num_users, model.num_subchannels
    split = torch.zeros(num_users, dtype=torch.long)  # built on the CPU, moved at the end
    beta_up = torch.zeros(num_users, num_subchannels, dtype=model.dtype)
    beta_dn = torch.zeros(num_users, num_subchannels, dtype=model.dtype)
    powers = torch.zeros(3, num_users, dtype=model.dtype)
    for decision in plan.users:
        user = decision.user
        split[user] = decision.split
        if decision.uplink_subchannel is not None:
            beta_up[user, decision.uplink_subchannel] = 1.0
        if decision.downlink_subchannel is not None:
            beta_dn[user, decision.downlink_subchannel] = 1.0
        powers[:, user] = torch.tensor(
            [decision.uplink_power_w, decision.downlink_power_w, decision.compute_units], dtype=model.dtype
        )
    return Decision(
        split=split.to(model.device),
        beta_up=beta_up.to(model.device),
        beta_dn=beta_dn.to(model.device),
        uplink_power_w=powers[0].to(model.device),
        downlink_power_w=powers[1].to(model.device),
        compute_units=powers[2].to(model.device),
    )


def plan_from_decision(model: SystemModel, decision: Decision) -> list[UserDecision]:
    """Per-user plan entries from a discrete decision (the argmax of each ``beta`` row; None if Device-Only)."""
    split = decision.split.detach().cpu().numpy()
    offloads = model.offloads(decision.split).detach().cpu().numpy()
    uplink = decision.beta_up.detach().argmax(dim=1).cpu().numpy()
    downlink = decision.beta_dn.detach().argmax(dim=1).cpu().numpy()
    p_up = decision.uplink_power_w.detach().cpu().numpy()
    p_dn = decision.downlink_power_w.detach().cpu().numpy()
    units = decision.compute_units.detach().cpu().numpy()
    entries = []
    for user in range(model.num_users):
        on_edge = bool(offloads[user])
        entries.append(
            UserDecision(
                user=user,
                split=int(split[user]),
                uplink_subchannel=int(uplink[user]) if on_edge else None,
                downlink_subchannel=int(downlink[user]) if on_edge else None,
                uplink_power_w=float(p_up[user]),
                downlink_power_w=float(p_dn[user]),
                compute_units=float(units[user]),
            )
        )
    return entries


def _outside(value: float, low: float, high: float) -> bool:
    slack = BOUND_TOLERANCE * max(abs(low), abs(high), 1.0)
    return value < low - slack or value > high + slack


def find_violations(scenario: Scenario, plan: Plan) -> list[Violation]:
    """Every broken constraint of a plan that already fits the scenario (see :meth:`Plan.check_against`)."""
    violations: list[Violation] = []
    num_layers = scenario.user_num_layers()
    capacity = scenario.effective_cluster_size
    load: dict[str, Counter[tuple[int, int]]] = {"uplink": Counter(), "downlink": Counter()}
    units_per_ap: dict[int, float] = dict.fromkeys(range(scenario.num_aps), 0.0)
    for decision in plan.decisions_by_user():
        user, ap = decision.user, scenario.association[decision.user]
        if decision.split >= num_layers[user]:
            continue  # Device-Only: no subchannel, no power, no edge units
        for direction, subchannel in (
            ("uplink", decision.uplink_subchannel),
            ("downlink", decision.downlink_subchannel),
        ):
            if subchannel is None:
                violations.append(
                    Violation(
                        kind="missing_subchannel",
                        user=user,
                        ap=ap,
                        direction=direction,  # type: ignore[arg-type]
                        message=f"user {user} offloads (split {decision.split} < {num_layers[user]}) but has no "
                        f"{direction} subchannel",
                    )
                )
            else:
                load[direction][(ap, subchannel)] += 1
        checks = (
            ("uplink_power_bounds", "uplink_power_w", decision.uplink_power_w,
             scenario.uplink_power_min_w, scenario.uplink_power_max_w),
            ("downlink_power_bounds", "downlink_power_w", decision.downlink_power_w,
             scenario.downlink_power_min_w, scenario.downlink_power_max_w),
            ("compute_units_bounds", "compute_units", decision.compute_units,
             scenario.compute_units_min, scenario.compute_units_max),
        )  # fmt: skip
        for kind, field, value, low, high in checks:
            if _outside(value, low, high):
                violations.append(
                    Violation(
                        kind=kind,  # type: ignore[arg-type]
                        user=user,
                        ap=ap,
                        message=f"user {user}: {field} = {value:g} outside [{low:g}, {high:g}]",
                    )
                )
        units_per_ap[ap] += decision.compute_units
    for direction, counter in load.items():
        for (ap, subchannel), count in sorted(counter.items()):
            if count > capacity:
                violations.append(
                    Violation(
                        kind="cluster_size",
                        ap=ap,
                        subchannel=subchannel,
                        direction=direction,  # type: ignore[arg-type]
                        message=f"AP {ap} has {count} users on {direction} subchannel {subchannel}, at most "
                        f"K = {capacity} allowed ({scenario.access.upper()})",
                    )
                )
    if scenario.edge_capacity_units is not None:
        for ap, cap in enumerate(scenario.edge_capacity_units):
            if units_per_ap[ap] > cap * (1 + BOUND_TOLERANCE):
                violations.append(
                    Violation(
                        kind="edge_capacity",
                        ap=ap,
                        message=f"AP {ap}: its users hold {units_per_ap[ap]:g} compute units, capacity {cap:g}",
                    )
                )
    return violations


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluate(scenario: Scenario, plan: Plan, *, device: str = "cpu") -> EvaluationResult:
    """Costs of a discrete plan with feasibility. Raises ``InputError`` if the plan does not fit the scenario."""
    model = SystemModel(scenario, device=device)
    decision = decision_from_plan(model, plan)
    with torch.no_grad():
        costs = model.costs(decision)
    columns = {
        name: getattr(costs, name).detach().cpu().numpy().astype(np.float64)
        for name in (
            "uplink_rate_bps", "downlink_rate_bps", "device_latency_s", "edge_latency_s", "uplink_latency_s",
            "downlink_latency_s", "device_energy_j", "edge_energy_j", "uplink_energy_j", "downlink_energy_j",
            "latency_s", "energy_j", "utility",
        )
    }  # fmt: skip
    offloads = costs.offloads.cpu().numpy()
    split = decision.split.cpu().numpy()
    users = []
    for user in range(scenario.num_users):
        row = {name: float(values[user]) for name, values in columns.items()}
        for name in ("latency_s", "energy_j", "utility", "uplink_latency_s", "downlink_latency_s",
                     "uplink_energy_j", "downlink_energy_j"):  # fmt: skip
            row[name] = _finite(row[name])  # type: ignore[assignment]
        users.append(
            UserOutcome(
                user=user, ap=scenario.association[user], split=int(split[user]), offloads=bool(offloads[user]), **row
            )
        )
    latency, energy, utility = columns["latency_s"], columns["energy_j"], columns["utility"]
    totals = Totals(
        objective=_finite(float(utility.sum())),
        total_latency_s=_finite(float(latency.sum())),
        mean_latency_s=_finite(float(latency.mean())),
        total_energy_j=_finite(float(energy.sum())),
        mean_energy_j=_finite(float(energy.mean())),
        num_users=scenario.num_users,
        num_offloading=int(offloads.sum()),
    )
    violations = find_violations(scenario, plan)
    return EvaluationResult(
        scenario_sha256=sha256_of(scenario),
        plan_sha256=sha256_of(plan),
        feasible=not violations and totals.objective is not None,
        violations=violations,
        totals=totals,
        users=users,
    )
