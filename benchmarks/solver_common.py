"""Shared helpers of the solver benchmarks: scenario construction from the paper's configuration, and the
``--torch-device`` option (the torch backend; ``--device`` is its deprecated name, as on the CLI)."""

from __future__ import annotations

import argparse
from typing import Any

from nomasplit.cli.common import renamed_option, warn_deprecated
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
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


def add_torch_device_option(parser: argparse.ArgumentParser) -> None:
    """``--torch-device cpu|cuda`` (default cpu) and its deprecated name ``--device``, hidden from ``--help``."""
    parser.add_argument("--torch-device", help="torch backend of the solver: cpu or cuda (default: cpu)")
    parser.add_argument("--device", dest="old_device", help=argparse.SUPPRESS)


def torch_device(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The torch device of :func:`add_torch_device_option`'s options: the CLI's deprecation line on stderr when
    ``--device`` is given; both given is a usage error."""
    if args.old_device is not None:
        warn_deprecated("--device", "--torch-device")
    try:
        return renamed_option(args.torch_device, args.old_device, "--torch-device", "--device") or "cpu"
    except InputError as exc:
        parser.error(str(exc))
