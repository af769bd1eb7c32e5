"""The time-slotted run: plans that follow a moving network, policy against policy.

Every policy sees the same snapshots (:class:`~nomasplit.generate.dynamics.NetworkSimulator`, stepped once per
slot) and starts from the same plan at slot 0 (a cold ``ligd`` solve, or a given initial plan); ``oracle`` solves
slot 0 itself. Policies:

- ``static``: never re-plan; the slot-0 plan is carried from slot to slot by the warm start's mapping
  (:func:`~nomasplit.solvers.search.warm_start.mapped_plan`: kept users keep their decision, new users run Device-Only,
  conflicts at an AP are repaired), without any optimisation.
- ``warm``: ``solve(snapshot, start=previous plan)`` every slot with :data:`WARM_SETTINGS` over the base
  settings: ``ligd``'s warm path (no relaxed sweep, no baseline starts; the search from the mapped previous plan
  and two rematched variants of it, :func:`~nomasplit.solvers.search.warm_start.warm_path_starts`) under a small
  work budget.
- ``cold``: ``solve(snapshot)`` every slot with the base settings (``ligd``'s defaults unless given).
- ``every-k``: a cold solve every ``every`` slots, the static mapping in between.
- ``oracle``: a cold solve with ten times the work (:func:`oracle_settings`).

Churn penalty (``churn_cost`` > 0, in units of ``Gamma``): a user whose split or subchannel changes costs that
much (a handover, a model reload). A re-planning policy then adopts its new plan only where
``Gamma_new + c changed_new < Gamma_kept + c changed_kept`` against the previous plan carried over (as
``static`` would), so that small gains do not move many users. Each row records ``Gamma`` itself (``objective``)
and ``objective_with_churn`` = ``Gamma + c changed_users``.

Every solve runs with ``certify=False`` (no certified lower bound, no scenario hash: the table records neither),
so ``replan_s`` is the planning alone, for every policy alike. ``replan_cpu_s`` is the process's CPU time over the
same span: on a shared machine it is what the planning itself cost, where the wall time also counts the waits for
a core (a solve runs torch on one thread, so it is close to the wall time on an idle core).

One row per slot and policy; the columns are :data:`COLUMNS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nomasplit.data.files import validate_as
from nomasplit.data.hashing import sha256_of
from nomasplit.data.plan import Plan
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.generate.config import ScenarioConfig, paper_config
from nomasplit.generate.dynamics import DynamicsConfig, NetworkSimulator, Snapshot
from nomasplit.model.evaluate import decision_from_plan
from nomasplit.model.system import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.ligd import PHASES, LigdSettings
from nomasplit.solvers.search.warm_start import mapped_plan, previous_index, start_decision

POLICIES = ("static", "warm", "cold", "every-k", "oracle")

#: The warm re-plan's work budget, over the base settings: ``ligd``'s warm path (the search from the mapped previous
#: plan and two rematched variants of it; no relaxed sweep, no baseline starts), the best start improved for at
#: most 16 rounds of moves, priced jointly (each joiner at the power of least own cost plus harm) from the round
#: after one that lowered Gamma by less than 2 %, and ended once a round lowered it by less than 0.01 %; where no
#: move improves and where the descent ends before a local optimum, a polish of powers and compute units of at most
#: 30 gradient steps over each user's own subchannels (:class:`~nomasplit.solvers.search.assigned.AssignedProblem`);
#: the uplink and the downlink priced at once on two threads; no kicks, no group search. Measured (docs/online.md,
#: "Benchmark"): under 50 ms at 30 users and under 1 s at the paper's scale on 2 cores in the median slot; Gamma
#: below a cold solve's where the channels are correlated between slots, and within 1 % of it in the median slot at
#: the paper's scale where the small-scale fading is new every slot (``python -m benchmarks.online_replan budget``
#: compares budgets).
WARM_SETTINGS: dict[str, Any] = {
    "warm_path": True,
    "phase": "custom",
    "improve_starts": 1,
    "kicks": 0,
    "group_search": False,
    "improve_max_rounds": 16,
    "joint_below": 0.02,
    "settle_below": 1e-4,
    "polish_iterations": 30,
    "search_threads": 2,
}

#: How much more work the oracle gets than a cold solve.
ORACLE_FACTOR = 10

COLUMNS = (
    "slot", "time_s", "policy", "objective", "objective_with_churn", "churn_cost", "latency_s", "energy_j",
    "num_users", "offloading_users", "replan_s", "replan_cpu_s", "changed_users", "replanned", "arrived", "departed",
    "handovers",
)  # fmt: skip


#: The "1 GFLOP/s device" of the benchmarks (docs/benchmarks.md): a tenth of the default phone's speed, with its
#: switched capacitance raised so that a FLOP still costs 0.25 nJ (xi c^2 phi = 1e-27 x 1e18 x 0.25).
SLOW_DEVICE = {"device_flops_per_s": 1e9, "device_switched_capacitance": 1e-27}


def small_network(**overrides: Any) -> ScenarioConfig:
    """The small network of docs/online.md: 3 APs, 30 users, 10 subchannels, NiN on the slow device, otherwise
    the paper's setup (power-law path loss, K = 3)."""
    return paper_config(
        **{
            "name": "online-small",
            "num_aps": 3,
            "num_users": 30,
            "num_subchannels": 10,
            "model": "nin",
            **SLOW_DEVICE,
            **overrides,
        }
    )


def paper_network(**overrides: Any) -> ScenarioConfig:
    """The paper's setup (5 APs, 1250 users, 250 subchannels, VGG16) on the slow device."""
    return paper_config(**{**SLOW_DEVICE, **overrides})


def oracle_settings(base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The base settings with ten times the work of the improvement phase: starts (at most 20), rounds, kicks,
    group search nodes, and the time limit if the base sets one (a cold solve's defaults where the base leaves
    them open)."""
    settings = validate_as(LigdSettings, dict(base or {}), "ligd settings")
    custom = (settings.improve_starts, settings.kicks, settings.group_search)
    phase = PHASES.get("thorough" if settings.phase == "auto" else settings.phase, custom)
    starts, kicks, group_search = phase[:3]
    oracle = {
        **dict(base or {}),
        "phase": "custom",
        "group_search": group_search,
        "improve_starts": min(20, ORACLE_FACTOR * starts),
        "improve_max_rounds": ORACLE_FACTOR * settings.improve_max_rounds,
        "kicks": min(1000, ORACLE_FACTOR * max(kicks, 1)),
        "group_search_nodes": ORACLE_FACTOR * settings.group_search_nodes,
    }
    limit = getattr(settings, "time_limit_s", None)  # a wall-clock cap, where the base sets one
    if limit is not None:
        oracle["time_limit_s"] = min(86400.0, ORACLE_FACTOR * limit)
    return oracle


@dataclass
class PolicyState:
    """What a policy carries from one slot to the next."""

    plan: Plan
    scenario: Scenario


def changed_users(previous: Plan, previous_scenario: Scenario, plan: Plan, scenario: Scenario) -> int:
    """Users present in both slots whose split, uplink or downlink subchannel differs between the two plans."""
    index = previous_index(previous_scenario, scenario)
    before = {entry.user: entry for entry in previous.users}
    count = 0
    for entry in plan.users:
        old_index = int(index[entry.user])
        if old_index < 0:
            continue
        old = before[old_index]
        if (old.split, old.uplink_subchannel, old.downlink_subchannel) != (
            entry.split,
            entry.uplink_subchannel,
            entry.downlink_subchannel,
        ):
            count += 1
    return count


def _measure(model: SystemModel, plan: Plan) -> dict[str, Any]:
    decision = decision_from_plan(model, plan)
    with torch.no_grad():
        costs = model.costs(decision)
    return {
        "objective": float(costs.objective.item()),
        "latency_s": float(costs.latency_s.sum().item()),
        "energy_j": float(costs.energy_j.sum().item()),
        "num_users": model.num_users,
        "offloading_users": int(costs.offloads.sum().item()),
    }


def _objective(model: SystemModel, plan: Plan) -> float:
    with torch.no_grad():
        return float(model.objective(decision_from_plan(model, plan)).item())


def _check_initial_plan(plan: Plan, scenario: Scenario) -> None:
    """InputError unless ``plan`` records no scenario hash or slot 0's own."""
    recorded, expected = plan.scenario_sha256, sha256_of(scenario)
    if recorded is not None and recorded != expected:
        raise InputError(
            f"the initial plan was made for another scenario (sha256 {recorded[:12]}...); slot 0 is `nomasplit "
            f"scenario generate` of the same config and seed (sha256 {expected[:12]}...)"
        )


def run_online(
    config: ScenarioConfig,
    dynamics: DynamicsConfig,
    *,
    slots: int,
    policies: Sequence[str] = ("static", "warm", "cold"),
    every: int = 5,
    churn_cost: float = 0.0,
    settings: Mapping[str, Any] | None = None,
    seed: int | None = None,
    initial_plan: Plan | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> pd.DataFrame:
    """Run ``slots`` slots of the moving network under each policy (module docstring).

    Args:
        config: the network.
        dynamics: how it moves.
        slots: number of slots (slot 0 included).
        policies: names in :data:`POLICIES`.
        every: the period of ``every-k``.
        churn_cost: cost per changed user, in units of ``Gamma`` (0: none).
        settings: base ``ligd`` settings of the cold solves (``None``: defaults).
        seed: seed of the snapshots (``None``: the config's).
        initial_plan: the plan at slot 0 instead of a cold solve; it must be for slot 0's scenario (the
            generated one, same hash).
        progress: called after each policy's slot with ``(slot, policy)``.

    Returns:
        One row per slot and policy, columns :data:`COLUMNS`.

    Raises:
        InputError: an unknown policy, ``slots < 1``, ``every < 1``, a negative churn cost, or an initial plan for
            another scenario.
    """
    unknown = [name for name in policies if name not in POLICIES]
    if unknown or not policies:
        raise InputError(f"unknown policy {unknown[0] if unknown else '(none)'!r}; allowed: {', '.join(POLICIES)}")
    if slots < 1:
        raise InputError(f"slots must be at least 1, got {slots}")
    if every < 1:
        raise InputError(f"every must be at least 1, got {every}")
    if not churn_cost >= 0:
        raise InputError(f"churn cost must be 0 or more, got {churn_cost}")
    base = dict(settings or {})
    validate_as(LigdSettings, base, "ligd settings")  # unknown keys are errors before any work
    warm = {**base, **WARM_SETTINGS}
    oracle = oracle_settings(base)
    simulator = NetworkSimulator(config, dynamics, seed=seed)
    rows: list[dict[str, Any]] = []
    states: dict[str, PolicyState] = {}
    snapshot: Snapshot = simulator.first()
    for slot in range(slots):
        if slot > 0:
            snapshot = simulator.step()
        scenario = snapshot.scenario
        model = SystemModel(scenario)
        shared: tuple[Plan, float, float] | None = None
        for policy in policies:
            started, started_cpu = time.perf_counter(), time.process_time()
            state = states.get(policy)
            replanned = True
            if state is None:
                if policy == "oracle":
                    plan = solve(scenario, settings=oracle, seed=0, certify=False)
                elif initial_plan is not None:
                    _check_initial_plan(initial_plan, scenario)
                    start_decision(initial_plan, scenario, model)  # InputError unless it fits slot 0's network
                    plan, replanned = initial_plan, False
                else:
                    if shared is None:
                        begun, begun_cpu = time.perf_counter(), time.process_time()
                        cold = solve(scenario, settings=base, seed=0, certify=False)
                        shared = (cold, time.perf_counter() - begun, time.process_time() - begun_cpu)
                    plan = shared[0]
                    # every policy's slot 0 is that cold solve
                    started, started_cpu = time.perf_counter() - shared[1], time.process_time() - shared[2]
            elif policy == "static" or (policy == "every-k" and slot % every):
                plan, replanned = mapped_plan(state.plan, state.scenario, scenario, model=model), False
            elif policy == "warm":
                plan = solve(
                    scenario, settings=warm, start=state.plan, start_scenario=state.scenario, seed=0, certify=False
                )
            else:
                plan = solve(scenario, settings=oracle if policy == "oracle" else base, seed=0, certify=False)
            changed = 0 if state is None else changed_users(state.plan, state.scenario, plan, scenario)
            if churn_cost > 0 and state is not None and replanned:
                kept = mapped_plan(state.plan, state.scenario, scenario, model=model)
                kept_changed = changed_users(state.plan, state.scenario, kept, scenario)
                if (
                    _objective(model, kept) + churn_cost * kept_changed
                    <= _objective(model, plan) + churn_cost * changed
                ):
                    plan, changed, replanned = kept, kept_changed, False
            replan_s, replan_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
            measured = _measure(model, plan)
            rows.append(
                {
                    "slot": slot,
                    "time_s": snapshot.time_s,
                    "policy": policy,
                    **measured,
                    "objective_with_churn": measured["objective"] + churn_cost * changed,
                    "churn_cost": churn_cost * changed,
                    "replan_s": replan_s,
                    "replan_cpu_s": replan_cpu_s,
                    "changed_users": changed,
                    "replanned": replanned,
                    "arrived": snapshot.arrived,
                    "departed": snapshot.departed,
                    "handovers": snapshot.handovers,
                }
            )
            states[policy] = PolicyState(plan=plan, scenario=scenario)
            if progress is not None:
                progress(slot, policy)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy (and speed, where the table has a ``speed_m_per_s`` column): mean ``Gamma``, its excess over
    the best policy of each slot in percent (mean and median over slots), mean and largest re-plan time (wall), the
    median re-plan CPU time, and users changed per slot. The times leave slot 0 out where there are later slots
    (every policy's slot 0 is the same cold solve)."""
    keys = [column for column in ("speed_m_per_s", "churn_per_user") if column in table.columns]
    frame = table.copy()
    best = frame.groupby([*keys, "slot"])["objective"].transform("min")
    frame["excess_pct"] = 100.0 * (frame["objective"] / best - 1.0)
    if (frame["slot"] > 0).any():
        first = frame["slot"] == 0
        frame["replan_s"] = frame["replan_s"].mask(first)
        frame["replan_cpu_s"] = frame["replan_cpu_s"].mask(first)
    return (
        frame.groupby([*keys, "policy"], sort=False)
        .agg(
            objective=("objective", "mean"),
            excess_pct=("excess_pct", "mean"),
            median_excess_pct=("excess_pct", "median"),
            replan_s=("replan_s", "mean"),
            replan_max_s=("replan_s", "max"),
            replan_cpu_median_s=("replan_cpu_s", "median"),
            changed_users=("changed_users", "mean"),
        )
        .reset_index()
    )


def write_table(table: pd.DataFrame, out_dir: str | Path, name: str = "online") -> Path:
    """Write the table as ``<out_dir>/<name>.parquet`` (atomically)."""
    out = Path(out_dir) / f"{name}.parquet"
    tmp = out.with_name(f".{out.name}.tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(out)
    return out


def plot_online(table: pd.DataFrame, out_dir: str | Path, filename: str = "online") -> list[Path]:
    """``Gamma`` over time, one line per policy; one panel per speed where the table has ``speed_m_per_s``.
    Writes ``<filename>.png`` and ``.svg`` and returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nomasplit.experiments.plots import _save

    matplotlib.rcParams["svg.hashsalt"] = "nomasplit"
    speeds = sorted(table["speed_m_per_s"].unique()) if "speed_m_per_s" in table.columns else [None]
    fig, axes = plt.subplots(1, len(speeds), figsize=(4.6 * len(speeds) + 0.8, 3.8), squeeze=False, sharey=False)
    markers = dict(zip(POLICIES, "osD^v", strict=True))
    for axis, speed in zip(axes[0], speeds, strict=True):
        rows = table if speed is None else table[table["speed_m_per_s"] == speed]
        for policy in rows["policy"].unique():
            series = rows[rows["policy"] == policy].sort_values("time_s")
            axis.plot(
                series["time_s"].to_numpy(dtype=np.float64),
                series["objective"].to_numpy(dtype=np.float64),
                marker=markers.get(policy, "o"),
                markersize=4,
                markerfacecolor="none",
                label=policy,
            )
        axis.set_yscale("log")  # one unlucky slot of a carried plan can cost ten times the others
        axis.set_xlabel("time [s]")
        axis.set_ylabel("Gamma of the slot (log scale)")
        axis.set_title("" if speed is None else f"{speed:g} m/s", fontsize=10)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _save(fig, out, filename)
