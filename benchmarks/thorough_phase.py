"""Li-GD's thorough improvement phase against its cheap one, on hard instances too large for ``exact``.

Instances where ``nomasplit.solvers.algorithms.ligd.thorough_phase`` holds get 4 starts, the group search and 16 kicks;
others 2 starts and neither. This script solves hard instances
(``benchmarks/hard_instances.py``) of the sizes given with the default settings and with the cheap phase forced
(``group_search=False, kicks=0, improve_starts=2``) and reports, per size, how much lower the default plan's
objective is and what it costs in time. Without a proven optimum this measures only the difference between the
two; ``optimality_gap.py`` measures gaps where ``exact`` can prove them.

Usage::

    python -m benchmarks.thorough_phase --sizes 12x10,16x12 --instances 6 --out docs/benchmarks/thorough-phase.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from benchmarks.hard_instances import hard_instance
from nomasplit.io import write_atomic
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.ligd import GROUP_SEARCH_NODES, THOROUGH_PAIRS

CHEAP = {"phase": "cheap"}
#: The thorough phase forced, for sizes where ``thorough_phase`` does not hold (``--force-thorough``).
THOROUGH = {"phase": "thorough"}


def run_one(job: tuple[int, int, int, bool]) -> dict:
    """Both phases on one instance (one worker process, one thread)."""
    users, subchannels, seed, force = job
    torch.set_num_threads(1)
    scenario = hard_instance(
        seed, max_users=users, max_subchannels=subchannels, min_users=users - 1, min_subchannels=subchannels
    )
    row: dict = {"size": f"{users}x{subchannels}", "seed": seed, "pairs": scenario.num_users * scenario.num_subchannels}
    for name, settings in (("default", THOROUGH if force else {}), ("cheap", CHEAP)):
        start = time.perf_counter()
        info = solve(scenario, "ligd", settings=settings, seed=seed).solver
        assert info is not None and info.objective is not None
        row[name] = {"objective": info.objective, "time_s": time.perf_counter() - start}
    return row


def markdown(rows: list[dict], command: str, force: bool = False) -> str:
    first = (
        "'Default' here: the thorough phase forced (`--force-thorough`: group search, 16 kicks, 4 starts) at every size"
        if force
        else f"Default: the thorough phase where `thorough_phase` holds (at most {THOROUGH_PAIRS} pairs; its group "
        f"search bounded by {GROUP_SEARCH_NODES:,} branch-and-bound nodes), the cheap one elsewhere"
    )
    lines = [
        "# Li-GD: thorough against cheap improvement phase",
        "",
        f"Command: `{command}`",
        "",
        first + "; both stop on work (the default budget). 'Lower' = 1 - default / cheap objective (positive: "
        "the default plan is better).",
        "",
        "| users x subchannels | pairs | instances | mean lower | most lower | median time [s] default / cheap |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for size in dict.fromkeys(row["size"] for row in rows):
        subset = [row for row in rows if row["size"] == size]
        lower = [1 - row["default"]["objective"] / row["cheap"]["objective"] for row in subset]
        pairs = sorted({row["pairs"] for row in subset})
        lines.append(
            f"| {size} | {pairs[0]}-{pairs[-1]} | {len(subset)} | {100 * statistics.mean(lower):.2f} % | "
            f"{100 * max(lower):.2f} % | {statistics.median(row['default']['time_s'] for row in subset):.1f} / "
            f"{statistics.median(row['cheap']['time_s'] for row in subset):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="12x10,16x12", help="most users x subchannels of each size")
    parser.add_argument("--instances", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--force-thorough", action="store_true", help="the thorough phase at every size")
    parser.add_argument("--out", type=Path, default=None, help="markdown table to write")
    args = parser.parse_args()
    sizes = [tuple(int(part) for part in size.split("x")) for size in args.sizes.split(",")]
    seeds = range(args.first_seed, args.first_seed + args.instances)
    jobs = [(u, m, seed, args.force_thorough) for u, m in sizes for seed in seeds]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    text = markdown(rows, " ".join(["python -m benchmarks.thorough_phase", *sys.argv[1:]]), args.force_thorough)
    print(text)
    if args.out is not None:
        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
