"""Put measurements into a scenario: per-unit latency tables and a measured ``lambda(r)``
(``nomasplit scenario apply-measurements``).

:func:`apply_measurements` returns a copy of a scenario in which

- every profile whose model has an edge measurement (:class:`LatencyMeasurement`) gets its one-unit
  latencies as ``edge_unit_latency_s`` (edge work = seconds x ``lambda(1)`` x ``c_min``, docs/model.md);
- every profile whose model has a device table gets it as ``device_unit_latency_s`` (replacing ``D(s)/c_i``);
- the compensation becomes a ``measured`` ``lambda(r)``: given, or fitted from the edge measurements
  (:func:`~nomasplit.measure.lambda_fit.pooled_compensation`).

Device tables come from a measurement of this host (its one-unit row), or from a file a user measured on a
phone: :class:`UnitLatencyTable` JSON, or CSV with a header ``unit,latency_s`` and one row per unit in order
(``unit`` is the unit's index 1..F or its name).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nomasplit.data.files import validate_as
from nomasplit.data.measurement import LatencyMeasurement, UnitLatencyTable
from nomasplit.data.scenario import MeasuredCompensation, Scenario
from nomasplit.errors import InputError
from nomasplit.io import read_json, read_text
from nomasplit.measure.lambda_fit import pooled_compensation


def load_measurement(path: str | Path) -> LatencyMeasurement:
    """Read a ``nomasplit profile --measure --units ... --timings FILE`` measurement."""
    return validate_as(LatencyMeasurement, read_json(path), str(path))


def _table_from_csv(path: Path, model: str | None) -> UnitLatencyTable:
    if model is None:
        raise InputError(f"{path}: a CSV table does not name its model; give it as MODEL=FILE.csv")
    rows = list(csv.reader(io.StringIO(read_text(path))))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows or [cell.strip() for cell in rows[0]] != ["unit", "latency_s"]:
        raise InputError(f"{path}: the first line must be the header 'unit,latency_s'")
    seconds = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise InputError(f"{path}: line {line} has {len(row)} fields, expected 2 (unit,latency_s)")
        try:
            seconds.append(float(row[1]))
        except ValueError:
            raise InputError(f"{path}: line {line}: latency_s {row[1]!r} is not a number") from None
    return validate_as(
        UnitLatencyTable, {"model": model, "unit_latency_s": seconds, "source": {"file": str(path)}}, str(path)
    )


def load_device_table(spec: str | Path) -> UnitLatencyTable:
    """A device's per-unit latency table from ``FILE`` or ``MODEL=FILE``.

    ``FILE`` is a measurement JSON (its one-unit row is used), a :class:`UnitLatencyTable` JSON, or (with
    ``MODEL=``) a CSV table. Raises :class:`InputError` naming the file and what is wrong.
    """
    text = str(spec)
    model, sep, file_text = text.partition("=")
    path = Path(file_text if sep else text)
    model_name = model if sep else None
    if not path.is_file():
        raise InputError(f"device table {path}: file not found")
    if path.suffix.lower() == ".csv":
        return _table_from_csv(path, model_name)
    data = read_json(path)
    if isinstance(data, dict) and data.get("kind") == "latency-measurement":
        measurement = validate_as(LatencyMeasurement, data, str(path))
        table = UnitLatencyTable(
            model=measurement.model,
            unit_latency_s=measurement.at_units(1).unit_latency_s,
            source={"file": str(path), "host": measurement.host, "units": 1},
        )
    else:
        table = validate_as(UnitLatencyTable, data, str(path))
    if model_name is not None and model_name != table.model:
        raise InputError(f"device table {path}: holds model {table.model!r}, named {model_name!r}")
    return table


def apply_measurements(
    scenario: Scenario,
    *,
    edge: Sequence[LatencyMeasurement] = (),
    device: Mapping[str, UnitLatencyTable] | None = None,
    compensation: MeasuredCompensation | None = None,
) -> Scenario:
    """The scenario with measured edge and device tables and a measured ``lambda(r)`` (see the module doc).

    An edge measurement of a model the scenario does not run still counts in the pooled ``lambda(r)``.

    Raises:
        InputError: a device table's model is not in the scenario, or a unit count differs from the profile's.
    """
    device = dict(device or {})
    names = [profile.model for profile in scenario.profiles]
    edge_by_model = {measurement.model: measurement for measurement in edge}
    for model in device:
        if model not in names:
            raise InputError(f"device table of model {model!r}: it is not among the scenario's profiles {names}")
    edge_tables: list[list[float] | None] = list(scenario.edge_unit_latency_s or [None] * len(names))
    device_tables: list[list[float] | None] = list(scenario.device_unit_latency_s or [None] * len(names))
    for index, profile in enumerate(scenario.profiles):
        if profile.model in edge_by_model:
            seconds = edge_by_model[profile.model].at_units(1).unit_latency_s
            if len(seconds) != profile.num_layers:
                raise InputError(
                    f"edge measurement of {profile.model!r} has {len(seconds)} units, the profile {profile.num_layers}"
                )
            edge_tables[index] = list(seconds)
        if profile.model in device:
            seconds = device[profile.model].unit_latency_s
            if len(seconds) != profile.num_layers:
                raise InputError(
                    f"device table of {profile.model!r} has {len(seconds)} units, the profile {profile.num_layers}"
                )
            device_tables[index] = list(seconds)
    if compensation is None and edge:
        compensation, _ = pooled_compensation(list(edge))
    changes: dict[str, Any] = {
        "edge_unit_latency_s": edge_tables if any(t is not None for t in edge_tables) else None,
        "device_unit_latency_s": device_tables if any(t is not None for t in device_tables) else None,
        "provenance": {
            **scenario.provenance,
            "measurements": {
                "edge_models": sorted(edge_by_model),
                "edge_tables_for": sorted(set(edge_by_model) & set(names)),
                "device_models": sorted(device),
                "compensation": "measured" if compensation is not None else scenario.compensation.kind,
            },
        },
    }
    if compensation is not None:
        changes["compensation"] = compensation
    return scenario.replace(**changes)
