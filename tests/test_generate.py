"""Scenario generator: determinism, topology, association, path loss, fading, config validation, examples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nomasplit.data.files import load_scenario, save
from nomasplit.errors import InputError
from nomasplit.generate import (
    ScenarioConfig,
    config_reference_markdown,
    example_path,
    generate_scenario,
    load_config,
    paper_config,
    parse_config,
)
from nomasplit.generate.channel import path_gain, path_loss_db
from nomasplit.generate.generator import model_counts
from nomasplit.generate.topology import hexagonal_positions
from nomasplit.zoo import load_bundled_profile
from tests.factories import assert_json_close, small_profile

REPO = Path(__file__).resolve().parent.parent


def small_config(**changes: object) -> ScenarioConfig:
    base: dict[str, object] = {"num_aps": 3, "users_per_ap": 20, "num_subchannels": 6, "model": "nin"}
    base.update(changes)
    return parse_config(base)


# --- determinism --------------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_different_seed_different(tmp_path: Path) -> None:
    config = small_config(seed=3)
    first = save(tmp_path / "a.json", generate_scenario(config)).read_bytes()
    second = save(tmp_path / "b.json", generate_scenario(config)).read_bytes()
    assert first == second
    other = generate_scenario(config, seed=4)
    assert save(tmp_path / "c.json", other).read_bytes() != first
    assert not np.array_equal(other.uplink_gain, generate_scenario(config).uplink_gain)


def test_seed_argument_wins_and_provenance_regenerates() -> None:
    config = small_config(seed=1)
    scenario = generate_scenario(config, seed=9)
    assert scenario.provenance["seed"] == 9
    assert scenario.provenance["config"]["seed"] == 9
    assert scenario.provenance["generator"] == "nomasplit.generate.generate_scenario"
    assert "nomasplit_version" in scenario.provenance
    recorded = parse_config(scenario.provenance["config"])
    assert np.array_equal(generate_scenario(recorded).downlink_gain, scenario.downlink_gain)
    with pytest.raises(InputError, match="seed"):
        generate_scenario(config, seed=-1)


# --- topology and association ---------------------------------------------------------------------


def nearest_ap_loop(ap_positions: np.ndarray, user_positions: np.ndarray, min_distance_m: float) -> list[int]:
    """Plain loop: the AP at the smallest (clipped) distance, the lowest index on ties."""
    serving = []
    for ux, uy in user_positions:
        best, best_distance = -1, math.inf
        for index, (ax, ay) in enumerate(ap_positions):
            distance = max(math.hypot(ux - ax, uy - ay), min_distance_m)
            if distance < best_distance:
                best, best_distance = index, distance
        serving.append(best)
    return serving


@pytest.mark.parametrize(
    "changes",
    [
        {"layout": "hexagonal", "num_aps": 7},
        {"layout": "grid", "num_aps": 5, "path_loss_model": "power_law"},
        {"layout": "line", "num_aps": 3},
        {"layout": "explicit", "num_aps": 3, "ap_positions_m": [[0, 0], [300, 40], [120, 400]]},
    ],
)
def test_association_is_nearest_ap(changes: dict[str, object]) -> None:
    scenario = generate_scenario(small_config(**changes), seed=11)
    assert scenario.ap_positions_m is not None and scenario.user_positions_m is not None
    expected = nearest_ap_loop(scenario.ap_positions_m, scenario.user_positions_m, 35.0)
    assert scenario.association == expected


def test_hexagonal_layout_rings() -> None:
    positions = hexagonal_positions(19, 500.0)
    assert np.allclose(positions[0], [0.0, 0.0])
    radii = np.hypot(positions[:, 0], positions[:, 1])
    assert np.allclose(radii[1:7], 500.0)  # ring 1: the 6 neighbours
    assert np.all(radii[7:] > 500.0 + 1e-6)  # ring 2 comes after
    pairwise = np.hypot(*(positions[:, None, :] - positions[None, :, :]).transpose(2, 0, 1))
    assert pairwise[np.triu_indices(19, 1)].min() == pytest.approx(500.0)


def inside_hexagon(offset: np.ndarray, inter_site_distance_m: float) -> bool:
    """The hexagonal cell is bounded by the 6 half-planes facing the lattice neighbours at ISD / 2."""
    for k in range(6):
        normal = (math.cos(k * math.pi / 3), math.sin(k * math.pi / 3))
        if offset[0] * normal[0] + offset[1] * normal[1] > inter_site_distance_m / 2 + 1e-9:
            return False
    return True


@pytest.mark.parametrize("layout", ["hexagonal", "grid", "line", "explicit"])
def test_users_inside_area(layout: str) -> None:
    extra: dict[str, object] = {}
    if layout == "explicit":
        extra = {"ap_positions_m": [[0, 0], [1000, 0], [0, 700]], "area_margin_m": 100.0}
    scenario = generate_scenario(small_config(layout=layout, users_per_ap=100, **extra), seed=2)
    aps, users = scenario.ap_positions_m, scenario.user_positions_m
    assert aps is not None and users is not None
    for user in users:
        offsets = user - aps  # [N, 2]
        if layout == "hexagonal":
            assert any(inside_hexagon(offset, 500.0) for offset in offsets)
        elif layout in ("grid", "line"):
            assert np.abs(offsets).max(axis=1).min() <= 250.0 + 1e-9
        else:
            assert -100.0 <= user[0] <= 1100.0 and -100.0 <= user[1] <= 800.0


def test_users_per_ap_density_and_per_cell_placement() -> None:
    scenario = generate_scenario(small_config(num_aps=4, users_per_ap=30), seed=0)
    assert scenario.num_users == 120 and len(scenario.association) == 120
    exact = generate_scenario(small_config(num_aps=4, users_per_ap=30, user_placement="per_cell"), seed=0)
    assert np.bincount(exact.association, minlength=4).tolist() == [30, 30, 30, 30]
    total = generate_scenario(small_config(users_per_ap=None, num_users=17), seed=0)
    assert total.num_users == 17


# --- channel --------------------------------------------------------------------------------------


def test_path_loss_formulas_at_known_distances() -> None:
    assert path_loss_db(np.array(1000.0)) == pytest.approx(128.1)
    assert path_loss_db(np.array(100.0)) == pytest.approx(128.1 - 37.6)
    assert path_loss_db(np.array(10.0), min_distance_m=35.0) == pytest.approx(128.1 + 37.6 * math.log10(0.035))
    assert path_loss_db(np.array(100.0), "power_law", exponent=5.0) == pytest.approx(100.0)
    assert path_loss_db(np.array(100.0), "power_law", exponent=3.0, reference_db=30.0) == pytest.approx(90.0)
    assert path_gain(np.array([1000.0]))[0] == pytest.approx(10 ** (-12.81))
    assert path_gain(np.array([200.0]), "power_law", exponent=5.0)[0] == pytest.approx(200.0**-5)


@pytest.mark.parametrize("model", ["3gpp", "power_law"])
def test_gains_without_fading_match_the_formula(model: str) -> None:
    scenario = generate_scenario(small_config(fading="none", path_loss_model=model, num_subchannels=3), seed=5)
    assert scenario.ap_positions_m is not None and scenario.user_positions_m is not None
    for n, (ax, ay) in enumerate(scenario.ap_positions_m):
        for i, (ux, uy) in enumerate(scenario.user_positions_m):
            distance = max(math.hypot(ux - ax, uy - ay), 35.0)
            if model == "3gpp":
                expected = 10 ** (-(128.1 + 37.6 * math.log10(distance / 1000)) / 10)
            else:
                expected = distance**-5.0
            for m in range(3):
                assert scenario.uplink_gain[n, i, m] == pytest.approx(expected, rel=1e-12)
                assert scenario.downlink_gain[n, i, m] == pytest.approx(expected, rel=1e-12)


def test_rayleigh_fading_is_exponential_and_independent_per_direction() -> None:
    config = small_config(num_aps=4, users_per_ap=50, num_subchannels=40)
    faded = generate_scenario(config, seed=8)
    plain = generate_scenario(config.with_overrides(fading="none"), seed=8)  # same positions: fading is drawn last
    assert faded.uplink_gain.shape == (4, 200, 40) and faded.downlink_gain.shape == (4, 200, 40)
    assert np.all(faded.uplink_gain > 0) and np.all(faded.downlink_gain > 0)
    up = faded.uplink_gain / plain.uplink_gain  # 32,000 exponential(1) draws
    down = faded.downlink_gain / plain.downlink_gain
    for fading in (up, down):
        assert abs(fading.mean() - 1.0) < 0.03  # std of the mean is 1/sqrt(32000) = 0.0056
        assert abs(fading.var() - 1.0) < 0.1
        assert abs(np.mean(fading < math.log(2)) - 0.5) < 0.02  # median of exponential(1) is ln 2
    assert abs(np.corrcoef(up.ravel(), down.ravel())[0, 1]) < 0.05
    assert not np.allclose(up[:, :, 0], up[:, :, 1])  # per-subchannel draws


def test_fading_never_moves_the_association() -> None:
    config = small_config(num_aps=7, users_per_ap=30)
    assert (
        generate_scenario(config, seed=3).association
        == generate_scenario(config.with_overrides(fading="none"), seed=3).association
    )


# --- config ---------------------------------------------------------------------------------------


def test_oma_means_cluster_size_one_and_refuses_another() -> None:
    config = small_config(access="oma")
    assert config.cluster_size == 1
    with pytest.raises(InputError, match="cluster_size 3 contradicts access 'oma'"):
        small_config(access="oma", cluster_size=3)
    assert paper_config(access="oma").cluster_size == 1
    assert generate_scenario(config).cluster_size == 1


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"num_apps": 3}, ["num_apps", "unknown key"]),
        ({"inter_site_distance_m": float("nan")}, ["inter_site_distance_m", "finite"]),
        ({"device_flops_per_s": -1e9}, ["device_flops_per_s", "greater than 0"]),
        ({"num_aps": 0}, ["num_aps"]),
        (
            {"uplink_power_min_dbm": 30, "uplink_power_max_dbm": 25},
            ["uplink_power_min_dbm", "uplink_power_max_dbm"],
        ),
        ({"compute_units_min": 5, "compute_units_max": 2}, ["compute_units_min", "compute_units_max"]),
        ({"model": "resnet50"}, ["model", "unknown model 'resnet50'", "vgg16"]),
        ({"model": [{"model": "nin", "fraction": 0.5}, {"model": "vgg16", "fraction": 0.4}]}, ["sum to 1"]),
        ({"num_users": 10}, ["num_users", "users_per_ap", "not both"]),
        ({"layout": "explicit"}, ["ap_positions_m"]),
        ({"layout": "explicit", "ap_positions_m": [[0, 0]]}, ["ap_positions_m", "num_aps = 3"]),
        ({"ap_positions_m": [[0, 0], [1, 1], [2, 2]]}, ["ap_positions_m", "explicit"]),
        ({"latency_weight": 1.5}, ["latency_weight"]),
        ({"access": "cdma"}, ["access", "noma", "oma"]),
        ({"edge_capacity_units": [4.0]}, ["edge_capacity_units", "num_aps = 3"]),
        ({"compensation": {"kind": "cubic"}}, ["compensation"]),
        ({"num_subchannels": 10_000_000}, ["gains per direction"]),
    ],
)
def test_bad_config_raises_input_error_naming_the_field(changes: dict[str, object], names: list[str]) -> None:
    base: dict[str, object] = {"num_aps": 3, "users_per_ap": 20, "num_subchannels": 6, "model": "nin"}
    base.update(changes)
    with pytest.raises(InputError) as info:
        parse_config(base, source="test.yaml")
    message = str(info.value)
    assert message.startswith("test.yaml: ")
    for name in names:
        assert name in message


def test_load_config_errors_name_file_and_field(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("num_aps: [1, 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="malformed YAML"):
        load_config(bad_yaml)
    nan_json = tmp_path / "nan.json"
    nan_json.write_text('{"noise_psd_dbm_per_hz": .nan}', encoding="utf-8")
    with pytest.raises(InputError, match="noise_psd_dbm_per_hz"):
        load_config(nan_json)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty config"):
        load_config(empty)
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_profile_path_relative_to_config_and_model_mix(tmp_path: Path) -> None:
    save(tmp_path / "toy.json", small_profile("toy", num_layers=3))
    config_file = tmp_path / "mix.yaml"
    config_file.write_text(
        "num_aps: 2\nusers_per_ap: 5\nnum_subchannels: 2\n"
        "model: [{model: toy.json, fraction: 0.3}, {model: nin, fraction: 0.7}]\n",
        encoding="utf-8",
    )
    scenario = generate_scenario(load_config(config_file), seed=1)
    assert [profile.model for profile in scenario.profiles] == ["toy", "nin"]
    assert np.bincount(scenario.user_profile, minlength=2).tolist() == [3, 7]
    missing = tmp_path / "missing.yaml"
    missing.write_text("model: nowhere.json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"nowhere\.json"):
        generate_scenario(load_config(missing))


def test_model_counts_sum_to_users() -> None:
    config = small_config(model=[{"model": "nin", "fraction": 1 / 3}, {"model": "vgg16", "fraction": 2 / 3}])
    for num_users in (1, 2, 7, 100):
        counts = model_counts(config.model_shares, num_users)
        assert counts.sum() == num_users and np.all(np.abs(counts - np.array([1, 2]) * num_users / 3) < 1)


def test_device_heterogeneity_stays_in_its_band() -> None:
    scenario = generate_scenario(small_config(device_flops_spread_fraction=0.5), seed=0)
    assert scenario.device_flops_per_s.min() >= 0.5e10 and scenario.device_flops_per_s.max() <= 1.5e10
    assert scenario.device_flops_per_s.std() > 0


def test_dbm_config_values_become_watts() -> None:
    scenario = generate_scenario(small_config(uplink_power_max_dbm=30, downlink_power_min_dbm=10))
    assert scenario.uplink_power_max_w == pytest.approx(1.0)
    assert scenario.downlink_power_min_w == pytest.approx(0.01)
    assert scenario.noise_psd_w_per_hz == pytest.approx(10 ** (-17.4) * 1e-3)


def test_default_device_is_a_realistic_phone() -> None:
    """Device-Only VGG16 (CIFAR-10): tens of ms and a fraction of a joule (spec; docs/scenarios.md)."""
    config = ScenarioConfig()
    total_flops = load_bundled_profile("vgg16").total_flops
    latency_s = total_flops / config.device_flops_per_s
    joules_per_flop = config.device_switched_capacitance * config.device_flops_per_s**2 * config.device_cycles_per_flop
    power_w = joules_per_flop * config.device_flops_per_s
    assert 0.4e9 < total_flops < 0.8e9
    assert 0.01 < latency_s < 0.1
    assert 0.01 < joules_per_flop * total_flops < 1.0
    assert 1.0 < power_w < 5.0


# --- paper setup and bundled examples -------------------------------------------------------------


def test_paper_config_shapes() -> None:
    config = paper_config()
    assert (config.num_aps, config.total_users, config.num_subchannels, config.cluster_size) == (
        5,
        1250,
        250,
        3,
    )
    scenario = generate_scenario(config)
    assert scenario.uplink_gain.shape == (5, 1250, 250) and scenario.downlink_gain.shape == (5, 1250, 250)
    assert scenario.uplink_power_max_w == pytest.approx(10**-0.5)
    assert scenario.profiles[0].model == "vgg16" and scenario.profiles[0].num_layers == 24
    assert paper_config(model="nin").model == "nin"


def test_paper_yaml_spells_out_paper_config() -> None:
    path = example_path("paper")
    assert load_config(path) == paper_config()
    import yaml

    keys = set(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert keys == set(ScenarioConfig.model_fields)


def test_small_scenario_is_regenerated_from_small_yaml(tmp_path: Path) -> None:
    config = load_config(example_path("small"))
    assert (config.num_aps, config.total_users, config.num_subchannels, config.model) == (2, 8, 4, "nin")
    regenerated = save(tmp_path / "small-scenario.json", generate_scenario(config))
    again = save(tmp_path / "again.json", generate_scenario(config))
    assert regenerated.read_bytes() == again.read_bytes()  # byte-identical on one machine
    shipped = json.loads(example_path("small-scenario.json").read_bytes())
    assert_json_close(json.loads(regenerated.read_bytes()), shipped)  # to the last bits on another CPU
    assert load_scenario(example_path("small-scenario")).num_users == 8
    with pytest.raises(InputError, match=r"available: .*small\.yaml"):
        example_path("nope")


def test_docs_table_matches_config() -> None:
    docs = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert config_reference_markdown() in docs


def test_provenance_holds_the_full_config() -> None:
    scenario = generate_scenario(small_config())
    assert set(scenario.provenance["config"]) == set(ScenarioConfig.model_fields)
    json.dumps(scenario.provenance)  # plain JSON, no timestamps or objects
    assert "time" not in json.dumps(scenario.provenance)


def test_a_config_written_by_json_dump_reads_back_exponents_included(tmp_path: Path) -> None:
    """JSON writes 4e-27 and 1e+09 without a dot; YAML 1.1 would read them as strings. The config loader reads a
    JSON file as JSON does, and a YAML file's 1e9 is a number too (a quoted "1e9" stays a string)."""
    import json

    config = paper_config(device_switched_capacitance=4e-27, device_flops_per_s=1e9)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    assert "4e-27" in path.read_text(encoding="utf-8")
    assert load_config(path) == config
    from nomasplit.io import parse_yaml

    assert parse_yaml("a: 1e9\nb: -2E+3\nc: '1e9'\nd: 12\ne: 1e", "t") == {
        "a": 1e9,
        "b": -2000.0,
        "c": "1e9",
        "d": 12,
        "e": "1e",
    }
