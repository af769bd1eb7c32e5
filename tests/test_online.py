"""The moving network (generate.dynamics), the warm start (solvers.warm_start), the time-slotted run
(experiments.online) and ``nomasplit simulate``."""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data.files import save
from nomasplit.data.hashing import sha256_of
from nomasplit.data.plan import Plan
from nomasplit.errors import InputError
from nomasplit.experiments.online import COLUMNS, WARM_SETTINGS, oracle_settings, run_online, small_network
from nomasplit.generate import generate_scenario, load_config
from nomasplit.generate.dynamics import (
    DynamicsConfig,
    NetworkSimulator,
    dynamics_reference_markdown,
    jakes_correlation,
    load_simulation_config,
    parse_dynamics,
    simulate_snapshots,
)
from nomasplit.generate.topology import distances_m
from nomasplit.io import read_yaml
from nomasplit.model.evaluate import find_violations, plan_from_decision
from nomasplit.model.system import SystemModel
from nomasplit.solvers import solve
from nomasplit.solvers.search.warm_start import map_decision, mapped_plan, user_ids_of, warm_path_starts

#: A lighter solve for the tests that only need some plan.
QUICK = {"max_iterations": 0, "refine_iterations": 0, "finalists": 1, "baseline_starts": False, "improve_starts": 1}


def small_config(**overrides: object) -> object:
    """The small network of docs/online.md: a solve in about a second; above 256 (user, subchannel) pairs, so
    ligd's cheap phase."""
    return small_network(**overrides)


def discrete(plan: Plan) -> list[tuple[int, int, int | None, int | None]]:
    return [(u.user, u.split, u.uplink_subchannel, u.downlink_subchannel) for u in plan.decisions_by_user()]


# --- dynamics --------------------------------------------------------------------------------------------


def test_slot_zero_is_the_generated_scenario_and_runs_are_reproducible() -> None:
    config = small_config()
    dynamics = DynamicsConfig(speed_m_per_s=5.0, mean_session_s=20.0)
    first = simulate_snapshots(config, dynamics, 4, seed=7)
    again = simulate_snapshots(config, dynamics, 4, seed=7)
    other = simulate_snapshots(config, dynamics, 4, seed=8)
    assert sha256_of(first[0].scenario) == sha256_of(generate_scenario(config, seed=7))
    assert [sha256_of(item.scenario) for item in first] == [sha256_of(item.scenario) for item in again]
    assert sha256_of(first[3].scenario) != sha256_of(other[3].scenario)
    assert first[3].slot == 3 and first[3].time_s == pytest.approx(3.0)


def test_users_keep_their_identity_and_are_reassociated_to_the_nearest_ap() -> None:
    dynamics = DynamicsConfig(speed_m_per_s=30.0, mean_session_s=5.0, arrival_rate_per_s=3.0)
    snapshots = simulate_snapshots(small_config(), dynamics, 6, seed=1)
    seen_arrivals = seen_departures = 0
    for before, after in itertools.pairwise(snapshots):
        ids_before, ids_after = set(before.user_ids.tolist()), set(after.user_ids.tolist())
        assert len(ids_before - ids_after) == after.departed
        new = ids_after - ids_before
        assert len(new) == after.arrived
        assert all(user_id > max(ids_before) for user_id in new)  # new identities count up
        assert np.array_equal(user_ids_of(after.scenario), after.user_ids)
        seen_arrivals += after.arrived
        seen_departures += after.departed
        scenario = after.scenario
        nearest = np.argmin(distances_m(scenario.ap_positions_m, scenario.user_positions_m), axis=0)
        assert scenario.association == nearest.tolist()
    assert seen_arrivals > 0 and seen_departures > 0


@pytest.mark.parametrize("mobility", ["random_waypoint", "gauss_markov"])
def test_users_move_at_the_configured_speed_and_stay_in_the_area(mobility: str) -> None:
    dynamics = DynamicsConfig(mobility=mobility, speed_m_per_s=10.0, mean_session_s=None, slot_s=2.0)
    simulator = NetworkSimulator(small_config(), dynamics, seed=2)
    before = simulator.positions_m.copy()
    for _ in range(20):
        simulator.step()
        step = np.hypot(*(simulator.positions_m - before).T)
        before = simulator.positions_m.copy()
        if mobility == "random_waypoint":  # straight walks: never farther than speed x slot
            assert np.all(step <= 20.0 + 1e-9) and np.median(step) > 15.0
        else:  # a user about to leave the area turns back instead
            assert np.all(simulator.inside_area(simulator.positions_m))
            assert np.median(step) > 0.0
    assert np.isfinite(simulator.positions_m).all()


def test_fading_follows_jakes_correlation_and_keeps_unit_power() -> None:
    # 2 pi f_D T = 1.52 gives J0 = 0.5 at 10 m/s, 2 GHz
    slot_s = 1.52 / (2 * math.pi * 10.0 * 2e9 / 299_792_458.0)
    rho = float(jakes_correlation(np.array(10.0), 2e9, slot_s))
    assert rho == pytest.approx(0.5, abs=0.01)
    config = small_config(num_users=60, num_subchannels=40)
    dynamics = DynamicsConfig(mobility="static", speed_m_per_s=10.0, mean_session_s=None, slot_s=slot_s)
    simulator = NetworkSimulator(config, dynamics, seed=3)
    h_before = simulator.uplink_h.copy()
    simulator.step()
    h_after = simulator.uplink_h
    correlation = np.mean(h_after * np.conj(h_before)).real
    assert correlation == pytest.approx(rho, abs=0.03)
    assert np.mean(np.abs(h_after) ** 2) == pytest.approx(1.0, abs=0.03)
    frozen = NetworkSimulator(config, dynamics.model_copy(update={"fading": "frozen"}), seed=3)
    gains = frozen.first().scenario.uplink_gain
    assert np.allclose(frozen.step().scenario.uplink_gain, gains, rtol=1e-12)  # nobody moved, nothing faded


def test_workloads_change_within_their_range() -> None:
    dynamics = DynamicsConfig(mobility="static", workload_change_rate_per_s=0.5, workload_range_tasks=(2.0, 3.0))
    snapshot = simulate_snapshots(small_config(), dynamics, 3, seed=4)[-1]
    workload = snapshot.scenario.workload_tasks
    changed = workload != 1.0
    assert changed.any() and not changed.all()
    assert np.all((workload[changed] >= 2.0) & (workload[changed] <= 3.0))


def test_the_dynamics_section_is_read_from_the_scenario_config(tmp_path: Path) -> None:
    path = tmp_path / "moving.yaml"
    path.write_text("num_aps: 2\nnum_users: 8\nnum_subchannels: 4\ndynamics:\n  speed_m_per_s: 3.5\n")
    config, dynamics = load_simulation_config(path)
    assert config.num_users == 8 and dynamics.speed_m_per_s == 3.5 and dynamics.slot_s == 1.0
    assert load_config(path).num_users == 8  # scenario generate reads the same file
    path.write_text("num_aps: 2\ndynamics:\n  speed_m_per_s: -1\n")
    with pytest.raises(InputError, match="speed_m_per_s"):
        load_config(path)
    path.write_text("num_aps: 2\ndynamics:\n  sped_m_per_s: 1\n")
    with pytest.raises(InputError, match="sped_m_per_s"):
        load_simulation_config(path)


# --- warm start ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moving() -> tuple[object, object, Plan]:
    """Slot 0 and slot 1 of the small network at 3 m/s, and a cold plan of slot 0."""
    dynamics = DynamicsConfig(speed_m_per_s=3.0, mean_session_s=10.0, arrival_rate_per_s=2.0)
    first, second = simulate_snapshots(small_config(), dynamics, 2, seed=5)
    return first.scenario, second.scenario, solve(first.scenario, settings=QUICK)


def test_mapping_keeps_users_drops_gone_ones_and_is_feasible(moving: tuple) -> None:
    first, second, plan = moving
    model = SystemModel(second)
    mapped = Plan(users=plan_from_decision(model, map_decision(plan, first, model)))
    assert find_violations(second, mapped) == []
    before = {int(uid): entry for uid, entry in zip(user_ids_of(first), plan.decisions_by_user(), strict=True)}
    layers = second.user_num_layers()
    kept_same = 0
    for uid, entry in zip(user_ids_of(second), mapped.decisions_by_user(), strict=True):
        if int(uid) not in before:
            assert entry.split == layers[entry.user]  # a new user runs Device-Only
            continue
        old = before[int(uid)]
        if (old.split, old.uplink_subchannel, old.downlink_subchannel) == (
            entry.split,
            entry.uplink_subchannel,
            entry.downlink_subchannel,
        ):
            kept_same += 1
    kept = len(set(before) & set(user_ids_of(second).tolist()))
    assert kept_same >= kept - 2 * 3  # only the users that changed cell may lose their subchannel


@pytest.mark.parametrize("warm_path", [False, True])
def test_warm_start_is_never_worse_than_the_mapped_previous_plan(moving: tuple, warm_path: bool) -> None:
    first, second, plan = moving
    model = SystemModel(second)
    with torch.no_grad():
        mapped_value = float(model.objective(map_decision(plan, first, model)).item())
    settings = {**QUICK, "improve_starts": 1, "improve_max_rounds": 0, "warm_path": warm_path}  # the choice alone
    warm = solve(second, settings=settings, start=plan, start_scenario=first)
    assert warm.solver is not None and warm.solver.objective is not None
    assert warm.solver.objective <= mapped_value
    assert "previous plan" in warm.solver.extra["starts"]
    assert warm.solver.extra["starts"]["previous plan"] == pytest.approx(mapped_value, rel=1e-12)
    assert warm.solver.extra.get("warm_path", False) is warm_path


def test_the_warm_paths_starts_are_feasible_plans_of_the_new_slot(moving: tuple) -> None:
    first, second, plan = moving
    model = SystemModel(second)
    starts = warm_path_starts(model, map_decision(plan, first, model))
    assert [name for name, _ in starts][:2] == ["previous plan", "previous plan, rematched"]
    assert len(starts) == 3 and starts[2][0].startswith("every user at split ")
    for _, decision in starts:
        assert find_violations(second, Plan(users=plan_from_decision(model, decision))) == []
    # the rematched start keeps every split and power of the mapped plan, for the users it can still serve
    mapped, rematched = starts[0][1], starts[1][1]
    served = model.offloads(rematched.split)
    assert torch.equal(rematched.split[served], mapped.split[served])
    assert torch.equal(rematched.uplink_power_w, mapped.uplink_power_w)


def test_the_warm_path_improves_the_previous_plan_only_where_it_is_the_lowest_as_given(moving: tuple) -> None:
    """A previous plan that is not the lowest start as given (before the fallback of its conversion) is left to
    the rematched starts; one that is, is improvable with them. The choice reads each start's Gamma."""
    from nomasplit.solvers.algorithms.ligd import improvable_warm_starts

    first, second, plan = moving
    model = SystemModel(second)
    starts = warm_path_starts(model, map_decision(plan, first, model))
    names = {name for name, _ in starts}
    with torch.no_grad():
        given = [float(model.objective(decision).item()) for _, decision in starts]
    expected = names if given[0] <= min(given[1:]) else names - {"previous plan"}
    assert improvable_warm_starts(starts, given) == expected
    # Swapped so that the previous plan's slot holds the lowest start, and then the highest one.
    lowest, highest = min(range(len(starts)), key=given.__getitem__), max(range(len(starts)), key=given.__getitem__)
    others = [(f"other {i}", d) for i, (_, d) in enumerate(starts)]
    assert "previous plan" in improvable_warm_starts(
        [("previous plan", starts[lowest][1]), *others], [given[lowest], *given]
    )
    assert given[highest] > given[lowest]
    renamed = [("previous plan", starts[highest][1]), *others]
    assert improvable_warm_starts(renamed, [given[highest], *given]) == {f"other {i}" for i in range(len(starts))}


@pytest.mark.parametrize("settings", [{}, WARM_SETTINGS], ids=["full", "warm path"])
def test_warm_start_on_an_unchanged_network_keeps_the_cold_plan(settings: dict) -> None:
    """Nothing changed: the warm solve makes the same discrete plan (splits and subchannels) as the cold one.
    Its Gamma may be lower by a hair, never higher: the improvement phase polishes the cold plan's powers again
    (the cold plan's polish stops at its iteration cap), so exact equality of Gamma is not the property."""
    scenario = generate_scenario(small_config(), seed=3)
    cold = solve(scenario)
    warm = solve(scenario, settings=settings, start=cold)
    assert cold.solver is not None and warm.solver is not None
    assert discrete(warm) == discrete(cold)
    assert warm.solver.objective <= cold.solver.objective
    assert warm.solver.objective == pytest.approx(cold.solver.objective, rel=1e-3)


def test_an_uncertified_solve_is_the_same_plan_without_bound_or_hash() -> None:
    scenario = generate_scenario(small_config(), seed=4)
    certified = solve(scenario, settings=QUICK)
    lean = solve(scenario, settings=QUICK, certify=False)
    assert certified.solver is not None and lean.solver is not None
    assert discrete(lean) == discrete(certified) and lean.solver.objective == certified.solver.objective
    assert certified.solver.bound is not None and certified.scenario_sha256 == sha256_of(scenario)
    assert lean.solver.bound is None and lean.solver.gap is None and lean.scenario_sha256 is None


def test_a_plan_for_another_network_is_refused(moving: tuple) -> None:
    first, second, plan = moving
    other = generate_scenario(small_config(num_subchannels=12), seed=5)
    with pytest.raises(InputError, match="another network: its num_subchannels"):
        solve(other, settings=QUICK, start=plan, start_scenario=first)
    with pytest.raises(InputError, match="made for another scenario"):
        solve(second, settings=QUICK, start=plan)  # no start_scenario: the plan must be this scenario's
    with pytest.raises(InputError, match="takes no start plan"):
        solve(first, "device-only", start=plan)


# --- the time-slotted run ----------------------------------------------------------------------------------


def test_online_run_compares_policies_on_the_same_snapshots() -> None:
    dynamics = DynamicsConfig(speed_m_per_s=3.0)
    table = run_online(
        small_config(), dynamics, slots=3, policies=["static", "warm", "every-k"], every=2, settings=QUICK
    )
    assert tuple(table.columns) == COLUMNS
    assert len(table) == 9
    first = table[table["slot"] == 0]
    assert first["objective"].nunique() == 1  # every policy starts from the same plan
    static = table[table["policy"] == "static"].set_index("slot")
    warm = table[table["policy"] == "warm"].set_index("slot")
    every = table[table["policy"] == "every-k"].set_index("slot")
    assert not static.loc[1:, "replanned"].any() and static.loc[1:, "changed_users"].eq(0).all()
    assert warm.loc[1:, "replanned"].all()
    assert list(every["replanned"]) == [True, False, True]
    assert every.loc[1, "objective"] == pytest.approx(static.loc[1, "objective"])
    # a re-plan starts from the carried plan, so it does at least as well as carrying it
    assert (warm.loc[1:, "objective"] <= static.loc[1:, "objective"] + 1e-12).all()


def test_a_churn_cost_stops_small_gains_from_moving_users() -> None:
    dynamics = DynamicsConfig(speed_m_per_s=3.0, mean_session_s=None)
    free = run_online(small_config(), dynamics, slots=2, policies=["warm"], settings=QUICK)
    costly = run_online(small_config(), dynamics, slots=2, policies=["warm"], settings=QUICK, churn_cost=1e3)
    assert free.loc[1, "changed_users"] > 0
    assert costly.loc[1, "changed_users"] == 0 and not costly.loc[1, "replanned"]
    assert costly.loc[1, "objective_with_churn"] == costly.loc[1, "objective"]


def test_oracle_gets_ten_times_the_work() -> None:
    settings = oracle_settings({"improve_max_rounds": 30, "kicks": 2})
    assert settings["improve_max_rounds"] == 300 and settings["kicks"] == 20 and settings["improve_starts"] == 20


@pytest.mark.slow
def test_the_oracle_solves_every_slot_itself() -> None:
    table = run_online(small_config(), DynamicsConfig(), slots=2, policies=["static", "oracle"], settings=QUICK)
    oracle = table[table["policy"] == "oracle"].set_index("slot")
    static = table[table["policy"] == "static"].set_index("slot")
    assert oracle["replanned"].all() and np.isfinite(oracle["objective"]).all()
    assert oracle.loc[0, "objective"] <= static.loc[0, "objective"]  # its own slot-0 solve, with more work
    assert oracle.loc[1, "objective"] < static.loc[1, "objective"]


def test_online_run_rejects_bad_arguments() -> None:
    with pytest.raises(InputError, match="unknown policy 'lazy'"):
        run_online(small_config(), DynamicsConfig(), slots=2, policies=["lazy"])
    with pytest.raises(InputError, match="slots must be at least 1"):
        run_online(small_config(), DynamicsConfig(), slots=0)


# --- CLI ---------------------------------------------------------------------------------------------------

runner = CliRunner()
NO_BAR = ["--no-progress"]


def write_config(path: Path, dynamics: str = "  speed_m_per_s: 3.0\n") -> Path:
    path.write_text(
        "num_aps: 3\nnum_users: 30\nnum_subchannels: 10\nmodel: nin\ndevice_flops_per_s: 1.0e+9\n"
        "device_switched_capacitance: 1.0e-27\npath_loss_model: power_law\ndynamics:\n" + dynamics
    )
    return path


def test_simulate_writes_the_table_and_the_figure(tmp_path: Path) -> None:
    config = write_config(tmp_path / "small.yaml")
    out = tmp_path / "run"
    settings = [item for key, value in QUICK.items() for item in ("--set", f"{key}={str(value).lower()}")]
    command = ["simulate", str(config), "--slots", "2", "--policy", "static,warm", "-p", "cold", "--out", str(out)]
    result = runner.invoke(app, [*command, *NO_BAR, *settings])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "online.parquet")
    assert {"slot", "policy", "objective", "latency_s", "energy_j", "offloading_users", "replan_s"} <= set(
        table.columns
    )
    assert "changed_users" in table.columns
    assert sorted(table["policy"].unique()) == ["cold", "static", "warm"] and len(table) == 6
    assert (out / "online.png").stat().st_size > 0 and (out / "online.svg").stat().st_size > 0
    assert "warm: mean Gamma" in result.output


@pytest.mark.parametrize(
    ("dynamics", "flags", "message"),
    [
        ("  speed_m_per_s: -2\n", [], "speed_m_per_s"),
        ("  speed_m_per_s: 1\n", ["--speed", "-3"], "--speed"),
        ("  slot_s: 5\n", ["--duration-s", "2"], "longer than the run"),
        ("  slot_s: 1\n", ["--policy", "lazy"], "--policy 'lazy'"),
        ("  slot_s: 1\n", ["--slots", "0"], "--slots must be at least 1"),
        ("  slot_s: 1\n", ["--set", "bogus=1"], "bogus"),
    ],
)
def test_simulate_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, dynamics: str, flags: list[str], message: str
) -> None:
    config = write_config(tmp_path / "bad.yaml", dynamics)
    result = runner.invoke(app, ["simulate", str(config), "--out", str(tmp_path / "o"), "--no-progress", *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_simulate_refuses_a_folder_of_other_files_and_its_own_config_as_output(tmp_path: Path) -> None:
    config = write_config(tmp_path / "small.yaml")
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["simulate", str(config), "--out", str(out), *NO_BAR])
    assert result.exit_code == 2 and "did not write" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["simulate", str(config), "--out", str(config), *NO_BAR])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (out / "notes.txt").read_text() == "mine" and not (out / "online.parquet").exists()


def test_simulate_refuses_an_initial_plan_for_another_network(tmp_path: Path) -> None:
    config = write_config(tmp_path / "small.yaml")
    other = generate_scenario(small_config(num_subchannels=12), seed=0)
    plan_path = tmp_path / "other-plan.json"
    save(plan_path, solve(other, settings=QUICK))
    out = tmp_path / "o"
    command = ["simulate", str(config), "--slots", "2", "--initial-plan", str(plan_path), "--out", str(out)]
    result = runner.invoke(app, [*command, *NO_BAR])
    assert result.exit_code == 2, result.output
    assert "another scenario" in result.output and "Traceback" not in result.output


def test_static_mapping_of_a_plan_keeps_it_when_nothing_changed() -> None:
    scenario = generate_scenario(small_config(), seed=6)
    plan = solve(scenario, settings=QUICK)
    again = mapped_plan(plan, scenario, scenario)
    assert discrete(again) == discrete(plan)
    assert [round(u.uplink_power_w, 12) for u in again.users] == [round(u.uplink_power_w, 12) for u in plan.users]


# --- docs/online.md ----------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "online.md"
SCENARIO_DOCS = DOCS.with_name("scenarios.md")


@pytest.mark.parametrize("page", [DOCS, SCENARIO_DOCS], ids=["online.md", "scenarios.md"])
def test_the_docs_table_of_dynamics_keys_is_the_config_itself(page: Path) -> None:
    assert dynamics_reference_markdown() in page.read_text(encoding="utf-8")


def test_the_scenario_docs_dynamics_example_spells_out_the_defaults(tmp_path: Path) -> None:
    text = SCENARIO_DOCS.read_text(encoding="utf-8")
    section = text[text.index("## The `dynamics` section") :]
    yaml_text = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert yaml_text is not None
    path = tmp_path / "dynamics.yaml"
    path.write_text(yaml_text.group(1))
    data = read_yaml(path)
    assert parse_dynamics(data["dynamics"]) == DynamicsConfig()
    assert set(data["dynamics"]) < set(DynamicsConfig.model_fields)


def test_the_docs_config_is_the_small_network_and_its_python_runs(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```(yaml|python)\n(.*?)```", text, flags=re.S)
    yaml_text = next(body for kind, body in blocks if kind == "yaml")
    path = tmp_path / "online-small.yaml"
    path.write_text(yaml_text)
    config, dynamics = load_simulation_config(path)
    small = small_network()
    assert config.model_copy(update={"description": small.description}) == small  # the description aside
    assert dynamics == DynamicsConfig(speed_m_per_s=3.0)
    python = next(body for kind, body in blocks if kind == "python").replace("slots=5", "slots=2")
    namespace: dict[str, object] = {}
    exec(
        compile(python.replace("solve(first.scenario)", f"solve(first.scenario, settings={QUICK!r})"), "doc", "exec"),
        namespace,
    )
    assert len(namespace["table"]) == 4  # type: ignore[arg-type]


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_the_replanning_benchmark_runs_as_documented(tmp_path: Path) -> None:
    """docs/online.md's benchmark command at a tiny size: the summary lines it quotes, with the load."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "benchmarks.online_replan", "small", "--slots", "2", "--fading", "frozen"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "load average before:" in result.stdout and "load average after:" in result.stdout
    assert re.search(r"warm re-plan: median [0-9.]+ s wall, [0-9.]+ s CPU", result.stdout)
    assert re.search(r"warm Gamma vs cold: median [-+][0-9.]+ %", result.stdout)
