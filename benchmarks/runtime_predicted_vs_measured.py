"""Predicted against measured latency of split inference at every split point of the zoo models; a load test.

The edge runs as a separate process (``nomasplit edge serve`` on 127.0.0.1, a free port); this process is the
device. Transfers are shaped to fixed rates. For each model: calibrate this host (warm-up, then medians),
then for every split point one warm-up run and ``--repeats`` measured runs (the median run is reported).
Then a load test: N concurrent clients for a bounded time. Writes ``docs/benchmarks/runtime.md``.

Run: ``python benchmarks/runtime_predicted_vs_measured.py`` (about 3 minutes on 2 cores).
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
from nomasplit.runtime.client import EdgeClient
from nomasplit.runtime.device import check_edge_weights, device_part, local_output, random_input, run_split
from nomasplit.runtime.loadtest import LoadTestResult, run_load_test
from nomasplit.runtime.models import load_zoo_model
from nomasplit.runtime.prediction import calibrate, predict_latency, predict_latency_from_units

CLI = [sys.executable, "-c", "from nomasplit.cli.main import main; main()"]


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


def stop_edge(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def benchmark_model(
    client: EdgeClient, name: str, uplink_bps: float, downlink_bps: float, repeats: int
) -> tuple[list[str], dict[str, float]]:
    model = load_zoo_model(name, seed=0)
    check_edge_weights(client, model)
    profile = zoo.load_bundled_profile(name)
    inputs = random_input(model, 0)
    reference = local_output(model, inputs)
    calibration = calibrate(model, profile, inputs, repeats=9, warmup=3)
    flops_per_s = calibration.flops_per_s
    lines = [
        f"### {name} ({model.num_units} units, {profile.total_flops / 1e9:.3f} GFLOP)",
        "",
        f"Calibration on this host: one full pass takes {calibration.full_latency_s * 1e3:.2f} ms (median of "
        f"{calibration.repeats}), so c_dev = c_edge = Z / t_full = {flops_per_s / 1e9:.2f} GFLOP/s.",
        "",
        "| s | w(s) bytes | predicted, FLOP model [ms] | predicted, unit latencies [ms] | measured [ms] "
        "| error FLOP model | error unit model | device | uplink | edge | downlink | other | max abs diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors_flop, errors_unit = [], []
    for split in range(model.num_units + 1):
        reports = []
        for run in range(repeats + 1):
            report, _ = run_split(
                model, split, inputs, client=client, uplink_bps=uplink_bps, downlink_bps=downlink_bps,
                reference=reference, profile=profile,
            )  # fmt: skip
            if not report.matches:
                raise RuntimeError(f"{name} split {split}: output differs ({report.max_abs_diff})")
            if run > 0:  # the first run is the warm-up
                reports.append(report)
        # The run with the median total (repeats odd): its stages add up to it.
        median_run = sorted(reports, key=lambda r: r.total_s)[len(reports) // 2]
        measured = {
            key: getattr(median_run, key)
            for key in ("total_s", "device_compute_s", "uplink_s", "edge_compute_s", "downlink_s", "other_s")
        }
        flop_model = predict_latency(
            profile, split, device_flops_per_s=flops_per_s, edge_flops_per_s=flops_per_s,
            uplink_bps=uplink_bps, downlink_bps=downlink_bps,
        ).total_s  # fmt: skip
        unit_model = predict_latency_from_units(
            profile, split, calibration.unit_latency_s, uplink_bps=uplink_bps, downlink_bps=downlink_bps
        ).total_s
        error_flop = (flop_model - measured["total_s"]) / measured["total_s"]
        error_unit = (unit_model - measured["total_s"]) / measured["total_s"]
        errors_flop.append(abs(error_flop))
        errors_unit.append(abs(error_unit))
        sent = "-" if split == model.num_units else f"{profile.upload_bits()[split] / 8:.0f}"
        lines.append(
            f"| {split} | {sent} | {flop_model * 1e3:.1f} | {unit_model * 1e3:.1f} "
            f"| {measured['total_s'] * 1e3:.1f} "
            f"| {error_flop:+.1%} | {error_unit:+.1%} | {measured['device_compute_s'] * 1e3:.1f} "
            f"| {measured['uplink_s'] * 1e3:.1f} | {measured['edge_compute_s'] * 1e3:.1f} "
            f"| {measured['downlink_s'] * 1e3:.1f} | {measured['other_s'] * 1e3:.1f} "
            f"| {max(r.max_abs_diff for r in reports):.2g} |"
        )
    summary = {
        "median_abs_error_flop": statistics.median(errors_flop),
        "max_abs_error_flop": max(errors_flop),
        "median_abs_error_unit": statistics.median(errors_unit),
        "max_abs_error_unit": max(errors_unit),
    }
    lines += [
        "",
        f"|error| over the {model.num_units + 1} split points: FLOP model median "
        f"{summary['median_abs_error_flop']:.1%}"
        f" (max {summary['max_abs_error_flop']:.1%}); unit-latency model median "
        f"{summary['median_abs_error_unit']:.1%} (max {summary['max_abs_error_unit']:.1%}).",
        "",
    ]
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
    parser.add_argument("--models", default=",".join(zoo.MODEL_NAMES))
    parser.add_argument("--load-duration-s", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/runtime.md"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of device and edge each")
    args = parser.parse_args()
    if args.repeats < 1 or args.repeats % 2 == 0:
        parser.error("--repeats must be odd and >= 1 (the median run is reported)")
    torch.set_num_threads(args.threads)
    command = "python benchmarks/runtime_predicted_vs_measured.py " + " ".join(sys.argv[1:])
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
            f"1 warm-up run, then the median of {args.repeats} runs. Times in ms; errors are "
            "(predicted - measured) / measured. Device, uplink, edge, downlink, other: the stages of the run "
            "with the median total (other = HTTP, decoding, loopback, edge queue).",
            "",
            "Predictions: FLOP model = eq. (12), `D(s)/c + Edge(s)/c + w(s)/R_up + m/R_dn` with c calibrated "
            "per model as Z / (median full forward pass); unit model = the same with each unit's own "
            "measured "
            "latency in place of FLOPs/c.",
            "",
        ]
        summaries = {}
        with EdgeClient(url, token) as client:
            for name in args.models.split(","):
                model_lines, summaries[name] = benchmark_model(
                    client, name, args.uplink_bps, args.downlink_bps, args.repeats
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
    lines += ["", f"Total benchmark wall time: {time.perf_counter() - started:.0f} s.", ""]
    write_atomic(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
