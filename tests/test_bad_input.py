"""The standing bad-input suite: every command and the edge server against hostile input, one table each.

Each CLI case runs one command on files made for it and checks the exit code, that the error is one line on
stderr naming the problem (never a traceback), and that no output was written or changed. The server cases
talk raw HTTP to a running edge. Cases marked "issue 10" failed before that hardening pass. Signals (SIGTERM,
Ctrl-C) are tested in tests/test_signals.py; random hostile command lines in tests/test_fuzz_cli.py.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.files import save
from nomasplit.generate import example_path
from nomasplit.runtime.client import EdgeClient, EdgeError
from nomasplit.runtime.device import device_part, local_output, random_input
from nomasplit.runtime.loadtest import run_load_test
from nomasplit.runtime.models import RunnableModel, prepare_model
from nomasplit.runtime.server import EdgeServerThread, EdgeSettings
from nomasplit.solvers import solve
from tests.factories import random_scenario

runner = CliRunner()
TOKEN = "bad-input-token-0123456789abcdef"

JsonEdit = Callable[[dict[str, Any]], None]


# --- the files every case starts from ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid inputs: a scenario and its plan, another scenario, a config, the shipped nin scenario and its plan."""
    folder = tmp_path_factory.mktemp("base")
    scenario = random_scenario(0, num_users=6)
    other = random_scenario(1, num_users=6)
    files = {
        "scenario": save(folder / "scenario.json", scenario),
        "plan": save(folder / "plan.json", solve(scenario, "device-only")),
        "other_plan": save(folder / "other-plan.json", solve(other, "device-only")),
        "config": folder / "config.yaml",
        "nin_scenario": folder / "nin-scenario.json",
    }
    files["config"].write_text("num_aps: 1\nusers_per_ap: 3\nnum_subchannels: 2\nmodel: nin\n", encoding="utf-8")
    shutil.copy(example_path("small-scenario.json"), files["nin_scenario"])
    from nomasplit.data.files import load_scenario

    files["nin_plan"] = save(folder / "nin-plan.json", solve(load_scenario(files["nin_scenario"]), "device-only"))
    unused = random_scenario(2, num_users=6, mixed_models=True).replace(user_profile=[0] * 6)
    files["unused_profile"] = save(folder / "unused-profile.json", unused)
    files["unused_plan"] = save(folder / "unused-plan.json", solve(unused, "device-only"))
    from nomasplit.experiments import quick_settings

    files["settings"] = folder / "settings.json"
    files["settings"].write_text(json.dumps(quick_settings().model_dump(mode="json")), encoding="utf-8")
    return files


@dataclass(frozen=True)
class Case:
    """One command line against one bad input.

    ``args`` may name ``{scenario}``, ``{plan}``, ``{other_plan}``, ``{config}``, ``{nin_scenario}``,
    ``{nin_plan}``, ``{unused_profile}`` (valid copies, in the case's own folder), ``{bad}`` (a copy of
    ``edit[0]`` changed by ``edit[1]``), ``{npy}`` (see ``npy_shape``) and ``{tmp}`` (the case's folder).
    """

    id: str
    args: list[str]
    code: int = 2
    message: str = ""
    edit: tuple[str, JsonEdit] | None = None
    yaml: str | None = None  # written as {bad} (a config) when given
    npy_shape: tuple[int, ...] | None = None
    text: tuple[str, str | bytes] | None = None  # (name, content) written in the case's folder as {bad}
    env: dict[str, str | None] = field(default_factory=lambda: {"NOMASPLIT_TOKEN": TOKEN})
    absent: tuple[str, ...] = ()  # paths (with placeholders) that must not exist afterwards
    unchanged: tuple[str, ...] = ()  # inputs that must be byte-for-byte the same afterwards
    patch_no_cuda: bool = False


def _set(path: str, value: Any) -> JsonEdit:
    """An edit that sets ``data[a][b]... = value`` for ``path = "a.b..."`` (list indices as digits)."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value

    return edit


def _gain_element(value: Any) -> JsonEdit:
    def edit(data: dict[str, Any]) -> None:
        data["uplink_gain"][0][0][0] = value

    return edit


def _no_hash(data: dict[str, Any]) -> None:
    data.pop("scenario_sha256")


def _offload_without_subchannel(data: dict[str, Any]) -> None:
    data["users"][0].update(split=0, uplink_subchannel=None, downlink_subchannel=None, compute_units=1.0)


OUT = "{tmp}/out.json"

CLI_CASES: list[Case] = [
    # --- scenario generate ---------------------------------------------------------------------------------------
    Case(
        "generate-out-is-config",
        ["scenario", "generate", "{config}", "--out", "{config}"],
        message="is also an input",
        unchanged=("{config}",),
    ),
    Case(
        "generate-out-unwritable", ["scenario", "generate", "{config}", "--out", "/proc/x.json"], message="cannot write"
    ),
    Case("generate-out-folder", ["scenario", "generate", "{config}", "--out", "{tmp}"], message="is a folder"),
    Case(
        "generate-out-no-folder",
        ["scenario", "generate", "{config}", "--out", "{tmp}/no/s.json"],
        message="does not exist",
    ),
    Case(
        "generate-out-suffix",
        ["scenario", "generate", "{config}", "--out", "{tmp}/s.txt"],
        message=".json or .json.gz",
        absent=("{tmp}/s.txt",),
    ),
    Case(
        "generate-seed-negative",
        ["scenario", "generate", "{config}", "--out", OUT, "--seed", "-1"],
        message="seed",
        absent=(OUT,),
    ),
    Case(
        "config-bool-as-int",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="num_aps: true\n",
        message="num_aps",
        absent=(OUT,),
    ),
    Case(
        "config-str-as-int",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml='num_aps: "3"\n',
        message="num_aps",
        absent=(OUT,),
    ),
    Case(
        "config-str-as-float",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml='workload_tasks: "2"\n',
        message="workload_tasks",
    ),
    Case(
        "config-oma-cluster-3",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="access: oma\ncluster_size: 3\n",
        message="contradicts access 'oma'",
        absent=(OUT,),
    ),
    Case(
        "config-bandwidth-1e308",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="uplink_bandwidth_hz: 1.0e+308\n",
        message="allowed 1 .. 1e+12 Hz",
    ),
    Case(
        "config-workload-1e300",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="workload_tasks: 1.0e+300\n",
        message="workload_tasks = 1e+300 is out of range",
    ),
    Case(
        "config-noise-positive-dbm",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="noise_psd_dbm_per_hz: 100\n",
        message="allowed -270 .. 0 dBm/Hz",
    ),
    Case(
        "config-power-200-dbm",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="uplink_power_max_dbm: 200\n",
        message="uplink_power_max_dbm = 200 is out of range",
    ),
    Case(
        "config-reference-loss-negative",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="path_loss_reference_db: -500\n",
        message="path_loss_reference_db",
    ),
    Case(
        "config-device-speed-tiny",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="device_flops_per_s: 1.0e-300\n",
        message="device_flops_per_s",
    ),
    Case(
        "config-unknown-key",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="colour: red\n",
        message="colour: unknown key",
    ),
    Case(
        "config-list-at-top",
        ["scenario", "generate", "{bad}", "--out", OUT],
        yaml="- 1\n- 2\n",
        message="expected a mapping",
    ),
    Case(
        "generate-access-flag", ["scenario", "generate", "{config}", "--out", OUT, "--access", "tdma"], message="access"
    ),
    # --- solve ---------------------------------------------------------------------------------------------------
    Case(
        "solve-out-is-scenario",
        ["solve", "{scenario}", "--out", "{scenario}"],
        message="is also an input",
        unchanged=("{scenario}",),
    ),
    Case("solve-out-unwritable", ["solve", "{scenario}", "--out", "/proc/x.json"], message="cannot write"),
    Case("solve-out-folder", ["solve", "{scenario}", "--out", "{tmp}"], message="is a folder"),
    Case(
        "solve-threads-huge",
        ["solve", "{scenario}", "--out", OUT, "--threads", "100000"],
        message="allowed 1..1024",
        absent=(OUT,),
    ),
    Case(
        "solve-threads-zero",
        ["solve", "{scenario}", "--out", OUT, "--threads", "0"],
        message="--threads",
        absent=(OUT,),
    ),
    Case(
        "solve-seed-negative",
        ["solve", "{scenario}", "--out", OUT, "--seed", "-1"],
        message="--seed must be 0 or more",
        absent=(OUT,),
    ),
    Case(
        "solve-unknown-algorithm",
        ["solve", "{scenario}", "--out", OUT, "-a", "simplex"],
        message="unknown algorithm",
        absent=(OUT,),
    ),
    Case(
        "solve-bad-setting",
        ["solve", "{scenario}", "--out", OUT, "--set", "novalue"],
        message="key=value",
        absent=(OUT,),
    ),
    Case("solve-missing-scenario", ["solve", "{tmp}/none.json", "--out", OUT], message="file not found", absent=(OUT,)),
    Case(
        "scenario-bool-as-int",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("num_aps", True)),
        message="num_aps",
        absent=(OUT,),
    ),
    Case(
        "scenario-str-as-int",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("num_aps", "3")),
        message="num_aps",
        absent=(OUT,),
    ),
    Case(
        "scenario-bool-in-list",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("association.0", False)),
        message="association",
        absent=(OUT,),
    ),
    Case(
        "scenario-str-as-float",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("uplink_bandwidth_hz", "1e6")),
        message="uplink_bandwidth_hz",
        absent=(OUT,),
    ),
    Case(
        "scenario-gain-bool",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _gain_element(True)),
        message="no coercion",
        absent=(OUT,),
    ),
    Case(
        "scenario-gain-str",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _gain_element("1e-9")),
        message="no coercion",
        absent=(OUT,),
    ),
    Case(
        "scenario-gain-1e308",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _gain_element(1e308)),
        message="uplink_gain = 1e+308 is out of range: allowed 0 .. 1000",
        absent=(OUT,),
    ),
    Case(
        "scenario-bandwidth-1e308",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("downlink_bandwidth_hz", 1e308)),
        message="allowed 1 .. 1e+12 Hz",
        absent=(OUT,),
    ),
    Case(
        "scenario-workload-1e300",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("workload_tasks.0", 1e300)),
        message="workload_tasks = 1e+300 is out of range",
        absent=(OUT,),
    ),
    Case(
        "scenario-power-1e9-w",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("uplink_power_max_w", 1e9)),
        message="allowed 0 .. 10000 W",
        absent=(OUT,),
    ),
    Case(
        "scenario-noise-zero",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("noise_psd_w_per_hz", 1e-300)),
        message="noise_psd_w_per_hz",
        absent=(OUT,),
    ),
    Case(
        "scenario-oma-cluster-3",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("access", "oma")),
        message="cluster_size must be 1",
        absent=(OUT,),
    ),
    Case(
        "scenario-layer-flops-1e300",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("profiles.0.layers.0.flops", 1e300)),
        message="layers[0].flops",
        absent=(OUT,),
    ),
    Case(
        "scenario-nan",
        ["solve", "{bad}", "--out", OUT],
        edit=("scenario", _set("edge_unit_flops_per_s", float("nan"))),
        message="NaN",
        absent=(OUT,),
    ),
    Case("solve-unused-profile-ok", ["solve", "{unused_profile}", "--out", OUT], code=0, message="wrote"),
    # --- evaluate ------------------------------------------------------------------------------------------------
    Case(
        "evaluate-out-is-plan",
        ["evaluate", "{scenario}", "{plan}", "--out", "{plan}"],
        message="is also an input",
        unchanged=("{plan}",),
    ),
    Case(
        "evaluate-out-is-scenario",
        ["evaluate", "{scenario}", "{plan}", "--out", "{scenario}"],
        message="is also an input",
        unchanged=("{scenario}",),
    ),
    Case(
        "evaluate-out-unwritable", ["evaluate", "{scenario}", "{plan}", "--out", "/proc/x.json"], message="cannot write"
    ),
    Case(
        "evaluate-hash-mismatch",
        ["evaluate", "{scenario}", "{other_plan}", "--out", OUT],
        message="but scenario",
        absent=(OUT,),
    ),
    Case(
        "evaluate-hash-mismatch-forced",
        ["evaluate", "{scenario}", "{other_plan}", "--force"],
        code=0,
        message="--force",
    ),
    Case(
        "evaluate-plan-without-hash",
        ["evaluate", "{scenario}", "{bad}"],
        code=0,
        edit=("plan", _no_hash),
        message="records no scenario_sha256",
    ),
    Case(
        "evaluate-plan-bool-split",
        ["evaluate", "{scenario}", "{bad}", "--out", OUT],
        edit=("plan", _set("users.0.split", True)),
        message="users.0.split",
        absent=(OUT,),
    ),
    Case(
        "evaluate-plan-str-user",
        ["evaluate", "{scenario}", "{bad}", "--out", OUT],
        edit=("plan", _set("users.0.user", "0")),
        message="users.0.user",
        absent=(OUT,),
    ),
    Case(
        "evaluate-plan-str-power",
        ["evaluate", "{scenario}", "{bad}", "--out", OUT],
        edit=("plan", _set("users.0.uplink_power_w", "0.1")),
        message="uplink_power_w",
        absent=(OUT,),
    ),
    Case(
        "evaluate-non-finite",
        ["evaluate", "{scenario}", "{bad}", "--out", OUT, "--force"],
        code=1,
        edit=("plan", _offload_without_subchannel),
        message="objective is not finite",
        absent=(OUT,),
    ),
    Case(
        "evaluate-unused-profile-ok",
        ["evaluate", "{unused_profile}", "{unused_plan}"],
        code=0,
        message="objective Gamma",
    ),
    # --- profile -------------------------------------------------------------------------------------------------
    Case("profile-out-folder", ["profile", "nin", "--out", "{tmp}"], message="is a folder"),
    Case("profile-out-unwritable", ["profile", "nin", "--out", "/proc/x.json"], message="cannot write"),
    Case("profile-no-model", ["profile", "--out", OUT], message="give either MODEL", absent=(OUT,)),
    Case("profile-unknown-model", ["profile", "resnet", "--out", OUT], message="resnet", absent=(OUT,)),
    Case("profile-bad-dtype", ["profile", "nin", "--out", OUT, "--dtype", "int7"], message="int7", absent=(OUT,)),
    # --- reproduce (every refusal before anything is written) ----------------------------------------------------
    Case(
        "reproduce-figures-empty",
        ["reproduce", "--quick", "--figures", "", "--out", "{tmp}/r"],
        message="names no figure",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-figures-commas",
        ["reproduce", "--quick", "--figures", ",", "--out", "{tmp}/r"],
        message="names no figure",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-figures-unknown",
        ["reproduce", "--quick", "--figures", "99", "--out", "{tmp}/r"],
        message="unknown figure",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-seeds-huge",
        ["reproduce", "--quick", "--seeds", "100000", "--out", "{tmp}/r"],
        message="allowed 1..1000",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-seeds-zero",
        ["reproduce", "--quick", "--seeds", "0", "--out", "{tmp}/r"],
        message="--seeds",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-workers-huge",
        ["reproduce", "--quick", "--workers", "1000", "--out", "{tmp}/r"],
        message="--workers 1000 is out of range",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-workers-negative",
        ["reproduce", "--quick", "--workers", "-1", "--out", "{tmp}/r"],
        message="--workers",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-cuda-without-gpu",
        ["reproduce", "--quick", "--torch-device", "cuda", "--out", "{tmp}/r"],
        message="no CUDA device",
        absent=("{tmp}/r",),
        patch_no_cuda=True,
    ),
    Case(
        "reproduce-torch-device-unknown",
        ["reproduce", "--quick", "--torch-device", "tpu", "--out", "{tmp}/r"],
        message="cpu or cuda",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-scheduler-unreachable",
        ["reproduce", "--quick", "--scheduler", "tcp://127.0.0.1:1", "--out", "{tmp}/r"],
        message="no scheduler answers",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-scheduler-malformed",
        ["reproduce", "--quick", "--scheduler", "tcp://", "--out", "{tmp}/r"],
        message="expected tcp://HOST:PORT",
        absent=("{tmp}/r",),
    ),
    Case("reproduce-out-unwritable", ["reproduce", "--quick", "--out", "/proc/nomasplit-r"], message="cannot write"),
    Case(
        "reproduce-out-is-file",
        ["reproduce", "--quick", "--out", "{config}"],
        message="not a folder",
        unchanged=("{config}",),
    ),
    Case(
        "reproduce-settings-bool-seeds",
        ["reproduce", "--settings", "{bad}", "--figures", "2", "--out", "{tmp}/r"],
        edit=("settings", _set("num_seeds", True)),
        message="num_seeds",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-settings-str-seed",
        ["reproduce", "--settings", "{bad}", "--figures", "2", "--out", "{tmp}/r"],
        edit=("settings", _set("first_seed", "0")),
        message="first_seed",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-settings-bool-in-base",
        ["reproduce", "--settings", "{bad}", "--figures", "2", "--out", "{tmp}/r"],
        edit=("settings", _set("base.num_aps", True)),
        message="num_aps",
        absent=("{tmp}/r",),
    ),
    # --- device run ----------------------------------------------------------------------------------------------
    Case(
        "device-npy-huge-header",
        ["device", "run", "--model", "nin", "--split", "9", "--input", "{npy}"],
        npy_shape=(1_000_000, 1_000_000),
        message="header declares shape [1000000, 1000000]",
    ),
    Case(
        "device-npy-wrong-shape",
        ["device", "run", "--model", "nin", "--split", "9", "--input", "{npy}"],
        npy_shape=(2, 2),
        message="header declares shape [2, 2]",
    ),
    Case(
        "device-input-txt",
        ["device", "run", "--model", "nin", "--split", "9", "--input", "{config}"],
        message="expected a .npy or .safetensors",
    ),
    Case(
        "device-plan-hash-mismatch",
        ["device", "run", "--plan", "{plan}", "--scenario", "{nin_scenario}", "--user", "0"],
        message="but scenario",
    ),
    Case(
        "device-plan-no-scenario",
        ["device", "run", "--plan", "{nin_plan}", "--user", "0"],
        message="--plan needs --scenario",
    ),
    Case(
        "device-plan-forced-mismatch",
        ["device", "run", "--plan", "{bad}", "--scenario", "{nin_scenario}", "--user", "0", "--force"],
        code=0,
        edit=("nin_plan", _set("scenario_sha256", "0" * 64)),
        message="used anyway",
    ),
    Case(
        "device-json-unwritable",
        ["device", "run", "--model", "nin", "--split", "9", "--json", "/proc/x.json"],
        message="cannot write",
    ),
    Case(
        "device-json-is-plan",
        [
            "device",
            "run",
            "--plan",
            "{nin_plan}",
            "--scenario",
            "{nin_scenario}",
            "--user",
            "0",
            "--json",
            "{nin_plan}",
        ],
        message="is also an input",
        unchanged=("{nin_plan}",),
    ),
    Case("device-split-out-of-range", ["device", "run", "--model", "nin", "--split", "99"], message="--split 99"),
    Case("device-negative-rtol", ["device", "run", "--model", "nin", "--split", "9", "--rtol", "-1"], message="--rtol"),
    Case(
        "device-negative-rate",
        ["device", "run", "--model", "nin", "--split", "2", "--edge", "http://127.0.0.1:1", "--uplink-bps", "-5"],
        message="--uplink-bps",
    ),
    # --- edge serve (refused before listening) -------------------------------------------------------------------
    Case(
        "serve-without-token",
        ["edge", "serve", "--port", "0"],
        env={"NOMASPLIT_TOKEN": None},
        message="NOMASPLIT_TOKEN is not set",
    ),
    Case(
        "serve-short-token", ["edge", "serve", "--port", "0"], env={"NOMASPLIT_TOKEN": "short"}, message="at least 16"
    ),
    Case("serve-inflight-zero", ["edge", "serve", "--port", "0", "--max-inflight", "0"], message="max_inflight"),
    Case(
        "serve-header-timeout-zero",
        ["edge", "serve", "--port", "0", "--header-timeout-s", "0"],
        message="header_timeout_s",
    ),
    Case(
        "serve-waiting-zero",
        ["edge", "serve", "--port", "0", "--max-waiting-connections", "0"],
        message="max_waiting_connections",
    ),
    Case("serve-port-out-of-range", ["edge", "serve", "--port", "70000"], message="allowed 0..65535"),
]

#: Issue 28: the classes behind the cases above. One input boundary (nomasplit.io: sizes, nesting, duplicate keys,
#: names on one line), options checked up front (NaN, infinities, integers beyond int64), one output boundary.
CLASS_CASES: list[Case] = [
    # --- input boundary --------------------------------------------------------------------------------------------
    Case(
        "evaluate-plan-5000-deep",
        ["evaluate", "{scenario}", "{bad}"],
        text=("deep-plan.json", "[" * 5000 + "]" * 5000),
        message="nest more than 64 levels deep",
    ),
    Case(
        "solve-scenario-3000-deep-objects",
        ["solve", "{bad}", "--out", OUT],
        text=("deep.json", '{"a": ' * 3000 + "1" + "}" * 3000),
        message="nest more than 64 levels deep",
        absent=(OUT,),
    ),
    Case(
        "generate-config-5000-deep-yaml",
        ["scenario", "generate", "{bad}", "--out", OUT],
        text=("deep.yaml", "num_aps: " + "[" * 5000 + "]" * 5000 + "\n"),
        message="nest more than 64 levels deep",
        absent=(OUT,),
    ),
    Case(
        "scenario-duplicate-key",
        ["solve", "{bad}", "--out", OUT],
        text=("dup.json", '{"num_aps": 1, "num_aps": 500}'),
        message="key 'num_aps' is given twice",
        absent=(OUT,),
    ),
    Case(
        "plan-duplicate-nested-key",
        ["evaluate", "{scenario}", "{bad}"],
        text=("dup-plan.json", '{"users": [{"split": 1, "split": 2}]}'),
        message="key 'split' is given twice",
    ),
    Case(
        "config-duplicate-key",
        ["scenario", "generate", "{bad}", "--out", OUT],
        text=("dup.yaml", "model: nin\nnum_aps: 1\nnum_aps: 500\n"),
        message="key 'num_aps' is given twice",
        absent=(OUT,),
    ),
    Case(
        "settings-duplicate-key",
        ["reproduce", "--settings", "{bad}", "--out", "{tmp}/r"],
        text=("dup-settings.yaml", "num_seeds: 1\nnum_seeds: 2\n"),
        message="key 'num_seeds' is given twice",
        absent=("{tmp}/r",),
    ),
    Case(
        "config-yaml-alias",
        ["scenario", "generate", "{bad}", "--out", OUT],
        text=("alias.yaml", "model: nin\nnum_aps: &n 1\nusers_per_ap: *n\n"),
        message="aliases (*name) are not read",
        absent=(OUT,),
    ),
    Case(
        "scenario-not-utf8",
        ["solve", "{bad}", "--out", OUT],
        text=("latin.json", b'{"name": "\xe9"}'),
        message="not UTF-8",
        absent=(OUT,),
    ),
    Case(
        "scenario-corrupt-gzip",
        ["scenario", "show", "{bad}"],
        text=("broken.json.gz", "this is not gzip"),
        message="cannot read file",
    ),
    Case(
        "name-with-newline-stays-one-line",
        ["evaluate", "{bad}", "{plan}"],
        text=("bad\nerror: forged.json", "{"),
        message="bad\\nerror: forged.json'",
    ),
    Case(
        "name-with-escape-stays-one-line",
        ["scenario", "show", "{bad}"],
        text=("bad\x1b[2Jname.json", "{"),
        message="\\x1b[2Jname.json",
    ),
    Case(
        "name-with-markup-shown-as-is",
        ["scenario", "show", "{bad}"],
        text=("[x] [bold]b[red].json", "{"),
        message="[x] [bold]b[red].json: malformed JSON",
    ),
    Case(
        "scenario-name-too-long",
        ["solve", "{tmp}/" + "y" * 5000 + ".json", "--out", OUT],
        message="File name too long",
        absent=(OUT,),
    ),
    Case(
        "out-name-too-long",
        ["solve", "{scenario}", "--out", "{tmp}/" + "y" * 5000 + ".json"],
        message="File name too long",
    ),
    Case(  # found by benchmarks/fuzz_cli.py: an OSError from probing whether --model names a file
        "generate-model-name-too-long",
        ["scenario", "generate", "--model", "x" * 5000, "--out", OUT],
        message="unknown model 'xxxx",
        absent=(OUT,),
    ),
    # --- every number option checked up front -------------------------------------------------------------------
    Case("device-rtol-nan", ["device", "run", "--model", "nin", "--split", "9", "--rtol", "nan"], message="--rtol nan"),
    Case("device-atol-inf", ["device", "run", "--model", "nin", "--split", "9", "--atol", "inf"], message="--atol inf"),
    Case(
        "device-uplink-nan",
        ["device", "run", "--model", "nin", "--split", "3", "--edge", "http://127.0.0.1:9", "--uplink-bps", "nan"],
        message="--uplink-bps nan",
    ),
    Case(
        "replay-max-seconds-inf",
        ["edge", "replay", "{nin_plan}", "{nin_scenario}", "--users", "1", "--max-seconds", "inf"],
        message="--max-seconds inf",
    ),
    Case(
        "serve-timeout-nan",
        ["edge", "serve", "--port", "0", "--request-timeout-s", "nan"],
        message="--request-timeout-s nan",
    ),
    Case(
        "solve-seed-beyond-int64",
        ["solve", "{scenario}", "--out", OUT, "--seed", str(2**64)],
        message="--seed 18446744073709551616: out of range",
        absent=(OUT,),
    ),
    Case(
        "reproduce-seeds-beyond-int64",
        ["reproduce", "--quick", "--seeds", str(2**63), "--out", "{tmp}/r"],
        message="--seeds 9223372036854775808",
        absent=("{tmp}/r",),
    ),
    Case(
        "profile-warmup-beyond-int64",
        ["profile", "nin", "--out", OUT, "--measure", "--warmup", str(-(2**63) - 1)],
        message="--warmup",
        absent=(OUT,),
    ),
    Case(
        "calibrate-min-improvement-nan",
        ["calibrate", "--out", OUT, "--store", "{tmp}/store", "--min-improvement", "nan"],
        message="--min-improvement nan",
        absent=(OUT, "{tmp}/store"),
    ),
    Case(
        "generate-aps-beyond-int64",
        ["scenario", "generate", "{config}", "--out", OUT, "--aps", str(10**40)],
        message="--aps 10000000000000000000... : out of range",
        absent=(OUT,),
    ),
    Case(
        "solve-set-deep-value",
        ["solve", "{scenario}", "--out", OUT, "--set", "max_iterations=" + "[" * 3000],
        message="nest more than 64 levels deep",
        absent=(OUT,),
    ),
    Case(
        "solve-set-twice",
        ["solve", "{scenario}", "--out", OUT, "--set", "max_iterations=3", "--set", "max_iterations=4"],
        message="--set 'max_iterations' is given twice",
        absent=(OUT,),
    ),
    # --- settings validated before work starts -----------------------------------------------------------------
    Case(
        "reproduce-settings-wrong-algorithm-setting",
        ["reproduce", "--settings", "{bad}", "--out", "{tmp}/r", "--workers", "0"],
        edit=("settings", _set("algorithm_settings.ecc-noma.ligd.max_iterations", "x")),
        message="algorithm_settings ecc-noma.ligd: max_iterations",
        absent=("{tmp}/r",),
    ),
    Case(
        "reproduce-settings-unknown-algorithm",
        ["reproduce", "--settings", "{bad}", "--out", "{tmp}/r", "--workers", "0"],
        edit=("settings", _set("algorithm_settings.fast-magic", {})),
        message="unknown algorithm 'fast-magic'",
        absent=("{tmp}/r",),
    ),
    Case(
        "calibrate-solver-settings-wrong-type",
        [
            "calibrate",
            "--out",
            OUT,
            "--store",
            "{tmp}/store",
            "--solver-settings",
            '{{"ecc-noma": {{"ligd": {{"max_iterations": "x"}}}}}}',
        ],
        message="--solver-settings ecc-noma.ligd: max_iterations",
        absent=(OUT, "{tmp}/store"),
    ),
    Case(
        "calibrate-solver-settings-duplicate-method",
        [
            "calibrate",
            "--out",
            OUT,
            "--store",
            "{tmp}/store",
            "--solver-settings",
            '{{"ecc-noma": {{}}, "ecc-noma": {{}}}}',
        ],
        message="key 'ecc-noma' is given twice",
        absent=(OUT, "{tmp}/store"),
    ),
    # --- one output boundary ---------------------------------------------------------------------------------------
    Case(
        "replay-json-is-its-plan",
        ["edge", "replay", "{nin_plan}", "{nin_scenario}", "--users", "1", "--json", "{nin_plan}"],
        message="is also an input of this command (PLAN",
        unchanged=("{nin_plan}",),
    ),
    Case(
        "replay-json-is-its-scenario",
        ["edge", "replay", "{nin_plan}", "{nin_scenario}", "--users", "1", "--json", "{nin_scenario}"],
        message="is also an input of this command (SCENARIO",
        unchanged=("{nin_scenario}",),
    ),
    Case(
        "replay-plan-of-another-scenario",
        ["edge", "replay", "{plan}", "{nin_scenario}", "--users", "1"],
        message="but scenario",
    ),
    Case(
        "solve-out-character-device",
        ["solve", "{scenario}", "--out", "/dev/null"],
        message="is a character device, not a regular file",
    ),
    Case(
        "evaluate-out-character-device",
        ["evaluate", "{scenario}", "{plan}", "--out", "/dev/null"],
        message="is a character device",
    ),
    Case(
        "profile-out-is-timings",
        ["profile", "nin", "--out", OUT, "--measure", "--units", "1", "--timings", OUT],
        message="is also the command's --timings output",
        absent=(OUT,),
    ),
    Case(
        "scenario-apply-measurements-out-is-scenario",
        ["scenario", "apply-measurements", "{scenario}", "--out", "{scenario}", "--compensation-from", "{plan}"],
        message="is also an input of this command (SCENARIO",
        unchanged=("{scenario}",),
    ),
    Case(
        "scenario-apply-measurements-out-is-edge-measurement",
        ["scenario", "apply-measurements", "{scenario}", "--out", "{plan}", "--edge", "{plan}"],
        message="is also an input of this command (--edge",
        unchanged=("{plan}",),
    ),
    Case(
        "reproduce-out-folder-of-foreign-files",
        ["reproduce", "--quick", "--out", "{tmp}", "--workers", "0"],
        message="holds",
        unchanged=("{scenario}",),
        absent=("{tmp}/report.md", "{tmp}/results"),
    ),
    Case(  # the example: a report.md (and results.csv) among other files were replaced without a word
        "reproduce-out-folder-keeps-its-report",
        ["reproduce", "--quick", "--out", "{tmp}", "--workers", "0"],
        text=("report.md", "my own notes, not a reproduction's report"),
        message="this command did not write",
        unchanged=("{bad}",),
        absent=("{tmp}/results",),
    ),
    Case(
        "reproduce-settings-inside-out",
        ["reproduce", "--settings", "{tmp}/settings.json", "--out", "{tmp}", "--workers", "0"],
        message="is inside this output folder",
        absent=("{tmp}/results",),
    ),
    Case("schema-out-folder-of-foreign-files", ["schema", "--out", "{tmp}"], message="this command did not write"),
    Case(
        "calibrate-store-folder-of-foreign-files",
        ["calibrate", "--out", "{tmp}/c.json", "--store", "{tmp}"],
        message="--store",
        absent=("{tmp}/c.json", "{tmp}/results"),
    ),
    Case(
        "calibrate-out-is-start",
        ["calibrate", "--out", "{tmp}/s.json", "--store", "{tmp}/store", "--start", "{tmp}/s.json"],
        text=("s.json", "{}"),
        message="is also an input of this command (--start",
        absent=("{tmp}/store",),
    ),
]


def _materialise(case: Case, base: dict[str, Path], folder: Path) -> dict[str, str]:
    names: dict[str, str] = {"tmp": str(folder)}
    for key, path in base.items():
        copy = folder / path.name
        shutil.copy(path, copy)
        names[key] = str(copy)
    if case.edit is not None:
        source, edit = case.edit
        data = json.loads(Path(names[source]).read_text(encoding="utf-8"))
        edit(data)
        bad = folder / f"bad-{Path(names[source]).name}"
        bad.write_text(json.dumps(data), encoding="utf-8")
        names["bad"] = str(bad)
    if case.yaml is not None:
        bad = folder / "bad-config.yaml"
        valid = "" if case.yaml.startswith("- ") else "num_aps: 1\nusers_per_ap: 2\nnum_subchannels: 2\nmodel: nin\n"
        given = {line.split(":")[0] for line in case.yaml.splitlines()}
        valid = "".join(line + "\n" for line in valid.splitlines() if line.split(":")[0] not in given)
        bad.write_text(valid + case.yaml, encoding="utf-8")  # the case's keys replace the valid ones
        names["bad"] = str(bad)
    if case.text is not None:
        name, content = case.text
        bad = folder / name
        if isinstance(content, bytes):
            bad.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
        else:
            bad.write_text(content, encoding="utf-8")
        names["bad"] = str(bad)
    if case.npy_shape is not None:
        npy = folder / "input.npy"
        with npy.open("wb") as handle:
            header = {"descr": "<f4", "fortran_order": False, "shape": case.npy_shape}
            np.lib.format.write_array_header_1_0(handle, header)
            handle.write(bytes(64))
        names["npy"] = str(npy)
    return names


@pytest.mark.parametrize("case", CLI_CASES + CLASS_CASES, ids=[case.id for case in CLI_CASES + CLASS_CASES])
def test_cli_refuses_bad_input(
    case: Case, base: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _materialise(case, base, tmp_path)
    args = [arg.format(**names) for arg in case.args]
    watched = [Path(path.format(**names)) for path in case.unchanged]
    before = [path.read_bytes() for path in watched]
    if case.patch_no_cuda:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, args, env=case.env)
    assert result.exit_code == case.code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert case.message in " ".join(result.output.split()), result.output
    if case.code != 0:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("error:"), result.stderr
    for absent in case.absent:
        assert not Path(absent.format(**names)).exists(), absent
    for path, content in zip(watched, before, strict=True):
        assert path.read_bytes() == content, f"{path} was changed"
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


def test_reproduce_estimate_names_tasks_and_time() -> None:
    from nomasplit.cli.reproduce_cmd import _estimate

    assert _estimate(1000, "full", 2, None) == (
        "1000 tasks; estimate: about 10 min of CPU time, about 5 min with 2 worker process(es) (rough, from "
        "docs/reproduction.md)"
    )
    assert "Dask" not in _estimate(10, "quick", 0, "tcp://h:1") and "CPU time" in _estimate(10, "quick", 0, None)


def test_enough_cases() -> None:
    assert len(CLI_CASES) + len(SERVER_CASES) >= 60


# --- an output is replaced only after success ------------------------------------------------------------------


def test_failed_solve_leaves_an_existing_plan_untouched(base: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("previous plan", encoding="utf-8")
    data = json.loads(base["scenario"].read_text(encoding="utf-8"))
    data["num_aps"] = True
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["solve", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert out.read_text(encoding="utf-8") == "previous plan"


def test_write_failure_is_an_input_error_and_keeps_the_target(tmp_path: Path, monkeypatch) -> None:
    from nomasplit.errors import InputError
    from nomasplit.io import write_atomic

    target = tmp_path / "result.json"
    target.write_text("old", encoding="utf-8")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nomasplit.io.os.replace", full_disk)
    with pytest.raises(InputError, match="No space left on device"):
        write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["result.json"]


def test_non_finite_solve_is_exit_1_without_plan(base: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    from nomasplit.data.plan import Plan

    real_solve = solve

    def infinite(*args: Any, **kwargs: Any) -> Plan:
        plan = real_solve(*args, **kwargs)
        assert plan.solver is not None
        return plan.model_copy(update={"solver": plan.solver.model_copy(update={"objective": float("inf")})})

    monkeypatch.setattr("nomasplit.solvers.solve", infinite)
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(base["scenario"]), "-a", "device-only", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "found no plan with a finite objective" in " ".join(result.output.split())
    assert not out.exists()


# --- fast start: the CLI does not import torch, and its copies of registry texts are exact ---------------------


def test_cli_import_does_not_import_torch() -> None:
    heavy = ("torch", "pandas", "numpy", "pydantic")
    code = f"import sys, nomasplit.cli.main; print(*(name in sys.modules for name in {heavy!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["False"] * len(heavy)


def test_catalog_matches_the_registry_and_the_zoo() -> None:
    from nomasplit import zoo
    from nomasplit.cli import catalog, profile_cmd
    from nomasplit.data.schemas import SCHEMA_TYPES
    from nomasplit.measure import options
    from nomasplit.solvers import ALGORITHMS

    registry = [(name, ALGORITHMS[name].summary, ALGORITHMS[name].cite) for name in sorted(ALGORITHMS)]
    assert [tuple(entry) for entry in catalog.ALGORITHM_CATALOG] == registry
    assert tuple(zoo.MODEL_NAMES) == catalog.ZOO_MODEL_NAMES
    assert tuple(SCHEMA_TYPES) == catalog.SCHEMA_NAMES
    assert (profile_cmd.DEFAULT_WARMUP, profile_cmd.DEFAULT_REPEATS) == (
        options.DEFAULT_WARMUP,
        options.DEFAULT_REPEATS,
    )


def test_algorithms_command_lists_every_algorithm() -> None:
    from nomasplit.solvers import ALGORITHMS

    result = runner.invoke(app, ["algorithms"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for name in ALGORITHMS:
        assert name in result.output


def test_generate_notes_its_overrides(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    result = runner.invoke(
        app, ["scenario", "generate", str(example_path("small.yaml")), "--out", str(out), "--aps", "3"]
    )
    assert result.exit_code == 0, result.output
    description = json.loads(out.read_text(encoding="utf-8"))["description"]
    assert description.endswith("(overridden: num_aps=3)")


# --- the edge server -------------------------------------------------------------------------------------------


class _Slow(nn.Module):
    """Sleeps in its forward pass, so concurrent requests overlap for sure."""

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        time.sleep(0.3)
        return tensor


def _model(slow: bool = False) -> RunnableModel:
    torch.manual_seed(0)
    units: list[nn.Module] = [nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)]
    if slow:
        units.insert(1, _Slow())
    return prepare_model("small", nn.Sequential(*units), (1, 3, 8, 8))


@pytest.fixture(scope="module")
def small() -> RunnableModel:
    return _model()


@pytest.fixture(scope="module")
def edge(small: RunnableModel) -> Iterator[EdgeServerThread]:
    settings = EdgeSettings(
        token=TOKEN, max_inflight=4, request_timeout_s=2.0, header_timeout_s=1.0, max_waiting_connections=8
    )
    with EdgeServerThread({"small": small}, settings) as running:
        yield running


def _address(server: EdgeServerThread) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _raw(server: EdgeServerThread, request: bytes, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes; the status code and the whole answer (read until the server closes or a pause)."""
    with socket.create_connection(_address(server), timeout=timeout_s) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    head, _, body = answer.partition(b"\r\n\r\n")
                    length = [
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ]
                    if length and len(body) >= length[0]:
                        break
        except TimeoutError:
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer


def _request(
    path: str = "/v1/infer/small/1", headers: dict[str, str] | None = None, body: bytes = b"", method: str = "POST"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: edge", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _health(headers: dict[str, str]) -> bytes:
    return _request("/v1/health", headers, method="GET")


BODY = bytes(4 * 4 * 8 * 8)  # split 1 takes [1, 4, 8, 8] float32


@dataclass(frozen=True)
class ServerCase:
    id: str
    request: bytes
    statuses: tuple[int, ...]
    code: str = ""


SERVER_CASES: list[ServerCase] = [
    ServerCase(
        "split-superscript-two",
        _request(
            "/v1/infer/small/%C2%B2", {**AUTH, "X-Nomasplit-Dtype": "float32", "X-Nomasplit-Shape": "1,4,8,8"}, BODY
        ),
        (422,),
        "split_out_of_range",
    ),
    ServerCase(
        "split-arabic-digit",
        _request(
            "/v1/infer/small/%D9%A1", {**AUTH, "X-Nomasplit-Dtype": "float32", "X-Nomasplit-Shape": "1,4,8,8"}, BODY
        ),
        (422,),
        "split_out_of_range",
    ),
    ServerCase(
        "split-huge-number",
        _request(
            "/v1/infer/small/" + "9" * 5000,
            {**AUTH, "X-Nomasplit-Dtype": "float32", "X-Nomasplit-Shape": "1,4,8,8"},
            BODY,
        ),
        (422,),
        "split_out_of_range",
    ),
    ServerCase(
        "shape-superscript",
        _request(headers={**AUTH, "X-Nomasplit-Dtype": "float32", "X-Nomasplit-Shape": "1,4,8,²"}, body=BODY),
        (400,),
        "malformed_shape",
    ),
    ServerCase(
        "shape-fullwidth-digit",
        _request(headers={**AUTH, "X-Nomasplit-Dtype": "float32", "X-Nomasplit-Shape": "1,４,8,8"}, body=BODY),
        (400,),
        "malformed_shape",
    ),
    # Header limits, on the health check (which would answer 200): h11 answers 400 to a header still incomplete
    # after 16 KiB, the edge 431 to a complete one above 16 KiB.
    ServerCase("header-20-kib", _health({**AUTH, "X-Padding": "a" * 20_000}), (431,), "headers_too_large"),
    ServerCase("header-20-kib-no-token", _health({"X-Padding": "a" * 20_000}), (431,), "headers_too_large"),
    ServerCase("header-100-kb", _health({**AUTH, "X-Padding": "a" * 100_000}), (400, 431)),
    ServerCase(
        "header-many-small",
        _health({**AUTH, **{f"X-H{i}": "b" * 100 for i in range(200)}}),
        (431,),
        "headers_too_large",
    ),
    ServerCase("header-just-below-limit", _health({**AUTH, "X-Padding": "a" * 15_000}), (200,), "ok"),
    ServerCase(
        "no-token-closes", _request(headers={"X-Nomasplit-Dtype": "float32"}, body=BODY), (401,), "missing_token"
    ),
]


@pytest.mark.parametrize("case", SERVER_CASES, ids=[case.id for case in SERVER_CASES])
def test_server_refuses_with_4xx(case: ServerCase, edge: EdgeServerThread) -> None:
    status, answer = _raw(edge, case.request)
    assert status in case.statuses, answer[:300]
    assert case.code.encode() in answer
    if status in (401, 403, 431):
        assert b"connection: close" in answer.lower()


def test_unauthenticated_answer_closes_the_connection(edge: EdgeServerThread) -> None:
    with socket.create_connection(_address(edge), timeout=2.0) as sock:  # keep-alive would hold it for 5 s
        sock.sendall(_request(headers={"Authorization": "Bearer wrong-token-0123456789"}))
        answer = b""
        while chunk := sock.recv(65536):  # ends only when the server closes
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403")


def test_idle_connection_is_closed_after_the_header_deadline(edge: EdgeServerThread) -> None:
    with socket.create_connection(_address(edge), timeout=10.0) as sock:
        sock.sendall(b"POST /v1/infer/small/1 HTTP/1.1\r\nHost: e")  # never finishes its headers
        assert sock.recv(1024) == b""  # closed by the server (header_timeout_s = 1 s), well before 10 s


def _still_serves(edge: EdgeServerThread, small: RunnableModel) -> None:
    inputs = random_input(small, 0)
    with EdgeClient(edge.url, TOKEN, timeout_s=10.0) as client:
        reply = client.infer("small", 1, device_part(small, 1, inputs))
    assert torch.allclose(reply.output, local_output(small, inputs))


def test_idle_connections_cannot_starve_the_edge(edge: EdgeServerThread, small: RunnableModel) -> None:
    sockets = [socket.create_connection(_address(edge), timeout=5.0) for _ in range(100)]
    try:
        for _ in range(3):
            _still_serves(edge, small)
    finally:
        for sock in sockets:
            sock.close()


def test_trickling_headers_cannot_starve_the_edge(edge: EdgeServerThread, small: RunnableModel) -> None:
    sockets = [socket.create_connection(_address(edge), timeout=5.0) for _ in range(80)]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"X")
            stop.wait(0.05)

    for sock in sockets:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nX-Slow: ")
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            _still_serves(edge, small)
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()


def test_client_caps_the_answer_size(edge: EdgeServerThread, small: RunnableModel) -> None:
    inputs = random_input(small, 0)
    with EdgeClient(edge.url, TOKEN, max_answer_bytes=16) as client, pytest.raises(EdgeError) as info:
        client.infer("small", 1, device_part(small, 1, inputs))
    assert info.value.code == "answer_too_large"


def test_loadtest_honours_retry_after_and_counts_busy_apart() -> None:
    slow = _model(slow=True)
    settings = EdgeSettings(token=TOKEN, max_inflight=1, request_timeout_s=5.0)
    inputs = random_input(slow, 0)
    with EdgeServerThread({"small": slow}, settings) as server:
        result = run_load_test(
            server.url,
            TOKEN,
            model="small",
            split=2,
            intermediate=device_part(slow, 2, inputs),
            reference=local_output(slow, inputs),
            num_clients=3,
            duration_s=1.0,
        )
    assert result.errors == {}
    assert result.busy >= 1  # three clients, one request at a time, each forward 0.3 s
    assert result.correct >= 1 and result.requests == result.correct + result.busy
    # Retry-After is 1 s: each client waits it out, so busy answers stay few (without waiting, hundreds).
    assert result.busy <= 3 * 2 + 3


# --- the docs cite only files in the repository ----------------------------------------------------------------


def test_reproduction_doc_cites_only_files_in_the_repository() -> None:
    import re

    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "reproduction.md").read_text(encoding="utf-8")
    assert "shared/" not in text  # the project's private spec folder is not part of the repository
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (docs / target).exists(), target


def test_loadtest_command_names_the_setting_that_limits_it() -> None:
    from nomasplit.runtime.models import load_zoo_model

    settings = EdgeSettings(token=TOKEN, max_inflight=1)
    with EdgeServerThread({"nin": load_zoo_model("nin", seed=0)}, settings) as server:
        # 16 clients released together against one request at a time: the first burst alone gets 15 busy answers
        args = ["edge", "loadtest", "--edge", server.url, "--model", "nin", "--split", "0", "--clients", "16"]
        result = runner.invoke(app, [*args, "--duration-s", "1"], env={"NOMASPLIT_TOKEN": TOKEN})
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "answers were 503 busy" in output
    assert "--max-inflight = 1" in output and "--max-inflight 16 or more" in output


def test_a_port_that_is_not_a_dask_scheduler_fails_fast_with_a_clear_error() -> None:
    """A TCP port that accepts connections but never speaks Dask's protocol: InputError after the timeout,
    not Dask's 30 s wait and a traceback."""
    pytest.importorskip("dask.distributed")
    import socket
    import threading

    from nomasplit.errors import InputError
    from nomasplit.experiments.sweep import dask_client

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    try:
        with pytest.raises(InputError, match=r"no Dask scheduler answered within 1 s"):
            dask_client(address, timeout_s=1.0)
    finally:
        for connection in accepted:
            connection.close()
        server.close()


# --- issue 28: the input boundary's size limits ------------------------------------------------------------------


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """FILE_LIMITS at 1 MiB, so that a file past them costs milliseconds (the rule is the same at 256 MiB)."""
    import nomasplit.io as nio

    monkeypatch.setattr(
        nio, "FILE_LIMITS", nio.FILE_LIMITS._replace(max_file_bytes=2**20, max_decompressed_bytes=2**20)
    )


def _one_error_line(result: Any) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_a_gzip_bomb_is_refused_while_it_expands(tmp_path: Path, small_limits: None) -> None:
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb") as handle:
        for _ in range(64):  # 64 MiB of spaces: a few tens of KiB compressed
            handle.write(b" " * 2**20)
    assert bomb.stat().st_size < 2**20
    result = runner.invoke(app, ["solve", str(bomb), "--out", str(tmp_path / "plan.json")])
    assert result.exit_code == 2
    assert "decompressed content is larger than the limit of 1,048,576 bytes" in _one_error_line(result)
    assert not (tmp_path / "plan.json").exists()


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path, small_limits: None) -> None:
    large = tmp_path / "large.json"
    with large.open("wb") as handle:
        handle.truncate(2**30)  # 1 GiB, sparse: reading it would take seconds
    started = time.perf_counter()
    result = runner.invoke(app, ["scenario", "show", str(large)])
    assert result.exit_code == 2 and time.perf_counter() - started < 5
    assert "the file (1,073,741,824 bytes) is larger than the limit" in _one_error_line(result)


def test_an_endless_input_is_read_only_up_to_the_limit(small_limits: None) -> None:
    result = runner.invoke(app, ["scenario", "show", "/dev/zero"])
    assert result.exit_code == 2
    assert "/dev/zero: the file is larger than the limit" in _one_error_line(result)


def test_file_limits_are_those_of_the_docs() -> None:
    from nomasplit.data.limits import FILE_LIMITS
    from nomasplit.io import FILE_LIMITS as io_limits

    assert FILE_LIMITS is io_limits
    text = " ".join((Path(__file__).parents[1] / "docs" / "formats.md").read_text(encoding="utf-8").split())
    for name, value in FILE_LIMITS._asdict().items():
        assert f"`{name}` | {value:,}" in text, name


# --- issue 28: outputs that are links or special files, user code, remote answers -------------------------------


def test_an_output_that_is_a_symlink_is_refused_and_kept(base: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_text("keep me", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = runner.invoke(app, ["solve", str(base["scenario"]), "--out", str(link), "-a", "device-only"])
    assert result.exit_code == 2
    assert "is a symbolic link" in _one_error_line(result)
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "keep me"


def test_an_output_that_is_a_named_pipe_is_refused(base: dict[str, Path], tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    result = runner.invoke(app, ["evaluate", str(base["scenario"]), str(base["plan"]), "--out", str(pipe)])
    assert result.exit_code == 2
    assert "is a named pipe, not a regular file" in _one_error_line(result)


def test_a_folder_output_of_our_own_files_is_accepted_and_force_overrides(tmp_path: Path) -> None:
    from nomasplit.cli.reproduce_cmd import REPRODUCE_OUTPUTS
    from nomasplit.errors import InputError
    from nomasplit.io import check_output_folder

    for name in ("report.md", "results.csv", "fig02.png", "regime-overload-speed.svg", "calibrated-preset"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "results").mkdir()
    assert check_output_folder(tmp_path, own=REPRODUCE_OUTPUTS) == tmp_path  # a previous run's folder: resumed
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match=r"holds 1 file\(s\) this command did not write \(notes.txt\)"):
        check_output_folder(tmp_path, own=REPRODUCE_OUTPUTS)
    assert check_output_folder(tmp_path, own=REPRODUCE_OUTPUTS, force=True) == tmp_path


USER_MODULE = """
import sys
from torch import nn


class Fails(nn.Module):
    def forward(self, tensor):
        raise KeyError("not a RuntimeError")


def exits():
    sys.exit(0)


def fails():
    return nn.Sequential(nn.Flatten(), Fails())
"""


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("exits", "exit(0) was called inside the command in"),
        ("fails", "user code failed in"),
        ("exits_on_import", "exit(3) was called inside the command in"),
    ],
)
def test_user_code_that_raises_or_exits_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attr: str, message: str
) -> None:
    module = f"user_model_{attr}"
    source = USER_MODULE if attr != "exits_on_import" else "import sys\nsys.exit(3)\n"
    (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, module, raising=False)
    out = tmp_path / "profile.json"
    spec = f"{module}:{'fails' if attr == 'exits_on_import' else attr}"
    result = runner.invoke(app, ["profile", "--model", spec, "--input-shape", "1,3,4,4", "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert message in line and f"{module}.py" in line, line
    assert not out.exists()


class _FakeEdge:
    """A loopback HTTP server that answers every GET with ``body`` (HTTP ``status``), optionally one byte every
    ``trickle_s``."""

    def __init__(self, body: bytes, trickle_s: float | None = None, status: int = 200) -> None:
        import http.server

        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                for index in range(len(fake.body)):
                    if fake.trickle_s is not None:
                        time.sleep(fake.trickle_s)
                    try:
                        self.wfile.write(fake.body[index : index + 1])
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args: object) -> None:
                pass

        self.body, self.trickle_s, self.status = body, trickle_s, status
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1,2,3]", "should be a valid dictionary"),
        (b'{"models": null}', "models"),
        (b'{"models": {"nin": {"num_units": "9", "weights_sha256": 1}}}', "models.nin"),
        (b'{"models": {}, "models": {}}', "given twice"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_remote_answer_of_another_shape_is_a_clean_error(body: bytes, message: str) -> None:
    with _FakeEdge(body) as url:
        result = runner.invoke(
            app, ["device", "run", "--model", "nin", "--split", "3", "--edge", url], env={"NOMASPLIT_TOKEN": TOKEN}
        )
    assert result.exit_code == 1, result.output
    line = _one_error_line(result)
    assert "bad_answer" in line and message in line, line


def test_an_error_answer_nested_deep_is_a_clean_edge_error() -> None:
    """An error answer is read with the input rules too: 100,000 nested lists are the edge's failure (exit 1),
    not a RecursionError taken for the user's input."""
    with _FakeEdge(b"[" * 100_000 + b"]" * 100_000, status=500) as url:
        result = runner.invoke(
            app, ["device", "run", "--model", "nin", "--split", "3", "--edge", url], env={"NOMASPLIT_TOKEN": TOKEN}
        )
    assert result.exit_code == 1, result.output
    line = _one_error_line(result)
    assert "edge answered 500 error: [[[" in line and "nests" not in line, line


def test_a_trickling_edge_meets_the_overall_deadline() -> None:
    body = json.dumps({"models": {}}).encode() + b" " * 200
    with _FakeEdge(body, trickle_s=0.02) as url, EdgeClient(url, TOKEN, timeout_s=0.5) as client:
        started = time.perf_counter()
        with pytest.raises(EdgeError) as info:
            client.models()  # 200 bytes at 50 bytes/s: 4 s without the deadline
        assert info.value.code == "deadline" and time.perf_counter() - started < 2.0


class _HeaderTrickler:
    """A loopback socket server that reads a request, then sends a valid ``/v1/models`` answer one byte every
    ``pause_s``, status line and headers included: about 100 bytes, 30 s at 0.3 s a byte. httpx's timeouts bound
    each read, so only an overall deadline cuts it off."""

    ANSWER = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: trickle-trickle-trickle\r\n"
        b'Content-Length: 13\r\n\r\n{"models":{}}'
    )

    def __init__(self, pause_s: float = 0.3) -> None:
        self.pause_s = pause_s
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            self.accepted += 1
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            for byte in self.ANSWER:
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up
                time.sleep(self.pause_s)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.listener.close()


@pytest.mark.parametrize("request_kind", ["models", "infer"])
def test_an_edge_that_trickles_its_headers_meets_the_overall_deadline(request_kind: str) -> None:
    """Status line and headers one byte per 0.3 s (30 s in all): every wait of the request ends by the deadline."""
    with _HeaderTrickler() as url, EdgeClient(url, TOKEN, timeout_s=1.0) as client:
        started = time.perf_counter()
        with pytest.raises(EdgeError) as info:
            if request_kind == "models":
                client.models()
            else:
                client.infer("nin", 3, torch.zeros(1, 4))
        elapsed_s = time.perf_counter() - started
    assert info.value.code == "deadline", info.value
    assert "within the overall deadline of 1 s" in str(info.value)
    assert 0.9 <= elapsed_s < 3.0, elapsed_s  # the deadline, not one read's timeout nor the 30 s trickle


def test_device_run_gives_up_on_trickling_headers_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI: exit 1 (an edge that answers badly), one ``error:`` line naming the deadline, no traceback."""
    import nomasplit.runtime.client as client_module

    monkeypatch.setattr(client_module, "DEFAULT_TIMEOUT_S", 1.0)
    with _HeaderTrickler() as url:
        started = time.perf_counter()
        result = runner.invoke(
            app, ["device", "run", "--model", "nin", "--split", "3", "--edge", url], env={"NOMASPLIT_TOKEN": TOKEN}
        )
        elapsed_s = time.perf_counter() - started
    assert result.exit_code == 1, result.output
    line = _one_error_line(result)
    assert "deadline" in line and "GET /v1/models" in line, line
    assert elapsed_s < 15.0, elapsed_s  # the trickle alone lasts 30 s


@pytest.mark.parametrize("token", ["tökén-0123456789abcdef", "token-0123456789\x07abcdef"])
def test_a_token_of_other_characters_is_refused(token: str) -> None:
    result = runner.invoke(
        app,
        ["device", "run", "--model", "nin", "--split", "3", "--edge", "http://127.0.0.1:9"],
        env={"NOMASPLIT_TOKEN": token},
    )
    assert result.exit_code == 2
    assert "printable ASCII" in _one_error_line(result)


# --- issue 28: degenerate but in-range numbers --------------------------------------------------------------------

#: Algorithms that divide by a downlink rate of exactly 0 (every downlink gain 0, inside the documented 0..1e3).
ZERO_DOWNLINK_ALGORITHMS = ("dnn-surgery", "ecc-noma", "ecc-oma", "ligd", "ligd-peruser", "neurosurgeon")


@pytest.fixture(scope="module")
def zero_downlink_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = random_scenario(0, num_users=4)
    gain = np.zeros((scenario.num_aps, scenario.num_users, scenario.num_subchannels))
    return save(tmp_path_factory.mktemp("degenerate") / "zero-downlink.json", scenario.replace(downlink_gain=gain))


@pytest.mark.parametrize("algorithm", ["device-only", "edge-only", "exact", "gd-paper", "ligd-paper"])
def test_a_zero_downlink_gain_is_no_traceback(zero_downlink_scenario: Path, tmp_path: Path, algorithm: str) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(zero_downlink_scenario), "-a", algorithm, "--out", str(out)])
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output
    if result.exit_code:
        assert "ZeroDivisionError" not in _one_error_line(result)


@pytest.mark.parametrize("algorithm", ZERO_DOWNLINK_ALGORITHMS)
def test_a_zero_downlink_gain_keeps_users_on_the_device(
    zero_downlink_scenario: Path, tmp_path: Path, algorithm: str
) -> None:
    """Every downlink gain 0: no user can get its result back, so every user stays on the device (exit 0)."""
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["solve", str(zero_downlink_scenario), "-a", algorithm, "--out", str(out)])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text(encoding="utf-8"))
    assert all(user["uplink_subchannel"] is None for user in plan["users"])  # nobody offloads


@pytest.mark.parametrize("direction", ["uplink_gain", "downlink_gain"])
@pytest.mark.parametrize("algorithm", ["exact", "dnn-surgery", "ligd"])
def test_a_direction_without_gain_leaves_every_user_on_the_device(algorithm: str, direction: str) -> None:
    """A gain of 0 in one direction (in range): no finite offloading cost, so the plan is all Device-Only and its
    certified bound equals its objective (the bound is exact there)."""
    scenario = random_scenario(0, num_users=4)
    shape = (scenario.num_aps, scenario.num_users, scenario.num_subchannels)
    scenario = scenario.replace(**{direction: np.zeros(shape)})
    plan = solve(scenario, algorithm)
    assert plan.solver is not None and plan.solver.success
    assert all(user.uplink_subchannel is None for user in plan.users)
    assert plan.solver.bound == pytest.approx(plan.solver.objective, rel=1e-12)


# --- issue 28: tensor files at the input boundary -----------------------------------------------------------------

#: Device-Only on nin (F = 9): the whole model runs here, no edge needed.
NIN_DEVICE_ONLY = ["device", "run", "--model", "nin", "--split", "9"]


def _nin_input() -> np.ndarray:
    """A valid input of nin: [1, 3, 32, 32] float32 (12,288 bytes)."""
    return np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)


def _safetensors_bytes(path: Path, header: dict[str, Any], data: bytes) -> Path:
    """A safetensors file written byte by byte: the header's length (8 bytes, little-endian), the JSON header,
    the data."""
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


def _nin_weights() -> dict[str, torch.Tensor]:
    from nomasplit import zoo

    return {key: value.contiguous() for key, value in zoo.build_model("nin", seed=3).state_dict().items()}


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_a_valid_input_tensor_passes_the_boundary(tmp_path: Path, suffix: str) -> None:
    from safetensors.torch import save_file

    path = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(path, _nin_input()[0])  # without the batch dimension
    else:
        save_file({"input": torch.from_numpy(_nin_input())}, str(path))
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 0, result.output
    assert "matches the full local model" in result.output


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_an_input_tensor_past_its_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """A valid nin input (12 KiB) against an input-tensor limit of 4 KiB: refused on its size, with the limit's
    name (the rule is the same at the real 64 MiB)."""
    from safetensors.torch import save_file

    import nomasplit.io as nio

    monkeypatch.setattr(nio, "FILE_LIMITS", nio.FILE_LIMITS._replace(max_input_tensor_bytes=4096))
    path = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(path, _nin_input())
    else:
        save_file({"input": torch.from_numpy(_nin_input())}, str(path))
    opened: list[str] = []
    real_open = Path.open

    def recording_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", recording_open)
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert f"--input {path}: the file ({path.stat().st_size:,} bytes) is larger than the limit of 4,096 bytes" in line
    assert "FILE_LIMITS.max_input_tensor_bytes" in line
    assert str(path) not in opened  # refused on its size alone


@pytest.mark.parametrize(
    ("option", "limit"), [("--input", "max_input_tensor_bytes"), ("--weights", "max_weights_bytes")]
)
def test_a_tensor_file_past_the_real_limit_is_refused_unread(tmp_path: Path, option: str, limit: str) -> None:
    """A sparse file just past the real limit (64 MiB for an input, 2 GiB for weights): refused in milliseconds."""
    from nomasplit.io import FILE_LIMITS

    path = tmp_path / f"large-{option[2:]}.safetensors"
    with path.open("wb") as handle:
        handle.truncate(getattr(FILE_LIMITS, limit) + 1)
    started = time.perf_counter()
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, option, str(path)])
    assert result.exit_code == 2 and time.perf_counter() - started < 5
    line = _one_error_line(result)
    assert f"is larger than the limit of {getattr(FILE_LIMITS, limit):,} bytes" in line and limit in line, line


@pytest.mark.parametrize("option", ["--input", "--weights"])
@pytest.mark.parametrize(
    ("offsets", "data_bytes", "message"),
    [
        ([0, 4 * 10**12], 16, "lies beyond the file's 16 bytes of data"),
        ([0, 16], 16, "is 4,000,000,000,000 bytes, its data_offsets [0, 16] span 16"),
    ],
)
def test_a_safetensors_header_declaring_a_huge_tensor_is_refused(
    tmp_path: Path, option: str, offsets: list[int], data_bytes: int, message: str
) -> None:
    """A 100-byte file whose header declares a [10^6, 10^6] float32 tensor (4 TB): refused from its header,
    before any tensor is allocated."""
    name = "input" if option == "--input" else next(iter(_nin_weights()))
    header = {name: {"dtype": "F32", "shape": [1_000_000, 1_000_000], "data_offsets": offsets}}
    path = _safetensors_bytes(tmp_path / "huge.safetensors", header, bytes(data_bytes))
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, option, str(path)])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert f"{option} {path}: tensor {name!r}" in line and message in line, line


def test_a_truncated_npy_is_refused_before_its_data_is_read(tmp_path: Path) -> None:
    full = tmp_path / "full.npy"
    np.save(full, _nin_input())
    path = tmp_path / "truncated.npy"
    path.write_bytes(full.read_bytes()[:-100])
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert "declares shape [1, 3, 32, 32] of float32 (12,288 bytes of data), the file holds 12,188: truncated" in line


def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad\nname.npy"
    path.write_bytes(b"\x93NUMPY")  # cut inside its magic string
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    assert repr(str(path)) in _one_error_line(result)


class _Opens:
    """Unpickled, it creates ``marker``: proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_an_object_npy_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pickle-ran"
    path = tmp_path / "objects.npy"
    np.save(path, np.array([_Opens(marker)] * 3, dtype=object), allow_pickle=True)
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    assert "dtype object holds Python objects" in _one_error_line(result)
    assert not marker.exists()
    for handle in np.load(path, allow_pickle=True):  # the payload is live: numpy with pickle allowed runs it
        handle.close()
    assert marker.exists()


@pytest.mark.parametrize(
    ("dtype", "message"), [("<U4", "dtype <U4 is not numeric"), ("?", "dtype bool is not numeric")]
)
def test_a_npy_of_another_kind_is_refused(tmp_path: Path, dtype: str, message: str) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1, 3, 32, 32), dtype=dtype))
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    assert message in _one_error_line(result)


def test_an_input_that_is_a_named_pipe_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "pipe.npy"
    os.mkfifo(path)  # opening it for reading would block until a writer comes
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    assert "is a named pipe, not a regular file" in _one_error_line(result)


def _edited_weights(edit: str) -> dict[str, torch.Tensor]:
    weights = _nin_weights()
    first = next(iter(weights))
    if edit == "renamed":
        weights["renamed.weight"] = weights.pop(first)
    elif edit == "shape":
        weights[first] = torch.zeros(2, 2)
    else:
        weights[first] = weights[first].double()
    return weights


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("renamed", "keys do not match the model (1 missing ['conv1+relu.0.weight'], 1 unexpected ['renamed.weight'])"),
        ("shape", "conv1+relu.0.weight has shape [2, 2], the model needs [192, 3, 5, 5]; nothing was loaded"),
        ("dtype", "conv1+relu.0.weight is float64, the model holds float32; nothing was loaded"),
    ],
)
def test_weights_of_other_keys_shapes_or_dtypes_are_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str, message: str
) -> None:
    import safetensors
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file(_edited_weights(edit), str(path))

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("a tensor was loaded before the header was checked")

    monkeypatch.setattr(safetensors, "safe_open", no_load)
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--weights", str(path)])
    assert result.exit_code == 2, result.output
    assert f"--weights {path}: {message}" in _one_error_line(result)


def test_weights_through_the_boundary_are_the_weights_saved(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from nomasplit import zoo
    from nomasplit.runtime.models import load_zoo_model, weights_fingerprint

    path = tmp_path / "weights.safetensors"
    save_file(_nin_weights(), str(path))
    assert load_zoo_model("nin", weights=path).weights_sha256 == weights_fingerprint(zoo.build_model("nin", seed=3))


def test_an_input_safetensors_of_several_tensors_without_input_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "two.safetensors"
    save_file({"a": torch.zeros(1, 3, 32, 32), "b": torch.zeros(1)}, str(path))
    result = runner.invoke(app, [*NIN_DEVICE_ONLY, "--input", str(path)])
    assert result.exit_code == 2, result.output
    assert "holds 2 tensors ('a', 'b'); name the tensor 'input' or keep only one" in _one_error_line(result)


def test_tensor_limits_are_documented() -> None:
    text = (Path(__file__).parents[1] / "docs" / "formats.md").read_text(encoding="utf-8")
    assert "| `max_input_tensor_bytes` | 67,108,864 |" in text and "| `max_weights_bytes` | 2,147,483,648 |" in text


# --- issue 28: the request deadline as an option, and host name lookups within it ----------------------------------

LOADTEST = ["edge", "loadtest", "--model", "nin", "--split", "3", "--duration-s", "0.5"]


def test_timeout_help_states_the_client_s_numbers() -> None:
    from nomasplit.cli.device_cmd import TIMEOUT_HELP
    from nomasplit.runtime.client import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S

    assert f"default {DEFAULT_TIMEOUT_S:g} = nomasplit.runtime.client.DEFAULT_TIMEOUT_S" in TIMEOUT_HELP
    assert f"at most {MAX_TIMEOUT_S:g}" in TIMEOUT_HELP


@pytest.mark.parametrize("command", ["device", "loadtest"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "86400.5", "1e308"])
def test_timeout_s_is_checked_up_front(command: str, value: str) -> None:
    head = [*NIN_DEVICE_ONLY[:4], "--split", "3"] if command == "device" else LOADTEST
    result = runner.invoke(
        app, [*head, "--edge", "http://127.0.0.1:9", "--timeout-s", value], env={"NOMASPLIT_TOKEN": TOKEN}
    )
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert "--timeout-s" in line and ("not a finite number" in line or "at most 86400" in line), line


@pytest.mark.parametrize("command", ["device", "loadtest"])
def test_timeout_s_gives_up_on_a_trickling_edge_with_one_line(command: str) -> None:
    """``--timeout-s 1`` against an edge that trickles its headers for 30 s: exit 1 within a few seconds."""
    head = [*NIN_DEVICE_ONLY[:4], "--split", "3"] if command == "device" else LOADTEST
    with _HeaderTrickler() as url:
        started = time.perf_counter()
        result = runner.invoke(app, [*head, "--edge", url, "--timeout-s", "1"], env={"NOMASPLIT_TOKEN": TOKEN})
        elapsed_s = time.perf_counter() - started
    assert result.exit_code == 1, result.output
    line = _one_error_line(result)
    assert "GET /v1/models" in line and "within the overall deadline of 1 s" in line, line
    assert elapsed_s < 15.0, elapsed_s  # model loading included; the trickle lasts 30 s, the default deadline 120 s


def test_load_test_clients_keep_the_deadline() -> None:
    with _HeaderTrickler() as url:
        started = time.perf_counter()
        result = run_load_test(
            url, TOKEN, model="nin", split=3, intermediate=torch.zeros(1, 4), reference=torch.zeros(1, 10),
            num_clients=2, duration_s=0.2, timeout_s=1.0,
        )  # fmt: skip
        elapsed_s = time.perf_counter() - started
    assert result.errors == {"no answer deadline": 2} and result.correct == 0
    assert elapsed_s < 4.0, elapsed_s


@pytest.fixture
def slow_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """``socket.getaddrinfo`` that never answers for ``*.slow.test`` (until the test ends) and fails for
    ``*.missing.test``: a resolver that hangs, and a name that does not exist, offline."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".slow.test"):
            release.wait(60.0)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if str(host).endswith(".missing.test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


def test_a_host_name_lookup_that_hangs_meets_the_overall_deadline(slow_resolver: threading.Event) -> None:
    with EdgeClient("http://edge.slow.test:8000", TOKEN, timeout_s=1.0) as client:
        started = time.perf_counter()
        with pytest.raises(EdgeError) as info:
            client.health()
        elapsed_s = time.perf_counter() - started
    assert info.value.code == "deadline", info.value
    assert "within the overall deadline of 1 s" in str(info.value)
    assert 0.9 <= elapsed_s < 3.0, elapsed_s  # the deadline, not the resolver's 60 s


def test_device_run_gives_up_on_a_hanging_lookup_with_one_line(slow_resolver: threading.Event) -> None:
    started = time.perf_counter()
    result = runner.invoke(
        app,
        ["device", "run", "--model", "nin", "--split", "3", "--edge", "http://edge.slow.test:8000", "--timeout-s", "1"],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )
    assert result.exit_code == 1, result.output
    assert "within the overall deadline of 1 s" in _one_error_line(result)
    assert time.perf_counter() - started < 15.0  # model loading included; the resolver hangs 60 s


def test_a_name_that_does_not_resolve_is_unreachable(slow_resolver: threading.Event) -> None:
    with EdgeClient("http://edge.missing.test:8000", TOKEN, timeout_s=5.0) as client, pytest.raises(EdgeError) as info:
        client.health()
    assert info.value.code == "unreachable"
    assert "looking up the host name 'edge.missing.test'" in str(info.value)


def test_a_host_name_reaches_the_edge(edge: EdgeServerThread) -> None:
    """``localhost`` is looked up (and each of its addresses tried in turn within the deadline)."""
    _, port = _address(edge)
    with EdgeClient(f"http://localhost:{port}", TOKEN, timeout_s=10.0) as client:
        assert client.health() == {"status": "ok"}
