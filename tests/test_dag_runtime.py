"""Split inference of a DAG model (ResNet-18, CIFAR-10 size): every live tensor in one message, outputs equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from typer.testing import CliRunner

from nomasplit import zoo
from nomasplit.cli.main import app
from nomasplit.runtime.client import EdgeClient, EdgeError
from nomasplit.runtime.device import random_input, run_split
from nomasplit.runtime.models import RunnableModel, load_zoo_model
from nomasplit.runtime.protocol import HEADER_DTYPE, HEADER_TENSORS, encode_payload, format_tensors
from nomasplit.runtime.server import EdgeServerThread, EdgeSettings

TOKEN = "dag-test-token-0123456789abcdef"
NAME = "resnet18"


@pytest.fixture(scope="module")
def resnet() -> RunnableModel:
    return load_zoo_model(NAME, seed=0)


@pytest.fixture(scope="module")
def server(resnet: RunnableModel) -> Iterator[EdgeServerThread]:
    with EdgeServerThread({NAME: resnet}, EdgeSettings(token=TOKEN)) as running:
        yield running


def _inside_block(resnet: RunnableModel) -> int:
    """The first split point whose live set has two tensors (a cut through a residual block)."""
    assert resnet.split_tensors is not None
    return next(split for split, tensors in enumerate(resnet.split_tensors) if len(tensors) == 2)


def test_every_split_point_gives_the_whole_models_output_locally(resnet: RunnableModel) -> None:
    inputs = random_input(resnet, 3)
    with torch.inference_mode():
        reference = resnet.module(inputs)
        for split in range(resnet.num_units + 1):
            live = resnet.head(split)(inputs)
            assert list(live) == [name for name, _ in resnet.split_tensors[split]]  # type: ignore[index]
            torch.testing.assert_close(resnet.tail(split)(live), reference, rtol=1e-5, atol=1e-5)
    profile = zoo.load_bundled_profile(NAME)
    assert resnet.num_units == profile.num_layers
    sizes = [sum(torch.Size(shape).numel() * 32 for _, shape in tensors) for tensors in resnet.split_tensors or ()]
    assert sizes[:-1] == profile.upload_bits()[:-1].tolist()  # w(s) is what the device sends


def test_every_split_over_the_wire_sends_the_live_set_in_one_message(
    resnet: RunnableModel, server: EdgeServerThread
) -> None:
    inputs = random_input(resnet, 11)
    profile = zoo.load_bundled_profile(NAME)
    with torch.inference_mode():
        reference = resnet.module(inputs)
    inside = _inside_block(resnet)
    with EdgeClient(server.url, TOKEN) as client:
        described = client.models()["models"][NAME]
        assert described["split_tensors"][inside].count("=") == 2
        for split in range(resnet.num_units):
            with torch.inference_mode():
                live = resnet.head(split)(inputs)
            reply = client.infer(NAME, split, live)
            torch.testing.assert_close(reply.output, reference, rtol=1e-5, atol=1e-5)
            assert reply.uplink_bytes == profile.upload_bits()[split] / 8
        # The device path at Edge-Only, a cut inside a residual block, one between blocks, and Device-Only.
        between = inside + 2
        assert resnet.split_tensors is not None and len(resnet.split_tensors[between]) == 1
        for split in (0, inside, between, resnet.num_units):
            report, output = run_split(resnet, split, inputs, client=client, reference=reference, profile=profile)
            assert report.matches, (split, report.max_abs_diff)
            if split < resnet.num_units:
                assert report.uplink_bytes == report.profile_uplink_bytes
            torch.testing.assert_close(output, reference, rtol=1e-5, atol=1e-5)


def test_edge_refuses_tensors_other_than_the_splits_live_set(resnet: RunnableModel, server: EdgeServerThread) -> None:
    inputs = random_input(resnet, 1)
    inside = _inside_block(resnet)
    with torch.inference_mode():
        live = resnet.head(inside)(inputs)
    with EdgeClient(server.url, TOKEN) as client:
        with pytest.raises(EdgeError, match="wrong_tensors"):
            client.infer(NAME, inside, dict(reversed(list(live.items()))))  # the right tensors, wrong order
        with pytest.raises(EdgeError, match="wrong_tensors"):
            client.infer(NAME, inside, dict(list(live.items())[:1]))  # one of the two
        with pytest.raises(EdgeError, match="missing_tensors"):
            client.infer(NAME, inside, next(iter(live.values())))  # a single-tensor request
    body, headers = encode_payload(live)
    assert headers[HEADER_TENSORS] == format_tensors(resnet.split_tensors[inside])  # type: ignore[index]
    short = httpx.post(
        f"{server.url}/v1/infer/{NAME}/{inside}",
        content=body[:-4],
        headers={**headers, "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/octet-stream"},
    )
    assert short.status_code == 400 and short.json()["error"] == "truncated_body"
    malformed = httpx.post(
        f"{server.url}/v1/infer/{NAME}/{inside}",
        content=body,
        headers={HEADER_DTYPE: "float32", HEADER_TENSORS: "a=1,2;a=1,2", "Authorization": f"Bearer {TOKEN}"},
    )
    assert malformed.status_code == 400 and malformed.json()["error"] == "malformed_tensors"


def test_cli_device_run_inside_a_residual_block(
    resnet: RunnableModel, server: EdgeServerThread, tmp_path: Path
) -> None:
    inside = _inside_block(resnet)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["device", "run", "--edge", server.url, "--model", NAME, "--split", str(inside), "--random-seed", "2",
         "--json", str(out)],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["report"]
    assert report["matches"] and report["split"] == inside
    assert report["uplink_bytes"] == report["profile_uplink_bytes"]


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_cli_edge_serve_resnet18_in_a_process(resnet: RunnableModel, tmp_path: Path) -> None:
    env = {**os.environ, "NOMASPLIT_TOKEN": TOKEN}
    command = [sys.executable, "-c", "from nomasplit.cli.main import main; main()"]
    with subprocess.Popen(
        [*command, "edge", "serve", "--port", "0", "--models", NAME],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            from tests.test_runtime_zoo import _wait_for_line

            url = _wait_for_line(process, timeout_s=60.0).split(" at ")[1].split()[0]
            split = _inside_block(resnet) + 1
            result = CliRunner().invoke(
                app,
                ["device", "run", "--edge", url, "--model", NAME, "--split", str(split), "--json",
                 str(tmp_path / "r.json")],
                env={"NOMASPLIT_TOKEN": TOKEN},
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            assert json.loads((tmp_path / "r.json").read_text())["report"]["matches"]
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_loadtest_and_host_speed_on_a_dag_model(resnet: RunnableModel, server: EdgeServerThread) -> None:
    from nomasplit.runtime.prediction import measure_host_speed

    inside = _inside_block(resnet)
    result = CliRunner().invoke(
        app,
        ["edge", "loadtest", "--edge", server.url, "--model", NAME, "--split", str(inside), "--clients", "2",
         "--duration-s", "0.5"],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"mismatches": 0' in result.output and '"errors": {}' in result.output
    speed = measure_host_speed(resnet, zoo.load_bundled_profile(NAME), random_input(resnet, 0), repeats=1, warmup=0)
    assert len(speed.unit_latency_s) == resnet.num_units
    assert all(latency_s > 0 for latency_s in speed.unit_latency_s)


@pytest.mark.parametrize("name", ["mobilenet-v2", "mobilenet-v2-imagenet"])
def test_mobilenet_v2_splits_to_the_whole_models_output(name: str) -> None:
    model = load_zoo_model(name, seed=0)
    inputs = random_input(model, 5)
    assert model.split_tensors is not None
    one = [split for split, tensors in enumerate(model.split_tensors) if len(tensors) == 1 and split > 0]
    two = [split for split, tensors in enumerate(model.split_tensors) if len(tensors) == 2]
    # Edge-Only, the first and last cuts inside a residual block, one between blocks, the last split.
    splits = (0, two[0], two[-1], one[len(one) // 2], model.num_units - 1)
    with torch.inference_mode():
        reference = model.module(inputs)
        for split in splits:
            torch.testing.assert_close(model.tail(split)(model.head(split)(inputs)), reference, rtol=1e-4, atol=1e-4)
