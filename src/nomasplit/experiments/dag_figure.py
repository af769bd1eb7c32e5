"""The DAG comparison the paper left out: every method on ResNet-18 and MobileNetV2, against Device-Only.

The paper names ResNet-18 as a DAG model but evaluates chains only. This extra figure runs the per-model
setup of Figs. 2-5 (same network, same presets) on the zoo's DAG models at the paper's CIFAR-10 size
(``resnet18``, ``mobilenet-v2``: profiles with the live set at each split point, docs/profiles.md), and
shows the latency speedup (``extra-dag``) and the energy reduction (``extra-dag-energy``) of every method
over Device-Only. DNN Surgery cuts the models' real graphs (docs/baselines.md); the other methods read the
profiles' split points like a chain's.
"""

from __future__ import annotations

from typing import Any, Literal

from nomasplit.experiments.figures import ALL_METHODS, FigureSpec, SweepSpec

#: The DAG models of the extra figure (CIFAR-10 size, like the paper's models).
DAG_MODELS: tuple[str, ...] = ("resnet18", "mobilenet-v2")

#: Name of the sweep the DAG figures read.
DAG_SWEEP = "dag-models"

#: What ``--quick`` changes for the DAG sweep besides the per-model sweep's quick network, to keep the quick run
#: short: 10 users per AP on 10 subchannels of 40 kHz (the same users and bandwidth per subchannel as the quick
#: per-model sweep's 20 on 20).
QUICK_DAG_NETWORK: dict[str, Any] = {
    "users_per_ap": 10,
    "num_subchannels": 10,
    "uplink_bandwidth_hz": 0.4e6,
    "downlink_bandwidth_hz": 0.4e6,
}


def dag_sweep(overrides: dict[str, Any], *, quick: bool = False) -> SweepSpec:
    """The per-model sweep over :data:`DAG_MODELS` with every method, at the per-model sweep's ``overrides``
    (and, when ``quick``, the smaller network of :data:`QUICK_DAG_NETWORK`)."""
    return SweepSpec(
        name=DAG_SWEEP,
        parameter="model",
        values=DAG_MODELS,
        methods=ALL_METHODS,
        overrides={**overrides, **(QUICK_DAG_NETWORK if quick else {})},
        label="DNN model (DAG)",
    )


def dag_figures() -> tuple[FigureSpec, ...]:
    """Latency speedup and energy reduction over Device-Only of every other method on the DAG models."""
    methods = tuple(method for method in ALL_METHODS if method != "device-only")
    figures: tuple[tuple[str, str, Literal["latency", "energy"]], ...] = (
        ("extra-dag", "latency speedup", "latency"),
        ("extra-dag-energy", "energy reduction", "energy"),
    )
    return tuple(
        FigureSpec(
            key=key,
            title=f"Extra: {what} on DAG models (ResNet-18, MobileNetV2)",
            sweep=DAG_SWEEP,
            measure=measure,
            baseline="device-only",
            methods=methods,
            paper=False,
        )
        for key, what, measure in figures
    )
