"""Corollary 4: Li-GD (warm starts) against GD (every candidate from the same start point).

Over the three models and ``--seeds`` seeds of a small instance of the paper's setup, solve with each pair
and report medians of the total gradient iterations over all split candidates and of the wall time, and the
median of the per-instance ratios GD / Li-GD (both measured in the same run, on the same instance).

    python -m benchmarks.solver_ligd_vs_gd [--seeds 10] [--torch-device cpu]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.solver_common import MODELS, add_torch_device_option, small, torch_device
from nomasplit.solvers import solve

#: (Li-GD name, GD name, settings of both, extra settings of the GD run, label)
PAIRS: tuple[tuple[str, str, dict, dict, str], ...] = (
    # The sweep alone (Corollary 4 is about it): the discrete improvement phase would take the same time in both.
    (
        "ligd",
        "ligd",
        {"improve": False, "baseline_starts": False},
        {"warm_start": False},
        "ligd vs ligd warm_start=false (sweep only)",
    ),
    ("ligd-paper", "gd-paper", {"epsilon": 1e-3}, {}, "ligd-paper vs gd-paper (epsilon 1e-3)"),
    ("ligd-paper", "gd-paper", {}, {}, "ligd-paper vs gd-paper (epsilon 1e-6)"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    add_torch_device_option(parser)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (1: see docs/benchmarks/solvers.md)"
    )
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="run only the first N pairs")
    args = parser.parse_args()
    device = torch_device(parser, args)
    torch.set_num_threads(args.threads)
    print(
        "| model | Li-GD variant | median iterations Li-GD | median iterations GD | median ratio GD/Li-GD "
        "(iterations) | median time Li-GD [s] | median time GD [s] | median ratio (time) | "
        "median Gamma Li-GD | median Gamma GD |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in MODELS:
        for warm_name, cold_name, both, cold_extra, label in PAIRS[: args.pairs]:
            rows = []
            for seed in range(args.seeds):
                scenario = small(seed, model)
                warm = solve(scenario, warm_name, settings=both, seed=seed, device=device).solver
                cold_settings = {**both, **cold_extra}
                cold = solve(scenario, cold_name, settings=cold_settings, seed=seed, device=device).solver
                assert warm is not None and cold is not None
                rows.append((warm, cold))
            med = statistics.median
            print(
                f"| {model} | {label} | "
                f"{med(w.iterations_total for w, _ in rows):.0f} | {med(c.iterations_total for _, c in rows):.0f} | "
                f"{med(c.iterations_total / max(w.iterations_total, 1) for w, c in rows):.2f} | "
                f"{med(w.wall_time_s for w, _ in rows):.3f} | {med(c.wall_time_s for _, c in rows):.3f} | "
                f"{med(c.wall_time_s / w.wall_time_s for w, c in rows):.2f} | "
                f"{med(w.objective for w, _ in rows):.4g} | {med(c.objective for _, c in rows):.4g} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
