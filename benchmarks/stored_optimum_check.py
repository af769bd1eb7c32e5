"""Re-solve the instances of a committed optimality benchmark with the current code and compare each plan with the
proven optimum stored there (no ``exact`` rerun: the instances are rebuilt from their seeds).

    python -m benchmarks.stored_optimum_check optimality-wide --algorithms ligd,ecc-noma,ecc-oma

``ecc-oma`` is measured against the proven optimum of each instance's OMA version, as in the stored run.
``--settings '{"phase": "cheap"}'`` solves with other settings than the defaults (the stored run's are those).
"""

from __future__ import annotations

import argparse
import json
import statistics

from benchmarks.bound_tightness import FILES
from benchmarks.hard_instances import committed_instances
from nomasplit.solvers import solve


def reference_optimum(row: dict, algorithm: str) -> float | None:
    """The proven optimum an algorithm's plan is measured against: the instance's, or for ``ecc-oma`` that of its
    OMA version (stored as the stored plan's objective over one plus its gap to it; None where unproven)."""
    if algorithm != "ecc-oma":
        return row["exact"]["objective"]
    stored = row["algorithms"]["ecc-oma"]
    if not row["exact"].get("oma_proven") or stored.get("gap_vs_exact") is None:
        return None
    return stored["objective"] / (1 + stored["gap_vs_exact"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=FILES)
    parser.add_argument("--algorithms", default="ligd")
    parser.add_argument(
        "--settings", type=json.loads, default={}, help="settings of every algorithm, as JSON (e.g. a phase)"
    )
    args = parser.parse_args()
    settings = args.settings
    gaps: dict[str, list[float]] = {}
    before: dict[str, list[float]] = {}
    for row, scenario in committed_instances(args.name):
        for algorithm in args.algorithms.split(","):
            optimum = reference_optimum(row, algorithm)
            if optimum is None:
                continue
            info = solve(scenario, algorithm, settings=settings).solver
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
