"""Per-unit latency of the zoo models on this host (one thread), written as Markdown.

Run from the repository root::

    python -m benchmarks.profile_host --out docs/benchmarks/profiles.md

Each unit runs ``--warmup`` times un-timed and ``--repeats`` times timed; the median is reported
(``nomasplit.measure.profile_model(..., measure=True)``). The totals row adds the unit medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch

from nomasplit.io import write_atomic
from nomasplit.measure import markdown_table, profile_model
from nomasplit.zoo import MODEL_NAMES, build_model, input_shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="Markdown file to write (default: print only)")
    args = parser.parse_args(argv)

    command = "python -m benchmarks.profile_host " + " ".join(sys.argv[1:] if argv is None else argv)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    lines = [
        "# Measured per-unit latency of the zoo models on the development host",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"- torch {torch.__version__}, one intra-op thread, float32, `torch.inference_mode`",
        f"- {platform.platform()}, processor {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs",
        f"- warm-up runs {args.warmup}, timed runs {args.repeats}, median per unit",
    ]
    if load is not None:
        lines.append(f"- load average at start {load[0]:.2f} (the machine is shared: expect noise)")
    lines += [
        "",
        "These numbers describe one core of this machine, not a phone; the system model uses FLOPs and the",
        "device's FLOP/s instead. They show how well FLOPs track time per unit.",
        "",
        "| model | units | GFLOPs | latency ms (sum of unit medians) | GFLOP/s |",
        "|---|---:|---:|---:|---:|",
    ]
    sections = []
    for name in args.models:
        profile = profile_model(
            build_model(name),
            input_shape(name),
            name=name,
            measure=True,
            warmup=args.warmup,
            repeats=args.repeats,
        )
        latency_s = sum(layer.measured_latency_s or 0.0 for layer in profile.layers)
        lines.append(
            f"| {name} | {profile.num_layers} | {profile.total_flops / 1e9:.3f} | {latency_s * 1e3:.2f} | "
            f"{profile.total_flops / latency_s / 1e9:.1f} |"
        )
        sections += ["", f"## {name}", "", markdown_table(profile)]
        print(f"{name}: {profile.total_flops / 1e9:.3f} GFLOPs, {latency_s * 1e3:.2f} ms", flush=True)
    text = "\n".join(lines + sections) + "\n"
    if args.out is not None:
        write_atomic(args.out, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
