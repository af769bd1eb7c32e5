"""``nomasplit profile``: happy paths and every bad-input case (exit code 2, one message, no file)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.files import load_profile, load_scenario
from nomasplit.measure.markdown import markdown_table
from nomasplit.zoo import MODEL_NAMES, load_bundled_profile

runner = CliRunner()

#: A user model for ``--model`` (this module is importable as ``tests.test_profile_cli``).
TINY_CHAIN = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(1), nn.Linear(2 * 4 * 4, 3))


def test_profile_zoo_model_writes_the_bundled_profile(tmp_path: Path) -> None:
    out = tmp_path / "nin.json"
    result = runner.invoke(app, ["profile", "nin", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cccp2+relu+maxpool+dropout" in result.stdout
    assert load_profile(out) == load_bundled_profile("nin")


def test_profile_dtype_float16_halves_the_sizes(tmp_path: Path) -> None:
    out = tmp_path / "vgg16-fp16.json"
    result = runner.invoke(app, ["profile", "vgg16", "--dtype", "float16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    bundled = load_bundled_profile("vgg16")
    assert profile.dtype == "float16"
    assert profile.input_bits == bundled.input_bits / 2
    assert [layer.output_bits for layer in profile.layers] == [layer.output_bits / 2 for layer in bundled.layers]
    assert [layer.flops for layer in profile.layers] == [layer.flops for layer in bundled.layers]


def test_profile_input_and_activation_bits_write_the_bundled_variant(tmp_path: Path) -> None:
    out = tmp_path / "vgg16-in8-a8.json"
    result = runner.invoke(app, ["profile", "vgg16", "--input-bits", "8", "--activation-bits", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    assert profile == load_bundled_profile("vgg16-in8-a8")
    full = load_bundled_profile("vgg16")
    assert profile.input_bits == full.input_bits / 4 and profile.result_bits == full.result_bits / 4
    bad = runner.invoke(app, ["profile", "vgg16", "--activation-bits", "12", "--out", str(tmp_path / "x.json")])
    assert bad.exit_code == 2 and "activation bits must be one of 8, 16, 32, 64" in bad.output
    assert not (tmp_path / "x.json").exists()


def test_profile_measure(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    result = runner.invoke(
        app,
        [
            "profile",
            "--model",
            f"{__name__}:TINY_CHAIN",
            "--input-shape",
            "1,1,6,6",
            "--measure",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "latency ms" in result.stdout
    profile = load_profile(out)
    assert profile.model == "TINY_CHAIN"
    assert all(layer.measured_latency_s is not None for layer in profile.layers)
    assert profile.source["latency"]["repeats"] == 2


def test_profile_user_model(tmp_path: Path) -> None:
    out = tmp_path / "user.json"
    result = runner.invoke(
        app,
        [
            "profile",
            "--model",
            "tests.test_profiling:TracedChain",
            "--input-shape",
            "1,3,8,8",
            "--name",
            "traced",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    assert profile.model == "traced"
    assert profile.num_layers == 6
    assert profile.input_bits == 3 * 8 * 8 * 32


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["resnet"],
            "unknown model 'resnet'; allowed: mobilenet-v2, mobilenet-v2-imagenet, nin, resnet18, resnet18-imagenet, "
            "tiny-yolov2",
        ),
        (["nin", "--dtype", "int8"], "dtype must be one of"),
        (["nin", "--input-shape", "1,3,32,32"], "--input-shape and --name go with --model only"),
        (["nin", "--measure", "--repeats", "0"], "repeats must be an integer >= 1"),
        (["nin", "--measure", "--warmup", "-1"], "warmup must be an integer >= 0"),
        (["--model", f"{__name__}:TINY_CHAIN", "--input-shape", "1,0,6,6"], "input shape"),
        (["--model", f"{__name__}:TINY_CHAIN", "--input-shape", "one,two"], "input shape"),
        (["--model", f"{__name__}:TINY_CHAIN"], "--model needs --input-shape"),
        (["--model", "no_such_package_xyz.net:model", "--input-shape", "1,3"], "cannot import module"),
        (["--model", f"{__name__}:MISSING", "--input-shape", "1,3"], "has no attribute"),
        (["--model", f"{__name__}:TINY_CHAIN", "--input-shape", "1,3,6,6"], "unit 1"),
        (["nin", "--model", f"{__name__}:TINY_CHAIN", "--input-shape", "1,1,6,6"], "either MODEL"),
        ([], "either MODEL"),
    ],
)
def test_bad_input_exits_2_without_writing(tmp_path: Path, arguments: list[str], message: str) -> None:
    out = tmp_path / "profile.json"
    result = runner.invoke(app, ["profile", *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_output_folder_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "folder" / "nin.json"
    result = runner.invoke(app, ["profile", "nin", "--out", str(out)])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not out.parent.exists()


# ------------------------------------------------------------------------------------------------------------
# docs/profiles.md: its tables are the bundled profiles, and its commands run as written.

DOCS = Path(__file__).resolve().parents[1] / "docs" / "profiles.md"


def _doc_tables() -> dict[str, str]:
    found = re.findall(r"<!-- profile-table: (\S+) -->\n(.*?)\n<!-- end profile-table -->", DOCS.read_text(), re.S)
    return dict(found)


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)


def test_docs_tables_are_the_bundled_profiles() -> None:
    tables = _doc_tables()
    assert sorted(tables) == sorted(MODEL_NAMES)
    for name, table in tables.items():
        assert table == markdown_table(load_bundled_profile(name))


@pytest.mark.slow
def test_docs_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    monkeypatch.chdir(tmp_path)
    bash_blocks = _code_blocks("bash")
    assert len(bash_blocks) == 4
    outputs = []
    for block in bash_blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        if all(line.startswith("nomasplit ") for line in lines):
            # Plain CLI lines run in this process (each new process would pay torch's import time).
            for line in lines:
                result = runner.invoke(app, shlex.split(line)[1:])
                assert result.exit_code == 0, f"{line}: {result.output}"
            outputs.append("")
            continue
        completed = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert completed.returncode == 0, completed.stderr
        outputs.append(completed.stdout)
    for name in MODEL_NAMES:
        assert load_profile(tmp_path / f"{name}.json") == load_bundled_profile(name)
    assert outputs[1] == "".join(table + "\n" for table in _doc_tables().values())
    assert load_profile(tmp_path / "vgg16-float16.json").dtype == "float16"
    assert load_profile(tmp_path / "nin-in8-a16.json") == load_bundled_profile("nin-in8-a16")
    assert all(layer.measured_latency_s for layer in load_profile(tmp_path / "nin-measured.json").layers)
    measured = load_scenario(tmp_path / "measured-both.json")
    assert measured.compensation.kind == "measured" and measured.device_unit_latency_s is not None
    assert (tmp_path / "plan.json").exists()
    custom = load_profile(tmp_path / "my-net.json")
    assert [layer.name for layer in custom.layers] == ["conv", "relu", "pool", "flatten", "fc"]
    (python_block,) = _code_blocks("python")
    completed = subprocess.run(
        [sys.executable, "-c", python_block + "\nprint(profile.num_layers, profile.input_bits)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["5", str(3 * 32 * 32 * 16.0)]
