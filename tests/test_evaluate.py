"""``evaluate``: violations of a discrete plan, the result file, and the CLI's handling of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.data import Plan, UserDecision
from nomasplit.data.files import save
from nomasplit.model import evaluate
from tests.factories import random_scenario

runner = CliRunner()


def one_ap_scenario(access: str = "noma", **changes):
    scenario = random_scenario(0, num_aps=1, num_users=4, num_subchannels=2, access=access,
                               cluster_size=3 if access == "noma" else 1)  # fmt: skip
    return scenario.replace(**changes) if changes else scenario


def decision(user: int, split: int = 0, up: int | None = 0, down: int | None = 0, **values) -> UserDecision:
    base = {"uplink_power_w": 0.1, "downlink_power_w": 0.5, "compute_units": 2.0}
    base.update(values)
    return UserDecision(user=user, split=split, uplink_subchannel=up, downlink_subchannel=down, **base)


def test_feasible_plan_has_finite_costs() -> None:
    scenario = one_ap_scenario()
    plan = Plan(users=[decision(0, up=0, down=1), decision(1, up=0, down=1), decision(2, up=1, down=0),
                       decision(3, split=4, up=None, down=None)])  # fmt: skip
    result = evaluate(scenario, plan)
    assert result.feasible and result.violations == []
    assert result.totals.num_offloading == 3
    assert all(user.latency_s is not None and user.latency_s > 0 for user in result.users)
    assert result.users[3].uplink_rate_bps == 0 and not result.users[3].offloads
    assert result.totals.objective == pytest.approx(sum(user.utility for user in result.users))


def test_cluster_size_and_oma_limits() -> None:
    plan = Plan(users=[decision(user) for user in range(4)])  # all four on subchannel 0, both directions
    kinds = [(v.kind, v.direction, v.subchannel) for v in evaluate(one_ap_scenario(), plan).violations]
    assert kinds == [("cluster_size", "uplink", 0), ("cluster_size", "downlink", 0)]
    two = Plan(users=[decision(0), decision(1), decision(2, up=1, down=1), decision(3, split=4, up=0, down=0)])
    assert evaluate(one_ap_scenario(), two).feasible  # Device-Only user 3 does not count towards K
    oma = evaluate(one_ap_scenario("oma"), two)
    assert {v.kind for v in oma.violations} == {"cluster_size"} and not oma.feasible


def test_missing_subchannel_bounds_and_capacity() -> None:
    scenario = one_ap_scenario(edge_capacity_units=[3.0])
    plan = Plan(users=[
        decision(0, up=None),
        decision(1, up=1, down=1, uplink_power_w=5.0),
        decision(2, up=1, down=1, compute_units=0.5),
        decision(3, split=4, up=None, down=None, uplink_power_w=99.0),  # Device-Only: powers ignored
    ])  # fmt: skip
    result = evaluate(scenario, plan)
    kinds = sorted(v.kind for v in result.violations)
    assert kinds == ["compute_units_bounds", "edge_capacity", "missing_subchannel", "uplink_power_bounds"]
    assert not result.feasible
    assert result.users[0].latency_s is None  # no uplink subchannel: infinite latency, written as null


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    scenario = one_ap_scenario()
    plan = Plan(users=[decision(0, up=0, down=1), decision(1, up=1, down=0), decision(2, up=1, down=1),
                       decision(3, split=4, up=None, down=None)])  # fmt: skip
    return save(tmp_path / "scenario.json", scenario), save(tmp_path / "plan.json", plan)


def test_cli_evaluate_writes_result(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["evaluate", str(files[0]), str(files[1]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "feasible" in result.output
    data = json.loads(out.read_text())
    assert data["feasible"] is True
    assert len(data["users"]) == 4 and {"latency_s", "energy_j", "utility"} <= set(data["users"][0])


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda plan: plan.update(users=plan["users"][:3]), "no decision for user(s) [3]"),
        (lambda plan: plan["users"][0].update(user=12), "users[0].user = 12 does not exist"),
        (lambda plan: plan["users"][0].update(uplink_subchannel=9), "uplink_subchannel = 9 does not exist"),
        (lambda plan: plan["users"][0].update(uplink_power_w=-1), "users.0.uplink_power_w"),
        (lambda plan: plan["users"][0].update(colour="red"), "users.0.colour: unknown key"),
    ],
)
def test_cli_evaluate_bad_plan_exits_2_without_output(files, tmp_path: Path, mutate, expected: str) -> None:
    plan = json.loads(files[1].read_text())
    mutate(plan)
    files[1].write_text(json.dumps(plan))
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["evaluate", str(files[0]), str(files[1]), "--out", str(out)])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_evaluate_malformed_scenario(files, tmp_path: Path) -> None:
    files[0].write_text("{not json")
    result = runner.invoke(app, ["evaluate", str(files[0]), str(files[1])])
    assert result.exit_code == 2 and "malformed JSON" in result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "missing.json"), str(files[1])])
    assert result.exit_code == 2 and "file not found" in result.output


def test_missing_optional_package_names_the_extra() -> None:
    import typer

    from nomasplit.cli.common import handle_errors

    @handle_errors
    def needs_dask() -> None:
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    with pytest.raises(typer.Exit) as info:
        needs_dask()
    assert info.value.exit_code == 2

    @handle_errors
    def broken() -> None:
        raise ModuleNotFoundError("No module named 'nonsense'", name="nonsense")

    # Any other missing module is an internal error inside the one exception boundary: exit 1, one line.
    with pytest.raises(typer.Exit) as info:
        broken()
    assert info.value.exit_code == 1
