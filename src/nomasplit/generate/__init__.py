"""Scenario generation: topology, channel, and the generator that turns a config into a Scenario.

- :mod:`~nomasplit.generate.config`: :class:`ScenarioConfig` (every parameter with unit, default and source),
  :func:`load_config`, :func:`paper_config`.
- :mod:`~nomasplit.generate.topology`: AP layouts, user placement, nearest-AP association.
- :mod:`~nomasplit.generate.channel`: path loss and Rayleigh fading.
- :mod:`~nomasplit.generate.generator`: :func:`generate_scenario`.
- :mod:`~nomasplit.generate.examples`: :func:`example_path` to the bundled examples.
"""

from nomasplit.generate.config import (
    ModelShare,
    ScenarioConfig,
    config_reference_markdown,
    load_config,
    paper_config,
    parse_config,
)
from nomasplit.generate.examples import example_path, list_examples
from nomasplit.generate.generator import generate_scenario, generate_to_file, load_model_profile

__all__ = [
    "ModelShare",
    "ScenarioConfig",
    "config_reference_markdown",
    "example_path",
    "generate_scenario",
    "generate_to_file",
    "list_examples",
    "load_config",
    "load_model_profile",
    "paper_config",
    "parse_config",
]
