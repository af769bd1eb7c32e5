"""Baselines of the paper's Section VI, registered alongside the solvers.

Importing this package registers ``device-only``, ``edge-only``, ``neurosurgeon`` and ``dnn-surgery``
(docs/baselines.md). The paper's own scheme, ``ecc-noma`` and ``ecc-oma``, is :mod:`nomasplit.solvers.algorithms.ecc`.
"""

from __future__ import annotations

from nomasplit.solvers.baselines import device_only, dnn_surgery, edge_only, neurosurgeon

__all__ = ["device_only", "dnn_surgery", "edge_only", "neurosurgeon"]
