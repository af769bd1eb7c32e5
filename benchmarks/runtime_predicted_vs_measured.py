"""Predicted against measured latency of split inference at every split point of the zoo models; a load test.

The edge runs as a separate process (``nomasplit edge serve`` on 127.0.0.1, a free port); this process is the
device. Transfers are shaped to fixed rates. For each model: measure this host's speed (warm-up, then medians),
then for every split point one warm-up run and ``--repeats`` measured runs (the median run is reported).
Then a load test: N concurrent clients for a bounded time. Writes ``docs/benchmarks/runtime.md``.

Predictions: the FLOP model (c measured from one full pass) and the measured per-unit tables of this host
(device and edge, as a scenario with measurements carries them); every stage (device compute, uplink, edge compute,
downlink) predicted against measured.

Run: ``python -m benchmarks.runtime_predicted_vs_measured`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import selectors
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from nomasplit import zoo
from nomasplit.io import write_atomic
from nomasplit.measure.timing import DEFAULT_IDLE_S, measure_unit_latencies
from nomasplit.runtime.client import EdgeClient
from nomasplit.runtime.device import check_edge_weights, device_part, local_output, random_input, run_split
from nomasplit.runtime.loadtest import LoadTestResult, run_load_test
from nomasplit.runtime.models import load_zoo_model
from nomasplit.runtime.prediction import (
    STAGES,
    compare_stages,
    measure_host_speed,
    predict_latency,
    predict_latency_from_tables,
)
from nomasplit.runtime.replay import MeasuredStages, stop_edge

CLI = [sys.executable, "-c", "from nomasplit.cli.main import main; main()"]
#: Idle time before each run (the measured tables' passes start after the same idle gap).
IDLE_S = DEFAULT_IDLE_S


def start_edge(token: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``nomasplit edge serve`` on a free loopback port; return the process and its URL."""
    process = subprocess.Popen(
        [
            *CLI,
            "edge",
            "serve",
            "--port",
            "0",
            "--models",
            ",".join(zoo.MODEL_NAMES),
            "--max-inflight",
            "64",
            "--threads",
            str(torch.get_num_threads()),
        ],
        env={**os.environ, "NOMASPLIT_TOKEN": token},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if " at http" in line:
                return process, line.split(" at ")[1].split()[0]
    process.kill()
    raise RuntimeError("the edge server did not start")


def _median_abs(values: list[float]) -> float:
    return statistics.median(abs(value) for value in values) if values else float("nan")


def benchmark_model(
    client: EdgeClient,
    name: str,
    uplink_bps: float,
    downlink_bps: float,
    repeats: int,
    table_repeats: int,
    fresh_tables: bool,
) -> tuple[list[str], dict[str, float]]:
    model = load_zoo_model(name, seed=0)
    check_edge_weights(client, model)
    profile = zoo.load_bundled_profile(name)
    inputs = random_input(model, 0)
    reference = local_output(model, inputs)
    speed = measure_host_speed(model, profile, inputs, repeats=9, warmup=3)
    flops_per_s = speed.flops_per_s
    # The measured per-unit table of this host (1 thread, chained passes): the device's table, and the edge's
    # (the edge runs on this host too, with 1 thread, so one measurement serves both).
    measurement = measure_unit_latencies(
        model.module, model.input_shape, name=name, units=[1], warmup=3, repeats=table_repeats
    )
    start_table = measurement.at_units(1)
    lines = [
        f"### {name} ({model.num_units} units, {profile.total_flops / 1e9:.3f} GFLOP)",
        "",
        f"FLOP model: one full pass takes {speed.full_latency_s * 1e3:.2f} ms (median of "
        f"{speed.repeats}), so c_dev = c_edge = Z / t_full = {flops_per_s / 1e9:.2f} GFLOP/s. Measured "
        f"table at the start: chained passes, median of {table_repeats}, whole pass "
        f"{start_table.total_latency_s * 1e3:.2f} ms (IQR {start_table.total_spread_s * 1e3:.2f} ms)"
        + (
            f"; re-measured before each split point ({table_repeats} passes): whole pass from "
            f"{{fresh_min}} to {{fresh_max}} ms."
            if fresh_tables
            else "."
        ),
        "",
        "| s | w(s) bytes | device pred | device meas | uplink pred | uplink meas | edge pred | edge meas "
        "| downlink pred | downlink meas | other meas | total FLOP model | total tables at start | total tables "
        "| total meas | error FLOP model | error tables at start | error tables |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors_flop: list[float] = []
    errors_start: list[float] = []
    errors_table: list[float] = []
    fresh_totals_ms: list[float] = []
    stage_errors: dict[str, list[float]] = {stage: [] for stage, _, _ in STAGES}
    stage_abs_ms: dict[str, list[float]] = {stage: [] for stage, _, _ in STAGES}
    for split in range(model.num_units + 1):
        table = start_table
        if fresh_tables:  # the host's speed drifts with its other users' load: measure it again, now
            table = measure_unit_latencies(
                model.module, model.input_shape, name=name, units=[1], warmup=1, repeats=table_repeats
            ).at_units(1)
            fresh_totals_ms.append(table.total_latency_s * 1e3)
        reports = []
        for run in range(repeats + 1):
            time.sleep(IDLE_S)  # a request arrives after an idle gap, as the table's passes start
            report, _ = run_split(
                model, split, inputs, client=client, uplink_bps=uplink_bps, downlink_bps=downlink_bps,
                reference=reference, profile=profile,
            )  # fmt: skip
            if not report.matches:
                raise RuntimeError(f"{name} split {split}: output differs ({report.max_abs_diff})")
            if run > 0:  # the first run is the warm-up
                reports.append(report)
        # Each stage and the total: its own median over the repeats (a stage of the median-total run carries
        # that run's noise).
        measured = MeasuredStages(
            **{
                key: statistics.median(getattr(report, key) for report in reports)
                for key in MeasuredStages.model_fields
            }
        )  # fmt: skip
        flop_model = predict_latency(
            profile, split, device_flops_per_s=flops_per_s, edge_flops_per_s=flops_per_s,
            uplink_bps=uplink_bps, downlink_bps=downlink_bps,
        ).total_s  # fmt: skip
        tables = predict_latency_from_tables(
            profile, split, device_unit_latency_s=table.unit_latency_s, edge_unit_latency_s=table.unit_latency_s,
            uplink_bps=uplink_bps, downlink_bps=downlink_bps,
        )  # fmt: skip
        error_flop = (flop_model - measured.total_s) / measured.total_s
        error_table = (tables.total_s - measured.total_s) / measured.total_s
        at_start = predict_latency_from_tables(
            profile, split, device_unit_latency_s=start_table.unit_latency_s,
            edge_unit_latency_s=start_table.unit_latency_s, uplink_bps=uplink_bps, downlink_bps=downlink_bps,
        ).total_s  # fmt: skip
        error_start = (at_start - measured.total_s) / measured.total_s
        errors_start.append(error_start)
        errors_flop.append(error_flop)
        errors_table.append(error_table)
        offloads = split < model.num_units
        for row in compare_stages(tables, measured, include_total=False):
            present = split > 0 if row.stage == "device compute" else offloads
            if present and row.error is not None:
                stage_errors[row.stage].append(row.error)
                stage_abs_ms[row.stage].append((row.predicted_s - row.measured_s) * 1e3)
        sent = "-" if not offloads else f"{profile.upload_bits()[split] / 8:.0f}"

        def ms(value: float) -> str:
            return f"{value * 1e3:.1f}"

        lines.append(
            f"| {split} | {sent} | {ms(tables.device_s)} | {ms(measured.device_compute_s)} | {ms(tables.uplink_s)} "
            f"| {ms(measured.uplink_s)} | {ms(tables.edge_s)} | {ms(measured.edge_compute_s)} "
            f"| {ms(tables.downlink_s)} | {ms(measured.downlink_s)} | {ms(measured.other_s + measured.edge_queue_s)} "
            f"| {ms(flop_model)} | {ms(at_start)} | {ms(tables.total_s)} | {ms(measured.total_s)} "
            f"| {error_flop:+.1%} | {error_start:+.1%} | {error_table:+.1%} |"
        )
    summary = {
        "median_abs_error_flop": _median_abs(errors_flop),
        "median_abs_error_tables_at_start": _median_abs(errors_start),
        "median_abs_error_tables": _median_abs(errors_table),
        "max_abs_error_tables": max(abs(e) for e in errors_table),
        **{f"median_abs_error_{stage.replace(' ', '_')}": _median_abs(errs) for stage, errs in stage_errors.items()},
        **{
            f"median_abs_miss_ms_{stage.replace(' ', '_')}": _median_abs(values)
            for stage, values in stage_abs_ms.items()
        },
    }
    stage_text = "; ".join(
        f"{stage} {summary['median_abs_error_' + stage.replace(' ', '_')]:.1%} "
        f"({summary['median_abs_miss_ms_' + stage.replace(' ', '_')]:.2f} ms)"
        for stage, _, _ in STAGES
    )
    lines += [
        "",
        f"|error| over the {model.num_units + 1} split points, end to end: FLOP model median "
        f"{summary['median_abs_error_flop']:.1%}; tables measured at the start median "
        f"{summary['median_abs_error_tables_at_start']:.1%}; measured tables median "
        f"{summary['median_abs_error_tables']:.1%} (max {summary['max_abs_error_tables']:.1%}). Per stage with "
        "measured tables, median |error| over the "
        f"split points where the stage exists (median |predicted - measured| in ms): {stage_text}.",
        "",
    ]
    if fresh_tables:
        lines[2] = lines[2].format(fresh_min=f"{min(fresh_totals_ms):.2f}", fresh_max=f"{max(fresh_totals_ms):.2f}")
    return lines, summary


def load_test(url: str, token: str, name: str, split: int, clients: int, duration_s: float) -> LoadTestResult:
    model = load_zoo_model(name, seed=0)
    inputs = random_input(model, 1)
    return run_load_test(
        url, token, model=name, split=split, intermediate=device_part(model, split, inputs),
        reference=local_output(model, inputs), num_clients=clients, duration_s=duration_s,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uplink-bps", type=float, default=20e6)
    parser.add_argument("--downlink-bps", type=float, default=20e6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--table-repeats", type=int, default=15, help="chained passes of the measured table")
    parser.add_argument(
        "--table-once", action="store_true", help="measure the table once per model (default: before each split)"
    )
    parser.add_argument("--models", default=",".join(zoo.MODEL_NAMES))
    parser.add_argument("--load-duration-s", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/runtime.md"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of device and edge each")
    args = parser.parse_args()
    if args.repeats < 1 or args.repeats % 2 == 0:
        parser.error("--repeats must be odd and >= 1 (the median run is reported)")
    torch.set_num_threads(args.threads)
    command = "python -m benchmarks.runtime_predicted_vs_measured " + " ".join(sys.argv[1:])
    token = secrets.token_urlsafe(32)
    started = time.perf_counter()
    process, url = start_edge(token)
    try:
        lines = [
            "# Split-inference runtime: predicted against measured latency",
            "",
            f"Made with `{command.strip()}` on {platform.machine()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__} ({torch.get_num_threads()} thread(s) each in device and edge), "
            f"Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f} "
            "(the 2 cores are shared with other work, so expect noise).",
            f"Edge: `nomasplit edge serve` in its own process on {url}; device: this process. Shaped rates: "
            f"uplink {args.uplink_bps / 1e6:g} Mbit/s, downlink {args.downlink_bps / 1e6:g} Mbit/s. "
            "Per split: "
            f"1 warm-up run, then the median of {args.repeats} runs, each after {IDLE_S * 1e3:g} ms idle. "
            "Times in ms; errors are "
            "(predicted - measured) / measured. Each measured stage and the total is its own median over the "
            "runs (other = HTTP, decoding, loopback and edge queue, so the stages need not add up to the total).",
            "",
            "Predictions, eq. (12): FLOP model = `D(s)/c + Edge(s)/c + w(s)/R_up + m/R_dn` with c measured "
            "per model as Z / (median full forward pass); measured tables = the same with the device and edge "
            "per-unit latency tables measured on this host (`measure_unit_latencies`, chained passes, one "
            "thread) in place of FLOPs/c, exactly as the system model uses the tables of a scenario with measurements "
            "(`predict_latency_from_tables`). The host's speed drifts with its other users' load (a full pass of a "
            "model varied 2-4x within minutes on this machine), so unless `--table-once` is given the table is "
            "measured again right before each split point's runs; the prediction from the table measured once at "
            "the start is shown beside it. Stage columns (pred = measured tables, meas = the runtime): the "
            "edge queue and other (HTTP, decoding, loopback) are outside eq. (12) and count in the measured total.",
            "",
        ]
        summaries = {}
        with EdgeClient(url, token) as client:
            for name in args.models.split(","):
                model_lines, summaries[name] = benchmark_model(
                    client,
                    name,
                    args.uplink_bps,
                    args.downlink_bps,
                    args.repeats,
                    args.table_repeats,
                    not args.table_once,
                )
                lines += model_lines
                print(f"{name}: {summaries[name]}", flush=True)
        lines += [
            "## Load test",
            "",
            f"N concurrent clients (threads of this process) send the same unshaped request for "
            f"{args.load_duration_s:g} s; each answer is checked against the local model. "
            "Edge: 1 compute worker, "
            "max 64 requests in flight.",
            "",
            "| model | split | clients | requests | correct | errors | throughput [req/s] | p50 [ms] | p99 [ms] |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, split, clients in [("nin", 0, 1), ("nin", 0, 4), ("nin", 0, 16), ("tiny-yolov2-voc", 8, 4)]:
            result = load_test(url, token, name, split, clients, args.load_duration_s)
            errors = sum(result.errors.values()) + result.mismatches
            lines.append(
                f"| {name} | {split} | {clients} | {result.requests} | {result.correct} | {errors} "
                f"| {result.throughput_rps:.1f} | {(result.latency_p50_s or 0) * 1e3:.1f} "
                f"| {(result.latency_p99_s or 0) * 1e3:.1f} |"
            )
            print(result.model_dump(), flush=True)
    finally:
        stop_edge(process)
    lines += [
        "",
        f"Total benchmark wall time: {time.perf_counter() - started:.0f} s; load average at the end "
        f"{os.getloadavg()[0]:.1f}.",
        "",
    ]
    write_atomic(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
