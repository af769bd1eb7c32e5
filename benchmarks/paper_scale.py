"""The default plan at the paper's scale, its certified gap, and what more work buys.

The paper's Section VI-A network (5 APs, 1,250 users, 250 subchannels, K = 3) with 1 GFLOP/s devices, so that
most users want to offload: for each seed and model, the default ``ligd`` solve (it stops on work, not on the
clock), the same engine with more work (:data:`TEN_TIMES_WORK`; its CPU time is printed), and the certified lower
bound that every plan carries. Prints a Markdown table; ``--json`` keeps the raw rows.

    python -m benchmarks.paper_scale --seeds 5 --models nin,vgg16 --json docs/benchmarks/paper-scale.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.solver_common import scenario
from nomasplit.solvers import solve

#: Devices of 1 GFLOP/s (and their switched capacitance) make offloading worth it for most users.
OFFLOADING_DEVICES: dict[str, Any] = {"device_flops_per_s": 1e9, "device_switched_capacitance": 1e-27}

#: The same engine with about ten times the default's work at this size: every distinct start descended in full
#: (up to 20; the relaxation rounds 10 finalists instead of 1), and from the best local optimum up to 200 kicks,
#: all 200 tried from each local optimum before the kicks stop (the default: 2 starts raced, no kicks). The table
#: prints its CPU time as a multiple of the default's, instance by instance.
TEN_TIMES_WORK: dict[str, Any] = {
    "phase": "custom",
    "improve_starts": 20,
    "finalists": 10,
    "kicks": 200,
    "kick_batch": 200,
    "improve_max_rounds": 2000,
}


def run(seed: int, model: str, ten_times: bool) -> dict[str, Any]:
    """One instance: the default solve, and (with ``ten_times``) the solve with :data:`TEN_TIMES_WORK`."""
    instance = scenario(seed, model=model, **OFFLOADING_DEVICES)
    started, cpu = time.perf_counter(), time.process_time()
    info = solve(instance, "ligd").solver
    assert info is not None and info.bound is not None and info.gap is not None
    row: dict[str, Any] = {
        "seed": seed,
        "model": model,
        "users": instance.num_users,
        "subchannels": instance.num_subchannels,
        "wall_time_s": time.perf_counter() - started,
        "cpu_time_s": time.process_time() - cpu,
        "objective": info.objective,
        "bound": info.bound,
        "gap": info.gap,
        "offloading_users": info.extra["offloading_users"],
        "improvement_phase": info.extra["improvement_phase"],
        "stop_reasons": {name: item["stop_reason"] for name, item in info.extra["improvement"].items()},
        "local_optimum": info.extra["local_optimum"],
        "start_won": info.extra["start_won"],
        "lower_bound": info.extra["lower_bound"],
    }
    if ten_times:
        started, cpu = time.perf_counter(), time.process_time()
        more = solve(instance, "ligd", settings=TEN_TIMES_WORK).solver
        assert more is not None
        row["ten_times"] = {
            "wall_time_s": time.perf_counter() - started,
            "cpu_time_s": time.process_time() - cpu,
            "objective": more.objective,
            "offloading_users": more.extra["offloading_users"],
        }
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the rows, with a median line per model."""
    lines = [
        "| model | seed | wall (CPU) time [s] | Γ default | local optimum | Γ at 10x work (CPU s, x default) "
        "| default vs 10x work | lower bound | certified gap | offloading users |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        more = row.get("ten_times")
        versus = f"{100 * (row['objective'] / more['objective'] - 1):+.3f} %" if more else "—"
        ratio = more["cpu_time_s"] / row["cpu_time_s"] if more else 0.0
        optimum = "yes" if row.get("local_optimum") else "no"
        lines.append(
            f"| {row['model']} | {row['seed']} | {row['wall_time_s']:.1f} ({row['cpu_time_s']:.1f}) | "
            f"{row['objective']:.2f} | {optimum} | {more['objective']:.2f} ({more['cpu_time_s']:.0f}, {ratio:.1f}x) | "
            f"{versus} | {row['bound']:.2f} | "
            f"{100 * row['gap']:.1f} % | {row['offloading_users']} / {row['users']} |"
            if more
            else f"| {row['model']} | {row['seed']} | {row['wall_time_s']:.1f} ({row['cpu_time_s']:.1f}) | "
            f"{row['objective']:.2f} | {optimum} | "
            f"— | — | {row['bound']:.2f} | {100 * row['gap']:.1f} % | {row['offloading_users']} / {row['users']} |"
        )
    for model in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == model]
        lines.append(
            f"| **{model} median** | | {statistics.median(r['wall_time_s'] for r in mine):.1f} "
            f"({statistics.median(r['cpu_time_s'] for r in mine):.1f}) | | | | "
            + (
                f"{100 * statistics.median(r['objective'] / r['ten_times']['objective'] - 1 for r in mine):+.3f} % "
                if all("ten_times" in r for r in mine)
                else "— "
            )
            + f"| | {100 * statistics.median(r['gap'] for r in mine):.1f} % | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds: S..S+N-1")
    parser.add_argument("--first-seed", type=int, default=0, help="S, the first seed")
    parser.add_argument("--models", default="nin,vgg16")
    parser.add_argument("--no-ten-times", action="store_true", help="skip the solves with 10x the work")
    parser.add_argument("--json", type=Path, help="write the raw rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for model in args.models.split(","):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            rows.append(run(seed, model, not args.no_ten_times))
            progress = {key: rows[-1][key] for key in ("model", "seed", "wall_time_s", "objective", "gap")}
            print(json.dumps(progress), flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": platform.machine(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
