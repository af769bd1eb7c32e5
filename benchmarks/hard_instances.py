"""Hard small instances for the optimality benchmark: every regime where the discrete choices matter.

Each instance is drawn from a seed and covers, at random, the regimes an independent checker would try:

- **load**: users per AP below, at and above ``K * M`` (overloaded cells, where some users must run locally);
- **access**: NOMA with ``K`` in 2..3, or OMA (``K = 1``);
- **gains**: a per-user offset uniform in ±15 dB on top of path loss and Rayleigh fading (over 30 dB spread),
  and APs 100-400 m apart so that cells interfere;
- **bandwidth per subchannel** from 40 kHz to 1 MHz (log-uniform);
- **latency weight** 0.1-0.9, drawn per user; or, on about a quarter of the instances, latency only (``wT = 1``
  for every user; the powers of a group then form a hierarchy that gradient polishing does not find) and on
  about a tenth energy only (``wT = 0``);
- **workload** 1-4 tasks per user; **device speed** 1-10 GFLOP/s (log-uniform), so that offloading is in play;
- **model**: NiN (9 split units) or a generic chain of 4-9 units with random FLOPs and shrinking outputs.

``regime(scenario)`` names the regime of an instance for the per-regime tables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nomasplit.data import LayerProfile, ModelProfile, Scenario
from nomasplit.generate import ScenarioConfig, generate_scenario


def chain_profile(rng: np.random.Generator, num_layers: int) -> ModelProfile:
    """A generic chain: FLOPs log-uniform per unit, outputs shrinking with noise (CNN-like, 8-bit input)."""
    input_bits = float(rng.uniform(2e4, 3e5))
    size = input_bits
    layers = []
    for index in range(num_layers):
        size = size * float(rng.uniform(0.3, 1.6))
        layers.append(
            LayerProfile(name=f"unit{index + 1}", flops=float(10 ** rng.uniform(6.5, 8.5)), output_bits=max(size, 64.0))
        )
    return ModelProfile(
        model=f"chain{num_layers}", input_bits=input_bits, result_bits=float(rng.choice([32, 320, 8000])), layers=layers
    )


def hard_instance(
    seed: int, *, max_users: int = 6, max_subchannels: int = 3, min_users: int = 1, min_subchannels: int = 1
) -> Scenario:
    """One hard instance (module docstring); at most ``max_users`` users and ``max_subchannels`` subchannels.

    ``min_users`` / ``min_subchannels`` raise the low end of the draws (users per AP at least
    ``ceil(min_users / N)``, where the most users allow it), e.g. to reach instances past the improvement
    phase's exhaustive size; at their defaults an instance is the same as without them."""
    rng = np.random.default_rng(10_000 + seed)
    num_aps = int(rng.integers(1, min(3, max_users) + 1))
    num_subchannels = int(rng.integers(min(min_subchannels, max_subchannels), max_subchannels + 1))
    oma = bool(rng.random() < 0.35)
    cluster = 1 if oma else int(rng.integers(2, 4))
    most_per_ap = max(1, max_users // num_aps)
    fewest_per_ap = min(most_per_ap, max(1, most_per_ap // 2, -(-min_users // num_aps)))
    users_per_ap = int(rng.integers(fewest_per_ap, most_per_ap + 1))
    subchannel_hz = 10 ** rng.uniform(math.log10(4e4), 6.0)
    config = ScenarioConfig(
        num_aps=num_aps,
        users_per_ap=users_per_ap,
        num_subchannels=num_subchannels,
        uplink_bandwidth_hz=subchannel_hz * num_subchannels,
        downlink_bandwidth_hz=subchannel_hz * num_subchannels,
        inter_site_distance_m=float(rng.uniform(100, 400)),
        access="oma" if oma else "noma",
        cluster_size=cluster,
        workload_tasks=1.0,
        device_flops_per_s=float(10 ** rng.uniform(9, 10)),
        model="nin",
    )
    scenario = generate_scenario(config, seed=seed)
    num_users = scenario.num_users
    offset = 10 ** (rng.uniform(-15, 15, size=num_users) / 10)  # [U] per-user gain offset, 30 dB spread
    changes: dict[str, Any] = {
        "uplink_gain": np.asarray(scenario.uplink_gain) * offset[None, :, None],
        "downlink_gain": np.asarray(scenario.downlink_gain) * offset[None, :, None],
        "latency_weight": rng.uniform(0.1, 0.9, size=num_users),
        "workload_tasks": rng.integers(1, 5, size=num_users).astype(float),
    }
    if rng.random() < 0.5:
        changes["profiles"] = [chain_profile(rng, int(rng.integers(4, 10)))]
        changes["user_profile"] = [0] * num_users
    extreme = rng.random()  # drawn last, so that the other fields of an instance do not depend on it
    if extreme < 0.25:
        changes["latency_weight"] = np.ones(num_users)
    elif extreme < 0.35:
        changes["latency_weight"] = np.zeros(num_users)
    return scenario.replace(**changes)


def regime(scenario: Scenario) -> dict[str, str]:
    """The regime labels of an instance (for per-regime tables)."""
    per_ap = np.bincount(np.asarray(scenario.association), minlength=scenario.num_aps).max()
    slots = scenario.effective_cluster_size * scenario.num_subchannels
    bandwidth = scenario.uplink_bandwidth_hz / scenario.num_subchannels
    weight = float(np.mean(scenario.latency_weight))
    return {
        "access": scenario.access,
        "load": "overloaded" if per_ap > slots else ("full" if per_ap == slots else "spare slots"),
        "bandwidth": "narrow (< 200 kHz)" if bandwidth < 2e5 else "wide (>= 200 kHz)",
        "weight": (
            "latency only (wT = 1)"
            if weight == 1.0
            else "energy only (wT = 0)"
            if weight == 0.0
            else "latency-leaning (mean wT > 0.5)"
            if weight > 0.5
            else "energy-leaning (mean wT <= 0.5)"
        ),
        "model": "nin" if scenario.profiles[0].model == "nin" else "generic chain",
    }


def committed_instances(name: str):
    """The proven instances of a committed optimality benchmark (``docs/benchmarks/NAME.json``), rebuilt from
    their seeds: ``(row, scenario)`` pairs, ``row`` as stored (``exact``'s optimum, each algorithm's objective)."""
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / f"{name}.json").read_text())
    config = data["config"]
    for row in data["rows"]:
        if not row["exact"]["proven"]:
            continue
        scenario = hard_instance(
            row["seed"],
            max_users=config["max_users"],
            max_subchannels=config["max_subchannels"],
            min_users=config["min_users"],
            min_subchannels=config["min_subchannels"],
        )
        if config["latency_weight"] is not None:
            scenario = scenario.replace(latency_weight=[config["latency_weight"]] * scenario.num_users)
        yield row, scenario
