"""``profile --measure --units``, ``scenario apply-measurements``, ``device run --plan`` against the plan, and
``edge replay``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data import LatencyMeasurement, Plan, UnitTimings, UserDecision
from nomasplit.data.files import load_scenario, save
from nomasplit.measure.apply import apply_measurements, load_device_table
from nomasplit.model import evaluate
from nomasplit.model.system import SystemModel
from nomasplit.runtime.models import load_zoo_models
from nomasplit.runtime.prediction import predict_latency_from_tables
from nomasplit.runtime.server import EdgeServerThread, EdgeSettings
from nomasplit.zoo import load_bundled_profile

TOKEN = "measure-test-token-0123456789abcdef"
SMALL_SCENARIO = Path(__file__).resolve().parents[1] / "src" / "nomasplit" / "examples" / "small-scenario.json"
NIN_UNITS = 9


def invoke(args: list[str], **kwargs: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, **kwargs)  # type: ignore[arg-type]
    return result.exit_code, " ".join(result.output.split())


def nin_measurement(one_unit_s: list[float], two_units_total_s: float) -> LatencyMeasurement:
    """A measurement with known numbers: per-unit seconds with one thread, a whole pass with two."""
    total = sum(one_unit_s)

    def timing(units: int, scale: float) -> UnitTimings:
        seconds = [value * scale for value in one_unit_s]
        return UnitTimings(
            units=units, unit_latency_s=seconds, unit_median_s=seconds, unit_spread_s=[0.0] * NIN_UNITS,
            total_latency_s=total * scale, total_spread_s=0.0,
        )  # fmt: skip

    from nomasplit.measure.lambda_fit import fit_measured_compensation

    compensation, _ = fit_measured_compensation([1, 2], [total, two_units_total_s])
    return LatencyMeasurement(
        model="nin",
        unit_names=[layer.name for layer in load_bundled_profile("nin").layers],
        warmup=0,
        repeats=1,
        timings=[timing(1, 1.0), timing(2, two_units_total_s / total)],
        compensation=compensation,
    )


def test_profile_measure_units_writes_timings_and_lambda(tmp_path: Path) -> None:
    timings, out = tmp_path / "t.json", tmp_path / "p.json"
    units = "1,2" if (os.cpu_count() or 1) >= 2 else "1"
    code, output = invoke(
        ["profile", "nin", "--measure", "--units", units, "--warmup", "0", "--repeats", "3",
         "--timings", str(timings), "--out", str(out)]
    )  # fmt: skip
    assert code == 0, output
    assert "lambda fit error" in output
    measurement = LatencyMeasurement.model_validate_json(timings.read_text())
    assert [t.units for t in measurement.timings] == [int(u) for u in units.split(",")]
    one = measurement.at_units(1)
    assert len(one.unit_latency_s) == NIN_UNITS
    assert sum(one.unit_latency_s) == pytest.approx(one.total_latency_s)  # shares scaled to the median pass
    assert measurement.compensation.speedup[0] == pytest.approx(1.0)
    assert measurement.host["load_average_before"] and measurement.method == "threads"
    profile = json.loads(out.read_text())
    assert [layer["measured_latency_s"] for layer in profile["layers"]] == pytest.approx(one.unit_latency_s)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--units", "1,2"], "--units goes with --measure"),
        (["--measure", "--units", "1,2"], "--units needs --timings"),
        (["--measure", "--units", "1,1", "--timings", "t.json"], "must be strictly increasing"),
        (["--measure", "--units", "2,4", "--timings", "t.json"], "must include 1"),
        (["--measure", "--units", "1,a", "--timings", "t.json"], "comma-separated integers"),
        (["--measure", "--units", "1,100000", "--timings", "t.json"], "exceeds the"),
    ],
)
def test_profile_units_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    code, output = invoke(["profile", "nin", "--out", str(tmp_path / "p.json"), *extra])
    assert code == 2 and message in output
    assert not (tmp_path / "p.json").exists()


@pytest.mark.slow
def test_apply_measurements_puts_tables_and_lambda_into_the_scenario(tmp_path: Path) -> None:
    one_unit = [0.001 * (index + 1) for index in range(NIN_UNITS)]  # 45 ms in all
    save(tmp_path / "edge.json", nin_measurement(one_unit, 0.030))
    phone = tmp_path / "phone.csv"
    phone.write_text("unit,latency_s\n" + "".join(f"{i + 1},{0.01 * (i + 1)}\n" for i in range(NIN_UNITS)))
    out = tmp_path / "measured.json"
    code, output = invoke(
        ["scenario", "apply-measurements", str(SMALL_SCENARIO), "--edge", str(tmp_path / "edge.json"),
         "--device", f"nin={phone}", "--out", str(out)]
    )  # fmt: skip
    assert code == 0, output
    assert "fit error" in output and "beyond the largest measured r = 2" in output
    scenario = load_scenario(out)
    assert scenario.edge_unit_latency_s == [pytest.approx(one_unit)]
    assert scenario.device_unit_latency_s == [pytest.approx([0.01 * (i + 1) for i in range(NIN_UNITS)])]
    assert scenario.compensation.kind == "measured"
    assert scenario.compensation.speedup == pytest.approx([1.0, 0.045 / 0.030])
    # The model uses it: Device-Only takes the phone's 0.45 s; split 0 with r = 2 takes 45 ms / 1.5 on the edge.
    plan = Plan(users=[UserDecision(user=user, split=NIN_UNITS) for user in range(scenario.num_users)])
    assert evaluate(scenario, plan).users[0].latency_s == pytest.approx(0.45)
    code, output = invoke(["solve", str(out), "--algorithm", "ligd", "--out", str(tmp_path / "plan.json")])
    assert code == 0, output
    # predict_latency_from_tables is the system model's formula for one user.
    profile = scenario.profiles[0]
    model = SystemModel(scenario)
    predicted = predict_latency_from_tables(
        profile, 3, device_unit_latency_s=scenario.device_unit_latency_s[0],  # type: ignore[index]
        edge_unit_latency_s=one_unit, edge_speedup=1.5, uplink_bps=None, downlink_bps=None,
    )  # fmt: skip
    assert float(model.device_latency_table[0, 3]) == pytest.approx(predicted.device_s)
    edge_s = float(model.edge_work_table[0, 3]) / (1.5 * scenario.edge_unit_flops_per_s)
    assert edge_s == pytest.approx(predicted.edge_s)


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        ("unit,latency_s\n1,0.1\n", "nin={}", "has 1 units, the profile 9"),
        ("unit,seconds\n1,0.1\n", "nin={}", "header 'unit,latency_s'"),
        ("unit,latency_s\n1,abc\n", "nin={}", "is not a number"),
        ("unit,latency_s\n1,-1\n", "nin={}", "finite seconds >= 0"),
        ("unit,latency_s\n1,0.1\n", "{}", "give it as MODEL=FILE.csv"),
        ("unit,latency_s\n" + "1,0.1\n" * 9, "vgg16={}", "it is not among the scenario's profiles"),
    ],
)
def test_apply_measurements_refuses_bad_device_tables(tmp_path: Path, content: str, spec: str, message: str) -> None:
    path = tmp_path / "table.csv"
    path.write_text(content)
    out = tmp_path / "out.json"
    code, output = invoke(
        ["scenario", "apply-measurements", str(SMALL_SCENARIO), "--device", spec.format(path), "--out", str(out)]
    )
    assert code == 2 and message in output, output
    assert not out.exists()


def test_scenario_calibrate_is_the_deprecated_name_of_apply_measurements(tmp_path: Path) -> None:
    save(tmp_path / "edge.json", nin_measurement([0.001] * NIN_UNITS, 0.006))
    outputs = {}
    for name in ("apply-measurements", "calibrate"):
        out = tmp_path / f"{name}.json"
        args = ["scenario", name, str(SMALL_SCENARIO), "--edge", str(tmp_path / "edge.json"), "--out", str(out)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs[name] = (result.stderr, out.read_bytes())
    new_stderr, new_file = outputs["apply-measurements"]
    old_stderr, old_file = outputs["calibrate"]
    assert new_stderr == ""
    assert old_stderr.splitlines() == [
        "warning: 'nomasplit scenario calibrate' is deprecated and goes in nomasplit 0.3; use 'nomasplit scenario "
        "apply-measurements'"
    ]
    assert old_file == new_file
    assert load_scenario(tmp_path / "apply-measurements.json").provenance["measurements"]["edge_models"] == ["nin"]
    help_text = " ".join(CliRunner().invoke(app, ["scenario", "--help"]).output.split())
    assert "apply-measurements" in help_text and "calibrate" not in help_text


def test_device_table_json_forms(tmp_path: Path) -> None:
    save(tmp_path / "m.json", nin_measurement([0.001] * NIN_UNITS, 0.006))
    assert load_device_table(tmp_path / "m.json").unit_latency_s == pytest.approx([0.001] * NIN_UNITS)
    (tmp_path / "t.json").write_text(json.dumps({"model": "nin", "unit_latency_s": [0.002] * NIN_UNITS}))
    assert load_device_table(f"nin={tmp_path / 't.json'}").model == "nin"
    scenario = apply_measurements(load_scenario(SMALL_SCENARIO), device={"nin": load_device_table(tmp_path / "t.json")})
    assert scenario.compensation.kind == "linear" and scenario.device_unit_latency_s is not None


@pytest.fixture(scope="module")
def nin_server() -> Iterator[EdgeServerThread]:
    with EdgeServerThread(load_zoo_models(["nin"], seed=0), EdgeSettings(token=TOKEN)) as running:
        yield running


def _two_user_plan(tmp_path: Path, scenario_path: Path) -> Path:
    scenario = load_scenario(scenario_path)
    users = [UserDecision(user=user, split=NIN_UNITS) for user in range(scenario.num_users)]
    for user, subchannel in ((0, 0), (1, 1)):
        users[user] = UserDecision(
            user=user, split=0, uplink_subchannel=subchannel, downlink_subchannel=subchannel,
            uplink_power_w=scenario.uplink_power_max_w, downlink_power_w=scenario.downlink_power_max_w,
            compute_units=1.0,
        )  # fmt: skip
    save(tmp_path / "plan.json", Plan(users=users))
    return tmp_path / "plan.json"


def test_device_run_plan_compares_every_stage(nin_server: EdgeServerThread, tmp_path: Path) -> None:
    save(tmp_path / "edge.json", nin_measurement([0.001] * NIN_UNITS, 0.006))
    measured = tmp_path / "measured.json"
    command = ["scenario", "apply-measurements", str(SMALL_SCENARIO), "--edge", str(tmp_path / "edge.json")]
    assert invoke([*command, "--out", str(measured)])[0] == 0
    plan_path = _two_user_plan(tmp_path, measured)
    out = tmp_path / "report.json"
    code, output = invoke(
        ["device", "run", "--edge", nin_server.url, "--plan", str(plan_path), "--scenario", str(measured),
         "--user", "1", "--json", str(out)],
        env={"NOMASPLIT_TOKEN": TOKEN},
    )  # fmt: skip
    assert code == 0, output
    assert "predicted (system model, one task) against measured" in output
    document = json.loads(out.read_text())
    rows = {row["stage"]: row for row in document["comparison"]}
    assert list(rows) == ["device compute", "uplink", "edge compute", "downlink", "total"]
    expected = evaluate(load_scenario(measured), Plan.model_validate_json(plan_path.read_text())).users[1]
    assert rows["edge compute"]["predicted_s"] == pytest.approx(expected.edge_latency_s)
    assert rows["edge compute"]["predicted_s"] == pytest.approx(0.009)  # the measured table, r = 1
    assert rows["uplink"]["predicted_s"] == pytest.approx(expected.uplink_latency_s)
    assert rows["total"]["measured_s"] == pytest.approx(document["report"]["total_s"])
    assert document["plan"]["compute_units"] == 1.0


@pytest.mark.slow
def test_edge_replay_runs_the_users_of_one_ap_at_once(tmp_path: Path) -> None:
    plan_path = _two_user_plan(tmp_path, SMALL_SCENARIO)
    out = tmp_path / "replay.json"
    code, output = invoke(
        ["edge", "replay", str(plan_path), str(SMALL_SCENARIO), "--users", "2", "--rounds", "1", "--json", str(out)]
    )
    assert code == 0, output
    assert "every answer matches the full local model" in output
    result = json.loads(out.read_text())
    assert result["ap"] == 0 and [u["assignment"]["user"] for u in result["users"]] == [0, 1]
    assert result["edge_compute_workers"] == 2 and result["planned_units_total"] == 2.0
    outcomes = evaluate(load_scenario(SMALL_SCENARIO), Plan.model_validate_json(plan_path.read_text())).users
    for user in result["users"]:
        rows = {row["stage"]: row for row in user["comparison"]}
        outcome = outcomes[user["assignment"]["user"]]
        assert rows["uplink"]["predicted_s"] == pytest.approx(outcome.uplink_latency_s)
        assert rows["edge compute"]["measured_s"] > 0 and user["matches"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--users", "0"], "--users 0 is out of range"),
        (["--users", "2", "--ap", "7"], "--ap 7 does not exist"),
        (["--users", "2", "--ap", "1"], "no user of AP 1 offloads"),
        (["--users", "2", "--rounds", "0"], "--rounds 0 is out of range"),
        (["--users", "2", "--max-seconds", "0.5"], "--max-seconds 0.5 is out of range"),
    ],
)
def test_edge_replay_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    plan_path = _two_user_plan(tmp_path, SMALL_SCENARIO)
    code, output = invoke(["edge", "replay", str(plan_path), str(SMALL_SCENARIO), *extra])
    assert code == 2 and message in output, output
