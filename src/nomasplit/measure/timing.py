"""Timing on this host: one unit's median latency, and a chain's per-unit latencies with ``r`` compute units.

``r`` compute units are ``r`` torch intra-op threads (:func:`measure_unit_latencies`); the whole-pass medians
give the edge server's measured ``lambda(r)`` (:mod:`nomasplit.measure.lambda_fit`).
"""

from __future__ import annotations

import datetime
import itertools
import math
import os
import platform
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from nomasplit.data.measurement import LatencyMeasurement, UnitTimings
from nomasplit.errors import InputError
from nomasplit.measure.chain import unit_names
from nomasplit.measure.lambda_fit import fit_measured_compensation
from nomasplit.measure.options import (
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    check_count,
    in_dtype,
    parse_dtype,
    profiling_input,
    validate_input_shape,
)

#: Sleep before each timed pass of :func:`measure_unit_latencies` [s] (device and edge wait between passes).
DEFAULT_IDLE_S = 0.02


def median_latency_s(unit: nn.Module, unit_input: torch.Tensor, warmup: int, repeats: int) -> float:
    """Median time of ``unit(unit_input)`` over ``repeats`` runs after ``warmup`` untimed runs [s]."""
    for _ in range(warmup):
        unit(unit_input)
    durations_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        unit(unit_input)
        durations_s.append(time.perf_counter() - start)
    return float(statistics.median(durations_s))


def _interquartile_range(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return float(quartiles[2] - quartiles[0])


def parse_units(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``: compute-unit counts, strictly increasing, including 1, at most the CPUs here.

    Raises:
        InputError: not a list of integers, not increasing, 1 missing, or more units than this host has CPUs.
    """
    try:
        units = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"--units {text!r} must be comma-separated integers, e.g. 1,2,4") from None
    if not units or any(later <= earlier for earlier, later in itertools.pairwise(units)):
        raise InputError(f"--units {text!r} must be strictly increasing, e.g. 1,2,4")
    if units[0] != 1:
        raise InputError(f"--units {text!r} must include 1 (lambda(1) = 1 anchors the fit)")
    cpus = os.cpu_count() or 1
    too_many = [value for value in units if value > cpus]
    if too_many:
        raise InputError(
            f"--units {too_many[0]} exceeds the {cpus} CPUs of this host: threads beyond the cores only share "
            f"them; measure {','.join(str(value) for value in units if value <= cpus)} here, larger counts on a "
            "bigger host"
        )
    return units


def measure_unit_latencies(
    module: nn.Sequential,
    input_shape: Sequence[int],
    *,
    name: str,
    units: Sequence[int],
    dtype: str | torch.dtype = torch.float32,
    warmup: int = DEFAULT_WARMUP,
    repeats: int = DEFAULT_REPEATS,
    idle_s: float = DEFAULT_IDLE_S,
) -> LatencyMeasurement:
    """Time every unit, and whole forward passes, with ``r`` torch intra-op threads for each ``r`` in ``units``.

    ``r`` compute units are ``torch.set_num_threads(r)``: one inference parallelised over ``r`` cores, which
    is what giving one user ``r`` units of an edge server does to its latency (eq. 3). Processes would measure
    the throughput of ``r`` independent inferences instead, which does not shorten any one of them.

    Rounds are interleaved to share the host's load between the settings: ``warmup`` untimed rounds, then
    ``repeats`` rounds, each running, for every ``r`` in turn, one chained forward pass with a time stamp
    after every unit (each unit on the fresh output of the one before, as the runtime runs them; timing a
    unit repeatedly on one cached input underestimates it). Per unit and per whole pass the median and the
    interquartile range are recorded.

    Two choices make the table predict what a running split inference sees (docs/profiles.md): each pass
    starts after ``idle_s`` of sleep, as device and edge compute after waiting for a transfer (a pass right
    after another runs with warm caches and is faster); and on a shared host the per-unit medians dodge the
    preemptions their pass suffers, so they sum to less than the median pass: the table keeps each unit's
    share of the sum of medians and scales the shares to the median pass (``unit_latency_s``; the raw
    medians are ``unit_median_s``). ``lambda(r)`` is fitted from the whole-pass medians
    (:func:`nomasplit.measure.lambda_fit.fit_measured_compensation`); the thread count is restored after.

    Args:
        module: the chain; its direct children are the units.
        input_shape: input shape with batch.
        name: model name recorded.
        units: compute-unit counts, strictly increasing, including 1.
        dtype: dtype of input and weights.
        warmup: untimed rounds (``>= 0``).
        repeats: timed rounds (``>= 1``).
        idle_s: sleep before each pass [s], ``>= 0``.
    """
    shape = validate_input_shape(input_shape)
    torch_dtype = parse_dtype(dtype)
    check_count(warmup, "warmup", 0)
    check_count(repeats, "repeats", 1)
    if not (math.isfinite(idle_s) and idle_s >= 0):
        raise InputError(f"idle_s must be a finite number >= 0, got {idle_s}")
    units = list(units)
    if not units or units[0] != 1 or any(b <= a for a, b in itertools.pairwise(units)):
        raise InputError(f"units must be strictly increasing and start at 1, got {units}")
    module = in_dtype(module, torch_dtype)
    model_input = profiling_input(shape, torch_dtype)
    children = list(module.children())
    load_before = os.getloadavg()
    previous_threads = torch.get_num_threads()
    unit_times: dict[int, list[list[float]]] = {r: [[] for _ in children] for r in units}  # [r][unit][run]
    total_times: dict[int, list[float]] = {r: [] for r in units}
    try:
        with torch.inference_mode():
            for round_index in range(warmup + repeats):
                for threads in units:
                    torch.set_num_threads(threads)
                    if idle_s > 0:
                        time.sleep(idle_s)
                    # One chained pass, a time stamp after each unit: each unit runs on the fresh output of the
                    # one before, as the device and the edge run them.
                    value = model_input
                    stamps = [time.perf_counter()]
                    for child in children:
                        value = child(value)
                        stamps.append(time.perf_counter())
                    if round_index >= warmup:
                        total_times[threads].append(stamps[-1] - stamps[0])
                        for index in range(len(children)):
                            unit_times[threads][index].append(stamps[index + 1] - stamps[index])
    finally:
        torch.set_num_threads(previous_threads)
    timings = []
    for threads in units:
        medians = [float(statistics.median(runs)) for runs in unit_times[threads]]  # [F]
        total = float(statistics.median(total_times[threads]))
        scale = total / sum(medians) if sum(medians) > 0 else 1.0
        timings.append(
            UnitTimings(
                units=threads,
                unit_latency_s=[median * scale for median in medians],
                unit_median_s=medians,
                unit_spread_s=[_interquartile_range(runs) for runs in unit_times[threads]],
                total_latency_s=total,
                total_spread_s=_interquartile_range(total_times[threads]),
            )
        )
    host = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "idle_before_each_pass_s": idle_s,
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    compensation, _ = fit_measured_compensation(
        units, [timing.total_latency_s for timing in timings], source={"model": name, "host": platform.node()}
    )
    return LatencyMeasurement(
        model=name,
        unit_names=unit_names(module),
        warmup=warmup,
        repeats=repeats,
        timings=timings,
        compensation=compensation,
        host=host,
    )
