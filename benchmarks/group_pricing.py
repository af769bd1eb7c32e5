"""Group pricing, old and new, in one run: the closed-form 1-D minimiser against bisection, staged pricing against
pricing every group in full.

Every group cost of ``exact`` and of the group search is a branch and bound whose boxes are bounded by the
elementwise minimisation of ``(a + c x) / ln(1 + q x)`` (``nomasplit.solvers.search.group_bnb.minimise_cost_per_bit``).
It used to bisect 64 times on the sign of the derivative; it now takes the root from the Lambert W function and
checks it on a bracket of relative half-width 1e-9 (bisection only where that check fails). The group search
also used to search every new group of every move with ``GROUP_NODES`` boxes; it now prices with ``FIRST_NODES``
and gives the full budget only to the ``RECHECKED`` best moves of a round (staged pricing). This script times,
side by side in the same worker processes:

1. the minimiser alone on a batch of the size the branch and bound uses (128 boxes x 6 users);
2. ``exact`` on the wide hard instances of the optimality benchmark (``benchmarks/hard_instances.py``, 9-10 users
   on 8 subchannels, seeds 200 on, as in ``optimality_gap.py --min-users 9 --max-users 10 --min-subchannels 8
   --max-subchannels 8 --first-seed 200``), bisection against closed form;
3. ``ligd`` with the group search forced (4 starts, 16 kicks, a 600 s budget and no node limit, so that the
   search's own end, not the clock or the work bound, stops it) on dense hard instances (more than 2 users per
   subchannel): bisection with every group in full (the old code), the closed form with every group in full,
   and the closed form with staged pricing (the code now, without its work bound);
4. the choice of ``FIRST_NODES``: ``ligd`` (defaults, 3600 s budget, no node limit) on the golden instances of
   ``tests/test_ligd.py`` (``random_scenario(seed, num_users=10, num_subchannels=3)``, seeds 0 and 1) with
   ``FIRST_NODES`` = 128, 256 and 2048 (2048: every group in full), ``RECHECKED`` as shipped.

The "bisection" variants put the bisection-only minimiser back in place of the closed form
(``exact_groups._bisect``, the code path the closed form falls back to); "in full" sets ``FIRST_NODES`` to
``GROUP_NODES``. It prints per instance the time of each variant and the change of the objective against the
first.

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

import nomasplit.solvers.search.group_bnb as exact_groups
import nomasplit.solvers.search.groups as group_search
from nomasplit.io import write_atomic
from nomasplit.solvers import solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.factories import random_scenario

from hard_instances import hard_instance

CLOSED_FORM = exact_groups.minimise_cost_per_bit
FORCED_GROUP_SEARCH = {
    "group_search": True,
    "kicks": 16,
    "improve_starts": 4,
    "time_limit_s": 600.0,
    "group_search_nodes": 10**12,
}
STAGED_FIRST_NODES = group_search.FIRST_NODES


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


MINIMISERS = {"closed form": CLOSED_FORM, "bisection": bisection_only}
#: (minimiser, staged pricing) of each variant, in the order they run
VARIANTS = {
    "bisection": ("bisection", False),
    "closed form": ("closed form", False),
    "closed form, staged": ("closed form", True),
}


def use(variant: str) -> None:
    minimiser, staged = VARIANTS[variant]
    exact_groups.minimise_cost_per_bit = MINIMISERS[minimiser]  # _box_bounds looks the name up at call time
    group_search.FIRST_NODES = STAGED_FIRST_NODES if staged else group_search.GROUP_NODES


def time_minimiser(repeats: int) -> dict[str, float]:
    """Microseconds per call on 128 boxes x 6 users of realistic draws."""
    rng = np.random.default_rng(0)
    shape = (128, 6)
    weight = rng.uniform(0, 1, shape)
    snr = 10 ** rng.uniform(2, 9, shape)
    low = np.full(shape, 1e-3)
    high = np.full(shape, 0.3)
    times = {}
    for name, function in MINIMISERS.items():
        start = time.perf_counter()
        for _ in range(repeats):
            function(weight, snr, low, high)
        times[name] = (time.perf_counter() - start) / repeats * 1e6
    return times


def run_one(job: tuple[str, int, int, int]) -> dict:
    """The variants on one instance, in one worker process (one thread), in the order of ``VARIANTS``
    (``exact`` does not use staged pricing, so it runs the first two)."""
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
    for variant in list(VARIANTS)[: 2 if kind == "exact" else 3]:
        use(variant)
        start = time.perf_counter()
        info = solve(scenario, algorithm, settings=settings, seed=seed).solver
        assert info is not None and info.objective is not None
        row[variant] = {"time_s": time.perf_counter() - start, "objective": info.objective}
    use("closed form, staged")
    return row


FIRST_NODES_CHOICES = (128, 256, 2048)


def first_nodes_job(job: tuple[int, int]) -> dict:
    """``ligd`` on a golden instance of tests/test_ligd.py with ``FIRST_NODES`` = ``first``."""
    seed, first = job
    torch.set_num_threads(1)
    group_search.FIRST_NODES = first
    start = time.perf_counter()
    scenario = random_scenario(seed, num_users=10, num_subchannels=3)
    settings = {"time_limit_s": 3600.0, "group_search_nodes": 10**12}  # neither the clock nor the work bound
    info = solve(scenario, "ligd", settings=settings, seed=0).solver
    assert info is not None and info.objective is not None
    nodes = max((run["accepted_moves"].get("group nodes", 0) for run in info.extra["improvement"].values()), default=0)
    group_search.FIRST_NODES = STAGED_FIRST_NODES
    seconds = time.perf_counter() - start
    return {"seed": seed, "first": first, "objective": info.objective, "nodes": nodes, "time_s": seconds}


def first_nodes_table(rows: list[dict]) -> list[str]:
    lines = [
        "",
        f"Choice of `FIRST_NODES` (`RECHECKED` = {group_search.RECHECKED}): `ligd` on the golden instances of "
        "`tests/test_ligd.py` (10 users, 3 subchannels), 3600 s budget, no node limit; change against 2048 (every "
        "group in full).",
        "",
        "| seed | FIRST_NODES | objective | change | group-search nodes | time [s] |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    full = {row["seed"]: row["objective"] for row in rows if row["first"] == group_search.GROUP_NODES}
    for row in rows:
        change = (row["objective"] - full[row["seed"]]) / abs(full[row["seed"]])
        lines.append(
            f"| {row['seed']} | {row['first']} | {row['objective']:.6f} | {change:+.2%} | {row['nodes']:,} | "
            f"{row['time_s']:.1f} |"
        )
    return lines


def markdown(rows: list[dict], minimiser: dict[str, float], command: str) -> str:
    lines = [
        "# Group pricing: closed form against bisection, staged against in full",
        "",
        f"`{command}` (`benchmarks/group_pricing.py`; the variants in the same worker process, one after the "
        "other; the machine is shared, so read the ratios). Change: the objective against the first variant's.",
        "",
        f"Minimiser alone, 128 boxes x 6 users: {minimiser['bisection']:.0f} us per call by bisection, "
        f"{minimiser['closed form']:.0f} us in closed form ({minimiser['bisection'] / minimiser['closed form']:.1f}x).",
        "",
        "| solve | instance | users x subchannels | bisection, in full [s] | closed form, in full [s] | closed form, "
        "staged [s] | change (closed form) | change (staged) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        first = row["bisection"]
        cells = [f"{row[name]['time_s']:.2f}" if name in row else "-" for name in VARIANTS]
        changes = [
            f"{(row[name]['objective'] - first['objective']) / abs(first['objective']):+.1e}" if name in row else "-"
            for name in list(VARIANTS)[1:]
        ]
        lines.append(f"| {row['kind']} | {row['seed']} | {row['size']} | {' | '.join(cells)} | {' | '.join(changes)} |")
    lines.append("")
    for kind in ("exact", "group search"):
        chosen = [r for r in rows if r["kind"] == kind]
        if not chosen:
            continue
        for name in list(VARIANTS)[1:]:
            ratios = [r["bisection"]["time_s"] / r[name]["time_s"] for r in chosen if name in r]
            if ratios:
                lines.append(
                    f"- {kind}: bisection in full / {name}: median time ratio {statistics.median(ratios):.2f} over "
                    f"{len(ratios)} instances ({min(ratios):.2f}-{max(ratios):.2f})."
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
        choices = list(pool.map(first_nodes_job, [(seed, first) for seed in (0, 1) for first in FIRST_NODES_CHOICES]))
    command = "python benchmarks/group_pricing.py" + "".join(f" {arg}" for arg in sys.argv[1:])
    text = markdown(rows, minimiser, command) + "\n".join(first_nodes_table(choices)) + "\n"
    print(text)
    if args.out is not None:
        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
