"""``nomasplit scenario generate|show``: happy paths, flag overrides, and bad input (exit 2, no file)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.files import load_scenario
from nomasplit.generate import example_path
from tests.factories import assert_json_close

runner = CliRunner()
SMALL = str(example_path("small"))


def test_generate_from_config_with_overrides(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    result = runner.invoke(
        app,
        ["scenario", "generate", SMALL, "--out", str(out), "--seed", "3", "--aps", "3", "--users-per-ap", "5",
         "--subchannels", "6", "--model", "vgg16", "--access", "oma"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scenario = load_scenario(out)
    assert (scenario.num_aps, scenario.num_users, scenario.num_subchannels) == (3, 15, 6)
    assert scenario.access == "oma" and scenario.cluster_size == 1
    assert scenario.profiles[0].model == "vgg16" and scenario.provenance["seed"] == 3
    assert "users per AP" in result.output and "vgg16" in result.output and "bytes" in result.output


def test_generate_is_reproducible_and_gzips(tmp_path: Path) -> None:
    plain, packed = tmp_path / "a.json", tmp_path / "a.json.gz"
    for out in (plain, packed):
        assert runner.invoke(app, ["scenario", "generate", SMALL, "--out", str(out)]).exit_code == 0
    assert gzip.decompress(packed.read_bytes()) != b""
    assert json.loads(gzip.decompress(packed.read_bytes())) == json.loads(plain.read_bytes())
    assert_json_close(json.loads(plain.read_bytes()), json.loads(example_path("small-scenario.json").read_bytes()))


def test_generate_without_config_is_the_paper_setup(tmp_path: Path) -> None:
    out = tmp_path / "paper.json.gz"
    result = runner.invoke(app, ["scenario", "generate", "--out", str(out), "--users-per-ap", "4",
                                 "--subchannels", "5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    scenario = load_scenario(out)
    assert (scenario.num_aps, scenario.num_users, scenario.num_subchannels) == (5, 20, 5)
    assert scenario.cluster_size == 3 and scenario.profiles[0].model == "vgg16"
    assert scenario.uplink_power_max_w == pytest.approx(10**-0.5)
    assert scenario.provenance["config"]["path_loss_exponent"] == 5.0


def test_show_summarises_a_file() -> None:
    result = runner.invoke(app, ["scenario", "show", str(example_path("small-scenario"))])
    assert result.exit_code == 0, result.output
    scenario = load_scenario(example_path("small-scenario"))
    per_ap = np.bincount(scenario.association)
    assert f"min {per_ap.min()}, mean {per_ap.mean():.1f}, max {per_ap.max()}" in result.output
    assert "nin (9 units" in result.output


@pytest.mark.parametrize(
    ("config_text", "flags", "expected"),
    [
        ("num_aps: 2\nnum_apps: 3\n", [], "num_apps"),
        ("uplink_power_min_dbm: 30\n", [], "uplink_power_max_dbm"),
        ("inter_site_distance_m: .nan\n", [], "inter_site_distance_m"),
        ("num_aps: [1\n", [], "malformed YAML"),
        (None, ["--access", "cdma"], "access"),
        (None, ["--aps", "0"], "num_aps"),
        (None, ["--model", "resnet"], "unknown model 'resnet'"),
        (None, ["--model", "missing-profile.json"], "missing-profile.json"),
    ],
)
def test_bad_input_exits_2_without_output(
    tmp_path: Path, config_text: str | None, flags: list[str], expected: str
) -> None:
    out = tmp_path / "s.json"
    args = ["scenario", "generate"]
    if config_text is not None:
        config = tmp_path / "c.yaml"
        config.write_text(config_text, encoding="utf-8")
        args.append(str(config))
    result = runner.invoke(app, [*args, "--out", str(out), "--users-per-ap", "2", "--subchannels", "2", *flags])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.glob("*.json*")) == []


def test_bad_paths_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(
        app, ["scenario", "generate", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "x.json")]
    )
    assert missing.exit_code == 2 and "not found" in missing.stderr
    no_folder = runner.invoke(app, ["scenario", "generate", SMALL, "--out", str(tmp_path / "no" / "s.json")])
    assert no_folder.exit_code == 2 and "does not exist" in no_folder.stderr
    suffix = runner.invoke(app, ["scenario", "generate", SMALL, "--out", str(tmp_path / "s.txt")])
    assert suffix.exit_code == 2 and ".json" in suffix.stderr and not (tmp_path / "s.txt").exists()
    show = runner.invoke(app, ["scenario", "show", str(tmp_path / "nope.json")])
    assert show.exit_code == 2 and "not found" in show.stderr
