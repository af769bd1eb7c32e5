"""``nomasplit reproduce`` end to end on a CI-sized network: all ten paper figures, the extras, the report."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.experiments import quick_settings

TINY = {
    "num_aps": 2,
    "users_per_ap": 3,
    "num_subchannels": 3,
    "uplink_bandwidth_hz": 3e6,
    "downlink_bandwidth_hz": 3e6,
}
#: Two points per sweep, small enough for CI; the subchannel and density sweeps keep their own parameter.
TINY_VALUES = {
    "models": ("nin", "vgg16"),
    "users": (2, 4),
    "subchannels": (2, 4),
    "workload": (100.0, 500.0),
    "device-speed": (1e9, 1e12),
    "bandwidth": (1e4, 4e6),
    "overload": (1.0, 2.0),
    "dag-models": ("resnet18", "mobilenet-v2"),
}


def ci_settings_file(tmp_path):
    settings = quick_settings(num_seeds=1)
    sweeps = []
    for sweep in settings.sweeps:
        overrides = {**sweep.overrides, **{k: v for k, v in TINY.items() if k != sweep.parameter}}
        if sweep.parameter == "num_subchannels":
            overrides.pop("uplink_bandwidth_hz")
            overrides.pop("downlink_bandwidth_hz")
        sweeps.append(sweep.model_copy(update={"overrides": overrides, "values": TINY_VALUES[sweep.name]}))
    tiny = settings.model_copy(update={"sweeps": tuple(sweeps), "base": {}, "preset": "custom"})
    path = tmp_path / "ci.json"
    path.write_text(json.dumps(tiny.model_dump(mode="json")))
    return path


@pytest.mark.slow
def test_ci_sized_reproduction_writes_every_figure_results_and_report(tmp_path):
    settings_path = ci_settings_file(tmp_path)
    out = tmp_path / "runs" / "ci"  # parents are created, as for the README's `--out out/quick`
    runner = CliRunner()
    args = [
        "reproduce",
        "--settings",
        str(settings_path),
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for key in range(2, 12):
        for suffix in ("png", "svg"):
            assert (out / f"fig{key:02d}.{suffix}").stat().st_size > 1000
    for name in ("fig-extra-device", "fig-extra-bandwidth", "fig-extra-dag", "fig-extra-dag-energy"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.svg").exists()
    csv = pd.read_csv(out / "results.csv")
    parquet = pd.read_parquet(out / "results.parquet")
    assert len(csv) == len(parquet) > 0
    assert set(csv["algorithm"]) == {
        "device-only",
        "edge-only",
        "neurosurgeon",
        "dnn-surgery",
        "ecc-oma",
        "ecc-noma",
        "ligd-paper",
    }
    assert csv["success"].all() and csv["feasible"].all()
    assert {"seed", "settings_hash", "objective", "iterations", "solver_wall_time_s"} <= set(csv.columns)
    report = (out / "report.md").read_text()
    assert "| 2 | without NOMA, the latency speedup of ECC is 3.1 to 8 times" in report
    assert report.count("![Fig.") == 10 and "## The paper's trends" in report
    # Device-Only over itself is exactly 1 in every Device-Only-normalised table
    tables = pd.read_csv(out / "figure_tables.csv")
    own = tables[(tables["algorithm"] == "device-only") & tables["figure"].isin(["6", "7", "9", "10"])]
    assert len(own) > 0 and (own["mean"] == 1.0).all()
    # started again: everything is found on disk, nothing is computed
    again = runner.invoke(app, [*args[:-3], "--workers", "0", "--no-progress"])
    assert again.exit_code == 0, again.output
    assert " 0 computed" in again.output


def test_bad_options_exit_2_without_output(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["reproduce", "--quick", "--figures", "1,2", "--out", str(out)])
    assert result.exit_code == 2
    assert "unknown figure" in result.output
    assert not out.exists()
    assert runner.invoke(app, ["reproduce", "--quick", "--seeds", "0", "--out", str(out)]).exit_code == 2


@pytest.mark.slow
def test_the_estimate_counts_a_task_two_sweeps_share_once(tmp_path):
    # Fig. 2's models sweep and the device-speed sweep share the tasks at the preset's own device speed: 3 models x
    # 7 methods (ligd-paper only in the models sweep) and 4 speeds x 6 methods of one model, 6 of them shared
    args = ["reproduce", "--quick", "--figures", "2,extra-device", "--seeds", "1", "--no-compare", "--workers", "0"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    estimated = re.search(r"(\d+) tasks; estimate", result.output)
    ran = re.search(r"(\d+) tasks: 0 found on disk, (\d+) computed", result.output)
    assert estimated and ran and estimated.group(1) == ran.group(1) == ran.group(2) == "39"


@pytest.mark.slow
def test_calibrated_quick_preset_writes_report_md_and_json_with_both_presets(tmp_path):
    out = tmp_path / "cal"
    runner = CliRunner()
    args = ["reproduce", "--preset", "calibrated", "--quick", "--figures", "2,3", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--out", str(out), "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    assert data["preset"] == "calibrated" and data["quick"] is True
    assert data["compare"]["preset"] == "paper"
    summary = data["summary"]
    assert summary["trends_total"] == 25 and summary["quotes_total"] == 11
    from nomasplit.experiments.presets.calibrated import FITTED_QUOTES

    assert set(summary["fitted_quotes"]) == set(FITTED_QUOTES)
    checked = [row for row in data["quotes"] if row["verdict"] != "not run"]
    assert len(checked) == summary["quotes_checked"] == 4  # Figs. 2 and 3 only
    fitted_checked = sum(row["key"] in FITTED_QUOTES for row in checked)
    assert summary["held_out_quotes"] == summary["quotes_checked"] - fitted_checked
    assert f"**Trends: {summary['trends_agree']} of 25" in report.splitlines()[2]
    assert "the paper (quick) preset run beside it" in report
    # the calibrated preset's reading of DNN Surgery replaces the common one (one line per topic)
    assert report.count("- **DNN Surgery.**") == 1 and "Users per AP (calibrated)" in report
    density = [line for line in report.splitlines() if line.startswith("- **Figs. 6, 9 (user density).**")]
    assert len(density) == 1 and "U = 10, 30, 50 users per AP" in density[0] and "M = 20 subchannels" in density[0]
    for row in data["quotes"]:
        assert {"figure", "paper", "ours", "verdict", "fitted", "other_preset"} <= set(row)
    fitted = {row["key"] for row in data["quotes"] if row["fitted"]}
    assert fitted == set(summary["fitted_quotes"])
    assert all(row["held_out"] for row in data["trends"]) and len(data["trends"]) == 25
    # the trends this model cannot show under any parameters are named, and the summary says how many can agree
    limited = {row["key"] for row in data["trends"] if row["model_limit"]}
    assert limited == {"fig7-t2", "fig8-t3", "fig11-t2"}
    assert "so at most 22 can agree" in report.splitlines()[5] and "model limit" in report
    # the seed-by-seed verdict is beside each trend (one seed: no paired test, so the verdict itself counts)
    assert all("paired_verdict" in row for row in data["trends"])
    assert all(row["paired_verdict"] is None for row in data["trends"] if row["verdict"] != "not run")
    assert f"column 'paired'), {summary['trends_agree_paired']} agree" in report.splitlines()[2]
    # the paper preset beside it has its own report, with the calibrated verdicts as its other column
    other = json.loads((out / "paper-preset" / "report.json").read_text())
    assert other["preset"] == "paper" and other["compare"]["preset"] == "calibrated"
    assert (out / "fig02.png").exists() and (out / "paper-preset" / "fig02.png").exists()


@pytest.mark.slow
def test_calibrate_writes_a_settings_file_that_reproduce_accepts(tmp_path, monkeypatch):
    import shlex
    import sys

    from nomasplit.experiments.calibration import write_parameters
    from nomasplit.experiments.presets.calibrated import CalibratedParameters, calibrated_settings, load_parameters

    out = tmp_path / "fit.json"
    runner = CliRunner()
    args = ["calibrate", "--out", str(out), "--store", str(tmp_path / "store"), "--only", "latency_weight"]
    args += ["--rounds", "1", "--workers", "0"]
    monkeypatch.setattr(sys, "argv", ["nomasplit", *args])  # what the console script sees
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    parameters = load_parameters(out)
    assert isinstance(parameters, CalibratedParameters)
    assert parameters.latency_weight in (0.5, 0.7, 0.9)
    assert parameters.fit["evaluations"] >= 3 and parameters.fit["command"] == shlex.join(["nomasplit", *args])
    assert set(parameters.fit["losses"]) == set(parameters.fit["fitted"])
    # the fit ran ECC with the reproduction's own settings (the solver the preset runs)
    from nomasplit.experiments.presets.paper import ALGORITHM_SETTINGS

    assert parameters.fit["algorithm_settings"]["ecc-noma"] == ALGORITHM_SETTINGS["ecc-noma"]
    # DNN Surgery assumed the server of the candidate (the declared start: one unit per user of the cell)
    assert parameters.fit["algorithm_settings"]["dnn-surgery"] == {"mode": "heavy", "server_units_per_user": 1.0}
    settings = calibrated_settings(parameters, quick=True)
    assert settings.preset == "calibrated" and settings.fitted == tuple(parameters.fit["fitted"])
    assert settings.sweep("models").values == ("nin-in8", "tiny-yolov2-in8", "vgg16-in8")
    # the preset runs DNN Surgery with the fitted server, and says so in its readings; users are per cell
    assert settings.algorithm_settings["dnn-surgery"]["server_units_per_user"] == parameters.dnn_surgery_units_per_user
    assert "1 compute units per user" in dict(settings.readings)["DNN Surgery"]
    assert settings.base["user_placement"] == "per_cell"
    # --start: a refit begins where a settings file left off (evaluations come from the same store)
    again = tmp_path / "again.json"
    args = ["calibrate", "--out", str(again), "--store", str(tmp_path / "store"), "--only", "latency_weight"]
    result = runner.invoke(app, [*args, "--workers", "0", "--start", str(out), "--min-improvement", "0.99"])
    assert result.exit_code == 0, result.output
    refit = load_parameters(again)
    assert refit.fit["start"] == parameters.values()
    # no candidate lowers the loss by 99 %: the incumbent stays and the first pass ends the search
    assert refit.values() == parameters.values() and refit.fit["rounds"] == 1
    # a start's user placement (a reading, not in the box) is kept by the search and written out
    area = tmp_path / "area.json"
    write_parameters(area, parameters.model_copy(update={"user_placement": "area"}))
    args = ["calibrate", "--out", str(again), "--store", str(tmp_path / "store"), "--only", "latency_weight"]
    result = runner.invoke(app, [*args, "--workers", "0", "--start", str(area), "--min-improvement", "0.99"])
    assert result.exit_code == 0, result.output
    assert load_parameters(again).user_placement == "area" and "user_placement = 'area'" in result.output
    # several starts: the search runs from each (one store) and keeps the lowest loss
    both = tmp_path / "both.json"
    args = ["calibrate", "--out", str(both), "--store", str(tmp_path / "store"), "--only", "latency_weight"]
    result = runner.invoke(app, [*args, "--workers", "0", "--rounds", "1", "--start", "declared", "--start", str(out)])
    assert result.exit_code == 0, result.output
    multi = load_parameters(both)
    assert [item["start"] for item in multi.fit["starts"]][1] == parameters.values()
    assert multi.fit["loss"] == min(item["loss"] for item in multi.fit["starts"])
    assert multi.fit["start"] == min(multi.fit["starts"], key=lambda item: item["loss"])["start"]
    assert multi.fit["confirm_seeds"] is None and multi.fit["confirmed_loss"] is None
    # --confirm-seeds: each start's end point is evaluated again with more seeds, and that loss chooses
    args = ["calibrate", "--out", str(both), "--store", str(tmp_path / "store"), "--only", "latency_weight"]
    args += ["--workers", "0", "--rounds", "1", "--start", "declared", "--start", str(out), "--confirm-seeds", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    confirmed = load_parameters(both)
    assert confirmed.fit["confirm_seeds"] == 3 and "confirmed with 3 seeds" in result.output
    assert [item["loss"] for item in confirmed.fit["starts"]] == [item["loss"] for item in multi.fit["starts"]]
    checks = [item["confirmed_loss"] for item in confirmed.fit["starts"]]
    assert confirmed.fit["confirmed_loss"] == min(checks)
    assert confirmed.fit["start"] == confirmed.fit["starts"][checks.index(min(checks))]["start"]
    assert set(confirmed.fit["confirmed_losses"]) == set(confirmed.fit["fitted"])
    # the search evaluations are those of --seeds (2); the confirmation is not counted among them
    assert confirmed.fit["evaluations"] == multi.fit["evaluations"]
    bad = runner.invoke(app, ["calibrate", "--out", str(tmp_path / "x.json"), "--seeds", "2", "--confirm-seeds", "2"])
    assert bad.exit_code == 2 and "--confirm-seeds must be more than --seeds (2)" in bad.output
    bad = runner.invoke(app, ["calibrate", "--out", str(tmp_path / "x.json"), "--start", str(tmp_path / "none.json")])
    assert bad.exit_code == 2 and "none.json" in bad.output
    assert parameters.fit["min_improvement"] == 0.01
    bad = runner.invoke(app, ["calibrate", "--out", str(tmp_path / "x.json"), "--min-improvement", "1.5"])
    assert bad.exit_code == 2 and "--min-improvement must be in [0, 1)" in bad.output
    bad = runner.invoke(app, ["calibrate", "--out", str(tmp_path / "x.json"), "--only", "nonsense"])
    assert bad.exit_code == 2 and "unknown parameter(s) nonsense" in bad.output
    bad = runner.invoke(
        app, ["calibrate", "--out", str(tmp_path / "x.json"), "--solver-settings", '{"ecc-noma": {"nonsense": 1}}']
    )
    assert bad.exit_code == 2 and "--solver-settings ecc-noma: nonsense: unknown key" in bad.output
    assert not (tmp_path / "x.json").exists()
