"""SIGTERM and Ctrl-C stop ``reproduce`` and ``calibrate`` cleanly (issue 28): exit 143 or 130 with one word on
stderr (no traceback from the main process or a worker), every worker process and helper gone by pid once the
command has exited, no partial file, and the store resumable: the same command goes on from the finished tasks.

Each case runs the real command in its own process group with a small configuration, signals it once a first
result is on disk, and waits by polling (generous limits, for a loaded 2-core machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]

runner = CliRunner()

#: A reproduction of 8 tasks: one sweep point of 2 users, 4 seeds, Device-Only (milliseconds) and Li-GD (about a
#: second each), so that the run is still working when its first result is on disk, and the rest is quick.
SMALL_REPRODUCTION = {
    "base": {"num_aps": 1, "num_subchannels": 2, "model": "nin"},
    "sweeps": [
        {
            "name": "users",
            "parameter": "users_per_ap",
            "values": [2],
            "methods": ["device-only", "ligd"],
            "label": "users per AP",
        }
    ],
    "figures": [
        {
            "key": "6",
            "title": "signal test",
            "sweep": "users",
            "measure": "latency",
            "baseline": "device-only",
            "methods": ["ligd"],
        }
    ],
    "num_seeds": 4,
}

#: calibrate over one parameter with one seed: 3 evaluations of 15 tasks (the ECC methods take seconds each).
SMALL_CALIBRATION = ["--seeds", "1", "--rounds", "1", "--workers", "2", "--only", "latency_weight"]

#: Limits of the polls [s]: long enough for a loaded machine, never waited out when things work.
START_LIMIT_S = 180.0
EXIT_LIMIT_S = 120.0
GONE_LIMIT_S = 10.0


# --- processes by pid ------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time in clock ticks) of ``pid``, or None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, pgrp, ...; starttime is field 22
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every living descendant of ``root`` (children, their children, ...): pid -> start time."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[0] != "Z":
            parents[int(entry.name)] = (stat[1], stat[3])
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _group_members(group: int) -> list[int]:
    """Living processes of process group ``group`` (a worker re-parented to init keeps its group)."""
    members = []
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat[2] == group and stat[0] != "Z":
            members.append(int(entry.name))
    return members


def _still_running(processes: dict[int, int]) -> list[int]:
    """Those of ``processes`` (pid -> start time) that still run: same pid and start time, not a zombie."""
    running = []
    for pid, started in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[3] == started and stat[0] != "Z":
            running.append(pid)
    return running


def _default_sigint() -> None:
    # As a command in a terminal has it: a suite started in the background (`cmd &` without job control) runs with
    # SIGINT ignored, which children inherit, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def _no_leftovers(processes: dict[int, int]):
    """Kill (by pid) any of ``processes`` still running when the block ends, so a failing test leaves no orphan."""
    try:
        yield
    finally:
        for pid in _still_running(processes):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _stored(store: Path) -> dict[Path, tuple[int, int]]:
    """The finished results in a store: path -> (inode, modification time), to see whether one is rewritten."""
    found = {}
    for path in store.glob("results/*/*.json"):
        with contextlib.suppress(OSError):
            info = path.stat()
            found[path] = (info.st_ino, info.st_mtime_ns)
    return found


def _interrupt(command: list[str], store: Path, signum: int, *, to_group: bool) -> subprocess.CompletedProcess[str]:
    """Run ``nomasplit COMMAND`` in a process group of its own; once a result more than the store held is on disk,
    send ``signum`` (to the whole group, as Ctrl-C in a terminal, or to the main process only, as ``kill PID``);
    wait for the exit; assert that every process it started is gone by then, by pid and by group."""
    before = set(_stored(store))
    process = subprocess.Popen(
        [sys.executable, "-c", "from nomasplit.cli.main import main; main()", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    started: dict[int, int] = {}
    with _no_leftovers(started):
        try:
            limit = time.monotonic() + START_LIMIT_S
            while not set(_stored(store)) - before and process.poll() is None and time.monotonic() < limit:
                started.update(_descendants(process.pid))
                time.sleep(0.05)
            started.update(_descendants(process.pid))
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert len(started) >= 2, f"expected the worker processes among the children, saw pids {sorted(started)}"
            if to_group:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=EXIT_LIMIT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        limit = time.monotonic() + GONE_LIMIT_S
        while (_still_running(started) or _group_members(process.pid)) and time.monotonic() < limit:
            time.sleep(0.1)
        assert not _still_running(started), f"processes {_still_running(started)} outlived the command"
        assert not _group_members(process.pid), "a process of the command's group outlived it"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _assert_clean_stop(result: subprocess.CompletedProcess[str], code: int, word: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.stderr.strip() == word, result.stderr  # one word, nothing from the workers


def _assert_results_whole(store: Path) -> None:
    stored = list(store.glob("results/*/*.json"))
    assert stored and all(json.loads(path.read_text(encoding="utf-8"))["row"] for path in stored)
    assert not list(store.rglob("*.tmp")), "a partial file was left"


# --- reproduce -------------------------------------------------------------------------------------------------


def _reproduce_command(tmp_path: Path) -> tuple[list[str], Path]:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SMALL_REPRODUCTION), encoding="utf-8")
    out = tmp_path / "out"
    return ["reproduce", "--settings", str(settings), "--out", str(out), "--no-progress", "--no-compare"], out


@pytest.mark.parametrize(
    ("signum", "to_group", "code", "word"),
    [
        pytest.param(signal.SIGINT, True, 130, "interrupted", id="ctrl-c"),
        pytest.param(signal.SIGTERM, False, 143, "terminated", id="sigterm"),
    ],
)
def test_a_signal_stops_reproduce_cleanly_and_the_run_resumes(
    tmp_path: Path, signum: int, to_group: bool, code: int, word: str
) -> None:
    command, out = _reproduce_command(tmp_path)
    result = _interrupt([*command, "--workers", "2"], out, signum, to_group=to_group)
    _assert_clean_stop(result, code, word)
    _assert_results_whole(out)
    assert not (out / "report.md").exists()
    finished = _stored(out)
    assert len(finished) < 8, "every task had finished: the signal came too late to test anything"
    rerun = runner.invoke(app, [*command, "--workers", "0"])
    assert rerun.exit_code == 0, rerun.output
    assert f"8 tasks: {len(finished)} found on disk, {8 - len(finished)} computed, 0 failed" in rerun.output
    assert all(_stored(out)[path] == state for path, state in finished.items()), "a finished task was redone"
    assert (out / "report.md").exists()


# --- calibrate -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "to_group", "code", "word"),
    [
        pytest.param(signal.SIGINT, True, 130, "interrupted", id="ctrl-c"),
        pytest.param(signal.SIGTERM, False, 143, "terminated", id="sigterm"),
    ],
)
def test_a_signal_stops_calibrate_cleanly_and_the_store_resumes(
    tmp_path: Path, signum: int, to_group: bool, code: int, word: str
) -> None:
    """A second run, stopped the same way once it has added a result, finds the first run's results and goes on
    from them (none is computed again); the fitted settings file is written by neither."""
    store, fit = tmp_path / "store", tmp_path / "fit.json"
    command = ["calibrate", "--out", str(fit), "--store", str(store), *SMALL_CALIBRATION]
    first = _interrupt(command, store, signum, to_group=to_group)
    _assert_clean_stop(first, code, word)
    _assert_results_whole(store)
    finished = _stored(store)
    second = _interrupt(command, store, signum, to_group=to_group)
    _assert_clean_stop(second, code, word)
    _assert_results_whole(store)
    now = _stored(store)
    assert len(now) > len(finished), "the second run added no result"
    assert all(now[path] == state for path, state in finished.items()), "a finished evaluation task was redone"
    assert not fit.exists()
