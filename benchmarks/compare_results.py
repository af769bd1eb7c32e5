"""Compare the final objective Γ of two runs of the same sweeps, task by task (e.g. before and after a solver
change): per method, on how many (sweep, point, seed) tasks Γ fell or rose, and the mean, lowest and highest
relative change.

Usage (the committed calibrated run before and after a change):

    git show REV:docs/reproduction/calibrated/results.parquet > /tmp/old.parquet
    python -m benchmarks.compare_results /tmp/old.parquet docs/reproduction/calibrated/results.parquet
"""

from __future__ import annotations

import argparse

import pandas as pd

KEYS = ["sweep", "value", "algorithm", "seed"]


def compare(old: pd.DataFrame, new: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """One row per method: tasks, lower, higher, mean / min / max relative change of Γ (new / old - 1)."""
    both = old.merge(new, on=KEYS, suffixes=("_old", "_new"))
    both = both[both["algorithm"].isin(methods)]
    change = both["objective_new"] / both["objective_old"] - 1.0
    rows = []
    for method, values in change.groupby(both["algorithm"]):
        rows.append(
            {
                "method": method,
                "tasks": len(values),
                "lower": int((values < -1e-9).sum()),
                "higher": int((values > 1e-9).sum()),
                "mean %": 100 * values.mean(),
                "min %": 100 * values.min(),
                "max %": 100 * values.max(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="results.parquet of the first run")
    parser.add_argument("new", help="results.parquet of the second run")
    parser.add_argument("--methods", default="ecc-oma,ecc-noma", help="comma-separated methods")
    args = parser.parse_args()
    table = compare(pd.read_parquet(args.old), pd.read_parquet(args.new), args.methods.split(","))
    print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))


if __name__ == "__main__":
    main()
