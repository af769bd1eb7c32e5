"""The closed-form 1-D minimiser of ``exact_groups`` against the bisection it replaced, in one run.

Every group cost of ``exact`` and of the group search is a branch and bound whose boxes are bounded by the
elementwise minimisation of ``(a + c x) / ln(1 + q x)`` (``nomasplit.solvers.exact_groups.minimise_cost_per_bit``).
It used to bisect 64 times on the sign of the derivative; it now takes the root from the Lambert W function and
checks it on a bracket of relative half-width 1e-9 (bisection only where that check fails). This script times,
side by side in the same worker processes:

1. the minimiser alone on a batch of the size the branch and bound uses (128 boxes x 6 users);
2. ``exact`` on the wide hard instances of the optimality benchmark (``benchmarks/hard_instances.py``, 9-10 users
   on 8 subchannels, seeds 200 on, as in ``optimality_gap.py --min-users 9 --max-users 10 --min-subchannels 8
   --max-subchannels 8 --first-seed 200``);
3. ``ligd`` with the group search forced (4 starts, 16 kicks, 600 s budget, so that work, not the clock, ends it)
   on dense hard instances (more than 2 users per subchannel), where it was too slow to be the default.

The "bisection" variant puts the bisection-only minimiser back in place of the closed form
(``exact_groups._bisect``, the code path the closed form falls back to). It prints per instance the time of each
variant and the difference of their objectives.

Usage::

    python benchmarks/group_pricing.py --out docs/benchmarks/group-pricing.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

import nomasplit.solvers.exact_groups as exact_groups
from nomasplit.io import write_atomic
from nomasplit.solvers import solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hard_instances import hard_instance

CLOSED_FORM = exact_groups.minimise_cost_per_bit
FORCED_GROUP_SEARCH = {"group_search": True, "kicks": 16, "improve_starts": 4, "time_limit_s": 600.0}


def bisection_only(
    latency_weight: np.ndarray, snr_per_watt: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The minimiser as it was: bisection on the derivative's sign everywhere."""
    a = np.asarray(latency_weight, dtype=np.float64)
    q = np.asarray(snr_per_watt, dtype=np.float64)
    low, high, a, q = np.broadcast_arrays(np.asarray(low, float), np.asarray(high, float), a, q)
    c = 1.0 - a

    def sign(x: np.ndarray, a: np.ndarray, c: np.ndarray, q: np.ndarray) -> np.ndarray:
        return c * np.log1p(q * x) - (a + c * x) * q / (1.0 + q * x)

    left, right = exact_groups._bisect(sign, a, c, q, low, high)
    with np.errstate(divide="ignore"):
        return right, (a + c * left) / np.log1p(q * right)


VARIANTS = {"closed form": CLOSED_FORM, "bisection": bisection_only}


def use(variant: str) -> None:
    exact_groups.minimise_cost_per_bit = VARIANTS[variant]  # _box_bounds looks the name up at call time


def time_minimiser(repeats: int) -> dict[str, float]:
    """Microseconds per call on 128 boxes x 6 users of realistic draws."""
    rng = np.random.default_rng(0)
    shape = (128, 6)
    weight = rng.uniform(0, 1, shape)
    snr = 10 ** rng.uniform(2, 9, shape)
    low = np.full(shape, 1e-3)
    high = np.full(shape, 0.3)
    times = {}
    for name, function in VARIANTS.items():
        start = time.perf_counter()
        for _ in range(repeats):
            function(weight, snr, low, high)
        times[name] = (time.perf_counter() - start) / repeats * 1e6
    return times


def run_one(job: tuple[str, int, int, int]) -> dict:
    """Both variants on one instance, in one worker process (one thread), the bisection first."""
    kind, seed, users, subchannels = job
    torch.set_num_threads(1)
    scenario = hard_instance(
        seed, max_users=users, max_subchannels=subchannels, min_users=users - 1, min_subchannels=subchannels
    )
    if kind == "exact":
        algorithm = "exact"
        settings: dict = {"time_limit_s": 600.0, "max_users": users, "max_subchannels": subchannels}
    else:
        algorithm, settings = "ligd", FORCED_GROUP_SEARCH
    solve(hard_instance(0), "exact", seed=0)  # warm up the process (imports, first calls) before timing
    row: dict = {"kind": kind, "seed": seed, "size": f"{scenario.num_users}x{scenario.num_subchannels}"}
    for variant in ("bisection", "closed form"):
        use(variant)
        start = time.perf_counter()
        info = solve(scenario, algorithm, settings=settings, seed=seed).solver
        assert info is not None and info.objective is not None
        row[variant] = {"time_s": time.perf_counter() - start, "objective": info.objective}
    use("closed form")
    return row


def markdown(rows: list[dict], minimiser: dict[str, float], command: str) -> str:
    lines = [
        "# The closed-form 1-D minimiser against bisection",
        "",
        f"`{command}` (`benchmarks/group_pricing.py`; both variants in the same worker process, one after the "
        "other; the machine is shared, so read the ratios).",
        "",
        f"Minimiser alone, 128 boxes x 6 users: {minimiser['bisection']:.0f} us per call by bisection, "
        f"{minimiser['closed form']:.0f} us in closed form ({minimiser['bisection'] / minimiser['closed form']:.1f}x).",
        "",
        "| solve | instance | users x subchannels | bisection [s] | closed form [s] | ratio | objective change |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        old, new = row["bisection"], row["closed form"]
        change = (new["objective"] - old["objective"]) / abs(old["objective"])
        lines.append(
            f"| {row['kind']} | {row['seed']} | {row['size']} | {old['time_s']:.2f} | {new['time_s']:.2f} | "
            f"{old['time_s'] / new['time_s']:.2f} | {change:+.1e} |"
        )
    lines.append("")
    for kind in ("exact", "group search"):
        ratios = [r["bisection"]["time_s"] / r["closed form"]["time_s"] for r in rows if r["kind"] == kind]
        if ratios:
            lines.append(
                f"- {kind}: median time ratio {statistics.median(ratios):.2f} (bisection / closed form) over "
                f"{len(ratios)} instances."
            )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exact-instances", type=int, default=8, help="wide hard instances (seeds 200..) for exact")
    parser.add_argument(
        "--dense", default="20x4:300,20x4:301,30x6:301", help="users x subchannels:seed of the dense instances"
    )
    parser.add_argument("--repeats", type=int, default=2000, help="calls of the minimiser alone")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    minimiser = time_minimiser(args.repeats)
    jobs = [("exact", seed, 10, 8) for seed in range(200, 200 + args.exact_instances)]
    for item in filter(None, args.dense.split(",")):
        size, seed = item.split(":")
        users, subchannels = (int(part) for part in size.split("x"))
        jobs.append(("group search", int(seed), users, subchannels))
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    command = "python benchmarks/group_pricing.py" + "".join(f" {arg}" for arg in sys.argv[1:])
    text = markdown(rows, minimiser, command)
    print(text)
    if args.out is not None:
        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
