"""Experiments: measures on hand-checkable toys, settings hashes, tasks, and sweeps that lose nothing."""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nomasplit.experiments import (
    FigureSpec,
    ReproductionSettings,
    SweepSpec,
    build_tasks,
    figure_table,
    load_results,
    mean_ci95,
    paper_settings,
    per_seed_ratios,
    quick_settings,
    run_sweep,
)
from nomasplit.experiments.measures import t_quantile_975
from nomasplit.experiments.sweep import failure_path, missing_tasks, result_path
from nomasplit.solvers import ALGORITHMS, Algorithm, AlgorithmSettings, SolveContext, SolveOutcome

#: Columns that depend on timing, not on the result.
TIMING = ["solver_wall_time_s", "task_wall_time_s"]

TINY_NETWORK = {
    "num_aps": 2,
    "users_per_ap": 3,
    "num_subchannels": 3,
    "uplink_bandwidth_hz": 3e6,
    "downlink_bandwidth_hz": 3e6,
}


class FlakySettings(AlgorithmSettings):
    """The toy algorithm fails on this seed and sleeps this long before answering."""

    fail_seed: int | None = None
    sleep_s: float = 0.0


def _run_flaky(context: SolveContext, settings: FlakySettings) -> SolveOutcome:
    if settings.fail_seed is not None and context.seed == settings.fail_seed:
        raise RuntimeError(f"toy failure on seed {context.seed}")
    time.sleep(settings.sleep_s)
    return ALGORITHMS["device-only"].run(context, ALGORITHMS["device-only"].settings_type())


#: Registered only while a test that asks for the ``flaky_algorithm`` fixture runs (or by the killable script).
FLAKY = Algorithm(
    name="test-flaky",
    summary="Device-Only that fails on one seed (tests only)",
    cite="-",
    settings_type=FlakySettings,
    run=_run_flaky,
)


@pytest.fixture
def flaky_algorithm(monkeypatch: pytest.MonkeyPatch) -> Algorithm:
    """``test-flaky`` in the global registry for one test, removed again after it."""
    assert FLAKY.name not in ALGORITHMS
    monkeypatch.setitem(ALGORITHMS, FLAKY.name, FLAKY)
    return FLAKY


def tiny_settings(
    methods: tuple[str, ...] = ("device-only", "edge-only", "neurosurgeon"),
    num_seeds: int = 2,
    algorithm_settings: dict | None = None,
    base: dict | None = None,
) -> ReproductionSettings:
    sweeps = (
        SweepSpec(name="models", parameter="model", values=("nin", "vgg16"), methods=methods, label="model"),
        SweepSpec(
            name="speed",
            parameter="device_flops_per_s",
            values=(1e9, 1e11),
            methods=methods,
            overrides={"model": "nin"},
            label="device speed",
            log_x=True,
        ),
    )
    shown = tuple(m for m in methods if m != "device-only")
    figures = (
        FigureSpec(key="2", title="t2", sweep="models", measure="latency", baseline="device-only", methods=shown),
        FigureSpec(
            key="extra-device",
            title="te",
            sweep="speed",
            measure="energy",
            baseline="device-only",
            methods=shown,
        ),
    )
    return ReproductionSettings(
        base=TINY_NETWORK if base is None else base,
        sweeps=sweeps,
        figures=figures,
        num_seeds=num_seeds,
        algorithm_settings=algorithm_settings or {},
    )


def _table(tasks, out: Path) -> pd.DataFrame:
    frame = load_results(tasks, out).drop(columns=TIMING)
    return frame.sort_values(["sweep", "value", "algorithm", "seed"]).reset_index(drop=True)


# --- measures -----------------------------------------------------------------------------------------------


def test_mean_ci95_matches_the_t_interval_by_hand():
    mean, low, high = mean_ci95(np.array([1.0, 2.0, 3.0]))
    half = 4.303 * 1.0 / math.sqrt(3)  # sd = 1, t_{0.975, 2} = 4.303
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))
    single = mean_ci95(np.array([5.0]))
    assert single[0] == 5.0 and math.isnan(single[1]) and math.isnan(single[2])
    assert math.isnan(mean_ci95(np.array([np.nan]))[0])


def test_t_quantile_decreases_towards_the_normal_quantile():
    quantiles = [t_quantile_975(df) for df in range(1, 200)]
    assert all(a > b for a, b in itertools.pairwise(quantiles))
    assert quantiles[-1] == pytest.approx(1.96, abs=0.02)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def _toy_results() -> pd.DataFrame:
    rows = []
    # latency of device-only 2 and 4 s (seeds 0, 1), of method A 1 and 1 s; energies 3, 3 vs 6, 2
    for seed, (lat_do, lat_a, en_do, en_a) in enumerate([(2.0, 1.0, 3.0, 6.0), (4.0, 1.0, 3.0, 2.0)]):
        for value, scale in (("10", 1.0), ("20", 2.0)):
            rows.append(
                dict(
                    sweep="s",
                    value=value,
                    x=float(value),
                    algorithm="device-only",
                    seed=seed,
                    mean_latency_s=lat_do * scale,
                    mean_energy_j=en_do * scale,
                )
            )
            rows.append(
                dict(
                    sweep="s",
                    value=value,
                    x=float(value),
                    algorithm="a",
                    seed=seed,
                    mean_latency_s=lat_a,
                    mean_energy_j=en_a,
                )
            )
    return pd.DataFrame(rows)


def test_ratios_are_baseline_mean_over_method_mean_per_seed():
    results = _toy_results()
    figure = FigureSpec(key="x", title="t", sweep="s", measure="latency", baseline="device-only", methods=("a",))
    ratios = per_seed_ratios(results, figure).sort_values(["value", "seed"])
    assert ratios["ratio"].tolist() == pytest.approx([2.0, 4.0, 4.0, 8.0])
    table = figure_table(results, figure, ["10", "20"])
    # geometric means over seeds: sqrt(2 * 4), sqrt(4 * 8)
    assert table["mean"].tolist() == pytest.approx([math.sqrt(8.0), math.sqrt(32.0)])
    half = 12.706 * math.log(2.0) / math.sqrt(2) / math.sqrt(2)  # sd of (log 2, log 4) = log(2) / sqrt(2)
    log_mean = (math.log(2.0) + math.log(4.0)) / 2
    assert table["ci_high"].iloc[0] == pytest.approx(math.exp(log_mean + half))
    assert table["ci_low"].iloc[0] == pytest.approx(math.exp(log_mean - half))
    energy = FigureSpec(key="y", title="t", sweep="s", measure="energy", baseline="device-only", methods=("a",))
    assert figure_table(results, energy, ["10", "20"])["mean"].tolist() == pytest.approx(
        [math.sqrt(0.5 * 1.5), math.sqrt(1.0 * 3.0)]
    )


def test_ratio_intervals_stay_positive_however_spread_the_seeds():
    from nomasplit.experiments.measures import geometric_mean_ci95

    ratios = np.array([0.017, 0.5, 0.05])  # the arithmetic t-interval of these goes below 0
    assert mean_ci95(ratios)[1] < 0
    mean, low, high = geometric_mean_ci95(ratios)
    assert 0 < low < mean < high
    assert mean == pytest.approx(float(np.exp(np.log(ratios).mean())))


def test_baseline_at_a_fixed_point_normalises_every_point_to_it():
    results = _toy_results()
    figure = FigureSpec(
        key="x",
        title="t",
        sweep="s",
        measure="latency",
        baseline="device-only",
        methods=("a", "device-only"),
        baseline_at="20",
    )
    table = figure_table(results, figure, ["10", "20"])
    device = table[table["algorithm"] == "device-only"]["mean"].tolist()
    assert device == pytest.approx([2.0, 1.0])  # device-only at 10 is twice as fast as at the reference 20


# --- settings, hashes, tasks --------------------------------------------------------------------------------


def test_settings_hash_separates_settings_and_ignores_seeds_and_figure_selection():
    settings = tiny_settings()
    same = {
        settings.settings_hash(),
        settings.model_copy(update={"num_seeds": 7}).settings_hash(),
        settings.select_figures(["2"]).settings_hash(),
    }
    assert len(same) == 1
    other_base = tiny_settings(base={**TINY_NETWORK, "num_subchannels": 4})
    other_algorithm = tiny_settings(algorithm_settings={"neurosurgeon": {"mode": "energy"}})
    hashes = {settings.settings_hash(), other_base.settings_hash(), other_algorithm.settings_hash()}
    assert len(hashes) == 3
    assert paper_settings().settings_hash() != quick_settings().settings_hash()


def test_tasks_share_a_scenario_per_point_and_seed_and_differ_by_hash(tmp_path):
    settings = tiny_settings()
    tasks = build_tasks(settings)
    assert len(tasks) == 2 * 2 * 2 * 3  # sweeps x points x seeds x methods
    hashes = {task.task_hash for task in tasks}
    assert len(hashes) == len(tasks)
    by_scenario: dict[str, set[str]] = {}
    for task in tasks:
        by_scenario.setdefault(task.scenario_key, set()).add(task.algorithm)
    assert all(methods == {"device-only", "edge-only", "neurosurgeon"} for methods in by_scenario.values())
    other = build_tasks(tiny_settings(base={**TINY_NETWORK, "num_subchannels": 4}))
    assert {result_path(tmp_path, t).parent for t in other}.isdisjoint({result_path(tmp_path, t).parent for t in tasks})
    assert hashes.isdisjoint({task.task_hash for task in other})


def test_select_figures_keeps_only_their_sweeps_and_rejects_unknown_keys():
    settings = paper_settings().select_figures(["7", "10"])
    assert [sweep.name for sweep in settings.sweeps] == ["subchannels"]
    from nomasplit.errors import InputError

    with pytest.raises(InputError, match="unknown figure"):
        paper_settings().select_figures(["1"])


def test_paper_settings_are_section_vi_a():
    settings = paper_settings()
    config = settings.point_config(settings.sweep("models"), "vgg16")
    assert (config.num_aps, config.total_users, config.num_subchannels, config.cluster_size) == (
        5,
        1250,
        250,
        3,
    )
    assert config.uplink_bandwidth_hz == 10e6 and config.uplink_power_max_dbm == 25.0
    assert {figure.key for figure in settings.figures} >= {str(k) for k in range(2, 12)}
    bandwidth = settings.sweep("bandwidth")
    point = settings.point_config(bandwidth, 4e4)
    assert point.uplink_bandwidth_hz / point.num_subchannels == pytest.approx(4e4)


# --- sweeps -------------------------------------------------------------------------------------------------


def test_a_failing_task_is_recorded_and_does_not_stop_the_others(tmp_path, flaky_algorithm):
    settings = tiny_settings(methods=("device-only", "test-flaky"), algorithm_settings={"test-flaky": {"fail_seed": 1}})
    tasks = build_tasks(settings)
    seen = []
    outcome = run_sweep(tasks, tmp_path, workers=0, progress=False, on_failure=seen.append)
    failed = [task for task in tasks if task.algorithm == "test-flaky" and task.seed == 1]
    assert outcome.num_failed == len(failed) == len(seen) == 4
    assert outcome.num_computed == len(tasks) - len(failed)
    record = failure_path(tmp_path, failed[0]).read_text()
    assert "toy failure on seed 1" in record and '"seed": 1' in record
    assert {f.task.seed for f in seen} == {1}
    # the next run retries only the failed tasks; with the failure gone (other settings) nothing is lost
    again = run_sweep(tasks, tmp_path, workers=0, progress=False)
    assert again.num_cached == len(tasks) - len(failed) and again.num_failed == len(failed)


def test_results_are_deterministic_and_a_rerun_computes_nothing(tmp_path):
    settings = tiny_settings()
    tasks = build_tasks(settings)
    first = run_sweep(tasks, tmp_path / "a", workers=0, progress=False)
    assert first.num_computed == len(tasks) and first.num_failed == 0
    assert run_sweep(tasks, tmp_path / "a", workers=0, progress=False).num_computed == 0
    run_sweep(tasks, tmp_path / "b", workers=0, progress=False)
    pd.testing.assert_frame_equal(_table(tasks, tmp_path / "a"), _table(tasks, tmp_path / "b"))


_KILLABLE = textwrap.dedent(
    """
    import sys, json
    sys.path.insert(0, {tests!r})
    import test_experiments as t
    from nomasplit.experiments import build_tasks, run_sweep
    from nomasplit.solvers import register
    register(t.FLAKY)
    settings = t.tiny_settings(methods=("device-only", "test-flaky"),
                               algorithm_settings={{"test-flaky": {{"sleep_s": 0.15}}}})
    run_sweep(build_tasks(settings), sys.argv[1], workers=0, progress=False)
    """
)


@pytest.mark.slow  # 6-11 s: the full suite runs it, the fast loop does not
def test_a_sweep_killed_with_sigkill_and_resumed_equals_an_uninterrupted_one(tmp_path, flaky_algorithm):
    script = tmp_path / "sweep.py"
    script.write_text(_KILLABLE.format(tests=str(Path(__file__).parent)))
    settings = tiny_settings(
        methods=("device-only", "test-flaky"), algorithm_settings={"test-flaky": {"sleep_s": 0.15}}
    )
    tasks = build_tasks(settings)
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(script), str(killed)], start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(missing_tasks(tasks, killed)) > len(tasks) - 3:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    left = len(missing_tasks(tasks, killed))
    assert 0 < left < len(tasks), "the kill should land in the middle of the sweep"
    resumed = run_sweep(tasks, killed, workers=0, progress=False)
    assert resumed.num_computed == left and resumed.num_cached == len(tasks) - left
    run_sweep(tasks, tmp_path / "straight", workers=0, progress=False)
    pd.testing.assert_frame_equal(_table(tasks, killed), _table(tasks, tmp_path / "straight"))


def test_dask_local_cluster_gives_the_same_results(tmp_path):
    pytest.importorskip("dask.distributed")
    from nomasplit.experiments.sweep import dask_client, local_dask_cluster

    settings = tiny_settings(methods=("device-only", "edge-only"), num_seeds=1)
    tasks = build_tasks(settings)
    # connected by address, as `--scheduler` does (dask_client's handshake thread and worker check)
    with local_dask_cluster(n_workers=1, processes=False) as cluster, warnings.catch_warnings():
        # in-process workers share this process's environment: dask_client may warn about the trim threshold
        warnings.filterwarnings("ignore", message=".*MALLOC_TRIM_THRESHOLD_")
        with dask_client(cluster.scheduler_address) as client:
            outcome = run_sweep(tasks, tmp_path / "dask", client=client, progress=False)
    assert outcome.num_computed == len(tasks) and outcome.num_failed == 0
    run_sweep(tasks, tmp_path / "local", workers=0, progress=False)
    pd.testing.assert_frame_equal(_table(tasks, tmp_path / "dask"), _table(tasks, tmp_path / "local"))


# --- report verdicts ----------------------------------------------------------------------------------------


def _fig6_table(ecc_noma: list[float], neurosurgeon: list[float]) -> pd.DataFrame:
    rows = []
    for index, value in enumerate(("10", "90")):
        for method, means in (("ecc-noma", ecc_noma), ("neurosurgeon", neurosurgeon)):
            mean = means[index]
            rows.append(dict(value=value, x=float(value), algorithm=method, mean=mean, ci_low=mean, ci_high=mean))
    return pd.DataFrame(rows)


def _verdict_table(rows: list[tuple[str, str, float, float, float]], offloading: float = 0.5) -> pd.DataFrame:
    """A figure table from (value, method, mean, low, high) rows."""
    return pd.DataFrame(
        [
            dict(
                value=value,
                x=float("nan"),
                algorithm=method,
                mean=mean,
                ci_low=low,
                ci_high=high,
                offloading=offloading,
            )
            for value, method, mean, low, high in rows
        ]
    )


def test_a_method_that_never_offloads_is_never_close_to_a_quoted_number():
    from nomasplit.experiments.verdicts import compare_quoted

    # ECC equals Device-Only: 1.0 everywhere, no user offloads; the paper's Fig. 3 range is 0.85-0.97, and
    # 1.0 lies within 15 % of it: it must still not count as close.
    local = {
        "3": _verdict_table([(m, "ecc-oma", 1.0, 1.0, 1.0) for m in ("nin", "tiny-yolov2", "vgg16")], offloading=0.0),
        "2": _verdict_table([("nin", "ecc-oma", 1.0, 1.0, 1.0)], offloading=0.0),
    }
    verdicts = {row["key"]: row["verdict"] for row in compare_quoted(local)}
    assert verdicts["fig3-ecc-oma-range"] == "differs: never offloads"
    assert verdicts["fig2-ecc-oma-nin"] == "differs: never offloads"
    offloading = {"3": _verdict_table([(m, "ecc-oma", 0.98, 0.97, 0.99) for m in ("nin", "tiny-yolov2", "vgg16")])}
    assert {row["key"]: row["verdict"] for row in compare_quoted(offloading)}["fig3-ecc-oma-range"] == "close"


def test_an_ordering_agrees_only_when_the_intervals_separate():
    from nomasplit.experiments.verdicts import check_trends

    def fig2(noma: tuple[float, float, float]) -> dict[str, pd.DataFrame]:
        rows = []
        for model in ("nin", "vgg16"):
            rows += [(model, "ecc-oma", 2.0, 1.8, 2.2), (model, "ecc-noma", *noma), (model, "edge-only", 1.5, 1.4, 1.6)]
        return {"2": _verdict_table(rows)}

    def verdict(tables: dict[str, pd.DataFrame]) -> str:
        return next(
            row["verdict"] for row in check_trends(tables) if row["statement"] == "ECC-NOMA is faster than ECC (OMA)"
        )

    assert verdict(fig2((3.0, 2.5, 3.5))) == "agrees"
    assert verdict(fig2((2.3, 1.9, 2.7))) == "inconclusive"  # ahead in the mean, intervals overlap
    assert verdict(fig2((1.9, 1.8, 2.0))) == "disagrees"


def test_the_paired_verdict_tests_each_ordering_seed_by_seed():
    """Seeds (topologies) that move both methods together make the separate intervals overlap; per seed the
    order holds, so 'paired' agrees while the verdict stays inconclusive. An order that flips between seeds
    agrees in neither."""
    from nomasplit.experiments.measures import geometric_mean_ci95
    from nomasplit.experiments.verdicts import check_trends

    def run(noma_over_oma: list[float]) -> dict:
        oma = [2.0, 3.0, 4.5, 2.5, 3.5]  # per-seed speedups of ECC-OMA: a wide spread between seeds
        per_seed = {"ecc-oma": oma, "ecc-noma": [o * g for o, g in zip(oma, noma_over_oma, strict=True)]}
        per_seed["edge-only"] = [o / 1.5 for o in oma]
        rows, ratio_rows = [], []
        for method, values in per_seed.items():
            rows.append(("nin", method, *geometric_mean_ci95(np.array(values))))
            ratio_rows += [
                dict(value="nin", x=math.nan, algorithm=method, seed=s, ratio=v) for s, v in enumerate(values)
            ]
        tables, ratios = {"2": _verdict_table(rows)}, {"2": pd.DataFrame(ratio_rows)}
        return next(
            row for row in check_trends(tables, ratios) if row["statement"] == "ECC-NOMA is faster than ECC (OMA)"
        )

    steady = run([1.10, 1.12, 1.09, 1.11, 1.10])
    assert (steady["verdict"], steady["paired_verdict"]) == ("inconclusive", "agrees")
    flipping = run([1.4, 0.9, 1.3, 0.85, 1.2])
    assert flipping["verdict"] == "inconclusive" and flipping["paired_verdict"] == "inconclusive"
    behind = run([0.95, 0.97, 0.96, 0.94, 0.95])
    assert (behind["verdict"], behind["paired_verdict"]) == ("disagrees", "disagrees")
    assert run([1.1] * 5)["paired_verdict"] == "agrees"  # zero spread: the interval is the point


def test_quoted_points_match_however_the_model_was_given(tmp_path):
    from nomasplit.experiments.checks import matches_point
    from nomasplit.experiments.verdicts import compare_quoted
    from nomasplit.zoo import load_bundled_profile

    assert matches_point("nin-in8-a16", "nin") and matches_point("10.0", "10") and not matches_point("vgg16", "nin")
    path = tmp_path / "my-nin.json"
    path.write_text(load_bundled_profile("nin-in8").model_dump_json())
    assert matches_point(str(path), "nin")
    table = {"2": _verdict_table([(str(path), "ecc-oma", 4.0, 3.9, 4.1), ("vgg16-in8", "ecc-oma", 5.0, 4.9, 5.1)])}
    row = next(row for row in compare_quoted(table) if row["key"] == "fig2-ecc-oma-nin")
    assert row["verdict"] == "agrees" and row["ours_mean"] == 4.0


def test_trend_verdicts_need_a_real_difference_and_quoted_numbers_compare_to_the_paper():
    from nomasplit.experiments.verdicts import check_trends, compare_quoted

    paper_like = {"6": _fig6_table([7.1, 3.85], [6.3, 1.9])}
    verdicts = {row["statement"]: row["verdict"] for row in check_trends(paper_like) if row["figure"] == "6"}
    assert set(verdicts.values()) == {"agrees"}
    quoted = [row for row in compare_quoted(paper_like) if row["figure"] == "6"]
    assert [row["verdict"] for row in quoted] == ["agrees"] * 4
    tied = {"6": _fig6_table([1.0, 1.0], [1.0, 1.0])}
    assert {row["verdict"] for row in check_trends(tied) if row["figure"] == "6"} == {"disagrees"}
    assert {row["verdict"] for row in compare_quoted(tied) if row["figure"] == "6"} == {"differs"}


def test_device_speed_sweep_keeps_the_energy_per_flop() -> None:
    from nomasplit.experiments.figures import DEVICE_SPEED_AT_FIXED_ENERGY
    from nomasplit.experiments.presets import paper_settings

    settings = paper_settings(num_seeds=1)
    sweep = next(sweep for sweep in settings.sweeps if sweep.parameter == DEVICE_SPEED_AT_FIXED_ENERGY)
    energies = []
    for value in sweep.values:
        config = settings.point_config(sweep, value)
        assert config.device_flops_per_s == value
        energies.append(
            config.device_switched_capacitance * config.device_flops_per_s**2 * config.device_cycles_per_flop
        )
    assert max(energies) == pytest.approx(min(energies), rel=1e-12)
    assert energies[0] == pytest.approx(2.5e-10, rel=1e-12)  # the default device's 0.25 nJ/FLOP


def test_pseudo_parameters_set_what_they_name() -> None:
    from nomasplit.experiments.figures import (
        DEVICE_ENERGY_PER_FLOP,
        EDGE_ENERGY_PER_FLOP,
        EDGE_UNITS_PER_USER,
        USERS_PER_SUBCHANNEL,
        resolve_config,
    )

    config = resolve_config(
        {
            "num_aps": 3,
            "users_per_ap": 20,
            "num_subchannels": 20,
            "uplink_bandwidth_hz": 0.8e6,
            "downlink_bandwidth_hz": 0.8e6,
            "device_flops_per_s": 1e9,
            DEVICE_ENERGY_PER_FLOP: 1e-9,
            EDGE_ENERGY_PER_FLOP: 1.1e-9,
            USERS_PER_SUBCHANNEL: 2.0,
            EDGE_UNITS_PER_USER: 0.5,
        }
    )
    assert config.num_subchannels == 10  # 20 users per AP, 2 per subchannel
    assert config.uplink_bandwidth_hz / config.num_subchannels == pytest.approx(40e3)  # the subchannel is kept
    joules = config.device_switched_capacitance * config.device_flops_per_s**2 * config.device_cycles_per_flop
    assert joules == pytest.approx(1e-9)
    edge = config.edge_switched_capacitance * config.edge_unit_flops_per_s**2 * config.edge_cycles_per_flop
    assert edge == pytest.approx(1.1e-9)
    assert config.edge_capacity_units == pytest.approx(10.0)  # 0.5 units x 20 users
    from nomasplit.errors import InputError

    with pytest.raises(InputError, match="must be positive"):
        resolve_config({USERS_PER_SUBCHANNEL: 0.0})


def test_regime_maps_are_row_sweeps_and_can_be_selected_or_dropped() -> None:
    from nomasplit.experiments.presets import calibrated_settings

    settings = calibrated_settings(quick=True, num_seeds=1)
    assert [regime.key for regime in settings.regime_maps] == ["regime-speed-bandwidth", "regime-overload-speed"]
    rows = {row.name for regime in settings.regime_maps for row in regime.row_sweeps()}
    assert rows <= {sweep.name for sweep in settings.sweeps}
    only = settings.select_figures(["regime-overload-speed"])
    assert {sweep.name for sweep in only.sweeps} == {row.name for row in only.regime_maps[0].row_sweeps()}
    plain = settings.without_regime_maps()
    assert not plain.regime_maps and rows.isdisjoint({sweep.name for sweep in plain.sweeps})


def test_the_shipped_calibration_lies_in_the_box_and_builds_both_scales() -> None:
    from nomasplit.experiments.presets.calibrated import (
        CALIBRATION_BOX,
        FITTED_QUOTES,
        calibrated_settings,
        shipped_parameters,
    )

    parameters = shipped_parameters()
    for name, parameter_range in CALIBRATION_BOX.items():
        assert getattr(parameters, name) in parameter_range.values, name
    assert parameters.fit["fitted"] == list(FITTED_QUOTES) and parameters.fit["loss"] >= 0
    for quick in (True, False):
        settings = calibrated_settings(parameters, quick=quick)
        assert settings.preset == "calibrated" and settings.quick is quick
        assert settings.fitted == FITTED_QUOTES and len(settings.regime_maps) == 2
        assert len(build_tasks(settings.select_figures(["2"]))) > 0


def test_the_user_placement_reading_reaches_every_scenario_and_the_report() -> None:
    from nomasplit.experiments.presets.calibrated import CALIBRATION_BOX, calibrated_settings, shipped_parameters
    from nomasplit.generate import generate_scenario, parse_config

    shipped = shipped_parameters()
    # a reading the search carries unchanged, not a fitted parameter
    assert "user_placement" not in CALIBRATION_BOX and shipped.values()["user_placement"] == "per_cell"
    readings = {}
    for placement in ("per_cell", "area"):
        parameters = shipped.model_copy(update={"user_placement": placement})
        settings = calibrated_settings(parameters, quick=True, num_seeds=1)
        assert settings.base["user_placement"] == placement
        readings[placement] = dict(settings.readings)["Users per AP (calibrated)"]
        assert f"'{placement}'" in readings[placement]
        # the scenarios the sweeps build are placed that way: with 'area' an AP's count varies
        task = build_tasks(settings.select_figures(["2"]))[0]
        scenario = generate_scenario(parse_config(task.config), seed=task.seed)
        counts = np.bincount(np.asarray(scenario.association), minlength=scenario.num_aps)
        assert counts.sum() == scenario.num_aps * task.config["users_per_ap"]
        # per cell: U_n users in every cell; over the area: the same number of users, unevenly served
        assert (len(set(counts.tolist())) == 1) is (placement == "per_cell"), counts
    assert readings["per_cell"] != readings["area"]


def test_settings_files_with_the_old_device_key_still_load(tmp_path):
    from nomasplit.errors import InputError
    from nomasplit.experiments.figures import load_settings
    from nomasplit.io import write_json

    data = tiny_settings().model_dump(mode="json")
    assert data["torch_device"] == "cpu"
    write_json(tmp_path / "new.json", data)
    write_json(tmp_path / "old.json", {**{k: v for k, v in data.items() if k != "torch_device"}, "device": "cpu"})
    write_json(tmp_path / "both.json", {**data, "device": "cpu"})
    new, old = load_settings(tmp_path / "new.json"), load_settings(tmp_path / "old.json")
    assert old.torch_device == "cpu" and old.settings_hash() == new.settings_hash()
    with pytest.raises(InputError, match="device"):
        load_settings(tmp_path / "both.json")
