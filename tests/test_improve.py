"""The discrete improvement phase and the guarantees built into ``solve`` (issue: plans within 1 % of optimum)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomasplit.data.plan import Plan
from nomasplit.model.evaluate import decision_from_plan, find_violations, plan_from_decision
from nomasplit.model.system import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.ligd import BASELINE_STARTS, LigdSettings, ligd_method, ligd_stopping
from nomasplit.solvers.registry import SolveContext, get_algorithm
from nomasplit.solvers.relaxation.bounds import optimal_compute_units
from nomasplit.solvers.relaxation.gradient import flush_denormals
from nomasplit.solvers.search.local import LocalSearch
from tests.factories import random_scenario

BASELINES = BASELINE_STARTS


def _search(model: SystemModel) -> LocalSearch:
    settings = LigdSettings()
    return LocalSearch(model, ligd_method(settings), ligd_stopping(settings, settings.polish_iterations))


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "access"), [(0, "noma"), (1, "oma"), (2, "noma")])
def test_search_never_raises_gamma_and_keeps_plans_feasible(seed, access) -> None:
    scenario = random_scenario(seed, num_users=8, num_subchannels=2, access=access)
    model = SystemModel(scenario)
    search = _search(model)
    decision = _edge_only_decision(model)
    with torch.no_grad():
        before = float(model.objective(decision))
    result = search.run(decision, optimal_compute_units(model), deadline=math.inf)
    with torch.no_grad():
        after = float(model.objective(result.decision))
    assert after == pytest.approx(result.objective, rel=1e-12)
    assert after <= before * (1 + 1e-12)
    values = [value for _, value in result.anytime]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(values))
    plan = Plan(users=plan_from_decision(model, result.decision))
    assert find_violations(scenario, plan) == []


def _edge_only_decision(model: SystemModel):
    """A feasible discrete plan to improve: the Edge-Only baseline's plan."""
    algorithm = get_algorithm("edge-only")
    context = SolveContext(model.scenario, model, 0, torch.Generator().manual_seed(0))
    return algorithm.run(context, algorithm.settings_type()).decision


@pytest.mark.parametrize("seed", [3, 4])
def test_relocation_prices_are_exact(seed) -> None:
    """A priced relocation (own power and split re-chosen, others held) changes Gamma by exactly its price."""
    scenario = random_scenario(seed, num_users=9, num_subchannels=3)
    model = SystemModel(scenario)
    search = _search(model)
    state = search.state_of(_edge_only_decision(model))
    evaluation = search.evaluate(state)
    search.prepare(state, evaluation)
    moves = [m for m in search.candidate_moves(state, evaluation, tolerance=-math.inf) if m.kind == "relocation"]
    moves += [m for m in search.candidate_moves(state, evaluation, tolerance=0.0) if m.kind == "device-only"]
    assert moves
    for move in moves[:12]:
        trial = state.copy()
        search.apply(trial, move)
        change = search.evaluate(trial).objective - evaluation.objective
        assert change == pytest.approx(move.predicted, rel=1e-6, abs=1e-9 * evaluation.objective)


def test_a_device_only_user_can_take_an_offloading_users_slot() -> None:
    """OMA, one subchannel, two users in a cell: the search can exchange who offloads."""
    scenario = random_scenario(5, num_aps=1, num_users=2, num_subchannels=1, access="oma")
    model = SystemModel(scenario)
    search = _search(model)
    results = []
    for served in (0, 1):
        state = search.state_of(_edge_only_decision(model))
        other = 1 - served
        if int(state.up[served]) < 0:
            state.up[served], state.down[served] = state.up[other], state.down[other]
            state.split[served] = 0
            state.compute_units[served] = state.compute_units[other]
        state.up[other], state.down[other] = -1, -1
        state.split[other] = model.num_layers[other]
        result = search.run(search.decision_of(state), optimal_compute_units(model), deadline=math.inf)
        results.append(result.objective)
    # Whichever user starts served, the search ends at the same (better) plan.
    assert results[0] == pytest.approx(results[1], rel=1e-4)


@pytest.mark.slow
@given(
    seed=st.integers(0, 10_000),
    access=st.sampled_from(["noma", "oma"]),
    num_users=st.integers(2, 7),
    num_subchannels=st.integers(1, 3),
)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_guarantees_hold_on_random_scenarios(seed, access, num_users, num_subchannels) -> None:
    """Gamma(ligd) <= every baseline, Gamma(ligd-peruser) <= Gamma(ligd), Gamma(ecc-noma) <= Gamma(ecc-oma)."""
    scenario = random_scenario(seed, num_users=num_users, num_subchannels=num_subchannels, access=access)
    objective = {}
    for name in ("ligd", "ligd-peruser", "ecc-noma", "ecc-oma", *BASELINES):
        info = solve(scenario, name, seed=0).solver
        assert info is not None and info.objective is not None and math.isfinite(info.objective)
        objective[name] = info.objective
    tolerance = 1e-12 * objective["ligd"]
    for name in BASELINES:
        assert objective["ligd"] <= objective[name] + tolerance, name
    assert objective["ligd-peruser"] <= objective["ligd"] + tolerance
    assert objective["ecc-noma"] <= objective["ecc-oma"] + tolerance


@pytest.mark.slow
def test_plan_records_the_start_that_won_and_the_anytime_curve() -> None:
    scenario = random_scenario(7, num_users=8, num_subchannels=2)
    info = solve(scenario, "ligd").solver
    assert info is not None
    starts = info.extra["starts"]
    assert info.extra["start_won"] in starts
    assert starts[info.extra["start_won"]] == pytest.approx(info.objective, rel=1e-12)
    assert set(BASELINES) <= set(starts)
    assert info.objective <= min(starts.values()) * (1 + 1e-12)
    for record in info.extra["improvement"].values():
        times = [point[0] for point in record["anytime"]]
        assert times == sorted(times)
        assert record["objective"] <= record["start_objective"] * (1 + 1e-6)


@pytest.mark.slow
def test_improvement_can_be_switched_off_and_then_does_no_better() -> None:
    scenario = random_scenario(8, num_users=9, num_subchannels=2, access="oma")
    with_phase = solve(scenario, "ligd").solver
    without = solve(scenario, "ligd", settings={"improve": False}).solver
    assert with_phase is not None and without is not None
    assert without.extra["improvement"] == {}
    assert with_phase.objective <= without.objective * (1 + 1e-12)


@pytest.mark.slow
def test_ecc_noma_records_the_oma_start() -> None:
    scenario = random_scenario(9, num_users=8, num_subchannels=2)
    info = solve(scenario, "ecc-noma").solver
    assert info is not None and "ecc-oma" in info.extra["starts"]
    assert np.isfinite(info.extra["starts"]["ecc-oma"])


@pytest.mark.parametrize("max_rounds", [0, 1])
def test_a_round_capped_search_still_reoptimises_compute_units(max_rounds) -> None:
    """A search stopped by its round cap polishes the plan it reached: a start whose offloading users hold
    r_max units, above the optimal r_i* of bounds.optimal_compute_units, ends with its units near r_i*."""
    scenario = random_scenario(6, num_users=8, num_subchannels=4, access="oma")
    model = SystemModel(scenario)
    decision = _edge_only_decision(model)
    best_units = optimal_compute_units(model)
    offloading = model.offloads(decision.split)
    assert bool(offloading.any())
    assert bool((best_units[offloading] < scenario.compute_units_max - 0.1).all())  # r_max is off the optimum
    decision = dataclasses.replace(
        decision, compute_units=torch.full_like(decision.compute_units, scenario.compute_units_max)
    )
    with torch.no_grad():
        before = float(model.objective(decision))
    result = _search(model).run(decision, best_units, deadline=math.inf, max_rounds=max_rounds, max_kicks=0)
    assert result.stop_reason == "max_rounds"
    assert result.objective < before * (1 - 1e-6)
    active = model.offloads(result.decision.split)
    gap = (result.decision.compute_units[active] - best_units[active]).abs().max()
    assert float(gap) < 0.05 * (scenario.compute_units_max - scenario.compute_units_min)


def test_a_plan_said_to_be_a_local_optimum_has_no_improving_move_left() -> None:
    """Past the exhaustive size (both pricings run): when the plan says ``local_optimum``, a further descent from
    it under either pricing finds no improving move."""
    scenario = random_scenario(3, num_aps=2, num_users=30, num_subchannels=10)
    plan = solve(scenario, "ligd")
    info = plan.solver
    assert info is not None
    resolved = info.extra["resolved_settings"]
    assert resolved["joint_pricing"] and not resolved["group_search"]  # the cheap phase of large instances
    assert info.extra["local_optimum"] is True
    model = SystemModel(scenario)
    settings = LigdSettings()
    search = LocalSearch(model, ligd_method(settings), ligd_stopping(settings, settings.polish_iterations))
    state = search.state_of(decision_from_plan(model, plan))
    ev = search.evaluate(state)
    assert ev.objective == pytest.approx(info.objective, rel=1e-9)
    tolerance = 1e-9 * abs(ev.objective)
    for pricing in ("own", "joint"):
        search.prepare(state, ev)
        moves = search.candidate_moves(state, ev, tolerance, pricing=pricing)
        after, accepted = search.verify(state.copy(), ev, moves, tolerance) if moves else (ev, {})
        assert not accepted, (pricing, accepted)
        assert after.objective >= ev.objective - tolerance


@pytest.mark.parametrize(("seed", "access"), [(5, "noma"), (6, "oma")])
def test_prices_kept_between_rounds_equal_prices_made_from_scratch(seed, access) -> None:
    """``shortlist_prices`` (and ``quiet_harm``) price again only the pairs whose inputs changed since their last
    call; after moves, power changes and new compute units, their tables equal those of a search that prices every
    pair anew (more subchannels than the shortlist, so the kept shortlists are checked too)."""
    scenario = random_scenario(seed, num_users=40, num_subchannels=30, access=access)
    model = SystemModel(scenario)
    kept = _search(model)
    state = kept.state_of(_edge_only_decision(model))
    generator = torch.Generator().manual_seed(seed)
    for step in range(6):
        evaluation = kept.evaluate(state)
        kept.prepare(state, evaluation)
        fresh = _search(model)
        fresh.prepare(state, evaluation)
        for direction in (0, 1):
            own, power = fresh.own_prices(direction)
            (harm,) = fresh.harm(direction, state, power)
            for mine, theirs in zip(kept.shortlist_prices(direction, state), (own, power, harm), strict=True):
                torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
            # The harm of joining at the least grid power (joint pricing's bound), kept the same way.
            (quiet,) = fresh.harm(direction, state, torch.full_like(power, float(fresh.power_grid[direction][0])))
            torch.testing.assert_close(kept.quiet_harm(direction, state), quiet, rtol=0, atol=0)
        moves = kept.candidate_moves(state, evaluation, tolerance=-math.inf)
        assert moves
        # A few moves of any price (not only improving ones), then other powers and compute units for some users.
        for index in torch.randperm(len(moves), generator=generator)[:3].tolist():
            kept.apply(state, moves[index])
        users = torch.randperm(model.num_users, generator=generator)[:2]
        state.uplink_power_w[users] *= 0.5
        if step % 2:
            state.compute_units[users[:1]] = 1.0
    assert 0 < kept.priced_pairs < 6 * 2 * model.num_users * 24


def test_joint_below_prices_rounds_jointly_once_a_round_gains_little() -> None:
    """``joint_below``: a round at joint prices (joiners at the power of least own cost plus harm) follows every
    round that lowered ``Gamma`` by less than that fraction; 0 keeps own prices while rounds find moves."""
    scenario = random_scenario(11, num_users=30, num_subchannels=6)
    model = SystemModel(scenario)
    settings = LigdSettings()
    start = _edge_only_decision(model)
    accepted = {}
    for joint_below in (0.0, 0.999):
        search = LocalSearch(model, ligd_method(settings), ligd_stopping(settings, 0), joint_below=joint_below)
        result = search.run(start, optimal_compute_units(model), deadline=math.inf, max_rounds=3, max_kicks=0)
        assert result.rounds == 3 and result.objective < result.start_objective
        accepted[joint_below] = result.accepted
    assert not any(kind.endswith("(joint price)") for kind in accepted[0.0]), accepted[0.0]
    assert any(kind.endswith("(joint price)") for kind in accepted[0.999]), accepted[0.999]


def test_conversion_reads_gamma_from_the_fallbacks_last_evaluation() -> None:
    """``converted_with_objective`` returns ``convert_decision``'s decision and exactly ``discrete_costs``' Gamma of
    it (the model's, up to the order of its sums), across float types and within one; ``fall_back_with_objective``
    also when its passes run out."""
    from nomasplit.solvers.relaxation.sweep import convert_decision, converted_with_objective
    from nomasplit.solvers.search.assigned import discrete_costs
    from nomasplit.solvers.search.polish import fall_back_to_device, fall_back_with_objective

    scenario = random_scenario(12, num_users=12, num_subchannels=4)
    model = SystemModel(scenario)
    working = model.with_dtype(torch.float32)
    decision = _edge_only_decision(model)
    for target, source in ((working, decision), (model, convert_decision(working, decision)[0]), (model, decision)):
        converted, value = converted_with_objective(target, source)
        expected, _ = convert_decision(target, source)
        for mine, theirs in zip(dataclasses.astuple(converted), dataclasses.astuple(expected), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
        assert value == float(discrete_costs(target, converted).objective.item())
        with torch.no_grad():
            rtol = 1e-5 if target.dtype == torch.float32 else 1e-12
            assert value == pytest.approx(float(target.objective(converted).item()), rel=rtol)
    # Edge-Only at full power: some users are better off on their devices, so one pass switches and stops there.
    fell, switched = fall_back_to_device(model, decision, max_passes=1)
    assert switched > 0
    capped, capped_switched, value = fall_back_with_objective(model, decision, max_passes=1)
    assert capped_switched == switched
    assert value == float(discrete_costs(model, capped).objective.item())
    assert torch.equal(capped.split, fell.split)
    with torch.no_grad():
        assert value == pytest.approx(float(model.objective(fell).item()), rel=1e-12)


def test_two_search_threads_give_the_same_plan_and_use_the_second_thread(monkeypatch) -> None:
    """``search_threads=2``: the downlink is priced on a second thread (seen from inside the pricing) past
    ``THREADED_PAIRS`` (lowered here), and every price, hence the plan and its record, is the same as on one
    thread; below it, no second thread."""
    import threading

    import nomasplit.solvers.search.local as local

    scenario = random_scenario(13, num_aps=3, num_users=60, num_subchannels=30)
    model = SystemModel(scenario)
    start = _edge_only_decision(model)
    threads_seen: dict[int, set[str]] = {0: set(), 1: set()}
    original = LocalSearch.shortlist_prices

    def spying(self, direction, state):
        threads_seen[direction].add(threading.current_thread().name)
        return original(self, direction, state)

    monkeypatch.setattr(LocalSearch, "shortlist_prices", spying)
    settings = LigdSettings(joint_below=0.02)
    results = []
    for threads, threaded_pairs in ((1, 0), (2, 0), (2, 60 * 30 + 1)):
        monkeypatch.setattr(local, "THREADED_PAIRS", threaded_pairs)
        search = LocalSearch(
            model,
            ligd_method(settings),
            ligd_stopping(settings, 30),
            joint_below=settings.joint_below,
            threads=threads,
        )
        with flush_denormals():
            results.append(search.run(start, optimal_compute_units(model), deadline=math.inf))
        if threaded_pairs == 0:
            assert any(name.startswith("nomasplit-pricing") for name in threads_seen[1]) is (threads == 2)
        else:
            assert threads_seen[1] == {threading.current_thread().name}
        assert threads_seen[0] == {threading.current_thread().name}
        threads_seen = {0: set(), 1: set()}
    one, two, small = results
    assert two.rounds == one.rounds >= 3 and two.accepted == one.accepted == small.accepted
    assert two.objective == one.objective == small.objective < one.start_objective
    for mine, theirs in zip(dataclasses.astuple(two.decision), dataclasses.astuple(one.decision), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
