"""Baselines of the paper's Section VI, registered alongside the solvers.

Importing this package registers ``device-only``, ``edge-only``, ``neurosurgeon``, ``dnn-surgery``,
``ecc-noma`` and ``ecc-oma`` (docs/baselines.md).
"""

from __future__ import annotations

from nomasplit.solvers.baselines import device_only, dnn_surgery, ecc, edge_only, neurosurgeon

__all__ = ["device_only", "dnn_surgery", "ecc", "edge_only", "neurosurgeon"]
