"""Split inference of the three zoo models over loopback, and the CLI end to end."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nomasplit import zoo
from nomasplit.cli.main import app
from nomasplit.data import Plan, UserDecision
from nomasplit.data.files import load_scenario, save
from nomasplit.runtime.client import EdgeClient
from nomasplit.runtime.device import random_input, run_split
from nomasplit.runtime.models import RunnableModel, load_zoo_models
from nomasplit.runtime.server import EdgeServerThread, EdgeSettings

TOKEN = "zoo-test-token-0123456789abcdef"
SMALL_SCENARIO = Path(__file__).resolve().parents[1] / "src" / "nomasplit" / "examples" / "small-scenario.json"


@pytest.fixture(scope="module")
def zoo_models() -> dict[str, RunnableModel]:
    return load_zoo_models(list(zoo.CHAIN_MODEL_NAMES), seed=0)


@pytest.fixture(scope="module")
def zoo_server(zoo_models: dict[str, RunnableModel]) -> Iterator[EdgeServerThread]:
    with EdgeServerThread(zoo_models, EdgeSettings(token=TOKEN)) as running:
        yield running


@pytest.mark.parametrize("name", zoo.CHAIN_MODEL_NAMES)
def test_every_split_point_matches_the_local_model(
    name: str, zoo_models: dict[str, RunnableModel], zoo_server: EdgeServerThread
) -> None:
    model = zoo_models[name]
    profile = zoo.load_bundled_profile(name)
    inputs = random_input(model, 11)
    # One local pass gives every split's intermediate tensor and the reference output.
    activations = [inputs]
    with torch.inference_mode():
        for unit in model.module:
            activations.append(unit(activations[-1]))
    reference = activations[-1]
    with EdgeClient(zoo_server.url, TOKEN) as client:
        for split in range(model.num_units):
            reply = client.infer(name, split, activations[split])
            assert reply.output.shape == reference.shape
            assert torch.allclose(reply.output, reference, rtol=1e-5, atol=1e-5), (name, split)
            assert reply.uplink_bytes == profile.upload_bits()[split] / 8
            assert reply.downlink_bytes == profile.result_bits / 8
        # The device path (units 1..s here) at the first, a middle and the last split points.
        for split in (0, model.num_units // 2, model.num_units):
            report, _ = run_split(model, split, inputs, client=client, reference=reference, profile=profile)
            assert report.matches, (name, split, report.max_abs_diff)
            if split < model.num_units:
                assert report.uplink_bytes == report.profile_uplink_bytes
                assert report.downlink_bytes == report.profile_downlink_bytes


def test_shaped_transfer_times_follow_the_rates(
    zoo_models: dict[str, RunnableModel], zoo_server: EdgeServerThread
) -> None:
    model = zoo_models["nin"]
    inputs = random_input(model, 0)
    with EdgeClient(zoo_server.url, TOKEN) as client:
        report, _ = run_split(model, 1, inputs, client=client, uplink_bps=50e6, downlink_bps=1e4)
    assert report.matches
    uplink_air_s = 8 * report.uplink_bytes / 50e6  # 786 432 bytes: 0.126 s
    downlink_air_s = 8 * report.downlink_bytes / 1e4  # 40 bytes: 0.032 s
    # Shaping can only slow a transfer down to its air time; the clocks on either side of a paced stream start
    # a little apart, hence 10 % slack below. The upper bounds are loose: CI machines are shared and noisy.
    assert 0.9 * uplink_air_s <= report.uplink_s < uplink_air_s + 1.0
    assert 0.9 * downlink_air_s <= report.downlink_s < downlink_air_s + 1.0


def test_device_refuses_an_edge_with_other_weights(zoo_server: EdgeServerThread) -> None:
    from nomasplit.errors import InputError
    from nomasplit.runtime.device import check_edge_weights
    from nomasplit.runtime.models import load_zoo_model

    other = load_zoo_model("nin", seed=1)
    with EdgeClient(zoo_server.url, TOKEN) as client, pytest.raises(InputError, match="same --seed"):
        check_edge_weights(client, other)


def _plan_for_small_scenario(tmp_path: Path, split: int) -> tuple[Path, Path]:
    scenario = load_scenario(SMALL_SCENARIO)
    num_units = scenario.user_num_layers()
    users = [UserDecision(user=user, split=int(num_units[user])) for user in range(scenario.num_users)]
    users[0] = UserDecision(
        user=0,
        split=split,
        uplink_subchannel=0,
        downlink_subchannel=0,
        uplink_power_w=scenario.uplink_power_max_w,
        downlink_power_w=scenario.downlink_power_max_w,
        compute_units=scenario.compute_units_max,
    )
    plan_path, scenario_path = tmp_path / "plan.json", tmp_path / "scenario.json"
    save(plan_path, Plan(users=users))
    save(scenario_path, scenario)
    return plan_path, scenario_path


def test_cli_device_run_with_plan(zoo_server: EdgeServerThread, tmp_path: Path) -> None:
    from nomasplit.model import evaluate

    plan_path, scenario_path = _plan_for_small_scenario(tmp_path, split=2)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["device", "run", "--edge", zoo_server.url, "--plan", str(plan_path),
         "--scenario", str(scenario_path), "--user", "0", "--json", str(out)],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    expected = evaluate(load_scenario(scenario_path), Plan.model_validate_json(plan_path.read_text())).users[0]
    assert document["report"]["split"] == 2 and document["report"]["matches"]
    assert document["report"]["uplink_bps"] == pytest.approx(expected.uplink_rate_bps)
    assert document["report"]["downlink_bps"] == pytest.approx(expected.downlink_rate_bps)
    assert document["plan"]["model"] == "nin"


def test_cli_device_only_needs_no_edge(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["device", "run", "--model", "vgg16", "--split", "24", "--random-seed", "3", "--json", str(out)],
        env={},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["report"]
    assert report["offloaded"] is False and report["uplink_bytes"] == 0 and report["max_abs_diff"] == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nin", "--split", "10"], "out of range"),
        (["--model", "resnet", "--split", "1"], "unknown"),
        (["--model", "nin", "--split", "3"], "--edge"),
        (["--model", "nin", "--split", "3", "--edge", "http://127.0.0.1:9", "--uplink-bps", "-5"], "uplink"),
        (["--plan", "p.json"], "--scenario"),
    ],
)
def test_cli_device_run_rejects_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["device", "run", *args], env={"NOMASPLIT_TOKEN": TOKEN})
    assert result.exit_code == 2
    assert message in result.output


def test_cli_edge_serve_refuses_without_token() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["edge", "serve", "--port", "0", "--models", "nin"], env={"NOMASPLIT_TOKEN": ""})
    assert result.exit_code == 2 and "NOMASPLIT_TOKEN is not set" in result.output
    result = runner.invoke(app, ["edge", "serve", "--port", "0", "--models", "nin"], env={"NOMASPLIT_TOKEN": "short"})
    assert result.exit_code == 2 and "at least 16" in result.output


def _wait_for_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if line:
                return line
        if process.poll() is not None:
            break
    raise AssertionError(f"edge serve printed no address (exit code {process.poll()})")


@pytest.mark.slow
def test_cli_edge_serve_and_device_run_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "NOMASPLIT_TOKEN": TOKEN}
    command = [sys.executable, "-c", "from nomasplit.cli.main import main; main()"]
    stderr_path = tmp_path / "edge.stderr"
    with (
        stderr_path.open("w") as stderr,
        subprocess.Popen(
            [*command, "edge", "serve", "--port", "0", "--models", "vgg16"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        try:
            _run_devices_against(process, command, env, tmp_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    assert "Traceback" not in stderr_path.read_text()


def _run_devices_against(
    process: subprocess.Popen[str], command: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    line = _wait_for_line(process, timeout_s=60.0)
    url = line.split(" at ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    out = tmp_path / "report.json"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["device", "run", "--edge", url, "--model", "vgg16", "--split", "7", "--random-seed", "1",
         "--uplink-bps", "1e8", "--downlink-bps", "1e8", "--json", str(out)],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["report"]
    assert report["matches"] and report["split"] == 7
    assert report["uplink_bytes"] == report["profile_uplink_bytes"] == 65536
    assert "matches the full local model" in result.output
    wrong = runner.invoke(
        app,
        ["device", "run", "--edge", url, "--model", "vgg16", "--split", "7"],
        env={"NOMASPLIT_TOKEN": "another-token-0123456789"},
    )
    assert wrong.exit_code == 1 and "403" in wrong.output


def test_cli_edge_loadtest(zoo_server: EdgeServerThread, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = CliRunner().invoke(
        app,
        ["edge", "loadtest", "--edge", zoo_server.url, "--model", "nin", "--split", "3", "--clients", "3",
         "--duration-s", "1", "--json", str(out)],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    load = json.loads(out.read_text())
    assert load["num_clients"] == 3 and load["correct"] == load["requests"] > 0
    assert load["errors"] == {} and load["mismatches"] == 0
    assert 0 < load["latency_p50_s"] <= load["latency_p99_s"]
