"""``nomasplit solve`` and ``nomasplit algorithms`` through the CLI."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.files import load_plan, save
from tests.factories import random_scenario

runner = CliRunner()


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.json"
    save(path, random_scenario(0, num_users=9))
    return path


@pytest.mark.parametrize(
    "algorithm",
    [
        pytest.param("ligd", marks=pytest.mark.slow),
        "ligd-paper",
        "gd-paper",
        pytest.param("ligd-peruser", marks=pytest.mark.slow),
    ],
)
def test_solve_writes_a_plan_that_evaluate_reports_feasible(scenario_file: Path, tmp_path: Path, algorithm) -> None:
    out = tmp_path / "plan.json"
    args = ["solve", str(scenario_file), "--algorithm", algorithm, "--out", str(out), "--seed", "3"]
    if algorithm.endswith("-paper"):
        args += ["--set", "max_iterations=10", "--set", "polish_iterations=10"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = load_plan(out)
    info = plan.solver
    assert info is not None and info.algorithm == algorithm and info.seed == 3
    assert info.objective is not None and info.objective_relaxed is not None and info.objective_rounded is not None
    assert info.history and info.iterations_total == sum(item.iterations for item in info.history)
    assert info.wall_time_s > 0
    assert info.bound is not None and info.gap is not None and info.bound <= info.objective
    assert f"lower bound on the optimum {info.bound:.6g}" in result.output
    assert f"at most {100 * info.gap:.2f} % above the optimum" in result.output
    if algorithm.endswith("-paper"):
        assert info.settings["max_iterations"] == 10
    evaluated = runner.invoke(app, ["evaluate", str(scenario_file), str(out), "--out", str(tmp_path / "r.json")])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((tmp_path / "r.json").read_text())["feasible"] is True


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--algorithm", "no-such"], "unknown algorithm"),
        (["--set", "bogus=1"], "bogus"),
        (["--set", "max_iterations=-1"], "max_iterations"),
        (["--set", "novalue"], "key=value"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bad_input_exits_2_without_output(scenario_file: Path, tmp_path: Path, extra, needle) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(scenario_file), "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not out.exists()


def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(tmp_path / "missing.json"), "--out", str(out)])
    assert result.exit_code == 2 and "not found" in result.output
    assert not out.exists()


def test_algorithms_lists_names_and_citations() -> None:
    result = runner.invoke(app, ["algorithms"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name in ("ligd", "ligd-paper", "gd-paper", "ligd-peruser"):
        assert name in result.output
    assert "Table I" in result.output


@pytest.mark.slow
def test_quick_start_commands_in_docs_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "solvers.md").read_text()
    block = text.split("Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert len(commands) == 5
    threads = torch.get_num_threads()  # `--threads` sets it for the (here: shared) process
    try:
        for command in commands:
            assert command[0] == "nomasplit"
            result = runner.invoke(app, command[1:])
            assert result.exit_code == 0, (command, result.output)
    finally:
        torch.set_num_threads(threads)
    assert "feasible" in result.output and "infeasible" not in result.output
    assert (tmp_path / "plan-paper.json").exists()


def test_missing_output_folder_is_reported_before_solving(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "plan.json"
    result = runner.invoke(app, ["solve", str(scenario_file), "--out", str(out)])
    assert result.exit_code == 2 and "output folder" in result.output
    assert "objective" not in result.output  # nothing was solved
