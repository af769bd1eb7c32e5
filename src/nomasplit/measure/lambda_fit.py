"""Fitting the edge server's ``lambda(r)`` (eq. 3) from latencies measured with ``r`` compute units.

The measured speed-up ``T(1)/T(r)`` becomes a monotone piecewise-linear table
(:class:`~nomasplit.data.scenario.MeasuredCompensation`, which :mod:`nomasplit.model.compensation` evaluates);
an Amdahl fit is reported beside it. :func:`pooled_compensation` fits one ``lambda`` for a server that runs
several models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nomasplit.data.measurement import LatencyMeasurement
from nomasplit.data.scenario import MeasuredCompensation
from nomasplit.errors import InputError

#: Smallest relative rise between neighbouring points of a fitted table (keeps it strictly increasing).
MIN_RELATIVE_RISE = 1e-3


def _isotonic(values: np.ndarray) -> np.ndarray:
    """Least-squares non-decreasing fit of ``values`` (pool adjacent violators). ``[J] -> [J]``."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in values:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean_b, count_b = blocks.pop()
            mean_a, count_a = blocks.pop()
            blocks.append([(mean_a * count_a + mean_b * count_b) / (count_a + count_b), count_a + count_b])
    return np.concatenate([np.full(int(count), mean) for mean, count in blocks])


def fit_amdahl(units: Sequence[float] | np.ndarray, speedup: Sequence[float] | np.ndarray) -> float:
    """Least-squares parallel fraction ``f`` of ``1/lambda(r) = (1 - f) + f/r`` through measured points.

    Linear in ``f``: with ``x = 1/r - 1`` and ``y = 1/lambda - 1``, ``f = sum(x y) / sum(x^2)``, clipped to
    ``[1e-6, 1]``. Points at ``r = 1`` carry no information (``x = 0``); with none elsewhere ``f = 1e-6``.
    """
    x = 1.0 / np.asarray(units, dtype=np.float64) - 1.0  # [J]
    y = 1.0 / np.asarray(speedup, dtype=np.float64) - 1.0  # [J]
    denominator = float(np.sum(x * x))
    if denominator == 0.0:
        return 1e-6
    return float(np.clip(np.sum(x * y) / denominator, 1e-6, 1.0))


def fit_measured_compensation(
    units: Sequence[int | float], latency_s: Sequence[float], *, source: dict[str, Any] | None = None
) -> tuple[MeasuredCompensation, dict[str, Any]]:
    """Fit ``lambda(r)`` from the latency of the same work on ``r`` compute units.

    The measured speed-up is ``lambda_meas(r_j) = T(1) / T(r_j)`` (so ``lambda(1) = 1``: ``c_min`` is the
    speed of one unit). The table kept is its least-squares monotone (non-decreasing) projection, with
    points below ``lambda(1) = 1`` first raised to 1 (more units never run slower than one, in the table),
    raised where needed to rise by at least :data:`MIN_RELATIVE_RISE` between points (``lambda`` must be strictly
    increasing). An Amdahl fit (:func:`fit_amdahl`) is reported beside it for comparison.

    Args:
        units: ``[J]`` compute units ``r_j``, strictly increasing, including 1.
        latency_s: ``[J]`` latency of the whole work on ``r_j`` units [s].
        source: extra provenance stored in the table's ``source``.

    Returns:
        ``(compensation, fit)``: the table, and the fit report (``measured_speedup``, ``table_speedup``,
        ``table_max_relative_error``, ``amdahl_parallel_fraction``, ``amdahl_speedup``,
        ``amdahl_max_relative_error``).
    """
    units_array = np.asarray(units, dtype=np.float64)  # [J]
    latency_array = np.asarray(latency_s, dtype=np.float64)  # [J]
    if units_array.shape != latency_array.shape or units_array.ndim != 1 or units_array.size == 0:
        raise ValueError("units and latency_s must be non-empty lists of the same length")
    if np.any(np.diff(units_array) <= 0) or 1.0 not in units_array:
        raise ValueError(f"units must be strictly increasing and include 1, got {units_array.tolist()}")
    if not np.all(np.isfinite(latency_array)) or np.any(latency_array <= 0):
        raise ValueError("latencies must be positive finite seconds")
    measured = latency_array[units_array == 1.0][0] / latency_array  # [J] lambda_meas(r_j)
    # lambda(1) = 1 is the anchor: points below it (more units measured slower than one) are raised to it
    # before the monotone fit, so they cannot pull lambda(1) down.
    anchored = np.where(units_array > 1.0, np.maximum(measured, 1.0), measured)
    table = _isotonic(anchored)
    for index in range(1, table.shape[0]):
        table[index] = max(table[index], table[index - 1] * (1.0 + MIN_RELATIVE_RISE))
    fraction = fit_amdahl(units_array, measured)
    amdahl = 1.0 / ((1.0 - fraction) + fraction / units_array)
    fit = {
        "family": "monotone piecewise-linear table through (r, T(1)/T(r)); Amdahl fit for comparison",
        "units": units_array.tolist(),
        "measured_speedup": measured.tolist(),
        "table_speedup": table.tolist(),
        "table_max_relative_error": float(np.max(np.abs(table - measured) / measured)),
        "amdahl_parallel_fraction": fraction,
        "amdahl_speedup": amdahl.tolist(),
        "amdahl_max_relative_error": float(np.max(np.abs(amdahl - measured) / measured)),
    }
    compensation = MeasuredCompensation(
        units=units_array.tolist(), speedup=table.tolist(), source={**(source or {}), "fit": fit}
    )
    return compensation, fit


def pooled_compensation(measurements: Sequence[LatencyMeasurement]) -> tuple[MeasuredCompensation, dict[str, Any]]:
    """One ``lambda(r)`` for a server from several models' measurements, and each model's deviation from it.

    At each ``r`` measured for every model, the pooled latency is the sum of the models' whole-pass medians
    (a workload of one inference of each), so ``lambda(r) = sum_m T_m(1) / sum_m T_m(r)``, fitted as in
    :func:`fit_measured_compensation`. The report adds, per model, its own ``T_m(1)/T_m(r)`` and its largest
    relative error against the pooled ``lambda`` (the fit error of using one ``lambda`` for all models).
    """
    if not measurements:
        raise InputError("no edge measurements to fit lambda(r) from")
    common = sorted(set.intersection(*[{t.units for t in m.timings} for m in measurements]))
    pooled = [sum(m.at_units(r).total_latency_s for m in measurements) for r in common]
    compensation, fit = fit_measured_compensation(
        common, pooled, source={"models": [m.model for m in measurements], "method": "pooled whole-pass medians"}
    )
    per_model = {}
    table = np.asarray(fit["table_speedup"])
    for measurement in measurements:
        own = np.array(
            [measurement.at_units(1).total_latency_s / measurement.at_units(r).total_latency_s for r in common]
        )
        per_model[measurement.model] = {
            "measured_speedup": own.tolist(),
            "max_relative_error": float(np.max(np.abs(table - own) / own)),
            "relative_spread_at_units": [
                measurement.at_units(r).total_spread_s / measurement.at_units(r).total_latency_s for r in common
            ],
        }
    fit = {**fit, "per_model": per_model}
    compensation = compensation.model_copy(update={"source": {**compensation.source, "fit": fit}})
    return compensation, fit
