"""Does the planned edge allocation hold when an AP's users really share one server? ``nomasplit edge replay``
for 1, 2 and 4 users of one AP, on a scenario that carries this host's measured edge table.

Steps: measure NiN's per-unit edge table on this host (one thread), generate ``benchmarks/replay-one-ap.yaml``
(1 AP, 4 users, r = 1), put the table into it (the device stays the scenario's phone, FLOP model), solve
with ``ligd``, then replay the AP's offloading users, 1, 2 and 4 at once. Writes ``docs/benchmarks/replay.md``.

Run: ``python -m benchmarks.edge_replay`` (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from nomasplit.data.files import save
from nomasplit.generate import generate_scenario, load_config
from nomasplit.io import write_atomic
from nomasplit.measure.apply import apply_measurements
from nomasplit.measure.timing import measure_unit_latencies
from nomasplit.runtime.replay import run_replay
from nomasplit.solvers import solve
from nomasplit.zoo import build_model, input_shape

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", default="1,2,4")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/replay.md"))
    parser.add_argument("--work", type=Path, default=Path("out/replay"), help="scenario and plan go here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    measurement = measure_unit_latencies(build_model("nin"), input_shape("nin"), name="nin", units=[1], repeats=15)
    scenario = generate_scenario(load_config(HERE / "replay-one-ap.yaml"))
    measured = apply_measurements(scenario, edge=[measurement])
    measured = measured.replace(compensation={"kind": "linear"})  # r = 1 only: lambda(1) = 1 either way
    plan = solve(measured, "ligd", seed=0)
    save(args.work / "scenario.json", measured)
    save(args.work / "plan.json", plan)
    offloading = sum(user.split < 9 for user in plan.users)
    lines = [
        "# `nomasplit edge replay`: one AP's users at once against one edge server",
        "",
        f"Made with `{' '.join(['python -m benchmarks.edge_replay', *sys.argv[1:]])}` on a "
        f"{os.cpu_count()}-CPU host shared with other work; load average {load_start:.1f} at the start.",
        "",
        f"Scenario: `benchmarks/replay-one-ap.yaml` (1 AP, 4 users, NiN, r = 1) with this host's measured NiN edge "
        f"table (one thread, median pass {measurement.at_units(1).total_latency_s * 1e3:.2f} ms); the device is the "
        f"scenario's phone (FLOP model). Plan: `ligd`, {offloading} of 4 users offload. Each replay: the first N "
        f"offloading users, device parts first (each alone), then all N offload at once at their planned rates; "
        f"edge: `nomasplit edge serve` in its own process, N compute workers, one thread per forward; 1 warm-up "
        f"round, then the median of {args.rounds} rounds per user. Times in ms; predicted = the plan's system "
        "model for one task; error = (predicted - measured) / measured.",
        "",
        "| users at once | user | split | uplink Mbit/s | uplink pred | uplink meas | edge pred | edge meas "
        "| edge error | downlink pred | downlink meas | other meas | total pred | total meas | total error |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary: list[tuple[int, float, float]] = []
    loads: list[float] = []
    for count in [int(value) for value in args.users.split(",")]:
        if count > offloading:
            break
        result = run_replay(measured, plan, num_users=count, rounds=args.rounds, max_seconds=300)
        edge_errors, total_errors = [], []
        for user in result.users:
            rows = {row.stage: row for row in user.comparison}
            edge, total, up, down = rows["edge compute"], rows["total"], rows["uplink"], rows["downlink"]
            edge_errors.append(edge.error or 0.0)
            total_errors.append(total.error or 0.0)

            def ms(value: float) -> str:
                return f"{value * 1e3:.2f}"

            lines.append(
                f"| {count} | {user.assignment.user} | {user.assignment.split} "
                f"| {(user.assignment.uplink_bps or 0) / 1e6:.2f} | {ms(up.predicted_s)} | {ms(up.measured_s)} "
                f"| {ms(edge.predicted_s)} | {ms(edge.measured_s)} | {edge.error or 0:+.1%} "
                f"| {ms(down.predicted_s)} | {ms(down.measured_s)} | {ms(user.other_s + user.edge_queue_s)} "
                f"| {ms(total.predicted_s)} | {ms(total.measured_s)} | {total.error or 0:+.1%} |"
            )
            assert user.matches
        loads.append(result.load_average_after[0])
        summary.append((count, statistics.median(edge_errors), statistics.median(total_errors)))
        print(f"{count} users: median edge error {summary[-1][1]:+.1%}, total {summary[-1][2]:+.1%}", flush=True)
    lines += [
        "",
        "Median error per replay, edge compute / total: "
        + ", ".join(f"{count} user(s) {edge:+.1%} / {total:+.1%}" for count, edge, total in summary)
        + ". Load average after each replay: "
        + ", ".join(f"{value:.1f}" for value in loads)
        + f". Total wall time {time.perf_counter() - started:.0f} s.",
        "",
    ]
    write_atomic(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
