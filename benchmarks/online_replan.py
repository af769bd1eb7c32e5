"""Warm-started re-planning over a moving network: its time and Gamma against a cold solve of the same slots, and
what a static plan loses (docs/online.md, "Benchmark"; the goals of issue 26).

Every run steps the same snapshots (nomasplit.generate.dynamics) with 1 s slots at pedestrian speed (1 m/s), every
other dynamics key at its default unless ``--fading`` says otherwise, and plans each slot with the policies static,
warm and cold of nomasplit.experiments.online (warm: its WARM_SETTINGS, ligd's warm path; cold: ligd's defaults),
every solve with torch's kernels on one thread (the warm path's search may price the uplink and the downlink on a
second one: its setting ``search_threads``) and without the certified bound or the scenario's hash
(``certify=False``). Slot 0
(the cold solve that every policy shares) is left out. Each slot records the wall time and the process's CPU time
of each re-plan; the summary gives their medians over slots, the cold/warm ratios and Gamma's excess over the cold
solve of the same slot (all measured in the same run), and the load average before and after: the machine is
shared, so the wall time also counts waits for a core, the CPU time much less.

    # 30 users (the DROO scale): 3 APs, 10 subchannels, NiN, 1 GFLOP/s devices at 0.25 nJ/FLOP
    python -m benchmarks.online_replan small --slots 21
    python -m benchmarks.online_replan small --slots 21 --fading frozen
    # the paper's scale: 5 APs, 1250 users, 250 subchannels, VGG16, 1 GFLOP/s devices
    python -m benchmarks.online_replan paper --slots 11
    python -m benchmarks.online_replan paper --slots 11 --fading frozen
    # where one warm re-plan's time goes (cProfile of the re-plan of slot 1 from slot 0's cold plan)
    python -m benchmarks.online_replan paper --profile
    # a static plan over 60 s at the paper's scale, against cold solves at some of its slots
    python -m benchmarks.online_replan static --slots 61 --cold-at 60
    # other regimes at the paper's scale (--network: JSON scenario config keys over the network's): overloaded
    # cells (250 users per AP on 80 subchannels of 40 kHz, K = 3: 240 slots), latency- and energy-heavy weights
    python -m benchmarks.online_replan paper --slots 11 \
        --network '{"num_subchannels": 80, "uplink_bandwidth_hz": 3.2e6, "downlink_bandwidth_hz": 3.2e6}'
    python -m benchmarks.online_replan paper --slots 11 --network '{"latency_weight": 0.9}'
    python -m benchmarks.online_replan paper --slots 11 --network '{"latency_weight": 0.1}'
    # what a larger warm budget buys at the paper's scale (each --warm: JSON settings over WARM_SETTINGS)
    python -m benchmarks.online_replan budget --slots 11 --warm '{}' --warm '{"search_threads": 1}' \
        --warm '{"polish_iterations": 0}' --warm '{"improve_max_rounds": 20}'
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import time
from typing import Any

import pandas as pd
import torch
from pydantic import ValidationError

from nomasplit.errors import InputError
from nomasplit.experiments.online import WARM_SETTINGS, paper_network, run_online, small_network
from nomasplit.generate.config import ScenarioConfig
from nomasplit.generate.dynamics import DynamicsConfig, NetworkSimulator
from nomasplit.model.evaluate import decision_from_plan
from nomasplit.model.system import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.ligd import LigdSettings
from nomasplit.solvers.search.warm_start import mapped_plan


def dynamics(fading: str) -> DynamicsConfig:
    """1 s slots at 1 m/s; the fading model as asked (``jakes``, the default, is practically new every slot)."""
    return DynamicsConfig(slot_s=1.0, speed_m_per_s=1.0, fading=fading)  # type: ignore[arg-type]


def network(size: str, overrides: dict[str, Any] | None = None) -> ScenarioConfig:
    """The benchmark's network: ``small`` (30 users) or ``paper`` (Section VI-A), both on 1 GFLOP/s devices, with
    ``overrides`` of its scenario config keys (``--network``)."""
    return (small_network if size == "small" else paper_network)(**(overrides or {}))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages of the machine."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def compare(config: ScenarioConfig, slots: int, seed: int, fading: str) -> pd.DataFrame:
    """Warm, cold and static on the same slots; one row per slot after the first."""
    table = run_online(
        config, dynamics(fading), slots=slots, policies=["static", "warm", "cold"], seed=seed, settings={}
    )
    wide = table.pivot(
        index="slot", columns="policy", values=["objective", "replan_s", "replan_cpu_s", "changed_users"]
    )
    rows = []
    for slot in wide.index[1:]:
        cold, warm, static = (wide.loc[slot, ("objective", name)] for name in ("cold", "warm", "static"))
        rows.append(
            {
                "slot": slot,
                "warm_s": wide.loc[slot, ("replan_s", "warm")],
                "warm_cpu_s": wide.loc[slot, ("replan_cpu_s", "warm")],
                "cold_s": wide.loc[slot, ("replan_s", "cold")],
                "cold_cpu_s": wide.loc[slot, ("replan_cpu_s", "cold")],
                "warm_gamma": warm,
                "cold_gamma": cold,
                "warm_vs_cold_pct": 100.0 * (warm / cold - 1.0),
                "static_vs_cold_pct": 100.0 * (static / cold - 1.0),
                "warm_changed": wide.loc[slot, ("changed_users", "warm")],
            }
        )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    """Medians over slots of the times, the ratios and the excess, with the worst slot."""
    median = table.median(numeric_only=True)
    return (
        f"warm re-plan: median {median['warm_s']:.3f} s wall, {median['warm_cpu_s']:.3f} s CPU "
        f"(max {table['warm_s'].max():.3f} s wall, {table['warm_cpu_s'].max():.3f} s CPU); cold solve: median "
        f"{median['cold_s']:.3f} s wall, {median['cold_cpu_s']:.3f} s CPU; cold / warm CPU time: median "
        f"{(table['cold_cpu_s'] / table['warm_cpu_s']).median():.1f}x\n"
        f"warm Gamma vs cold: median {median['warm_vs_cold_pct']:+.2f} %, mean "
        f"{table['warm_vs_cold_pct'].mean():+.2f} %, worst {table['warm_vs_cold_pct'].max():+.2f} %; static vs cold: "
        f"median {median['static_vs_cold_pct']:+.1f} %"
    )


def profile(config: ScenarioConfig, seed: int, fading: str, top: int) -> None:
    """cProfile of one warm re-plan: slot 1 from slot 0's cold plan (after an unprofiled run of the same)."""
    simulator = NetworkSimulator(config, dynamics(fading), seed=seed)
    first = simulator.first()
    plan = solve(first.scenario, certify=False)
    second = simulator.step()

    def replan() -> None:
        solve(second.scenario, settings=WARM_SETTINGS, start=plan, start_scenario=first.scenario, certify=False)

    replan()  # warm-up: torch's first calls of each kernel
    profiler = cProfile.Profile()
    started, started_cpu = time.perf_counter(), time.process_time()
    profiler.runcall(replan)
    print(
        f"one warm re-plan under cProfile: {time.perf_counter() - started:.3f} s wall, "
        f"{time.process_time() - started_cpu:.3f} s CPU (cProfile's overhead included)"
    )
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def static_loss(config: ScenarioConfig, slots: int, cold_at: list[int], seed: int) -> pd.DataFrame:
    """A static plan (the slot-0 cold plan carried by the mapping) over ``slots`` slots, against a cold solve at
    the slots of ``cold_at``."""
    simulator = NetworkSimulator(config, dynamics("jakes"), seed=seed)
    snapshot = simulator.first()
    plan = solve(snapshot.scenario, certify=False)
    previous = snapshot.scenario
    rows: list[dict[str, Any]] = []
    for slot in range(slots):
        if slot > 0:
            snapshot = simulator.step()
            model = SystemModel(snapshot.scenario)
            plan = mapped_plan(plan, previous, snapshot.scenario, model=model)
            previous = snapshot.scenario
        else:
            model = SystemModel(snapshot.scenario)
        with torch.no_grad():
            static = float(model.objective(decision_from_plan(model, plan)).item())
        row: dict[str, Any] = {"slot": slot, "users": snapshot.scenario.num_users, "static_gamma": static}
        if slot in cold_at:
            started = time.perf_counter()
            cold = solve(snapshot.scenario, certify=False)
            assert cold.solver is not None and cold.solver.objective is not None
            row |= {
                "cold_gamma": cold.solver.objective,
                "cold_s": time.perf_counter() - started,
                "static_vs_cold_pct": 100.0 * (static / cold.solver.objective - 1.0),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def budgets(config: ScenarioConfig, slots: int, seed: int, fading: str, variants: list[dict[str, Any]]) -> pd.DataFrame:
    """The warm policy under each of ``variants`` (settings over WARM_SETTINGS) on the same snapshots, against one
    cold solve per slot: one row per variant with the medians over slots 1.. of the re-plan's wall and CPU time and
    of Gamma's excess over the cold solve, and their worst slot. Each variant re-plans from its own previous plan,
    as the warm policy does."""
    simulator = NetworkSimulator(config, dynamics(fading), seed=seed)
    snapshots = [simulator.first()] + [simulator.step() for _ in range(slots - 1)]
    colds = [solve(snapshot.scenario, certify=False) for snapshot in snapshots]
    rows = []
    for variant in variants:
        settings = {**WARM_SETTINGS, **variant}
        plan, walls, cpus, excess = colds[0], [], [], []
        for slot in range(1, slots):
            started, started_cpu = time.perf_counter(), time.process_time()
            plan = solve(
                snapshots[slot].scenario,
                settings=settings,
                start=plan,
                start_scenario=snapshots[slot - 1].scenario,
                certify=False,
            )
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - started_cpu)
            cold = colds[slot].solver
            assert plan.solver is not None and cold is not None and cold.objective and plan.solver.objective
            excess.append(100.0 * (plan.solver.objective / cold.objective - 1.0))
        rows.append(
            {
                "warm settings": json.dumps(variant),
                "wall_s_median": pd.Series(walls).median(),
                "wall_s_max": max(walls),
                "cpu_s_median": pd.Series(cpus).median(),
                "vs_cold_pct_median": pd.Series(excess).median(),
                "vs_cold_pct_worst": max(excess),
            }
        )
    return pd.DataFrame(rows)


def _json_object(text: str) -> dict[str, Any]:
    """``--warm``'s and ``--network``'s value: a JSON object (argparse reports anything else in one line)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["small", "paper", "static", "budget"])
    parser.add_argument("--slots", type=int, default=4, help="slots, slot 0 (the shared cold solve) included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fading", choices=["jakes", "independent", "frozen"], default="jakes")
    parser.add_argument("--cold-at", default="0,30,60", help="static mode: slots with a cold solve to compare")
    parser.add_argument("--profile", action="store_true", help="cProfile one warm re-plan instead")
    parser.add_argument("--top", type=int, default=40, help="--profile: functions listed")
    parser.add_argument(
        "--warm",
        action="append",
        default=None,
        type=_json_object,
        help="budget mode: a JSON object of settings over WARM_SETTINGS",
    )
    parser.add_argument("--size", choices=["small", "paper"], default="paper", help="budget mode: the network")
    parser.add_argument(
        "--network",
        type=_json_object,
        default={},
        help="a JSON object of scenario config keys over the network's (e.g. '{\"latency_weight\": 0.9}')",
    )
    args = parser.parse_args()
    size = args.size if args.mode == "budget" else "small" if args.mode == "small" else "paper"
    try:
        config = network(size, args.network)
    except (ValidationError, InputError) as exc:  # InputError names the key; the first line says what is wrong
        parser.error(f"--network {json.dumps(args.network)}: {str(exc).splitlines()[0]}")
    variants = args.warm or [{}]
    for variant in variants:  # refused before anything runs, in one line
        try:
            LigdSettings.model_validate({**WARM_SETTINGS, **variant})
        except ValidationError as exc:
            parser.error(f"--warm {json.dumps(variant)}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    torch.set_num_threads(1)  # what every solve uses; the mapping and the measurements too
    started = time.perf_counter()
    print(f"load average before: {load_average()} (1/5/15 min), {os.cpu_count()} cores")
    if args.mode == "static":
        cold_at = [int(item) for item in args.cold_at.split(",") if item]
        table = static_loss(config, args.slots, cold_at, args.seed)
        print(table.to_string(index=False, float_format=lambda value: f"{value:.6g}"))
        ratio = table["static_gamma"].iloc[1:].median() / table["static_gamma"].iloc[0]
        print(f"static Gamma, median over slots 1-{args.slots - 1} / slot 0: {ratio:.4f}")
    elif args.mode == "budget":
        table = budgets(config, args.slots, args.seed, args.fading, variants)
        print(f"WARM_SETTINGS: {json.dumps(WARM_SETTINGS)}")
        print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    elif args.profile:
        profile(config, args.seed, args.fading, args.top)
    else:
        table = compare(config, args.slots, args.seed, args.fading)
        print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
        print(summary(table))
    print(f"load average after: {load_average()}; total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
