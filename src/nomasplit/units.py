"""The one place where logarithmic units are converted. Everything else computes in linear SI units."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

#: A float or a numpy array of floats: every conversion works element-wise on arrays.
Value = TypeVar("Value", float, np.ndarray)


def _positive(value: float | np.ndarray, what: str) -> None:
    if np.any(np.asarray(value) <= 0):
        raise ValueError(f"{what} must be positive to convert to dB, got {value}")


def dbm_to_w(value_dbm: Value) -> Value:
    """Power in dBm to watts: ``10 ** ((dBm - 30) / 10)``."""
    return 10.0 ** ((value_dbm - 30.0) / 10.0)


def w_to_dbm(value_w: Value) -> Value:
    """Power in watts to dBm: ``10 log10(W) + 30``. Requires ``value_w > 0``."""
    _positive(value_w, "power")
    return 10.0 * np.log10(value_w) + 30.0


def db_to_linear(value_db: Value) -> Value:
    """Ratio in dB to a linear ratio: ``10 ** (dB / 10)``."""
    return 10.0 ** (value_db / 10.0)


def linear_to_db(value: Value) -> Value:
    """Linear ratio to dB: ``10 log10(x)``. Requires ``x > 0``."""
    _positive(value, "ratio")
    return 10.0 * np.log10(value)


def dbm_per_hz_to_w_per_hz(value_dbm_per_hz: Value) -> Value:
    """Noise power spectral density in dBm/Hz to W/Hz (-174 dBm/Hz -> 3.98e-21 W/Hz)."""
    return dbm_to_w(value_dbm_per_hz)
