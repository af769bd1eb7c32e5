"""Re-solve the instances of a committed optimality benchmark with the current code and compare each plan with the
proven optimum stored there (no ``exact`` rerun: the instances are rebuilt from their seeds).

    python -m benchmarks.stored_optimum_check optimality-wide --algorithms ligd,ecc-noma
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks.bound_tightness import BENCHMARKS, FILES
from benchmarks.hard_instances import hard_instance

from nomasplit.solvers import solve


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=FILES)
    parser.add_argument("--algorithms", default="ligd")
    args = parser.parse_args()
    data = json.loads((BENCHMARKS / f"{args.name}.json").read_text())
    config = data["config"]
    gaps: dict[str, list[float]] = {}
    before: dict[str, list[float]] = {}
    for row in data["rows"]:
        if not row["exact"]["proven"]:
            continue
        scenario = hard_instance(
            row["seed"],
            max_users=config["max_users"],
            max_subchannels=config["max_subchannels"],
            min_users=config["min_users"],
            min_subchannels=config["min_subchannels"],
        )
        if config["latency_weight"] is not None:
            scenario = scenario.replace(latency_weight=[config["latency_weight"]] * scenario.num_users)
        optimum = row["exact"]["objective"]
        for algorithm in args.algorithms.split(","):
            info = solve(scenario, algorithm).solver
            assert info is not None
            gaps.setdefault(algorithm, []).append(info.objective / optimum - 1)
            before.setdefault(algorithm, []).append(row["algorithms"][algorithm]["objective"] / optimum - 1)
            print(
                f"seed {row['seed']} {algorithm}: now {100 * gaps[algorithm][-1]:.2f} %, stored run "
                f"{100 * before[algorithm][-1]:.2f} %",
                flush=True,
            )
    print("| algorithm | instances | mean gap now | worst now | mean gap in the stored run | worst there |")
    print("|---|---:|---:|---:|---:|---:|")
    for algorithm, values in gaps.items():
        old = before[algorithm]
        print(
            f"| `{algorithm}` | {len(values)} | {100 * statistics.mean(values):.2f} % | {100 * max(values):.2f} % | "
            f"{100 * statistics.mean(old):.2f} % | {100 * max(old):.2f} % |"
        )


if __name__ == "__main__":
    main()
