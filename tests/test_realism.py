"""The defaults describe a real phone: a device-only VGG16 (CIFAR-10) inference costs what a phone spends."""

from __future__ import annotations

from nomasplit.data import Plan, UserDecision
from nomasplit.generate import ScenarioConfig, generate_scenario
from nomasplit.model import evaluate


def test_device_only_vgg16_costs_a_realistic_time_and_energy() -> None:
    config = ScenarioConfig(num_aps=1, users_per_ap=2, num_subchannels=2, model="vgg16")
    scenario = generate_scenario(config, seed=0)
    layers = scenario.user_num_layers()
    plan = Plan(users=[UserDecision(user=user, split=int(layers[user])) for user in range(scenario.num_users)])
    result = evaluate(scenario, plan)
    assert result.feasible
    for outcome in result.users:
        latency_s, energy_j = outcome.latency_s, outcome.energy_j
        assert latency_s is not None and energy_j is not None
        # A mid-range phone CPU runs VGG16 on a 32x32 image (0.63 GFLOP) in tens of milliseconds ...
        assert 0.02 <= latency_s <= 0.2, latency_s
        # ... spending a fraction of a joule ...
        assert 0.02 <= energy_j <= 0.5, energy_j
        # ... at a power a phone SoC can sustain (about 1-5 W under load).
        assert 1.0 <= energy_j / latency_s <= 5.0
        assert outcome.uplink_rate_bps == 0 and outcome.edge_energy_j == 0
