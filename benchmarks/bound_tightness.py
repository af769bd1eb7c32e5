"""How far the certified lower bound and ``ligd``'s plan each are from the proven optimum, by instance size.

Reads the committed optimality benchmarks (``docs/benchmarks/optimality*.json``: every instance with ``exact``'s
proven optimum and each algorithm's objective), rebuilds each instance from its seed, computes the bound that
every plan carries (:func:`nomasplit.solvers.relaxation.bounds.plan_lower_bound`) and prints, per size class,
the median and worst ``1 - bound / optimum`` and ``ligd / optimum - 1``.

    python -m benchmarks.bound_tightness
"""

from __future__ import annotations

import statistics

from benchmarks.hard_instances import committed_instances
from nomasplit.model import SystemModel
from nomasplit.solvers.relaxation.bounds import plan_lower_bound

FILES = ("optimality", "optimality-latency-only", "optimality-wide")


def rows() -> list[dict]:
    """One row per proven instance: its file, (user, subchannel) pairs, load, bound and ligd against the optimum."""
    found = []
    for name in FILES:
        for row, scenario in committed_instances(name):
            optimum = row["exact"]["objective"]
            bound = plan_lower_bound(SystemModel(scenario)).value
            found.append(
                {
                    "file": name,
                    "pairs": row["pairs"],
                    "load": row["regime"]["load"],
                    "bound_below": 1 - bound / optimum,
                    "ligd_above": row["algorithms"]["ligd"]["objective"] / optimum - 1,
                }
            )
    return found


def main() -> None:
    found = rows()
    classes = [("1-9 pairs", 1, 9), ("10-21 pairs", 10, 21), ("72-80 pairs", 22, 10**9)]
    print("| instances | count | bound below the optimum: median / worst | ligd above the optimum: median / worst |")
    print("|---|---:|---:|---:|")
    for label, low, high in classes:
        mine = [row for row in found if low <= row["pairs"] <= high]
        if not mine:
            continue
        below = [row["bound_below"] for row in mine]
        above = [row["ligd_above"] for row in mine]
        print(
            f"| {label} | {len(mine)} | {100 * statistics.median(below):.1f} % / {100 * max(below):.1f} % | "
            f"{100 * statistics.median(above):.2f} % / {100 * max(above):.2f} % |"
        )
    for load in sorted({row["load"] for row in found}):
        mine = [row["bound_below"] for row in found if row["load"] == load]
        print(f"| load: {load} | {len(mine)} | {100 * statistics.median(mine):.1f} % / {100 * max(mine):.1f} % | |")


if __name__ == "__main__":
    main()
