"""Packaging: the licence file exists and every data file the package reads at run time is in the wheel's globs."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nomasplit"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def package_data_globs() -> list[str]:
    return list(PYPROJECT["tool"]["setuptools"]["package-data"]["nomasplit"])


def test_licence_is_declared_and_present() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    for name in project["license-files"]:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert text.startswith("MIT License") and "nomasplit developers" in text


def test_every_package_data_glob_matches_a_file() -> None:
    for pattern in package_data_globs():
        assert list(PACKAGE.glob(pattern)), f"package-data glob {pattern!r} matches nothing under src/nomasplit"


def test_every_data_file_is_shipped() -> None:
    shipped = {path for pattern in package_data_globs() for path in PACKAGE.glob(pattern)}
    data_files = {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    missing = sorted(str(path.relative_to(PACKAGE)) for path in data_files - shipped)
    assert not missing, f"files under src/nomasplit that no package-data glob ships: {missing}"
