"""The search driver: one descent loop, one kick loop and one record for every pricing of the moves.

A search engine prices the moves of :mod:`.moves` its own way (:class:`~.local.LocalSearch` from the current
interference, :class:`~.groups.GroupSearch` at every group's optimal powers) and supplies what depends on that:
one round of improving moves, the starts of kicks, the value of a plan and why it must stop (clock or work).
The driver owns the rest, the same for both:

- **descent** (:func:`descend`): rounds of improving moves until none is left ("local optimum"), the last
  :data:`STALL_ROUNDS` rounds gained less than :data:`STALL_GAIN` together ("stalled", for engines that ask for
  it; the engine gets one last say), ``max_rounds`` ("max_rounds") or the engine's stop ("time limit", "work
  limit");
- **kicks** (:func:`search`): from a local optimum, up to ``kicks`` plans one non-improving move away, each
  followed by a descent; the first whose descent ends :data:`KICK_GAIN` lower is kept and the search descends and
  kicks again from there;
- **the record** (:class:`Record`): rounds, accepted moves by kind and the anytime curve (``Gamma`` against
  seconds). Trial descents of kicks count their rounds but not their moves.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

#: Kicks tried from the best local optimum by the thorough phase.
KICKS = 16

#: Relative improvement a kick's descent must reach to be kept (smaller gains are the polish's noise).
KICK_GAIN = 1e-6

#: A descent of an engine that asks for it ends when its last ``STALL_ROUNDS`` rounds together lowered ``Gamma``
#: by less than ``STALL_GAIN``.
STALL_ROUNDS = 3
STALL_GAIN = 1e-5

#: Why a descent may end where improving moves could still be found by more work.
LIMITS = ("time limit", "work limit", "max_rounds")

Plan = TypeVar("Plan")


class Engine(Protocol[Plan]):
    """What a pricing of the moves supplies to the driver."""

    #: Kick starts generated at a time (the driver tries them in order and stops at the first that helps).
    kick_batch: int
    #: Whether a descent may end "stalled" (see :data:`STALL_ROUNDS`).
    stalls: bool

    def value(self, plan: Plan) -> float:
        """``Gamma`` of a plan (or the engine's estimate of it)."""
        ...

    def begin_descent(self) -> None:
        """Reset what the engine keeps for one descent."""
        ...

    def step(self, plan: Plan, value: float, *, exhaustive: bool) -> tuple[Plan, float, dict[str, int]] | None:
        """One round: the plan after the round's improving moves, its value and the moves taken by kind; ``None``
        when no move improves (a local optimum). ``exhaustive``: whether the engine may use its most expensive
        checks (off in the trial descents of kicks)."""
        ...

    def at_round_cap(self, plan: Plan, value: float) -> tuple[Plan, float]:
        """The plan to keep when ``max_rounds`` ends a descent."""
        ...

    def on_stall(self, plan: Plan, value: float) -> tuple[Plan, float, dict[str, int]] | None:
        """A last round when the descent stalls; kept (and the descent goes on) when it gains at least
        :data:`STALL_GAIN`."""
        ...

    def kick_starts(self, plan: Plan, value: float, limit: int) -> list[Plan]:
        """Up to ``limit`` plans one move away, improving or not, best priced first."""
        ...

    def stop_reason(self) -> str:
        """Why the search must stop now ("time limit", "work limit"), or ``""``."""
        ...


@dataclass
class Record:
    """Evidence of a search: rounds, accepted moves by kind, and the anytime curve."""

    started: float
    start_objective: float
    rounds: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    anytime: list[tuple[float, float]] = field(default_factory=list)
    muted_parent: Record | None = None

    def __post_init__(self) -> None:
        if not self.anytime and self.muted_parent is None:
            self.anytime.append((0.0, self.start_objective))

    def muted(self) -> Record:
        """A record for a trial descent: rounds count towards this one, moves and values do not."""
        return Record(self.started, math.nan, muted_parent=self)

    def count_round(self) -> None:
        (self.muted_parent or self).rounds += 1

    def add(self, accepted: dict[str, int], objective: float) -> None:
        if self.muted_parent is not None:
            return
        for kind, count in accepted.items():
            self.accepted[kind] = self.accepted.get(kind, 0) + count
        self.anytime.append((time.perf_counter() - self.started, objective))


@dataclass
class Outcome(Generic[Plan]):
    """Where a search ended and why."""

    plan: Plan
    value: float
    stop_reason: str


def descend(
    engine: Engine[Plan],
    plan: Plan,
    value: float,
    *,
    max_rounds: int,
    record: Record,
    exhaustive: bool = True,
    settle_rtol: float = 0.0,
    finish_settled: bool = False,
) -> Outcome[Plan]:
    """Improving rounds until a local optimum, a stall, ``max_rounds`` or the engine's stop (module docstring);
    with ``settle_rtol`` also once a round lowers the value by less than that fraction ("settled": a descent that
    may go on later, or with ``finish_settled`` one that ends there, finished as at the round cap)."""
    engine.begin_descent()
    rounds = 0
    history = [value]
    while True:
        stop = engine.stop_reason()
        if stop:
            return Outcome(plan, value, stop)
        if rounds >= max_rounds:
            plan, value = engine.at_round_cap(plan, value)
            return Outcome(plan, value, "max_rounds")
        rounds += 1
        record.count_round()
        step = engine.step(plan, value, exhaustive=exhaustive)
        if step is None:
            return Outcome(plan, value, "local optimum")
        plan, value, accepted = step
        record.add(accepted, value)
        history.append(value)
        if settle_rtol > 0 and value > history[-2] * (1 - settle_rtol):
            if finish_settled:
                plan, value = engine.at_round_cap(plan, value)
            return Outcome(plan, value, "settled")
        if engine.stalls and len(history) > STALL_ROUNDS and value > history[-1 - STALL_ROUNDS] * (1 - STALL_GAIN):
            last = engine.on_stall(plan, value)
            if last is None or not last[1] < value * (1 - STALL_GAIN):
                if last is not None and last[1] < value:
                    plan, value = last[0], last[1]
                    record.add(last[2], value)
                return Outcome(plan, value, "stalled")  # improving moves may be left, each worth almost nothing
            plan, value, accepted = last
            record.add(accepted, value)
            history.append(value)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration (restored afterwards, if it was on).

    A round creates thousands of short-lived move objects (lists, dicts, tuples) that reference counting frees
    at the end of the round; they form no cycles, so the collector's passes during a search find nothing to
    collect, yet each full pass walks every object of the process (torch's included). Nothing is deferred: what
    the search frees is freed at once, and any cycle made meanwhile is collected by the next pass after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@cyclic_gc_paused()
def search(
    engine: Engine[Plan],
    plan: Plan,
    value: float,
    *,
    max_rounds: int,
    kicks: int,
    record: Record,
    settle_rtol: float = 0.0,
    finish_settled: bool = False,
) -> Outcome[Plan]:
    """Descend, then kick from each local optimum (module docstring). ``settle_rtol``, ``finish_settled``: see
    :func:`descend` (a settled descent gets no kicks). The cyclic garbage collector is paused meanwhile
    (:func:`cyclic_gc_paused`)."""
    outcome = descend(
        engine,
        plan,
        value,
        max_rounds=max_rounds,
        record=record,
        settle_rtol=settle_rtol,
        finish_settled=finish_settled,
    )
    kicks_left = kicks
    while outcome.stop_reason in ("local optimum", "stalled") and kicks_left > 0:
        improved = False
        for trial in engine.kick_starts(outcome.plan, outcome.value, min(kicks_left, engine.kick_batch)):
            kicks_left -= 1
            tried = descend(
                engine, trial, engine.value(trial), max_rounds=max_rounds, record=record.muted(), exhaustive=False
            )
            if tried.value < outcome.value * (1 - KICK_GAIN):
                outcome = Outcome(tried.plan, tried.value, outcome.stop_reason)
                record.add({"kick": 1}, tried.value)
                improved = True
                break
            if tried.stop_reason in ("time limit", "work limit"):
                break
        if not improved:
            break
        outcome = descend(engine, outcome.plan, outcome.value, max_rounds=max_rounds, record=record)
    if outcome.stop_reason in ("local optimum", "stalled"):
        outcome.stop_reason = engine.stop_reason() or outcome.stop_reason
    return outcome
