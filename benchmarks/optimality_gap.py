"""Optimality gap of every registered algorithm against ``exact`` on small seeded instances.

Instances come from :func:`nomasplit.generate.generate_scenario` with the default (paper-like) configuration,
shrunk to ``--aps`` APs with ``--users-per-ap`` users each, ``--subchannels`` subchannels and one model
(NiN, 9 split units, by default); seeds ``0 .. --instances - 1``. For each algorithm the relative gap
``objective / exact - 1`` is reported (mean and worst), and ``objective / bound - 1`` against ``exact``'s
proven lower bound, which over-states the true gap by at most ``exact``'s own gap.

Usage::

    python benchmarks/optimality_gap.py --instances 20 --out docs/benchmarks/optimality.md
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from nomasplit.generate import ScenarioConfig, generate_scenario
from nomasplit.io import write_atomic
from nomasplit.solvers import ALGORITHMS, solve

EXPECTED = (
    "ligd", "ligd-paper", "gd-paper", "ligd-peruser",
    "device-only", "edge-only", "neurosurgeon", "dnn-surgery", "ecc-oma", "ecc-noma",
)  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    config = ScenarioConfig(
        num_aps=args.aps,
        users_per_ap=args.users_per_ap,
        num_subchannels=args.subchannels,
        model=args.model,
        access=args.access,
    )
    names = [] if args.exact_only else sorted(name for name in ALGORITHMS if name != "exact")
    rows = []
    for seed in range(args.instances):
        scenario = generate_scenario(config, seed=seed)
        start = time.perf_counter()
        exact = solve(scenario, "exact", settings={"time_limit_s": args.time_limit_s}, seed=seed).solver
        exact_time = time.perf_counter() - start
        assert exact is not None and exact.objective is not None and exact.bound is not None
        row = {
            "seed": seed,
            "exact": {
                "objective": exact.objective,
                "bound": exact.bound,
                "gap": exact.gap,
                "proven": exact.success,
                "time_s": exact_time,
                "offloading_users": exact.extra.get("offloading_users"),
            },
            "algorithms": {},
        }
        for name in names:
            start = time.perf_counter()
            info = solve(scenario, name, seed=seed).solver
            elapsed = time.perf_counter() - start
            assert info is not None and info.objective is not None
            row["algorithms"][name] = {
                "objective": info.objective,
                "time_s": elapsed,
                "gap_vs_exact": info.objective / exact.objective - 1.0,
                "gap_vs_bound": info.objective / exact.bound - 1.0,
            }
        rows.append(row)
        print(f"seed {seed}: exact {exact.objective:.6g} ({exact_time:.1f} s, gap {exact.gap:.1e})", flush=True)
    return {
        "config": config.model_dump(mode="json"),
        "instances": args.instances,
        "algorithms": names,
        "missing": [] if args.exact_only else [name for name in EXPECTED if name not in ALGORITHMS],
        "rows": rows,
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }


def markdown(result: dict, command: str) -> str:
    rows = result["rows"]
    exact_times = [row["exact"]["time_s"] for row in rows]
    exact_gaps = [row["exact"]["gap"] for row in rows]
    proven = sum(row["exact"]["proven"] for row in rows)
    config = result["config"]
    lines = [
        "# Optimality gap against `exact`",
        "",
        f"Command: `{command}`",
        "",
        f"{result['instances']} instances from `nomasplit.generate` (default configuration, seeds 0..."
        f"{result['instances'] - 1}) with {config['num_aps']} APs x {config['users_per_ap']} users, "
        f"{config['num_subchannels']} subchannels, model `{config['model']}`, access `{config['access']}`, "
        f"K = {config['cluster_size']}. Machine: {result['machine']}, 2 shared CPU cores.",
        "",
        f"`exact`: proven optimal (within its gap tolerance) on {proven} of {len(rows)} instances; its own "
        f"relative gap (objective - bound) / objective: mean {statistics.mean(exact_gaps):.1e}, "
        f"worst {max(exact_gaps):.1e}; wall time per instance: mean {statistics.mean(exact_times):.1f} s, "
        f"worst {max(exact_times):.1f} s.",
        "",
        "Gap = objective / exact's objective - 1 (mean and worst over the instances); 'vs bound' uses "
        "exact's proven lower bound instead, a guaranteed over-estimate of the true gap.",
        "",
        "| algorithm | mean gap | worst gap | worst gap vs bound | mean time [s] |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in result["algorithms"]:
        gaps = [row["algorithms"][name]["gap_vs_exact"] for row in rows]
        bound_gaps = [row["algorithms"][name]["gap_vs_bound"] for row in rows]
        times = [row["algorithms"][name]["time_s"] for row in rows]
        lines.append(
            f"| `{name}` | {100 * statistics.mean(gaps):.2f} % | {100 * max(gaps):.2f} % | "
            f"{100 * max(bound_gaps):.2f} % | {statistics.mean(times):.2f} |"
        )
    if result["missing"]:
        lines += ["", "Not registered when this ran: " + ", ".join(f"`{n}`" for n in result["missing"]) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--aps", type=int, default=3)
    parser.add_argument("--users-per-ap", type=int, default=2)
    parser.add_argument("--subchannels", type=int, default=3)
    parser.add_argument("--model", default="nin")
    parser.add_argument("--access", choices=("noma", "oma"), default="noma")
    parser.add_argument("--exact-only", action="store_true", help="time exact alone (size study)")
    parser.add_argument("--time-limit-s", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None, help="markdown table to write")
    parser.add_argument("--json", type=Path, default=None, help="raw results to write")
    args = parser.parse_args()
    result = run(args)
    command = "python benchmarks/optimality_gap.py " + " ".join(sys.argv[1:])
    text = markdown(result, command)
    print(text)
    if args.json is not None:
        write_atomic(args.json, json.dumps(result, indent=1))
    if args.out is not None:
        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
