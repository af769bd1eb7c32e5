"""Shared helpers of the solver benchmarks: scenario construction from the paper's configuration."""

from __future__ import annotations

from typing import Any

from nomasplit.data.scenario import Scenario
from nomasplit.generate import ScenarioConfig, generate_scenario, paper_config

MODELS = ("nin", "tiny-yolov2-voc", "vgg16")  # the 416x416 VOC YOLO of the committed numbers


def scenario(seed: int, **changes: Any) -> Scenario:
    """The paper's Section VI-A configuration with ``changes`` (e.g. ``users_per_ap=10, num_subchannels=8``)."""
    data = paper_config().model_dump()
    data.update(changes)
    return generate_scenario(ScenarioConfig.model_validate(data), seed=seed)


def small(seed: int, model: str, **changes: Any) -> Scenario:
    """A small instance of the paper's setup: 3 APs, 10 users each, 8 subchannels, K = 3."""
    settings: dict[str, Any] = {"num_aps": 3, "users_per_ap": 10, "num_subchannels": 8, "model": model}
    settings.update(changes)
    return scenario(seed, **settings)
