"""The compensation function ``lambda(r)`` of the paper's eq. (3): edge speed is ``lambda(r) * c_min``.

Each form is increasing in ``r``; ``linear`` is the single-core case ``lambda(r) = r``. ``measured`` is a
monotone piecewise-linear table fitted from timings of a real server
(:func:`nomasplit.measure.lambda_fit.fit_measured_compensation`); the paper says ``lambda`` "can be estimated"
from such measurements. This module only evaluates ``lambda``; fitting it is measurement's job.
"""

from __future__ import annotations

from collections.abc import Callable

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
