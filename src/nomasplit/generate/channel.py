"""Large-scale path loss and small-scale Rayleigh fading: the gain tensors of a scenario.

Spec ``system-model.md``: ``G[n, i, m] = path_gain[n, i] * fading[n, i, m]`` with exponential(1) power
fading (Rayleigh amplitude), drawn independently for every AP, user and subchannel, and independently for
uplink and downlink. Path loss models:

- ``3gpp``: ``PL(d) = 128.1 + 37.6 log10(d / 1 km)`` dB (3GPP TR 36.814, macro cell, 2 GHz).
- ``power_law``: ``PL(d) = PL_ref + 10 alpha log10(d / 1 m)`` dB, i.e. gain ``10^(-PL_ref/10) d^-alpha``
  (the paper, Section VI-A: "the path loss exponent is 5").

Distances below ``min_distance_m`` are raised to it, so a user standing on an AP gets a finite gain.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from nomasplit import units

PathLossModel = Literal["3gpp", "power_law"]

#: 3GPP TR 36.814 macro-cell path loss: intercept at 1 km [dB] and slope [dB per decade].
THREEGPP_INTERCEPT_DB = 128.1
THREEGPP_SLOPE_DB_PER_DECADE = 37.6


def path_loss_db(
    distance_m: np.ndarray,
    model: PathLossModel = "3gpp",
    *,
    exponent: float = 5.0,
    reference_db: float = 0.0,
    min_distance_m: float = 35.0,
) -> np.ndarray:
    """Path loss in dB for distances in m (any shape; same shape out)."""
    clipped_m = np.maximum(np.asarray(distance_m, dtype=np.float64), min_distance_m)
    if model == "3gpp":
        return THREEGPP_INTERCEPT_DB + THREEGPP_SLOPE_DB_PER_DECADE * np.log10(clipped_m / 1000.0)
    return reference_db + 10.0 * exponent * np.log10(clipped_m)


def path_gain(
    distance_m: np.ndarray,
    model: PathLossModel = "3gpp",
    *,
    exponent: float = 5.0,
    reference_db: float = 0.0,
    min_distance_m: float = 35.0,
) -> np.ndarray:
    """Linear path gain ``10^(-PL/10)`` for distances in m (any shape; same shape out).

    The dB-to-linear conversion goes through :func:`nomasplit.units.db_to_linear`.
    """
    loss_db = path_loss_db(
        distance_m, model, exponent=exponent, reference_db=reference_db, min_distance_m=min_distance_m
    )
    return np.asarray(units.db_to_linear(-np.asarray(loss_db, dtype=np.float64)), dtype=np.float64)


def rayleigh_power_fading(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Exponential(1) power fading (|h|^2 of a unit-variance complex Gaussian h), i.i.d. over ``shape``."""
    return rng.standard_exponential(size=shape)


def channel_gains(path_gain_linear: np.ndarray, fading: np.ndarray) -> np.ndarray:
    """Per-subchannel gains ``G[n, i, m] = path_gain[n, i] * fading[n, i, m]``.

    Args:
        path_gain_linear: ``[N, U]`` linear path gains.
        fading: ``[N, U, M]`` power fading (all ones for no fading).

    Returns:
        ``[N, U, M]`` linear power gains.
    """
    # [N, U, M]
    return path_gain_linear[:, :, None] * fading
