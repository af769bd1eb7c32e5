"""Solvers and baselines: ``solve(scenario, algorithm, ...)`` returns a plan that records how it was made.

Algorithm modules register themselves in :data:`ALGORITHMS` when imported; :data:`ALGORITHM_MODULES` lists them.
"""

from __future__ import annotations

import importlib

from nomasplit.solvers.api import solve
from nomasplit.solvers.registry import (
    ALGORITHMS,
    Algorithm,
    AlgorithmSettings,
    SolveContext,
    SolveOutcome,
    get_algorithm,
    register,
)

#: Modules under ``nomasplit.solvers`` that register algorithms.
ALGORITHM_MODULES: tuple[str, ...] = ("baselines", "ligd", "peruser", "exact")

for _module in ALGORITHM_MODULES:
    importlib.import_module(f"nomasplit.solvers.{_module}")

__all__ = [
    "ALGORITHMS",
    "ALGORITHM_MODULES",
    "Algorithm",
    "AlgorithmSettings",
    "SolveContext",
    "SolveOutcome",
    "get_algorithm",
    "register",
    "solve",
]
