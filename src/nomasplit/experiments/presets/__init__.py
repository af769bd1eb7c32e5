"""The presets of a reproduction: which sweeps, figures, parameters and readings a run uses.

- :mod:`~nomasplit.experiments.presets.paper`: Section VI-A with documented defaults (:func:`paper_settings`),
  its ``--quick`` version (:func:`quick_settings`), and :func:`build_settings`, which every preset calls.
- :mod:`~nomasplit.experiments.presets.calibrated`: the open parameters fitted by ``nomasplit calibrate``
  (:func:`calibrated_settings`; the shipped fit is ``calibrated.json`` beside it).
"""

from nomasplit.experiments.presets.calibrated import (
    CalibratedParameters,
    calibrated_settings,
    load_parameters,
    shipped_parameters,
)
from nomasplit.experiments.presets.paper import build_settings, paper_settings, quick_settings

__all__ = [
    "CalibratedParameters",
    "build_settings",
    "calibrated_settings",
    "load_parameters",
    "paper_settings",
    "quick_settings",
    "shipped_parameters",
]
