"""Validation of scenario, plan and profile files: bad input gives one clear InputError naming the field."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from nomasplit.data import Plan, Scenario, UserDecision, sha256_of
from nomasplit.data.arrays import LIST_ENCODING_MAX_ELEMENTS, decode_array, encode_array
from nomasplit.data.files import load_plan, load_profile, load_scenario, save
from nomasplit.errors import InputError
from tests.factories import random_scenario, small_profile


def scenario_dict(**changes) -> dict:
    data = random_scenario(0, num_aps=2, num_users=4, num_subchannels=2).model_dump(mode="json")
    data.update(changes)
    return data


def write(tmp_path: Path, data, name: str = "file.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_scenario_round_trips_through_json_and_gzip(tmp_path: Path) -> None:
    scenario = random_scenario(1)
    for name in ("s.json", "s.json.gz"):
        path = save(tmp_path / name, scenario)
        loaded = load_scenario(path)
        assert sha256_of(loaded) == sha256_of(scenario)
        np.testing.assert_array_equal(loaded.uplink_gain, scenario.uplink_gain)
    with gzip.open(tmp_path / "s.json.gz", "rt") as handle:
        assert json.load(handle)["num_users"] == scenario.num_users


def test_large_arrays_use_base64_and_decode_exactly() -> None:
    values = np.random.default_rng(0).random((3, 40, 50))
    assert values.size > LIST_ENCODING_MAX_ELEMENTS
    encoded = encode_array(values)
    assert set(encoded) == {"shape", "dtype", "base64"}
    np.testing.assert_array_equal(decode_array(encoded), values)
    assert isinstance(encode_array(values[0, :2]), list)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"surprise": 1}, "surprise: unknown key"),
        ({"num_users": -1}, "num_users"),
        ({"uplink_power_min_w": 0.5, "uplink_power_max_w": 0.3}, "uplink_power_min_w (0.5) must not exceed"),
        ({"uplink_gain": [[[1.0]]]}, "uplink_gain has shape [1, 1, 1], expected"),
        ({"association": [0, 0, 5, 1]}, "association names AP 5"),
        ({"latency_weight": [0.5, 0.5, 1.5, 0.5]}, "latency_weight must be <= 1.0"),
        ({"device_flops_per_s": [1e9, -1e9, 1e9, 1e9]}, "device_flops_per_s must be > 0"),
        ({"access": "cdma"}, "access"),
        ({"access": "oma", "cluster_size": 3}, "cluster_size must be 1 with access 'oma'"),
        ({"uplink_gain": [[[1.0, 2.0]] * 4, [[1.0]] * 4]}, "uplink_gain: expected numbers in a regular"),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, changes: dict, expected: str) -> None:
    path = write(tmp_path, scenario_dict(**changes))
    with pytest.raises(InputError, match=None) as info:
        load_scenario(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_nan_is_rejected_as_literal_and_as_value(tmp_path: Path) -> None:
    text = json.dumps(scenario_dict()).replace('"noise_psd_w_per_hz": 3.98e-21', '"noise_psd_w_per_hz": NaN')
    with pytest.raises(InputError, match="NaN is not allowed"):
        load_scenario(write(tmp_path, text))
    raw = np.full((2, 4, 2), np.nan).astype("<f8").tobytes()
    encoded = {"shape": [2, 4, 2], "dtype": "float64", "base64": base64.b64encode(raw).decode()}
    with pytest.raises(InputError, match="NaN or infinity"):
        load_scenario(write(tmp_path, scenario_dict(uplink_gain=encoded)))


def test_malformed_json_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"malformed JSON at line 1 column \d+"):
        load_scenario(write(tmp_path, '{"num_aps": 1,'))
    with pytest.raises(InputError, match="file not found"):
        load_scenario(tmp_path / "nope.json")
    with pytest.raises(InputError, match="expected a JSON object"):
        load_plan(write(tmp_path, "[1, 2]"))


def test_profile_validation(tmp_path: Path) -> None:
    data = small_profile().model_dump(mode="json")
    assert load_profile(write(tmp_path, data)).num_layers == 4
    data["layers"][0]["flops"] = -1
    with pytest.raises(InputError, match=r"layers\.0\.flops"):
        load_profile(write(tmp_path, data))


def plan_for(scenario: Scenario, **overrides) -> Plan:
    users = [
        UserDecision(user=user, split=0, uplink_subchannel=0, downlink_subchannel=0,
                     uplink_power_w=0.1, downlink_power_w=0.5, compute_units=2.0)
        for user in range(scenario.num_users)
    ]  # fmt: skip
    if overrides:
        users[0] = users[0].model_copy(update=overrides)
    return Plan(users=users)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"user": 99}, "users[0].user = 99 does not exist: the scenario has users 0..3"),
        ({"user": 1}, "appears more than once"),
        ({"uplink_subchannel": 7}, "uplink_subchannel = 7 does not exist: the scenario has subchannels 0..1"),
        ({"split": 99}, "split = 99 is out of range"),
    ],
)
def test_plan_that_does_not_fit_the_scenario(overrides: dict, expected: str) -> None:
    scenario = random_scenario(0, num_aps=2, num_users=4, num_subchannels=2)
    with pytest.raises(InputError) as info:
        plan_for(scenario, **overrides).check_against(scenario)
    assert expected in str(info.value)


def test_plan_missing_a_user() -> None:
    scenario = random_scenario(0, num_aps=2, num_users=4, num_subchannels=2)
    plan = plan_for(scenario)
    with pytest.raises(InputError, match=r"no decision for user\(s\) \[3\]"):
        Plan(users=plan.users[:3]).check_against(scenario)
