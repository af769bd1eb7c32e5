"""What re-planning buys over a static plan as users walk faster, and what a churn penalty changes
(docs/online.md, the figure and its tables).

The small network of docs/online.md (3 APs, 30 users, 10 subchannels, NiN, 1 GFLOP/s devices, 1 s slots, every
other dynamics key at its default), the same seed at 1, 3 and 30 m/s; policies static, warm, cold and every-k
(k = 5). Then the warm policy at 3 m/s with churn costs per changed user. Every solve runs on one torch thread
(the whole run does); the load average of the shared machine is printed before and after.

    python -m benchmarks.online_speeds --slots 15 --figure docs/img/online-speeds
    # fading kept: only the users' movement (path loss, cells, arrivals, workloads) changes the network
    python -m benchmarks.online_speeds --slots 15 --fading frozen --no-churn --figure docs/img/online-speeds-frozen
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import torch

from nomasplit.experiments.online import plot_online, run_online, small_network, summarise
from nomasplit.generate.dynamics import DynamicsConfig

SPEEDS_M_PER_S = (1.0, 3.0, 30.0)
CHURN_COSTS = (0.0, 0.01, 0.03, 0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, default=None, help="write FIGURE.png and FIGURE.svg")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run (every solve uses 1)")
    parser.add_argument("--fading", default="jakes", help="dynamics.fading: jakes, independent or frozen")
    parser.add_argument("--no-churn", action="store_true", help="skip the churn-cost runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(f"load average before: {'/'.join(f'{value:.1f}' for value in os.getloadavg())} (1/5/15 min)")
    config = small_network()
    tables = []
    for speed in SPEEDS_M_PER_S:
        table = run_online(
            config,
            DynamicsConfig(speed_m_per_s=speed, fading=args.fading),
            slots=args.slots,
            policies=["static", "warm", "cold", "every-k"],
            every=5,
            seed=args.seed,
        )
        tables.append(table.assign(speed_m_per_s=speed))
    speeds = pd.concat(tables, ignore_index=True)
    print(summarise(speeds).to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    if args.figure is not None:
        for path in plot_online(speeds, args.figure.parent, args.figure.name):
            print(f"wrote {path}")
    if args.no_churn:
        print(
            f"load average after: {'/'.join(f'{value:.1f}' for value in os.getloadavg())}; total "
            f"{time.perf_counter() - started:.1f} s, torch threads {torch.get_num_threads()}"
        )
        return
    churn = []
    for cost in CHURN_COSTS:
        table = run_online(
            config, DynamicsConfig(speed_m_per_s=3.0), slots=args.slots, policies=["warm"], seed=args.seed,
            churn_cost=cost,
        )  # fmt: skip
        churn.append(table.assign(churn_per_user=cost))
    churned = pd.concat(churn, ignore_index=True)
    per_cost = (
        churned[churned["slot"] > 0]
        .groupby("churn_per_user")
        .agg(
            gamma=("objective", "mean"),
            gamma_with_churn=("objective_with_churn", "mean"),
            changed_users=("changed_users", "mean"),
            replanned_share=("replanned", "mean"),
        )
        .reset_index()
    )
    print(per_cost.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    print(
        f"load average after: {'/'.join(f'{value:.1f}' for value in os.getloadavg())}; total "
        f"{time.perf_counter() - started:.1f} s, torch threads {torch.get_num_threads()}"
    )


if __name__ == "__main__":
    main()
