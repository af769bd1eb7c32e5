"""The README's commands and its Python example run as written (pymoo's "examples run as tests")."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_usage_commands_run_as_written(tmp_path: Path) -> None:
    usage = next(block for block in code_blocks("bash") if "nomasplit evaluate" in block)
    port = str(free_port())
    script = usage.replace("src/nomasplit/examples/", f"{ROOT}/src/nomasplit/examples/").replace("8765", port)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    measured = ("nin-timings.json", "small-measured.json", "plan-measured.json", "replay.json")
    for name in ("vgg16.json", "paper.json.gz", "small.json", "plan.json", "paper-plan.json", "result.json", *measured):
        assert (tmp_path / "out" / name).exists(), name
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]  # no stray files where it ran
    assert "every answer matches the full local model" in " ".join(result.stdout.split())
    assert "feasible" in result.stdout
    assert "result matches the full local model" in " ".join(result.stdout.split())


def test_python_example_runs() -> None:
    example = next(block for block in code_blocks("python") if "solve(" in block)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)  # the README's own example
    plan = namespace["plan"]
    assert plan.solver.success  # type: ignore[attr-defined]


def test_quick_start_is_what_ci_runs() -> None:
    """`.ci/run` installs exactly as the Quick start says and runs the README's full test command."""
    quick_start = next(block for block in code_blocks("bash") if "nomasplit reproduce --quick" in block)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installs = [line.split("#")[0].strip() for line in quick_start.splitlines() if line.startswith("pip install")]
    assert installs == ["pip install torch==2.13.0", 'pip install -e ".[dev]"']
    for command in installs:
        assert command.replace("pip install", "pip install -q") in ci, command
    tests = next(block for block in code_blocks("bash") if "pytest" in block)
    assert tests.strip() == "python -m pytest -q" and ci.rstrip().endswith(tests.strip())
    assert '`python -m pytest -q -m "not slow"`' in README


def test_readme_is_a_front_door() -> None:
    """Short, and free of history: no commit hashes, no timings of earlier versions (those are in CHANGELOG.md)."""
    assert len(README.splitlines()) <= 150
    assert not re.findall(r"`[0-9a-f]{7,40}`", README), "commit hashes belong in CHANGELOG.md or git"
    assert not re.search(r"\b(earlier|previous) commits?\b", README)
    for link in re.findall(r"\]\(([^)#]+)", README):
        assert link.startswith("http") or (ROOT / link).exists(), link
