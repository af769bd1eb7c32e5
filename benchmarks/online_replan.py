"""Warm-started re-planning over a moving network: its wall time and Gamma against a cold solve, and what a
static plan loses (docs/online.md, "Benchmark").

Every run steps the same snapshots (nomasplit.generate.dynamics) with 1 s slots at pedestrian speed (1 m/s) and
plans each slot with the policies of nomasplit.experiments.online; slot 0 (a cold solve shared by all policies)
is the warm-up and is left out of the timings. ``replan_s`` is the wall time of the whole ``solve`` call (model,
mapping, algorithm, the plan's bound and hash).

    # 30 users (the DROO scale): 3 APs, 10 subchannels, NiN, 1 GFLOP/s devices at 0.25 nJ/FLOP
    python -m benchmarks.online_replan small --slots 6
    # the paper's scale: 5 APs, 1250 users, 250 subchannels, VGG16, 1 GFLOP/s devices
    python -m benchmarks.online_replan paper --slots 3
    # a static plan over 60 s at the paper's scale, against cold solves at some of its slots
    python -m benchmarks.online_replan static --slots 61 --cold-at 0,30,60
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import pandas as pd
import torch

from nomasplit.experiments.online import paper_network, small_network
from nomasplit.generate.config import ScenarioConfig
from nomasplit.generate.dynamics import DynamicsConfig, NetworkSimulator
from nomasplit.model.evaluate import decision_from_plan
from nomasplit.model.system import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.search.warm_start import mapped_plan

PEDESTRIAN = DynamicsConfig(slot_s=1.0, speed_m_per_s=1.0)


def network(size: str) -> ScenarioConfig:
    """The benchmark's network: ``small`` (30 users) or ``paper`` (Section VI-A), both on 1 GFLOP/s devices."""
    return small_network() if size == "small" else paper_network()


def compare(size: str, slots: int, seed: int) -> pd.DataFrame:
    """Warm, cold and static on the same slots; one row per slot after the first."""
    from nomasplit.experiments.online import run_online

    table = run_online(
        network(size), PEDESTRIAN, slots=slots, policies=["static", "warm", "cold"], seed=seed, settings={}
    )
    wide = table.pivot(index="slot", columns="policy", values=["objective", "replan_s", "changed_users"])
    rows = []
    for slot in wide.index[1:]:
        cold, warm, static = (wide.loc[slot, ("objective", name)] for name in ("cold", "warm", "static"))
        rows.append(
            {
                "slot": slot,
                "warm_s": wide.loc[slot, ("replan_s", "warm")],
                "cold_s": wide.loc[slot, ("replan_s", "cold")],
                "warm_gamma": warm,
                "cold_gamma": cold,
                "warm_vs_cold_pct": 100.0 * (warm / cold - 1.0),
                "static_vs_cold_pct": 100.0 * (static / cold - 1.0),
                "warm_changed": wide.loc[slot, ("changed_users", "warm")],
            }
        )
    return pd.DataFrame(rows)


def static_loss(size: str, slots: int, cold_at: list[int], seed: int) -> pd.DataFrame:
    """A static plan (the slot-0 cold plan carried by the mapping) over ``slots`` slots, against a cold solve at
    the slots of ``cold_at``."""
    simulator = NetworkSimulator(network(size), PEDESTRIAN, seed=seed)
    snapshot = simulator.first()
    plan = solve(snapshot.scenario)
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
            cold = solve(snapshot.scenario)
            assert cold.solver is not None and cold.solver.objective is not None
            row |= {
                "cold_gamma": cold.solver.objective,
                "cold_s": time.perf_counter() - started,
                "static_vs_cold_pct": 100.0 * (static / cold.solver.objective - 1.0),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["small", "paper", "static"])
    parser.add_argument("--slots", type=int, default=4, help="slots, slot 0 (the warm-up) included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cold-at", default="0,30,60", help="static mode: slots with a cold solve to compare")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the goals are for 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.mode == "static":
        cold_at = [int(item) for item in args.cold_at.split(",") if item]
        table = static_loss("paper", args.slots, cold_at, args.seed)
        print(table.to_string(index=False, float_format=lambda value: f"{value:.6g}"))
        ratio = table["static_gamma"].iloc[-1] / table["static_gamma"].iloc[0]
        print(f"static Gamma slot {args.slots - 1} / slot 0: {ratio:.4f}")
    else:
        table = compare(args.mode, args.slots, args.seed)
        print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
        print(
            f"warm re-plan: median {table['warm_s'].median():.3f} s, max {table['warm_s'].max():.3f} s; "
            f"cold: median {table['cold_s'].median():.3f} s; warm Gamma vs cold: mean "
            f"{table['warm_vs_cold_pct'].mean():+.3f} %, worst {table['warm_vs_cold_pct'].max():+.3f} %"
        )
    print(f"total {time.perf_counter() - started:.1f} s, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
