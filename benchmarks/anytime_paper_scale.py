"""The anytime curve of ``ligd`` at the paper's scale with users that offload (1 GFLOP/s devices).

Prints Gamma against the seconds since the solve began, from the plan's ``extra`` (the improvement phase of the
start that won), with the time each phase began.

    python -m benchmarks.anytime_paper_scale [--threads 1] [--time-limit-s 8]

``--users-per-ap`` and ``--subchannels`` shrink the network (the suite runs it at a tiny size).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.solver_common import scenario
from nomasplit.solvers import solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--time-limit-s", type=float, default=8.0)
    parser.add_argument("--users-per-ap", type=int, default=250, help="users per AP (the paper's 250)")
    parser.add_argument("--subchannels", type=int, default=250, help="subchannels M (the paper's 250)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    instance = scenario(
        3,
        model="vgg16",
        users_per_ap=args.users_per_ap,
        num_subchannels=args.subchannels,
        device_flops_per_s=1e9,
        device_switched_capacitance=1e-27,
    )
    info = solve(instance, "ligd", settings={"time_limit_s": args.time_limit_s}).solver
    assert info is not None
    print(f"wall time {info.wall_time_s:.1f} s, Gamma {info.objective:.2f}, start won: {info.extra['start_won']}")
    for name, value in info.extra["starts"].items():
        print(f"  start {name}: {value:.2f}")
    print("| start | seconds since the solve began | Gamma |")
    print("|---|---:|---:|")
    for name, record in info.extra["improvement"].items():
        for seconds, value in record["anytime"]:
            print(f"| {name} | {seconds:.2f} | {value:.2f} |")


if __name__ == "__main__":
    main()
