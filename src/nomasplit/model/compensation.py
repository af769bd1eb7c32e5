"""The compensation function ``lambda(r)`` of the paper's eq. (3): edge speed is ``lambda(r) * c_min``.

Each form is increasing in ``r``; ``linear`` is the single-core case ``lambda(r) = r``. ``measured`` is a
monotone piecewise-linear table fitted from timings of a real server (:func:`fit_measured_compensation`); the
paper says ``lambda`` "can be estimated" from such measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from nomasplit.data.scenario import (
    AmdahlCompensation,
    Compensation,
    LinearCompensation,
    MeasuredCompensation,
    PowerCompensation,
)


def _piecewise_linear(spec: MeasuredCompensation) -> Callable[[torch.Tensor], torch.Tensor]:
    """``lambda`` of a measured table, differentiable in ``r`` (see :class:`MeasuredCompensation`)."""
    knots_units = np.asarray(spec.units, dtype=np.float64)  # [J]
    knots_speedup = np.asarray(spec.speedup, dtype=np.float64)  # [J]
    first_slope = knots_speedup[0] / knots_units[0]
    if knots_units.shape[0] == 1:
        return lambda units: units * first_slope
    # Segment j runs from knot j to knot j+1; the last segment extends to +inf, the first-point ray to 0.
    slopes = np.diff(knots_speedup) / np.diff(knots_units)  # [J-1]

    def measured(units: torch.Tensor) -> torch.Tensor:
        table_units = torch.as_tensor(knots_units, dtype=units.dtype, device=units.device)  # [J]
        table_speedup = torch.as_tensor(knots_speedup, dtype=units.dtype, device=units.device)  # [J]
        table_slopes = torch.as_tensor(slopes, dtype=units.dtype, device=units.device)  # [J-1]
        segment = torch.searchsorted(table_units, units.detach().contiguous(), right=True) - 1
        segment = segment.clamp(0, table_slopes.shape[0] - 1)  # [...] knot to the left (last for r > r_J)
        inside = table_speedup[segment] + table_slopes[segment] * (units - table_units[segment])
        return torch.where(units < table_units[0], units * first_slope, inside)

    return measured


def compensation_function(spec: Compensation) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return ``lambda`` as a differentiable torch function of the compute units ``r`` (any shape).

    - linear: ``lambda(r) = r``
    - power: ``lambda(r) = r ** exponent``
    - amdahl: ``lambda(r) = 1 / ((1 - f) + f / r)`` (Amdahl's law, parallel fraction ``f``)
    - measured: linear between measured ``(r_j, lambda_j)``, ``lambda_1 r / r_1`` below ``r_1``, the last
      segment's slope above ``r_J``
    """
    if isinstance(spec, LinearCompensation):
        return lambda units: units
    if isinstance(spec, PowerCompensation):
        exponent = spec.exponent
        return lambda units: units**exponent
    if isinstance(spec, AmdahlCompensation):
        fraction = spec.parallel_fraction
        return lambda units: 1.0 / ((1.0 - fraction) + fraction / units)
    if isinstance(spec, MeasuredCompensation):
        return _piecewise_linear(spec)
    raise TypeError(f"unknown compensation {spec!r}")  # pragma: no cover - the data type is a closed union


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
