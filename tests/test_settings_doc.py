"""The settings tables of docs/solvers.md are the ones the settings models generate (one source)."""

from __future__ import annotations

from pathlib import Path

from nomasplit.solvers import ALGORITHMS
from nomasplit.solvers.settings_doc import rewrite, settings_tables

SOLVERS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "solvers.md"


def test_the_committed_settings_tables_are_generated_from_the_models() -> None:
    text = SOLVERS_PAGE.read_text()
    assert rewrite(text) == text, "regenerate with: python -m nomasplit.solvers.settings_doc docs/solvers.md"


def test_every_setting_of_every_algorithm_is_in_the_tables() -> None:
    tables = settings_tables()
    for name, algorithm in ALGORITHMS.items():
        assert f"`{name}`" in tables
        for field_name, field in algorithm.settings_type.model_fields.items():
            assert f"| `{field_name}` |" in tables, (name, field_name)
            assert (field.description or "").split("|")[0][:40] in tables
