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
        (["--torch-device", "tpu"], "not a torch device"),
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


# --- --torch-device, and --device, its deprecated name (kept until 0.3) ------------------------------------------

#: The one stderr line of the deprecated name (as ``nomasplit scenario calibrate``'s).
DEVICE_DEPRECATED = "warning: '--device' is deprecated and goes in nomasplit 0.3; use '--torch-device'"
FAST = ["--algorithm", "gd-paper", "--set", "max_iterations=5", "--set", "polish_iterations=5"]


def test_torch_device_option_and_its_deprecated_name_give_the_same_plan(scenario_file: Path, tmp_path: Path) -> None:
    plans = {}
    for flag in ("--torch-device", "--device"):
        out = tmp_path / f"plan{flag}.json"
        result = runner.invoke(app, ["solve", str(scenario_file), *FAST, flag, "cpu", "--out", str(out)])
        assert result.exit_code == 0, result.output
        plans[flag] = (result.stderr.splitlines(), load_plan(out))
    (new_stderr, new_plan), (old_stderr, old_plan) = plans["--torch-device"], plans["--device"]
    assert new_stderr == [] and old_stderr == [DEVICE_DEPRECATED]
    assert new_plan.users == old_plan.users
    assert new_plan.solver is not None and old_plan.solver is not None
    assert new_plan.solver.torch_device == old_plan.solver.torch_device == "cpu"
    assert new_plan.solver.objective == old_plan.solver.objective
    evaluated = {}
    for flag in ("--torch-device", "--device"):
        out = tmp_path / f"result{flag}.json"
        plan = tmp_path / "plan--torch-device.json"
        result = runner.invoke(app, ["evaluate", str(scenario_file), str(plan), flag, "cpu", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines() == ([] if flag == "--torch-device" else [DEVICE_DEPRECATED])
        evaluated[flag] = out.read_bytes()
    assert evaluated["--torch-device"] == evaluated["--device"]


@pytest.mark.parametrize("command", ["solve", "evaluate", "reproduce"])
def test_help_shows_torch_device_not_its_deprecated_name(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--torch-device" in result.output and "--device" not in result.output


def test_torch_device_and_its_deprecated_name_together_are_refused(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    args = ["solve", str(scenario_file), "--out", str(out), "--device", "cpu", "--torch-device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        DEVICE_DEPRECATED,
        "error: --torch-device and --device are one option (--device is its deprecated name); give --torch-device only",
    ]
    assert not out.exists()


def test_reproduce_takes_the_deprecated_device_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reproduce", "--quick", "--device", "tpu", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [DEVICE_DEPRECATED, "error: --torch-device must be cpu or cuda, got 'tpu'"]
    assert not (tmp_path / "r").exists()


def test_plan_files_with_the_old_device_key_still_load(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"users": [{"user": 0, "split": 0}], "solver": {"algorithm": "ligd", "device": "cpu"}}))
    plan = load_plan(path)
    assert plan.solver is not None and plan.solver.torch_device == "cpu"
    assert '"torch_device":"cpu"' in plan.model_dump_json() and '"device"' not in plan.model_dump_json()
