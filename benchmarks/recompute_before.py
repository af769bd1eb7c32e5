"""Tables of an optimality run written before each algorithm was judged on its own reference.

Runs of ``optimality_gap.py`` before that fix stored one ``proven`` flag: the instance's optimum *and* its OMA
version's. This recovers the instance's own flag from ``exact``'s gap (tolerance 1e-4) and time (below the
120 s limit), judges every algorithm but ``ecc-oma`` on it, and prints mean / worst gap and the share within 1 %.

Usage::

    python benchmarks/recompute_before.py docs/benchmarks/before-group-search/*.json
"""

from __future__ import annotations

import json
import statistics
import sys


def main() -> None:
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
        for name in result["algorithms"]:
            rows = []
            for row in result["rows"]:
                exact = row["exact"]
                own = exact["gap"] <= 1e-4 * (1 + 1e-9) + 1e-12 and exact["time_s"] < 119
                if exact["proven"] if name == "ecc-oma" else own:
                    rows.append(row["algorithms"][name])
            gaps = [row["gap_vs_exact"] for row in rows]
            times = [row["time_s"] for row in rows]
            print(
                f"{path} {name}: {100 * statistics.mean(gaps):.2f} % / {100 * max(gaps):.2f} %, "
                f"{sum(gap <= 0.01 for gap in gaps)}/{len(gaps)} within 1 %, mean time {statistics.mean(times):.2f} s"
            )


if __name__ == "__main__":
    main()
