"""Small random scenarios built directly (without the generator) for model and solver tests."""

from __future__ import annotations

import numpy as np

from nomasplit.data import LayerProfile, ModelProfile, Scenario


def small_profile(name: str = "toy", num_layers: int = 4, seed: int = 0) -> ModelProfile:
    """A chain with shrinking outputs, like a CNN (FLOPs and bits drawn at random, for tests only)."""
    rng = np.random.default_rng(seed)
    layers = [
        LayerProfile(
            name=f"unit{index + 1}",
            flops=float(rng.uniform(1e7, 1e8)),
            output_bits=float(rng.uniform(1e4, 2e5) / (index + 1)),
        )
        for index in range(num_layers)
    ]
    return ModelProfile(model=name, input_bits=float(rng.uniform(5e4, 2e5)), result_bits=320.0, layers=layers)


def random_scenario(
    seed: int,
    *,
    num_aps: int = 3,
    num_users: int = 9,
    num_subchannels: int = 3,
    access: str = "noma",
    cluster_size: int = 3,
    ties: bool = False,
    num_layers: int = 4,
    mixed_models: bool = False,
) -> Scenario:
    """A random multi-cell scenario; ``ties`` repeats gain values so SIC tie-breaking matters."""
    rng = np.random.default_rng(seed)
    association = rng.integers(0, num_aps, size=num_users)
    association[:num_aps] = np.arange(num_aps)[: min(num_aps, num_users)]

    def gains() -> np.ndarray:
        values = 10.0 ** rng.uniform(-13, -9, size=(num_aps, num_users, num_subchannels))
        if ties:
            values = np.round(values / values.max() * 4) * values.max() / 4 + 1e-14
        return values

    profiles = [small_profile("toy", num_layers, seed)]
    if mixed_models:
        profiles.append(small_profile("toy2", num_layers + 2, seed + 1))
    return Scenario(
        num_aps=num_aps,
        num_users=num_users,
        num_subchannels=num_subchannels,
        access=access,  # type: ignore[arg-type]
        cluster_size=1 if access == "oma" else cluster_size,
        uplink_bandwidth_hz=1e6,
        downlink_bandwidth_hz=2e6,
        noise_psd_w_per_hz=3.98e-21,
        association=association.tolist(),
        uplink_gain=gains(),
        downlink_gain=gains(),
        uplink_power_min_w=0.001,
        uplink_power_max_w=0.316,
        downlink_power_min_w=0.01,
        downlink_power_max_w=1.0,
        profiles=profiles,
        user_profile=rng.integers(0, len(profiles), size=num_users).tolist(),
        workload_tasks=rng.choice([1.0, 2.0], size=num_users),
        latency_weight=rng.uniform(0.2, 0.8, size=num_users),
        device_flops_per_s=np.full(num_users, 1e10),
        device_switched_capacitance=np.full(num_users, 2.5e-30),
        device_cycles_per_flop=np.ones(num_users),
        edge_unit_flops_per_s=3e10,
        compute_units_min=1.0,
        compute_units_max=8.0,
        edge_switched_capacitance=1.1e-31,
        edge_cycles_per_flop=1.0,
    )


def assert_json_close(actual: object, expected: object, rel: float = 1e-12, where: str = "$") -> None:
    """Same JSON structure and strings; numbers equal to ``rel`` (numpy's vectorised power and exp may differ in
    the last bit between CPUs, so a file regenerated on another machine is not byte-identical)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key, value in expected.items():
            assert_json_close(actual[key], value, rel, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            assert_json_close(left, right, rel, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert isinstance(actual, (int, float)) and abs(actual - expected) <= rel * abs(expected), where
    else:
        assert actual == expected and type(actual) is type(expected), where
