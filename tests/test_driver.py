"""The search driver (solvers/search/driver.py) on a scripted engine, and how ligd's settings choose a phase."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from nomasplit.solvers.algorithms.ligd import LigdSettings, resolve_phase
from nomasplit.solvers.search import driver
from nomasplit.solvers.search.driver import KICK_GAIN, STALL_GAIN, Record

from .factories import random_scenario


class Scripted:
    """An engine whose plans are (path, step) pairs: a descent from (p, 0) visits ``paths[p]`` in order."""

    kick_batch = 8

    def __init__(self, paths: dict[str, list[float]], *, kicks=(), stalls=False, stall_value=None, stop=""):
        self.paths = paths
        self.kicks = list(kicks)
        self.stalls = stalls
        self.stall_value = stall_value
        self.stop = stop
        self.descents = 0

    def value(self, plan):
        path, index = plan
        return self.paths[path][index]

    def begin_descent(self):
        self.descents += 1

    def step(self, plan, value, *, exhaustive):
        path, index = plan
        if index + 1 >= len(self.paths[path]):
            return None
        return (path, index + 1), self.paths[path][index + 1], {"move": 1}

    def at_round_cap(self, plan, value):
        return plan, value

    def on_stall(self, plan, value):
        if self.stall_value is None:
            return None
        self.paths["after stall"] = [self.stall_value, self.stall_value * 0.5]
        return ("after stall", 0), self.stall_value, {"joint": 1}

    def kick_starts(self, plan, value, limit):
        starts, self.kicks = self.kicks[:limit], self.kicks[limit:]
        return [(path, 0) for path in starts]

    def stop_reason(self):
        return self.stop


def _descend(engine, **kwargs):
    record = Record(0.0, engine.value(("main", 0)))
    outcome = driver.descend(engine, ("main", 0), engine.value(("main", 0)), record=record, **kwargs)
    return outcome, record


def test_a_descent_ends_at_a_local_optimum_and_records_every_round() -> None:
    outcome, record = _descend(Scripted({"main": [10.0, 8.0, 7.0]}), max_rounds=100)
    assert (outcome.plan, outcome.value, outcome.stop_reason) == (("main", 2), 7.0, "local optimum")
    assert record.rounds == 3 and record.accepted == {"move": 2}
    assert [value for _, value in record.anytime] == [10.0, 8.0, 7.0]


def test_the_round_cap_and_the_engines_stop_end_a_descent() -> None:
    outcome, _ = _descend(Scripted({"main": [10.0, 8.0, 7.0, 6.0]}), max_rounds=2)
    assert (outcome.value, outcome.stop_reason) == (7.0, "max_rounds")
    outcome, record = _descend(Scripted({"main": [10.0, 8.0]}, stop="work limit"), max_rounds=100)
    assert (outcome.value, outcome.stop_reason, record.rounds) == (10.0, "work limit", 0)


def test_a_descent_settles_once_a_round_gains_less_than_settle_rtol() -> None:
    engine = Scripted({"main": [100.0, 50.0, 49.99, 10.0]})
    outcome, _ = _descend(engine, max_rounds=100, settle_rtol=1e-3)
    assert (outcome.value, outcome.stop_reason) == (49.99, "settled")
    outcome, _ = _descend(engine, max_rounds=100)  # without it the descent goes on
    assert (outcome.value, outcome.stop_reason) == (10.0, "local optimum")


def test_a_finished_settled_descent_is_finished_as_at_the_round_cap() -> None:
    """``finish_settled``: the settled plan gets the engine's round-cap treatment (the polish); without it, not
    (a raced descent that may go on)."""

    class Finishing(Scripted):
        def at_round_cap(self, plan, value):
            return ("finished", 0), value - 1.0

    engine = Finishing({"main": [100.0, 50.0, 49.99, 10.0], "finished": [0.0]})
    outcome, _ = _descend(engine, max_rounds=100, settle_rtol=1e-3, finish_settled=True)
    assert (outcome.plan, outcome.value, outcome.stop_reason) == (("finished", 0), 48.99, "settled")
    outcome, _ = _descend(engine, max_rounds=100, settle_rtol=1e-3)
    assert (outcome.plan, outcome.value, outcome.stop_reason) == (("main", 2), 49.99, "settled")


def test_a_stall_ends_the_descent_unless_the_engines_last_round_gains_enough() -> None:
    tiny = [100.0 * (1 - 1e-7) ** k for k in range(8)]
    outcome, _ = _descend(Scripted({"main": tiny}, stalls=True), max_rounds=100)
    assert outcome.stop_reason == "stalled" and outcome.value == pytest.approx(tiny[4])
    outcome, record = _descend(Scripted({"main": tiny}, stalls=True, stall_value=50.0), max_rounds=100)
    assert (outcome.value, outcome.stop_reason) == (25.0, "local optimum")
    assert record.accepted["joint"] == 1
    assert tiny[4] * (1 - STALL_GAIN) > 50.0


def test_a_kick_is_kept_only_when_its_descent_ends_kick_gain_lower() -> None:
    paths = {
        "main": [10.0, 8.0],
        "too little": [9.0, 8.0 * (1 - KICK_GAIN / 2)],
        "better": [9.5, 7.0, 6.0],
    }
    engine = Scripted(paths, kicks=["too little", "better"])
    record = Record(0.0, 10.0)
    outcome = driver.search(engine, ("main", 0), 10.0, max_rounds=100, kicks=4, record=record)
    assert (outcome.plan, outcome.value, outcome.stop_reason) == (("better", 2), 6.0, "local optimum")
    # the kicks' trial descents count their rounds, not their moves
    assert record.accepted == {"move": 1, "kick": 1}
    assert record.rounds == 2 + 2 + 3 + 1
    no_kicks = driver.search(
        Scripted(paths, kicks=["better"]), ("main", 0), 10.0, max_rounds=100, kicks=0, record=Record(0.0, 10.0)
    )
    assert no_kicks.value == 8.0


def test_the_kicks_stop_when_a_whole_batch_of_kick_starts_fails() -> None:
    """``kick_batch`` starts are tried from one local optimum; if none ends lower the kicks stop, kicks left or not."""
    paths = {"main": [10.0, 8.0], "worse": [9.0, 8.5], "better": [9.5, 7.0]}
    outcomes = {}
    for batch in (1, 2):
        engine = Scripted(dict(paths), kicks=["worse", "better"])
        engine.kick_batch = batch
        outcome = driver.search(engine, ("main", 0), 10.0, max_rounds=100, kicks=10, record=Record(0.0, 10.0))
        outcomes[batch] = (outcome.value, engine.descents)
    assert outcomes[1] == (8.0, 2)  # the first batch ("worse") failed: no second kick
    assert outcomes[2] == (7.0, 4)  # both tried: "better" kept, then one more descent from it
    with pytest.raises(ValidationError):
        LigdSettings(kick_batch=0)
    assert LigdSettings(kick_batch=5).phase == "auto"  # not a phase setting: it applies to every phase


def test_setting_a_custom_phase_setting_alone_chooses_custom_and_with_another_phase_is_refused() -> None:
    assert LigdSettings().phase == "auto"
    assert LigdSettings(kicks=3).phase == "custom"
    assert LigdSettings(race_rtol=1e-2).phase == "custom"
    with pytest.raises(ValidationError, match="only apply with phase='custom'"):
        LigdSettings(phase="cheap", kicks=2)
    for name in ("move_rtol", "race_rtol"):
        for value in (math.nan, math.inf, -1e-3, 1.0):
            with pytest.raises(ValidationError):
                LigdSettings(**{name: value})


def test_the_phase_is_resolved_by_size_or_as_set() -> None:
    from nomasplit.model.system import SystemModel

    small = SystemModel(random_scenario(0, num_users=9, num_subchannels=3))
    wide = SystemModel(random_scenario(7, num_aps=2, num_users=22, num_subchannels=12))
    thorough = resolve_phase(LigdSettings(), small)
    assert (thorough.name, thorough.finalists) == ("thorough", 3)
    cheap = resolve_phase(LigdSettings(), wide)
    assert (cheap.name, cheap.improve_starts, cheap.kicks, cheap.group_search, cheap.finalists) == (
        "cheap",
        2,
        0,
        False,
        1,
    )
    assert resolve_phase(LigdSettings(finalists=5), wide).finalists == 5  # a custom phase
    assert cheap.race_rtol > 0 and "264 pairs > 256" in cheap.reason
    assert resolve_phase(LigdSettings(phase="cheap"), small).name == "cheap"
    custom = resolve_phase(LigdSettings(improve_starts=3, kicks=1), wide)
    assert (custom.name, custom.improve_starts, custom.kicks, custom.group_search, custom.race_rtol) == (
        "custom",
        3,
        1,
        False,
        0.0,
    )


def test_the_cyclic_collector_is_paused_during_a_search_and_restored_after() -> None:
    import gc

    states: list[bool] = []

    class Watching(Scripted):
        def step(self, plan, value, *, exhaustive):
            states.append(gc.isenabled())
            return super().step(plan, value, exhaustive=exhaustive)

    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            engine = Watching({"a": [3.0, 2.0, 1.0]})
            outcome = driver.search(engine, ("a", 0), 3.0, max_rounds=10, kicks=0, record=Record(0.0, 3.0))
            assert outcome.value == 1.0
            assert gc.isenabled() is enabled  # as it was before
        finally:
            gc.enable()
    assert states and not any(states)  # off in every round, whatever it was before


def test_ligds_settle_below_ends_a_single_starts_descent_settled() -> None:
    from nomasplit.solvers import solve

    scenario = random_scenario(3, num_users=20, num_subchannels=6)
    custom = {"phase": "custom", "improve_starts": 1, "kicks": 0, "group_search": False}
    for settle_below, expected in ((0.5, {"settled"}), (0.0, {"local optimum"})):
        info = solve(scenario, settings={**custom, "settle_below": settle_below}, certify=False).solver
        assert info is not None
        records = info.extra["improvement"].values()
        assert {record["stop_reason"] for record in records} == expected
        if settle_below:
            assert all(record["rounds"] == 1 for record in records)
