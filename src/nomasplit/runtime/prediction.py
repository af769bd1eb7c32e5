"""The system model's latency for one user on this host, to set against a measured split inference.

Spec ``system-model.md`` eq. (12) with one task (``k = 1``)::

    T(s) = D(s) / c_dev + Edge(s) / c_edge + [s < F] * ( w(s) / R_up + m / R_dn )

``D(s)`` and ``Edge(s) = Z - D(s)`` are the profile's FLOPs, ``w(s)`` and ``m`` its sizes in bits, ``R_up``
and ``R_dn`` the emulated rates. Device and edge are the same host here, so ``c_dev = c_edge = c``,
measured per model as ``c = Z / t_full``: the model's FLOPs over the median warm latency of one full
forward pass on this host (:func:`measure_host_speed`). That keeps the model's form (latency proportional to FLOPs)
and makes ``T(0)`` and ``T(F)`` right by construction; what is left between them is the model's assumption
that every FLOP costs the same.

A second prediction (:func:`predict_latency_from_units`) replaces ``D(s)/c`` and ``Edge(s)/c`` by sums of
the units' own measured latencies: its error is what the runtime adds (HTTP, copies, pacing), not the FLOP
model's."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from nomasplit.data import ModelProfile
from nomasplit.errors import InputError
from nomasplit.runtime.models import RunnableModel


class HostSpeed(BaseModel):
    """Compute speed of this host for one model, from warm timed runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    flops_per_s: float = Field(gt=0, description="c = Z / full_latency_s")
    full_latency_s: float = Field(gt=0, description="median latency of one full forward pass")
    unit_latency_s: list[float] = Field(description="[F] median latency of each unit on its own input")
    repeats: int
    warmup: int


class PredictedLatency(BaseModel):
    """Predicted latency of one split and its parts [s]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: int
    device_s: float
    edge_s: float
    uplink_s: float
    downlink_s: float
    total_s: float


def _median_time_s(run: object, repeats: int, warmup: int) -> float:
    assert callable(run)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_host_speed(
    model: RunnableModel, profile: ModelProfile, inputs: torch.Tensor, *, repeats: int = 7, warmup: int = 2
) -> HostSpeed:
    """Measure ``c = Z / t_full`` and each unit's latency on this host (warm-up runs first, then medians).

    Args:
        model: the model to time.
        profile: its profile (for ``Z``); must have as many units as the model.
        inputs: an input of the model's shape.
        repeats: timed runs per measurement (>= 1).
        warmup: untimed runs before them.
    """
    if profile.num_layers != model.num_units:
        raise InputError(f"profile of {model.name} has {profile.num_layers} units, the model {model.num_units}")
    if repeats < 1 or warmup < 0:
        raise InputError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    with torch.inference_mode():
        full_latency_s = _median_time_s(lambda: model.module(inputs), repeats, warmup)
        unit_latency_s: list[float] = []
        if model.graph is not None:  # a DAG model: medians of its units over chained passes
            unit_latency_s = model.graph.unit_latencies_s(inputs, warmup, repeats)
        else:
            value = inputs
            for unit in model.head(model.num_units):
                unit_input = value
                unit_latency_s.append(_median_time_s(lambda unit=unit, x=unit_input: unit(x), repeats, warmup))
                value = unit(unit_input)
    return HostSpeed(
        model=model.name,
        flops_per_s=profile.total_flops / full_latency_s,
        full_latency_s=full_latency_s,
        unit_latency_s=unit_latency_s,
        repeats=repeats,
        warmup=warmup,
    )


def _transfer_s(bits: float, rate_bps: float | None) -> float:
    return 0.0 if rate_bps is None else bits / rate_bps


def predict_latency(
    profile: ModelProfile,
    split: int,
    *,
    device_flops_per_s: float,
    edge_flops_per_s: float,
    uplink_bps: float | None,
    downlink_bps: float | None,
) -> PredictedLatency:
    """Eq. (12) for one task: ``D(s)/c_dev + Edge(s)/c_edge + [s < F] (w(s)/R_up + m/R_dn)``.

    A rate of ``None`` is an unshaped link, taken as infinitely fast (its term is 0).
    """
    if not 0 <= split <= profile.num_layers:
        raise InputError(f"split {split} is out of range: {profile.model} has split points 0..{profile.num_layers}")
    cumulative = profile.cumulative_flops()  # [F+1]
    device_s = float(cumulative[split]) / device_flops_per_s
    edge_s = float(cumulative[-1] - cumulative[split]) / edge_flops_per_s
    return _with_transfers(profile, split, device_s, edge_s, uplink_bps, downlink_bps)


def predict_latency_from_units(
    profile: ModelProfile,
    split: int,
    unit_latency_s: Sequence[float],
    *,
    uplink_bps: float | None,
    downlink_bps: float | None,
) -> PredictedLatency:
    """Like :func:`predict_latency`, with the units' measured latencies in place of ``FLOPs / c``."""
    if len(unit_latency_s) != profile.num_layers:
        raise InputError(f"{len(unit_latency_s)} unit latencies for {profile.num_layers} units")
    if not 0 <= split <= profile.num_layers:
        raise InputError(f"split {split} is out of range: {profile.model} has split points 0..{profile.num_layers}")
    device_s = float(sum(unit_latency_s[:split]))
    edge_s = float(sum(unit_latency_s[split:]))
    return _with_transfers(profile, split, device_s, edge_s, uplink_bps, downlink_bps)


def _with_transfers(
    profile: ModelProfile,
    split: int,
    device_s: float,
    edge_s: float,
    uplink_bps: float | None,
    downlink_bps: float | None,
) -> PredictedLatency:
    """Add ``w(s)/R`` and ``m/Phi`` (none for Device-Only) to the compute times: eq. (12)."""
    offloads = split < profile.num_layers
    uplink_s = _transfer_s(float(profile.upload_bits()[split]), uplink_bps) if offloads else 0.0
    downlink_s = _transfer_s(float(profile.result_bits), downlink_bps) if offloads else 0.0
    return PredictedLatency(
        split=split,
        device_s=device_s,
        edge_s=edge_s,
        uplink_s=uplink_s,
        downlink_s=downlink_s,
        total_s=device_s + edge_s + uplink_s + downlink_s,
    )


def predict_latency_from_tables(
    profile: ModelProfile,
    split: int,
    *,
    device_unit_latency_s: Sequence[float],
    edge_unit_latency_s: Sequence[float],
    edge_speedup: float = 1.0,
    uplink_bps: float | None,
    downlink_bps: float | None,
) -> PredictedLatency:
    """Eq. (12) with measured tables, as the system model computes it (docs/model.md, "Measured tables").

    ``T(s) = sum_{d<=s} t_dev(d) + sum_{d>s} t_edge(d) lambda(1)/lambda(r) + [s < F] (w(s)/R_up + m/R_dn)``
    with ``edge_speedup = lambda(r)/lambda(1)`` (1 for the units the table was measured with).
    """
    for name, table in (("device", device_unit_latency_s), ("edge", edge_unit_latency_s)):
        if len(table) != profile.num_layers:
            raise InputError(f"{len(table)} {name} unit latencies for {profile.num_layers} units")
    if not 0 <= split <= profile.num_layers:
        raise InputError(f"split {split} is out of range: {profile.model} has split points 0..{profile.num_layers}")
    if not edge_speedup > 0:
        raise InputError(f"edge_speedup must be > 0, got {edge_speedup}")
    device_s = float(sum(device_unit_latency_s[:split]))
    edge_s = float(sum(edge_unit_latency_s[split:])) / edge_speedup
    return _with_transfers(profile, split, device_s, edge_s, uplink_bps, downlink_bps)


#: The stages the system model predicts, with the runtime report's field for each.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("device compute", "device_s", "device_compute_s"),
    ("uplink", "uplink_s", "uplink_s"),
    ("edge compute", "edge_s", "edge_compute_s"),
    ("downlink", "downlink_s", "downlink_s"),
)


class StageComparison(BaseModel):
    """Predicted against measured time of one stage [s]; error = (predicted - measured) / measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    predicted_s: float
    measured_s: float
    error: float | None = Field(description="relative error; None when the stage took no time in either")


def compare_stages(predicted: PredictedLatency, measured: Any, *, include_total: bool = True) -> list[StageComparison]:
    """Each stage of eq. (12) predicted against a :class:`~nomasplit.runtime.device.SplitRunReport`.

    The measured edge queue and "other" (HTTP, decoding, loopback) are outside eq. (12); they count in the
    measured total only.
    """
    rows = []
    pairs = [(name, getattr(predicted, mine), float(getattr(measured, theirs))) for name, mine, theirs in STAGES]
    if include_total:
        pairs.append(("total", predicted.total_s, float(measured.total_s)))
    for name, predicted_s, measured_s in pairs:
        error = None
        if measured_s > 0:
            error = (predicted_s - measured_s) / measured_s
        rows.append(StageComparison(stage=name, predicted_s=predicted_s, measured_s=measured_s, error=error))
    return rows
