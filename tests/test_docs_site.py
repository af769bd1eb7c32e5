"""The documentation site builds with warnings as errors, its API pages carry the docstrings, and the tutorial
notebook runs from top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_docs_site_builds_strict_with_the_api_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    solvers = visible_text((site / "api" / "solvers" / "index.html").read_text(encoding="utf-8"))
    assert "nomasplit.solvers.solve" in solvers and "Run a registered algorithm on a scenario" in solvers
    pages = {"generate": "generate_scenario", "model": "evaluate", "measure": "profile_model"}
    pages |= {"experiments": "run_sweep", "data": "load_scenario"}
    for page, name in pages.items():
        assert name in visible_text((site / "api" / page / "index.html").read_text(encoding="utf-8")), page
    for page in ("model", "solvers", "reproduction", "runtime"):  # the Markdown pages are in the site too
        assert (site / page / "index.html").exists(), page


@pytest.mark.slow
def test_tutorial_notebook_runs() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "docs" / "tutorial.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit it cleared"
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    ).execute()
    text = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "feasible True" in text
    for method in ("device-only", "edge-only", "neurosurgeon", "ligd"):
        assert re.search(rf"^{method}\s+mean latency\s+[\d.]+ ms", text, flags=re.M), method
    assert "Li-GD's latency speedup over Device-Only" in text
