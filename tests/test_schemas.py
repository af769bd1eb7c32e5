"""The committed JSON Schemas are the ones the pydantic models generate, and they describe real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.schemas import SCHEMA_TYPES, schema_text

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"


@pytest.mark.parametrize("name", list(SCHEMA_TYPES))
def test_committed_schema_is_up_to_date(name: str) -> None:
    committed = (SCHEMA_DIR / f"{name}.schema.json").read_text()
    assert committed == schema_text(name), f"regenerate with: nomasplit schema --out docs/schemas ({name})"


def test_schema_command_prints_and_rejects_unknown(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["schema", "plan"])
    assert result.exit_code == 0 and '"uplink_subchannel"' in result.output
    result = runner.invoke(app, ["schema", "nonsense"])
    assert result.exit_code == 2 and "unknown format 'nonsense'" in result.output
    result = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.schema.json" for n in SCHEMA_TYPES)
