"""Solvers and baselines: ``solve(scenario, algorithm, ...)`` returns a plan that records how it was made.

The parts, from the bottom up: :mod:`.relaxation` (the problem at fixed splits, its gradient methods, projections,
the relaxed sweep, lower bounds), :mod:`.search` (rounding, polishing, moves, their pricing and the search driver),
:mod:`.algorithms` (Li-GD as Table I states it, the default ``ligd``, per-user splits, ``exact``, ECC) and
:mod:`.baselines` (Device-Only, Edge-Only, Neurosurgeon, DNN Surgery); :mod:`.registry` names them all and
:func:`solve` (:mod:`.api`) runs one.

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
ALGORITHM_MODULES: tuple[str, ...] = (
    "baselines",
    "algorithms.ligd_paper",
    "algorithms.ligd",
    "algorithms.peruser",
    "algorithms.exact",
    "algorithms.ecc",
)

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
