"""The compensation function ``lambda(r)`` of the paper's eq. (3): edge speed is ``lambda(r) * c_min``.

Each form is increasing in ``r``; ``linear`` is the single-core case ``lambda(r) = r``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nomasplit.data.scenario import (
    AmdahlCompensation,
    Compensation,
    LinearCompensation,
    PowerCompensation,
)


def compensation_function(spec: Compensation) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return ``lambda`` as a differentiable torch function of the compute units ``r`` (any shape).

    - linear: ``lambda(r) = r``
    - power: ``lambda(r) = r ** exponent``
    - amdahl: ``lambda(r) = 1 / ((1 - f) + f / r)`` (Amdahl's law, parallel fraction ``f``)
    """
    if isinstance(spec, LinearCompensation):
        return lambda units: units
    if isinstance(spec, PowerCompensation):
        exponent = spec.exponent
        return lambda units: units**exponent
    if isinstance(spec, AmdahlCompensation):
        fraction = spec.parallel_fraction
        return lambda units: 1.0 / ((1.0 - fraction) + fraction / units)
    raise TypeError(f"unknown compensation {spec!r}")  # pragma: no cover - the data type is a closed union
