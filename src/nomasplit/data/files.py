"""Load and save the data types, turning validation failures into one clear :class:`InputError`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nomasplit.data.plan import Plan
from nomasplit.data.profile import ModelProfile
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.io import read_json, shown, write_json

ModelT = TypeVar("ModelT", bound=BaseModel)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One message naming each bad field (dotted path) and what is allowed; at most five fields."""
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(item) for item in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (not allowed)"
        elif error["type"] == "missing":
            message = "required field is missing"
        parts.append(f"{location}: {message}" if location else message)
    more = len(exc.errors()) - 5
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{source}: " + "; ".join(parts) + suffix


def validate_as(model: type[ModelT], data: Any, source: str) -> ModelT:
    """Validate ``data`` as ``model``; raise :class:`InputError` naming the fields on failure."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, source)) from None


def validate_strict(model: type[ModelT], data: Any, source: str) -> ModelT:
    """Like :func:`validate_as`, in pydantic's strict mode for a model that is not strict itself.

    The data goes through JSON, where strict mode still reads arrays as tuples, so no bool or text becomes a
    number (``num_seeds: true`` is an error, not 1). Used for files read into such models (reproduction
    settings).
    """
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: {exc} (only numbers, text, booleans, lists and mappings; no NaN)") from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, source)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario JSON file (``.json`` or ``.json.gz``)."""
    return validate_as(Scenario, read_json(path), shown(path))


def load_plan(path: str | Path) -> Plan:
    """Read a plan JSON file."""
    return validate_as(Plan, read_json(path), shown(path))


def load_profile(path: str | Path) -> ModelProfile:
    """Read a model profile JSON file."""
    return validate_as(ModelProfile, read_json(path), shown(path))


def save(path: str | Path, obj: BaseModel) -> Path:
    """Write a data object as JSON, atomically (``.gz`` paths are gzipped)."""
    return write_json(path, obj.model_dump(mode="json"), indent=None if str(path).endswith(".gz") else 1)
