"""Objective histories of ligd-paper, gd-paper and ligd on the three models (docs/img/convergence_*.png).

Each plot concatenates the per-candidate histories (split 1, 2, ..., F) of one solve: the x axis counts
gradient iterations over the whole sweep, the y axis is the relaxed Gamma (log scale).

    python -m benchmarks.solver_convergence --out docs/img [--seed 0] [--torch-device cpu]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from benchmarks.solver_common import MODELS, add_torch_device_option, small, torch_device
from nomasplit.solvers import solve

ALGORITHMS = ("ligd-paper", "gd-paper", "ligd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--seed", type=int, default=0)
    add_torch_device_option(parser)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (1: see docs/benchmarks/solvers.md)"
    )
    args = parser.parse_args()
    device = torch_device(parser, args)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print("| model | algorithm | relaxed Gamma | rounded | final Gamma | split | iterations | time [s] |")
    print("|---|---|---|---|---|---|---|---|")
    for model in MODELS:
        scenario = small(args.seed, model)
        figure, axis = plt.subplots(figsize=(8, 4))
        for algorithm in ALGORITHMS:
            plan = solve(scenario, algorithm, seed=args.seed, device=device)
            info = plan.solver
            assert info is not None
            xs: list[int] = []
            ys: list[float] = []
            offset = 0
            for item in info.history:
                xs.extend(range(offset, offset + len(item.objective)))
                ys.extend(item.objective)
                offset += len(item.objective)
            axis.plot(xs, ys, label=f"{algorithm} (final {info.objective:.4g})", linewidth=1)
            print(
                f"| {model} | {algorithm} | {info.objective_relaxed:.5g} | {info.objective_rounded:.5g} | "
                f"{info.objective:.5g} | {info.chosen_split} | {info.iterations_total} | {info.wall_time_s:.2f} |"
            )
        axis.set_yscale("log")
        axis.set_xlabel("iteration (all split candidates, in order)")
        axis.set_ylabel("relaxed Gamma")
        axis.set_title(f"{model}: {scenario.num_users} users, {scenario.num_subchannels} subchannels, seed {args.seed}")
        axis.legend()
        figure.tight_layout()
        figure.savefig(args.out / f"convergence_{model}.png", dpi=110)
        plt.close(figure)


if __name__ == "__main__":
    main()
