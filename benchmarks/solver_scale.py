"""Wall time and peak memory of the gradient solvers at the paper's scale, and their growth.

Every measurement runs in a fresh child process (so ``ru_maxrss``, the peak resident memory, belongs to that
one solve), after a warm-up solve on a small instance in the same child. Peak memory is reported as the
child's peak RSS and, separately, its RSS just before the measured solve (Python, torch and the scenario).

    # the paper's scale: 5 APs, 1250 users, 250 subchannels, K = 3, VGG16
    python -m benchmarks.solver_scale paper --algorithm ligd --algorithm ligd-paper --set ligd-paper:max_iterations=10
    # growth with users (M = 250) and with subchannels (U = 1250), log-log plot
    python -m benchmarks.solver_scale growth --algorithm ligd --plot docs/img/solver_growth.png
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.solver_common import add_torch_device_option, scenario, torch_device
from nomasplit.solvers import solve

#: The repository root: the child process runs ``python -m benchmarks.solver_scale child`` there.
ROOT = Path(__file__).resolve().parents[1]


def scalar(text: str) -> Any:
    """A command-line value: YAML scalar, with '1e9' read as a number (YAML 1.1 reads it as text; the validated
    configs accept no numbers written as text)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """Current resident memory (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return float("nan")


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Generate the instance, warm up, solve once, measure."""
    torch.set_num_threads(spec["threads"])
    instance = scenario(spec["seed"], **spec["config"])
    warm = scenario(spec["seed"], num_aps=2, users_per_ap=5, num_subchannels=4, model=spec["config"]["model"])
    solve(warm, spec["algorithm"], settings=spec["settings"], device=spec["torch_device"])
    before = current_rss_mib()
    start = time.perf_counter()
    plan = solve(instance, spec["algorithm"], settings=spec["settings"], device=spec["torch_device"], seed=spec["seed"])
    wall = time.perf_counter() - start
    info = plan.solver
    assert info is not None
    return {
        **spec,
        "num_users": instance.num_users,
        "num_subchannels": instance.num_subchannels,
        "wall_time_s": wall,
        "rss_before_mib": before,
        "peak_rss_mib": rss_mib(),
        "objective": info.objective,
        "iterations_total": info.iterations_total,
        "objective_evaluations": info.extra.get("objective_evaluations"),
        "chosen_split": info.chosen_split,
        "offloading_users": info.extra.get("offloading_users"),
        "success": info.success,
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.solver_scale", "child", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def settings_for(algorithm: str, items: list[str]) -> dict[str, Any]:
    """``ALGORITHM:key=value`` items that apply to ``algorithm``."""
    settings: dict[str, Any] = {}
    for item in items:
        name, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        if name == algorithm:
            settings[key] = scalar(value)
    return settings


def print_row(row: dict[str, Any]) -> None:
    evals = row["objective_evaluations"]
    per_eval = row["wall_time_s"] / evals if evals else float("nan")
    print(
        f"| {row['algorithm']} | {row['threads']} | {row['num_users']} | {row['num_subchannels']} | "
        f"{row['torch_device']} | {row['wall_time_s']:.1f} | {evals} | {per_eval * 1e3:.0f} | "
        f"{row['peak_rss_mib']:.0f} | {row['rss_before_mib']:.0f} | {row['objective']:.5g} | {row['chosen_split']} | "
        f"{row['offloading_users']} | {json.dumps(row['settings'])} |",
        flush=True,
    )


HEADER = (
    "| algorithm | threads | users | subchannels | torch device | wall time [s] | objective evaluations | "
    "ms per evaluation | peak RSS [MiB] | RSS before solve [MiB] | Gamma | split | offloading users | settings |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["paper", "growth"])
    parser.add_argument("--algorithm", action="append", default=[])
    parser.add_argument("--set", action="append", default=[], help="ALGORITHM:key=value")
    add_torch_device_option(parser)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (1: see docs/benchmarks/solvers.md)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, nargs="+", default=[100, 250, 500, 1000, 2000])
    parser.add_argument("--subchannels", type=int, nargs="+", default=[10, 25, 50, 100, 250])
    parser.add_argument("--plot", type=Path)
    parser.add_argument(
        "--config", action="append", default=[], help="KEY=VALUE override of the paper configuration (YAML value)"
    )
    args = parser.parse_args()
    device = torch_device(parser, args)
    overrides = {key: scalar(value) for key, _, value in (item.partition("=") for item in args.config)}
    algorithms = args.algorithm or ["ligd"]
    print(HEADER)
    rows = []
    for algorithm in algorithms:
        settings = settings_for(algorithm, args.set)
        base = {
            "algorithm": algorithm,
            "settings": settings,
            "torch_device": device,
            "seed": args.seed,
            "threads": args.threads,
        }
        if args.mode == "paper":
            rows.append(measure({**base, "config": {"model": "vgg16", **overrides}}))
            print_row(rows[-1])
            continue
        for users in args.users:
            config = {"model": "vgg16", "users_per_ap": max(users // 5, 1), "num_subchannels": 250, **overrides}
            rows.append({**measure({**base, "config": config}), "sweep": "users"})
            print_row(rows[-1])
        for subchannels in args.subchannels:
            config = {"model": "vgg16", "users_per_ap": 250, "num_subchannels": subchannels, **overrides}
            rows.append({**measure({**base, "config": config}), "sweep": "subchannels"})
            print_row(rows[-1])
    if args.plot and args.mode == "growth":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        for axis, sweep, key, fixed in (
            (axes[0], "users", "num_users", "M = 250"),
            (axes[1], "subchannels", "num_subchannels", "U = 1250"),
        ):
            for algorithm in algorithms:
                points = [r for r in rows if r.get("sweep") == sweep and r["algorithm"] == algorithm]
                xs = [r[key] for r in points]
                axis.loglog(xs, [r["wall_time_s"] for r in points], "o-", label=f"{algorithm}: wall time [s]")
                axis.loglog(
                    xs,
                    [r["wall_time_s"] / max(r["objective_evaluations"] or 1, 1) for r in points],
                    "s--",
                    label=f"{algorithm}: s per evaluation",
                )
            axis.set_xlabel(key.replace("num_", "number of "))
            axis.set_title(f"growth with {sweep} ({fixed}, VGG16, {device})")
            axis.legend(fontsize=8)
        figure.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
