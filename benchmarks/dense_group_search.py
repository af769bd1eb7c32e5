"""Why ``thorough_phase`` excludes dense instances: ECC-NOMA on the quick calibrated Fig. 7 point M = 6.

That point puts 30 users (3 APs x 10) on 6 subchannels with K = 3: 180 pairs, 5 users per subchannel. The script
solves it with the reproduction's ECC-NOMA settings (``ligd`` stopping on rounds, a 3600 s budget), once as the
default chooses (the cheap phase: the instance is dense) and once with the thorough phase forced (group search,
16 kicks, 4 starts), and prints the wall time and objective of each.

Usage::

    python benchmarks/dense_group_search.py --seeds 2
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from nomasplit.experiments import build_tasks
from nomasplit.experiments.calibration import calibrated_settings
from nomasplit.generate import generate_scenario, parse_config
from nomasplit.solvers import solve

THOROUGH = {"group_search": True, "kicks": 16, "improve_starts": 4}


def run_one(job: tuple[dict, int, dict, str]) -> tuple[str, int, float, float]:
    config, seed, settings, name = job
    torch.set_num_threads(1)
    scenario = generate_scenario(parse_config(config), seed=seed)
    start = time.perf_counter()
    info = solve(scenario, "ecc-noma", settings=settings, seed=seed).solver
    assert info is not None and info.objective is not None
    return name, seed, time.perf_counter() - start, info.objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--subchannels", type=int, default=6, help="the Fig. 7 point (quick: 2, 4, 6, 10, 20)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    settings = calibrated_settings(quick=True)
    tasks = [
        task
        for task in build_tasks(settings.select_figures(["7"]))
        if task.algorithm == "ecc-noma" and int(task.value) == args.subchannels and task.seed < args.seeds
    ]
    jobs = []
    for task in tasks:
        default = task.algorithm_settings
        forced = {**default, "ligd": {**default.get("ligd", {}), **THOROUGH}}
        jobs += [(task.config, task.seed, default, "default"), (task.config, task.seed, forced, "thorough forced")]
    users = tasks[0].config["num_aps"] * tasks[0].config["users_per_ap"]
    print(f"Fig. 7 quick, M = {args.subchannels}: {users} users, K = {tasks[0].config['cluster_size']}")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for name, seed, seconds, objective in pool.map(run_one, jobs):
            print(f"seed {seed} {name}: {seconds:.1f} s, objective {objective:.6g}", flush=True)


if __name__ == "__main__":
    main()
