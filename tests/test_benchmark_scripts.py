"""Smoke tests of benchmark scripts at a tiny size: each runs as documented (``python -m benchmarks.NAME`` from the
repository root) and prints what its page quotes.

Each runs in a scratch folder with the repository on ``PYTHONPATH`` (what running from the root gives), so that a
default output path cannot land in the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CALIBRATED_RUN = ROOT / "docs" / "reproduction" / "calibrated" / "results.parquet"
SCRIPTS = sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py") if path.stem != "__init__")


def run_script(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def run_script_code(code: str, *, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_every_script_imports_as_a_module_without_touching_sys_path(tmp_path: Path) -> None:
    for name in SCRIPTS:
        assert "sys.path" not in (ROOT / "benchmarks" / f"{name}.py").read_text(encoding="utf-8"), name
    modules = ", ".join(f"benchmarks.{name}" for name in SCRIPTS)
    code = f"import sys; before = list(sys.path); import {modules}; assert sys.path == before, sys.path; print('ok')"
    assert run_script_code(code, cwd=tmp_path) == "ok\n"


def test_compare_results_counts_the_tasks_whose_objective_moved(tmp_path: Path) -> None:
    same = run_script("compare_results", str(CALIBRATED_RUN), str(CALIBRATED_RUN), cwd=tmp_path)
    rows = {line.split()[0]: line.split()[1:4] for line in same.splitlines()[1:]}
    assert set(rows) == {"ecc-noma", "ecc-oma"}
    assert all(lower == higher == "0" and int(tasks) > 0 for tasks, lower, higher in rows.values())
    results = pd.read_parquet(CALIBRATED_RUN)
    changed = results.copy()
    first = changed.index[changed["algorithm"] == "ecc-noma"][0]
    changed.loc[first, "objective"] *= 0.9  # one task 10 % lower
    changed.to_parquet(tmp_path / "changed.parquet")
    moved = run_script("compare_results", str(CALIBRATED_RUN), str(tmp_path / "changed.parquet"), cwd=tmp_path)
    noma = next(line.split() for line in moved.splitlines() if line.split()[0] == "ecc-noma")
    assert noma[2:4] == ["1", "0"] and float(noma[5]) == -10.0


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_solver_ligd_vs_gd_prints_one_row_per_model(tmp_path: Path) -> None:
    out = run_script("solver_ligd_vs_gd", "--seeds", "1", "--pairs", "1", cwd=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [row.split("|")[1].strip() for row in rows] == ["nin", "tiny-yolov2-voc", "vgg16"]
    for row in rows:
        numbers = [cell.strip() for cell in row.split("|")[3:-1]]
        assert len(numbers) == 8 and all(float(value) > 0 for value in numbers), row
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_profile_host_writes_the_measured_table(tmp_path: Path) -> None:
    from nomasplit.zoo import load_bundled_profile

    args = ("--models", "nin", "--warmup", "0", "--repeats", "1", "--out", "nin.md")
    printed = run_script("profile_host", *args, cwd=tmp_path)
    profile = load_bundled_profile("nin")
    match = re.search(r"nin: ([\d.]+) GFLOPs, ([\d.]+) ms", printed)
    assert match and float(match.group(1)) == round(profile.total_flops / 1e9, 3) and float(match.group(2)) > 0
    text = (tmp_path / "nin.md").read_text(encoding="utf-8")
    assert "--models nin --warmup 0 --repeats 1" in text
    row = next(line for line in text.splitlines() if line.startswith("| nin |"))
    assert row.split("|")[2].strip() == str(len(profile.layers))


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_anytime_paper_scale_prints_the_anytime_curve(tmp_path: Path) -> None:
    args = ("--users-per-ap", "3", "--subchannels", "3", "--time-limit-s", "1")
    out = run_script("anytime_paper_scale", *args, cwd=tmp_path)
    assert out.startswith("wall time ") and "start won: " in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| start")]
    assert rows and all(float(row.split("|")[3]) > 0 for row in rows)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_solver_scale_child_measures_one_solve(tmp_path: Path) -> None:
    spec = {
        "algorithm": "ligd",
        "settings": {"max_iterations": 1},
        "torch_device": "cpu",
        "seed": 0,
        "threads": 1,
        "config": {"num_aps": 2, "users_per_ap": 2, "num_subchannels": 2, "model": "nin"},
    }
    row = json.loads(run_script("solver_scale", "child", json.dumps(spec), cwd=tmp_path).strip().splitlines()[-1])
    assert row["num_users"] == 4 and row["wall_time_s"] > 0 and row["peak_rss_mib"] > 0 and row["success"]


@pytest.mark.slow
def test_fuzz_cli_runs_a_short_budget(tmp_path: Path) -> None:
    found = tmp_path / "found.json"
    out = run_script(
        "fuzz_cli", "--minutes", "0.02", "--batch", "2", "--stub-solvers", "--found", str(found), cwd=tmp_path
    )
    assert re.search(r"fuzzed \d+ command lines .*: 0 failing", out), out
    assert json.loads(found.read_text(encoding="utf-8")) == []


def test_solver_benchmarks_take_torch_device_and_its_deprecated_name(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from benchmarks.solver_common import add_torch_device_option, torch_device

    parser = argparse.ArgumentParser()
    add_torch_device_option(parser)
    assert "--torch-device" in parser.format_help() and "--device" not in parser.format_help()
    assert torch_device(parser, parser.parse_args([])) == "cpu"
    assert torch_device(parser, parser.parse_args(["--torch-device", "cuda"])) == "cuda"
    assert capsys.readouterr().err == ""
    assert torch_device(parser, parser.parse_args(["--device", "cuda"])) == "cuda"
    assert capsys.readouterr().err.splitlines() == [
        "warning: '--device' is deprecated and goes in nomasplit 0.3; use '--torch-device'"
    ]
    with pytest.raises(SystemExit) as exited:
        torch_device(parser, parser.parse_args(["--device", "cpu", "--torch-device", "cpu"]))
    assert exited.value.code == 2 and "give --torch-device only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--warm", "{bad", "not JSON"),
        ("--warm", "[1]", "must be a JSON object"),
        ("--warm", '{"rounds": 3}', "Extra inputs are not permitted"),
        ("--network", '{"latency_weight": 7}', "latency_weight: Input should be less than or equal to 1"),
        ("--network", '{"nope": 1}', "nope: unknown key"),
    ],
)
def test_online_replan_budget_refuses_bad_settings_before_any_solve(tmp_path: Path, option, value, message) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.online_replan", "budget", option, value],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # refused before the first line of a run
