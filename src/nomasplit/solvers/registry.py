"""The algorithm registry (cvxpy-style): every solver and baseline under one name, with its citation.

An algorithm module defines a settings type (a frozen pydantic model, unknown keys rejected) and a ``run``
function, and registers them with :func:`register`. :func:`nomasplit.solvers.solve` looks the name up,
validates the settings, runs the algorithm and wraps the outcome into a :class:`~nomasplit.data.Plan` that
records how it was obtained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from nomasplit.data.plan import SplitHistory
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.model.system import Decision, SystemModel


class AlgorithmSettings(BaseModel):
    """Base of every algorithm's settings: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SolveContext:
    """What an algorithm gets: the scenario, its model on the chosen device, the randomness, and an optional
    feasible discrete decision to start from (a previous plan mapped by :mod:`nomasplit.solvers.search.warm_start`)."""

    scenario: Scenario
    model: SystemModel
    seed: int
    generator: torch.Generator
    start_decision: Decision | None = None


@dataclass
class SolveOutcome:
    """What an algorithm returns: a discrete decision and the evidence of how it was found.

    ``decision`` must be discrete (one-hot ``beta`` rows for offloading users) and feasible; the final
    objective is computed by :func:`solve` from it, not trusted from the algorithm.
    """

    decision: Decision
    success: bool = True
    message: str = ""
    objective_relaxed: float | None = None
    objective_rounded: float | None = None
    chosen_split: int | None = None
    iterations_total: int = 0
    history: list[SplitHistory] = field(default_factory=list)
    bound: float | None = None
    gap: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm."""

    name: str
    summary: str
    cite: str
    settings_type: type[AlgorithmSettings]
    run: Callable[[SolveContext, Any], SolveOutcome]


ALGORITHMS: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add an algorithm to :data:`ALGORITHMS` (names are unique)."""
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"algorithm {algorithm.name!r} registered twice")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get_algorithm(name: str) -> Algorithm:
    """Look an algorithm up by name; InputError listing the known names otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise InputError(f"unknown algorithm {name!r}; allowed: {', '.join(sorted(ALGORITHMS))}") from None
