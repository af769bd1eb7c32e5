"""Measured per-unit latencies of a model on a host, at several compute-unit counts, and the fitted ``lambda(r)``.

Written by ``nomasplit profile MODEL --measure --units 1,2 --timings FILE``
(``nomasplit.measure.timing.measure_unit_latencies``) and read by ``nomasplit scenario apply-measurements`` to put
measured tables and a measured ``lambda`` into a scenario. A device table measured elsewhere (a phone) can be
supplied as :class:`UnitLatencyTable` JSON or CSV (``nomasplit.measure.apply.load_device_table``).
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nomasplit.data.scenario import MeasuredCompensation


def _check_seconds(name: str, values: list[float], count: int | None = None) -> None:
    if count is not None and len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries, expected {count} (one per unit)")
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must hold finite seconds >= 0")


class UnitTimings(BaseModel):
    """Timings of every unit with ``units`` compute units (torch intra-op threads)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    units: int = Field(ge=1, description="r: torch intra-op threads of the timed runs")
    unit_latency_s: list[float] = Field(
        description="[F] each unit's share of the median pass: unit_median_s scaled to sum to total_latency_s"
    )
    unit_median_s: list[float] = Field(description="[F] median latency of each unit in the chained passes")
    unit_spread_s: list[float] = Field(description="[F] interquartile range of each unit's timed runs")
    total_latency_s: float = Field(gt=0, allow_inf_nan=False, description="median of a whole forward pass")
    total_spread_s: float = Field(ge=0, allow_inf_nan=False, description="interquartile range of those runs")

    @model_validator(mode="after")
    def _check(self) -> UnitTimings:
        _check_seconds("unit_latency_s", self.unit_latency_s)
        _check_seconds("unit_median_s", self.unit_median_s, len(self.unit_latency_s))
        _check_seconds("unit_spread_s", self.unit_spread_s, len(self.unit_latency_s))
        return self


class LatencyMeasurement(BaseModel):
    """Per-unit latencies of one model on one host with ``r`` compute units each, and ``lambda(r)`` fitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    kind: Literal["latency-measurement"] = "latency-measurement"
    model: str = Field(min_length=1)
    unit_names: list[str] = Field(min_length=1, description="[F] the units timed, in order")
    method: Literal["threads"] = Field(
        default="threads", description="r = torch.set_num_threads(r): intra-op parallelism of one forward pass"
    )
    warmup: int = Field(ge=0)
    repeats: int = Field(ge=1)
    timings: list[UnitTimings] = Field(min_length=1, description="one per r, r increasing, r = 1 included")
    compensation: MeasuredCompensation = Field(description="lambda(r) fitted from the whole-pass medians")
    host: dict[str, Any] = Field(default_factory=dict, description="platform, CPUs, load average, time")

    @model_validator(mode="after")
    def _check(self) -> LatencyMeasurement:
        units = [timing.units for timing in self.timings]
        if any(later <= earlier for earlier, later in itertools.pairwise(units)) or 1 not in units:
            raise ValueError(f"timings must have strictly increasing units including 1, got {units}")
        for timing in self.timings:
            if len(timing.unit_latency_s) != len(self.unit_names):
                raise ValueError(
                    f"timings with {timing.units} units has {len(timing.unit_latency_s)} unit latencies, "
                    f"expected {len(self.unit_names)} (one per unit)"
                )
        return self

    def at_units(self, units: int) -> UnitTimings:
        """The timings with ``units`` compute units."""
        for timing in self.timings:
            if timing.units == units:
                return timing
        raise KeyError(units)


class UnitLatencyTable(BaseModel):
    """A per-unit latency table measured on some device (one task, seconds): JSON a user can supply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, description="the profile's model name")
    unit_latency_s: list[float] = Field(min_length=1, description="[F] seconds of each unit")
    source: dict[str, Any] = Field(default_factory=dict, description="device, method, date")

    @model_validator(mode="after")
    def _check(self) -> UnitLatencyTable:
        _check_seconds("unit_latency_s", self.unit_latency_s)
        return self
