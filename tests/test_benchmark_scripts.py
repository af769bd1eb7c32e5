"""Smoke tests of benchmark scripts at a tiny size: each runs as documented and prints what its page quotes.

Each runs as ``python benchmarks/NAME.py`` in a scratch folder, so that a default output path cannot land in the
repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CALIBRATED_RUN = ROOT / "docs" / "reproduction" / "calibrated" / "results.parquet"


def run_script(name: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


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


def test_solver_ligd_vs_gd_prints_one_row_per_model(tmp_path: Path) -> None:
    out = run_script("solver_ligd_vs_gd", "--seeds", "1", "--pairs", "1", cwd=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [row.split("|")[1].strip() for row in rows] == ["nin", "tiny-yolov2-voc", "vgg16"]
    for row in rows:
        numbers = [cell.strip() for cell in row.split("|")[3:-1]]
        assert len(numbers) == 8 and all(float(value) > 0 for value in numbers), row
    assert list(tmp_path.iterdir()) == []


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
