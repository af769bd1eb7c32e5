"""Optimality gap of every registered algorithm against ``exact`` on small seeded instances.

Instances come from ``benchmarks/hard_instances.py`` (``--family hard``, the default: every regime where the
discrete choices matter) or from :func:`nomasplit.generate.generate_scenario` with the paper-like defaults shrunk
to ``--aps`` APs with ``--users-per-ap`` users each (``--family paper``). For each algorithm the relative gap
``objective / exact - 1`` is reported (mean and worst), and ``objective / bound - 1`` against ``exact``'s
proven lower bound, which over-states the true gap by at most ``exact``'s own gap.

Usage::

    python -m benchmarks.optimality_gap --instances 60 --out docs/benchmarks/optimality.md --json /tmp/opt.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from benchmarks.hard_instances import hard_instance, regime
from nomasplit.generate import ScenarioConfig, generate_scenario
from nomasplit.io import write_atomic
from nomasplit.solvers import ALGORITHMS, solve
from nomasplit.solvers.search.local import EXHAUSTIVE_PAIRS

EXPECTED = (
    "ligd", "ligd-paper", "gd-paper", "ligd-peruser",
    "device-only", "edge-only", "neurosurgeon", "dnn-surgery", "ecc-oma", "ecc-noma",
)  # fmt: skip


def instance(args: argparse.Namespace, seed: int):
    """The scenario of one seed: a hard instance (benchmarks/hard_instances.py) or the paper-like family."""
    if args.family == "hard":
        scenario = hard_instance(
            seed,
            max_users=args.max_users,
            max_subchannels=args.max_subchannels,
            min_users=args.min_users,
            min_subchannels=args.min_subchannels,
        )
        if args.latency_weight is not None:
            scenario = scenario.replace(latency_weight=[args.latency_weight] * scenario.num_users)
        return scenario
    config = ScenarioConfig(
        num_aps=args.aps,
        users_per_ap=args.users_per_ap,
        num_subchannels=args.subchannels,
        model=args.model,
        access=args.access,
    )
    return generate_scenario(config, seed=seed)


def exact_settings(args: argparse.Namespace) -> dict:
    """Settings of the reference solve: the time limit, and room for the largest instances drawn (10 x 8 at most)."""
    return {
        "time_limit_s": args.time_limit_s,
        "max_users": max(8, min(10, args.max_users)),
        "max_subchannels": max(4, min(8, args.max_subchannels)),
    }


def run_one(job: tuple[argparse.Namespace, int, list[str]]) -> dict:
    """Solve one instance with exact and every algorithm (one worker process, one thread)."""
    args, seed, names = job
    torch.set_num_threads(1)
    scenario = instance(args, seed)
    start = time.perf_counter()
    exact = solve(scenario, "exact", settings=exact_settings(args), seed=seed).solver
    exact_time = time.perf_counter() - start
    assert exact is not None and exact.objective is not None and exact.bound is not None
    row: dict = {
        "seed": seed,
        "size": (
            f"{scenario.num_aps} APs, {scenario.num_users} users, {scenario.num_subchannels} subchannels, "
            f"K = {scenario.effective_cluster_size}"
        ),
        "pairs": scenario.num_users * scenario.num_subchannels,
        "regime": regime(scenario),
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
    # ECC-OMA solves the OMA problem: its gap is measured against the proven OMA optimum of the same instance.
    oma_exact = exact
    if "ecc-oma" in names and scenario.access == "noma":
        oma_exact = solve(scenario.replace(access="oma", cluster_size=1), "exact", settings=exact_settings(args)).solver
        assert oma_exact is not None and oma_exact.objective is not None and oma_exact.bound is not None
    # Each algorithm is judged where its own reference is proven: an unproven OMA optimum leaves out only ecc-oma.
    row["exact"]["oma_proven"] = bool(oma_exact.success)
    for name in names:
        reference = oma_exact if name == "ecc-oma" else exact
        start = time.perf_counter()
        info = solve(scenario, name, seed=seed).solver
        elapsed = time.perf_counter() - start
        assert info is not None and info.objective is not None
        row["algorithms"][name] = {
            "objective": info.objective,
            "time_s": elapsed,
            "gap_vs_exact": info.objective / reference.objective - 1.0,
            "gap_vs_bound": info.objective / reference.bound - 1.0,
        }
    return row


def run(args: argparse.Namespace) -> dict:
    names = [] if args.exact_only else [name for name in args.algorithms.split(",") if name]
    jobs = [(args, seed, names) for seed in range(args.first_seed, args.first_seed + args.instances)]
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for row in pool.map(run_one, jobs):
            rows.append(row)
            exact = row["exact"]
            gaps = " ".join(f"{n}={100 * a['gap_vs_exact']:.2f}%" for n, a in row["algorithms"].items())
            print(
                f"seed {row['seed']} {row['size']}: exact {exact['objective']:.6g} ({exact['time_s']:.1f} s) {gaps}",
                flush=True,
            )
    return {
        "family": args.family,
        "config": vars(args) | {"json": None, "out": None},
        "instances": args.instances,
        "algorithms": names,
        "missing": [name for name in names if name not in ALGORITHMS],
        "rows": rows,
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }


def _proven_for(row: dict, name: str) -> bool:
    """Whether the reference of ``name`` on this instance is proven optimal (the OMA optimum for ecc-oma)."""
    exact = row["exact"]
    return bool(exact.get("oma_proven", exact["proven"]) if name == "ecc-oma" else exact["proven"])


def _table(all_rows: list[dict], names: list[str]) -> list[str]:
    lines = [
        "| algorithm | mean gap | worst gap | within 1 % | worst gap vs bound | mean time [s] |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        rows = [row for row in all_rows if _proven_for(row, name)]
        if not rows:
            lines.append(f"| `{name}` | - | - | 0/0 | - | - |")
            continue
        gaps = [row["algorithms"][name]["gap_vs_exact"] for row in rows]
        bound_gaps = [row["algorithms"][name]["gap_vs_bound"] for row in rows]
        times = [row["algorithms"][name]["time_s"] for row in rows]
        within = sum(gap <= 0.01 for gap in gaps)
        lines.append(
            f"| `{name}` | {100 * statistics.mean(gaps):.2f} % | {100 * max(gaps):.2f} % | {within}/{len(gaps)} | "
            f"{100 * max(bound_gaps):.2f} % | {statistics.mean(times):.2f} |"
        )
    return lines


def _unproven_lines(result: dict) -> list[str]:
    """Instances where a reference is not proven: each algorithm's gap to exact's plan and to its bound."""
    lines = []
    for row in result["rows"]:
        names = [name for name in result["algorithms"] if not _proven_for(row, name)]
        if not names:
            continue
        gaps = ", ".join(
            f"`{name}` {100 * row['algorithms'][name]['gap_vs_exact']:.2f} % "
            f"(vs bound {100 * row['algorithms'][name]['gap_vs_bound']:.2f} %)"
            for name in names
        )
        lines.append(f"- seed {row['seed']} ({row['size']}, exact's gap {row['exact']['gap']:.1e}): {gaps}")
    return lines


def markdown(result: dict, command: str) -> str:
    all_rows = result["rows"]
    rows = [row for row in all_rows if row["exact"]["proven"]]
    unproven = len(all_rows) - len(rows)
    oma_unproven = sum(not row["exact"].get("oma_proven", row["exact"]["proven"]) for row in all_rows)
    exact_times = [row["exact"]["time_s"] for row in all_rows]
    exact_gaps = [row["exact"]["gap"] for row in rows] or [math.nan]
    lines = [
        "# Optimality gap against `exact`",
        "",
        f"Command: `{command}`",
        "",
        (
            "Instances: `benchmarks/hard_instances.py` (load below, at and above K·M; NOMA K 2-3 and OMA; per-user "
            "gain offsets over 30 dB; 40 kHz-1 MHz per subchannel; latency weight 0.1-0.9 per user, or latency only "
            "(wT = 1) on about a quarter of the instances and energy only (wT = 0) on about a tenth; workloads 1-4; "
            "devices 1-10 GFLOP/s; NiN or generic chains of 4-9 units), seeds "
            f"{result['config']['first_seed']}..{result['config']['first_seed'] + result['instances'] - 1}."
            + (
                f" Every user's w_T set to {result['config']['latency_weight']:g} (--latency-weight)."
                if result["config"].get("latency_weight") is not None
                else ""
            )
            if result["family"] == "hard"
            else "Instances: the paper-like generator defaults, seeds as given."
        ),
        *(
            [
                f"Users x subchannels per instance: {min(pairs)} to {max(pairs)}; "
                f"{sum(pair > EXHAUSTIVE_PAIRS for pair in pairs)} of {len(pairs)} instances above "
                f"{EXHAUSTIVE_PAIRS}, where Li-GD's improvement phase runs without its exhaustive checks.",
            ]
            if (pairs := [row["pairs"] for row in all_rows if "pairs" in row])
            else []
        ),
        f"Machine: {result['machine']}, 2 shared CPU cores.",
        "",
        f"`exact` proved {len(rows)} of {len(all_rows)} instances optimal (within its tolerance)"
        + (
            f" and the OMA version of {len(all_rows) - oma_unproven}; each algorithm's table leaves out only the "
            "instances whose own reference is unproven (listed at the end, with the gaps to exact's plan and bound)"
            if unproven or oma_unproven
            else ""
        )
        + f". Its own relative gap: worst {max(exact_gaps):.1e}; wall time per instance: mean "
        f"{statistics.mean(exact_times):.1f} s, worst {max(exact_times):.1f} s.",
        "",
        "Gap = objective / exact's objective - 1; 'vs bound' uses exact's proven lower bound instead (a guaranteed "
        "over-estimate of the true gap). `ecc-oma` is measured against the proven optimum of the OMA version of "
        "each instance (K = 1), the problem it solves; every other algorithm against the instance as drawn.",
        "",
        "## All instances",
        "",
        *_table(all_rows, result["algorithms"]),
    ]
    if all_rows:
        for key in all_rows[0]["regime"]:
            lines += ["", f"## By {key}", ""]
            for label in sorted({row["regime"][key] for row in all_rows}):
                subset = [row for row in all_rows if row["regime"][key] == label]
                lines += [f"**{label}** ({len(subset)} instances)", "", *_table(subset, result["algorithms"]), ""]
    unproven_lines = _unproven_lines(result)
    if unproven_lines:
        lines += ["", "## Instances with an unproven reference", "", *unproven_lines]
    if result["missing"]:
        lines += ["", "Not registered when this ran: " + ", ".join(f"`{n}`" for n in result["missing"]) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("hard", "paper"), default="hard")
    parser.add_argument("--instances", type=int, default=60)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--max-users", type=int, default=6, help="hard family: most users of an instance")
    parser.add_argument("--max-subchannels", type=int, default=3, help="hard family: most subchannels")
    parser.add_argument("--min-users", type=int, default=1, help="hard family: fewest users (where --max-users allows)")
    parser.add_argument("--min-subchannels", type=int, default=1, help="hard family: fewest subchannels")
    parser.add_argument(
        "--latency-weight", type=float, default=None, help="hard family: set every user's w_T to this (0-1)"
    )
    parser.add_argument("--aps", type=int, default=3, help="paper family")
    parser.add_argument("--users-per-ap", type=int, default=2, help="paper family")
    parser.add_argument("--subchannels", type=int, default=3, help="paper family")
    parser.add_argument("--model", default="nin", help="paper family")
    parser.add_argument("--access", choices=("noma", "oma"), default="noma", help="paper family")
    parser.add_argument("--algorithms", default=",".join(name for name in EXPECTED if name not in ("gd-paper",)))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--exact-only", action="store_true", help="time exact alone (size study)")
    parser.add_argument("--time-limit-s", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None, help="markdown table to write")
    parser.add_argument("--json", type=Path, default=None, help="raw results to write")
    args = parser.parse_args()
    result = run(args)
    command = "python -m benchmarks.optimality_gap " + " ".join(sys.argv[1:])
    text = markdown(result, command)
    print(text)
    if args.json is not None:
        write_atomic(args.json, json.dumps(result, indent=1, default=str))
    if args.out is not None:
        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
