"""The one place where logarithmic units are converted. Everything else computes in linear SI units."""

from __future__ import annotations

import math


def dbm_to_w(value_dbm: float) -> float:
    """Power in dBm to watts: ``10 ** ((dBm - 30) / 10)``."""
    return 10.0 ** ((value_dbm - 30.0) / 10.0)


def w_to_dbm(value_w: float) -> float:
    """Power in watts to dBm: ``10 log10(W) + 30``. Requires ``value_w > 0``."""
    if value_w <= 0:
        raise ValueError(f"power must be positive to convert to dBm, got {value_w} W")
    return 10.0 * math.log10(value_w) + 30.0


def db_to_linear(value_db: float) -> float:
    """Ratio in dB to a linear ratio: ``10 ** (dB / 10)``."""
    return 10.0 ** (value_db / 10.0)


def linear_to_db(value: float) -> float:
    """Linear ratio to dB: ``10 log10(x)``. Requires ``x > 0``."""
    if value <= 0:
        raise ValueError(f"ratio must be positive to convert to dB, got {value}")
    return 10.0 * math.log10(value)


def dbm_per_hz_to_w_per_hz(value_dbm_per_hz: float) -> float:
    """Noise power spectral density in dBm/Hz to W/Hz (-174 dBm/Hz -> 3.98e-21 W/Hz)."""
    return dbm_to_w(value_dbm_per_hz)
