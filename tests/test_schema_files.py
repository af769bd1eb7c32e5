"""The committed JSON Schemas (``docs/schemas/``) accept every file the project ships and every file it writes.

``test_schemas.py`` checks that the schemas are the ones the pydantic models generate; this file checks them
against real files, with an independent validator (``jsonschema``, draft 2020-12), so that a reader who validates
a file with the published schema gets the answer nomasplit's own loader gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data import UnitLatencyTable
from nomasplit.data.files import save
from nomasplit.data.schemas import SCHEMA_TYPES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs" / "schemas"
PACKAGE = ROOT / "src" / "nomasplit"

#: Shipped JSON files and the format each is in. A folder's every ``*.json`` must be listed under one format or
#: in NO_SCHEMA, so a file added later is either validated or declared to have no file-format schema.
SHIPPED_FORMATS = {
    "profile": sorted((PACKAGE / "zoo" / "profiles").glob("*.json")),
    "scenario": [PACKAGE / "examples" / "small-scenario.json"],
}
#: Shipped JSON files that are not one of the file formats, with what they are instead.
NO_SCHEMA = {
    "src/nomasplit/experiments/presets/calibrated.json": "a calibration settings file (CalibratedParameters)",
    "docs/reproduction/paper/report.json": "a reproduction report",
    "docs/reproduction/calibrated/report.json": "a reproduction report",
    **{
        f"docs/reproduction/starts/{path.name}": "a calibration start (CalibratedParameters)"
        for path in (ROOT / "docs" / "reproduction" / "starts").glob("*.json")
    },
}
SHIPPED_FOLDERS = [
    PACKAGE / "zoo" / "profiles",
    PACKAGE / "examples",
    PACKAGE / "experiments",
    ROOT / "docs" / "reproduction",
]


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid(name: str, path: Path) -> None:
    errors = sorted(validator(name).iter_errors(json.loads(path.read_text(encoding="utf-8"))), key=str)
    assert not errors, f"{path.name} against {name}.schema.json: {errors[0].message} at {list(errors[0].path)}"


def test_every_shipped_json_file_has_a_format_or_a_reason() -> None:
    listed = {path for paths in SHIPPED_FORMATS.values() for path in paths} | {ROOT / name for name in NO_SCHEMA}
    found = {path for folder in SHIPPED_FOLDERS for path in folder.rglob("*.json") if "results" not in path.parts}
    assert found - listed == set(), "shipped JSON files that neither a schema nor NO_SCHEMA covers"
    assert all(path.exists() for path in listed)
    assert len(SHIPPED_FORMATS["profile"]) >= 3


@pytest.mark.parametrize(
    ("name", "path"),
    [(name, path) for name, paths in SHIPPED_FORMATS.items() for path in paths],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_shipped_file_matches_its_schema(name: str, path: Path) -> None:
    assert_valid(name, path)


def test_a_schema_rejects_what_the_loader_rejects() -> None:
    """The check above can fail: an unknown key and a wrong type are schema errors too."""
    data = json.loads((PACKAGE / "examples" / "small-scenario.json").read_text(encoding="utf-8"))
    assert not list(validator("scenario").iter_errors(data))
    assert list(validator("scenario").iter_errors({**data, "unknown_key": 1}))
    assert list(validator("plan").iter_errors({"users": "not a list"}))


@pytest.mark.slow
def test_generated_files_match_their_schemas(tmp_path: Path) -> None:
    """Every format, as the commands write it: a scenario, a plan, an evaluation, profiles, a measurement, and a
    scenario with measured tables."""
    runner = CliRunner()

    def run(*args: str) -> None:
        result = runner.invoke(app, [str(arg) for arg in args])
        assert result.exit_code == 0, result.output

    small = PACKAGE / "examples" / "small.yaml"
    run("scenario", "generate", small, "--out", tmp_path / "scenario.json", "--seed", "3")
    run("solve", tmp_path / "scenario.json", "--algorithm", "ligd", "--out", tmp_path / "plan.json", "--seed", "0")
    run("evaluate", tmp_path / "scenario.json", tmp_path / "plan.json", "--out", tmp_path / "evaluation.json")
    run("profile", "nin", "--out", tmp_path / "profile.json")
    run("profile", "nin", "--measure", "--units", "1", "--warmup", "0", "--repeats", "1",
        "--timings", tmp_path / "measurement.json", "--out", tmp_path / "measured-profile.json")  # fmt: skip
    run("scenario", "apply-measurements", tmp_path / "scenario.json", "--edge", tmp_path / "measurement.json",
        "--out", tmp_path / "measured-scenario.json")  # fmt: skip
    table = UnitLatencyTable(model="nin", unit_latency_s=[1e-3] * 9, source={"device": "test"})
    save(tmp_path / "table.json", table)
    written = {
        "scenario": ["scenario.json", "measured-scenario.json"],
        "plan": ["plan.json"],
        "evaluation": ["evaluation.json"],
        "profile": ["profile.json", "measured-profile.json"],
        "measurement": ["measurement.json"],
        "unit-latency-table": ["table.json"],
    }
    assert set(written) == set(SCHEMA_TYPES), "a new format needs a generated file here"
    for name, files in written.items():
        for file in files:
            assert_valid(name, tmp_path / file)
