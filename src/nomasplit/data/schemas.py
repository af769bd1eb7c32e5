"""JSON Schemas of the file formats, generated from the pydantic models (``docs/schemas/*.schema.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nomasplit.data.measurement import LatencyMeasurement, UnitLatencyTable
from nomasplit.data.plan import Plan
from nomasplit.data.profile import ModelProfile
from nomasplit.data.result import EvaluationResult
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.io import write_atomic

#: File format name -> pydantic model.
SCHEMA_TYPES: dict[str, type[BaseModel]] = {
    "scenario": Scenario,
    "plan": Plan,
    "profile": ModelProfile,
    "evaluation": EvaluationResult,
    "measurement": LatencyMeasurement,
    "unit-latency-table": UnitLatencyTable,
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file format."""
    try:
        model = SCHEMA_TYPES[name]
    except KeyError:
        raise InputError(f"unknown format {name!r}; allowed: {', '.join(SCHEMA_TYPES)}") from None
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"nomasplit/{name}.schema.json"
    return schema


def schema_text(name: str) -> str:
    """The schema as stable, indented JSON text."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"


def write_schemas(folder: str | Path) -> list[Path]:
    """Write ``<name>.schema.json`` for every format into ``folder`` (created if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_atomic(folder / f"{name}.schema.json", schema_text(name)) for name in SCHEMA_TYPES]
