"""``nomasplit calibrate`` and the ``calibrated`` preset: the parameters the paper leaves open, fitted inside a
declared box of physically plausible values to a declared few of its quoted numbers; the rest are held out.

- :data:`CALIBRATION_BOX`: each open parameter, its candidate values (a grid inside its plausible range) and
  the source of the range (docs/reproduction.md repeats them).
- :data:`FITTED_QUOTES`: the quoted numbers the fit sees (Fig. 2 NiN ECC-OMA 4.1 and ECC-NOMA 6.1, the Fig. 2
  ECC range 3.1-8, the Fig. 3 ECC range 0.85-0.97 and the two Fig. 5 ranges over Neurosurgeon, ECC 1.5-1.7 and
  DNN Surgery 1.3-1.49). Every other quoted number (Figs. 6 and 7) and all 25 trends are held out.
- :func:`calibrate`: coordinate search over the grid (one parameter at a time, every candidate value, keep the
  best; rounds until nothing improves or ``max_rounds``), from one or more starts (the declared one by default),
  keeping the lowest loss over the starts. Each evaluation is an ordinary
  resumable sweep (Figs. 2, 3 and 5's per-model sweep on the quick network), so a calibration interrupted and started
  again computes only what is missing. The loss is the sum over the fitted quotes of squared log distances
  (:func:`calibration_loss`).
- :class:`CalibratedParameters` is the settings file ``calibrate`` writes; :func:`calibrated_settings` turns it
  into the preset, at full or quick scale. The shipped file is ``calibrated.json`` next to this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nomasplit.data.files import validate_as
from nomasplit.experiments.figures import (
    ALGORITHM_SETTINGS,
    DEVICE_ENERGY_PER_FLOP,
    DEVICE_SPEED_AT_FIXED_ENERGY,
    DNN_SURGERY_SERVER_UNITS,
    EDGE_ENERGY_PER_FLOP,
    EDGE_UNITS_PER_USER,
    PAPER_MODELS,
    QUICK_SEEDS,
    SUBCHANNEL_BANDWIDTH,
    SWEEP_MODEL,
    USER_DENSITIES,
    USER_DENSITIES_QUICK,
    USERS_PER_SUBCHANNEL,
    FigureSpec,
    RegimeMapSpec,
    RegimeMark,
    ReproductionSettings,
    SweepSpec,
    build_settings,
    model_family,
)
from nomasplit.experiments.fingerprint import code_fingerprint
from nomasplit.experiments.measures import figure_table
from nomasplit.experiments.paper_numbers import QUOTED_NUMBERS, QuotedNumber
from nomasplit.io import read_json, write_json

#: Keys of the quoted numbers the calibration fits (:attr:`QuotedNumber.key`); all others are held out.
FITTED_QUOTES: tuple[str, ...] = (
    "fig2-ecc-oma-nin",
    "fig2-ecc-noma-nin",
    "fig2-ecc-oma-range",
    "fig3-ecc-oma-range",
    "fig5-ecc-oma-range",
    "fig5-dnn-surgery-range",
)

#: Where the calibrated preset puts users unless a settings file says otherwise (``user_placement``): exactly
#: ``users_per_ap`` users uniform in each AP's cell. The paper's user density (Figs. 6, 9) and our overload reading
#: (users per AP per subchannel) are per AP; with users uniform over the whole area an AP's count is random
#: (about +-sqrt(U_n)), so an AP's overload, and with it who gets a subchannel, would vary from seed to seed.
#: The alternative, ``area``, is the paper's literal wording (Section VI-A: users deployed in the network, each
#: served by its nearest AP; Section VI-B: the density is the "average number of users in each edge server").
#: It is a reading, not a fitted parameter: the search keeps a start's placement (docs/reproduction.md gives the
#: fit loss and the verdicts under both).
CALIBRATED_USER_PLACEMENT: Literal["per_cell", "area"] = "per_cell"

#: Readings of the settings file that the search carries from its start unchanged (not in the box).
FIXED_READINGS: tuple[str, ...] = ("user_placement",)


class ParameterRange(BaseModel):
    """One open parameter: its candidate values (inside the plausible range) and the range's source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: tuple[int | float | None, ...] = Field(min_length=1)
    unit: str
    source: str


#: The open parameters, their grid and the source of each range (docs/reproduction.md, "Calibration").
CALIBRATION_BOX: dict[str, ParameterRange] = {
    "device_flops_per_s": ParameterRange(
        values=(0.5e9, 1e9, 2e9, 5e9, 1e10),
        unit="FLOP/s",
        source="effective DNN throughput of a Raspberry-Pi-3-class board (about 1 GFLOP/s, the device class of "
        "Neurosurgeon and DNN Surgery) up to a mid-range phone CPU (10 GFLOP/s, docs/scenarios.md)",
    ),
    "device_energy_per_flop_j": ParameterRange(
        values=(0.25e-9, 0.5e-9, 1e-9, 2e-9),
        unit="J/FLOP",
        source="a phone SoC at 2.5 W and 10 GFLOP/s (0.25 nJ/FLOP, docs/scenarios.md) to a Raspberry Pi 3 at "
        "about 2 W and 1 GFLOP/s (2 nJ/FLOP)",
    ),
    "edge_energy_per_flop_j": ParameterRange(
        values=(0.1e-9, 0.3e-9, 1.1e-9, 2e-9),
        unit="J/FLOP",
        source="at one compute unit: a server core's share of its power (0.1 nJ/FLOP, docs/scenarios.md) up to "
        "the paper's 50 dBm (100 W) circuit power at 50-100 GFLOP/s (1-2 nJ/FLOP)",
    ),
    "amdahl_parallel_fraction": ParameterRange(
        values=(None, 0.95, 0.9, 0.75, 0.5, 0.25),
        unit="-",
        source="lambda(r) of eq. (3): linear (None; perfect scaling) or Amdahl's law with parallel fraction "
        "0.25-0.95 (multi-core CNN inference scales sub-linearly; batch-1 CIFAR-size inference scales "
        "worst: `nomasplit profile MODEL --measure --units 1,2` on our 2-core machine fits parallel fractions "
        "of 0.34 for NiN, 0.06 for VGG16 and 0 for tiny YOLOv2, docs/reproduction.md)",
    ),
    "input_bits": ParameterRange(
        values=(8, 32),
        unit="bit",
        source="a camera's 8-bit colour values, or float32 as the model computes",
    ),
    "activation_bits": ParameterRange(
        values=(8, 16, 32),
        unit="bit",
        source="tensors sent at a split in int8, float16 or float32 (the paper notes that device and edge may "
        "quantise differently)",
    ),
    "edge_units_per_user": ParameterRange(
        values=(None, 2.0, 1.0, 0.5),
        unit="units per user of the cell",
        source="a finite edge server per AP: None = every user may take r_max = 4 units; 0.5 = a server with "
        "half a unit per user, so at most half the users offload (DNN Surgery's 'resource limitation')",
    ),
    "dnn_surgery_units_per_user": ParameterRange(
        values=(0.5, 1.0, 2.0, 4.0),
        unit="units per user of the cell",
        source="the server DNN Surgery's heavy-load mode assumes when the system sets no edge limit (the "
        "paper: DNN Surgery 'considers the resource limitation of edge server', so it is given 'a little' less "
        "compute than Neurosurgeon): from half a unit per user (at most half the users offload) to r_max = 4 "
        "(no limit: Neurosurgeon's r_max)",
    ),
    "latency_weight": ParameterRange(
        values=(0.5, 0.7, 0.9),
        unit="-",
        source="w_T of eq. (19) (w_E = 1 - w_T; latency in s, energy in J); the paper gives no weights. 0.5 weighs "
        "both equally (docs/scenarios.md); up to 0.9 for a latency-first user",
    ),
    "users_per_subchannel": ParameterRange(
        values=(1.0, 1.1, 1.25, 1.5, 2.0, 3.0),
        unit="users per AP per subchannel",
        source="the paper's 1250 users on 250 subchannels with K = 3: one user per subchannel per AP if every AP "
        "reuses all 250; up to K = 3 if the APs' users share them (the reading that lets NOMA pay)",
    ),
}


class CalibratedParameters(BaseModel):
    """The fitted parameters (the settings file of ``nomasplit calibrate``) and the evidence of the fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_flops_per_s: float = Field(gt=0, allow_inf_nan=False)
    device_energy_per_flop_j: float = Field(gt=0, allow_inf_nan=False)
    edge_energy_per_flop_j: float = Field(gt=0, allow_inf_nan=False)
    amdahl_parallel_fraction: float | None = Field(default=None, gt=0, le=1)
    input_bits: Literal[8, 16, 32] = 32
    activation_bits: Literal[8, 16, 32] = 32
    edge_units_per_user: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    users_per_subchannel: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    user_placement: Literal["per_cell", "area"] = Field(
        default=CALIBRATED_USER_PLACEMENT,
        description="'per_cell': exactly U_n users in each AP's cell; 'area': uniform over the network, nearest AP",
    )
    dnn_surgery_units_per_user: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="DNN Surgery's assumed server per user of the cell (None: DNN_SURGERY_SERVER_UNITS per AP)",
    )
    latency_weight: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)
    fit: dict[str, Any] = Field(
        default_factory=dict, description="how it was fitted: targets, loss, evaluations, time, command, code"
    )

    def values(self) -> dict[str, Any]:
        """The parameters only: the keys of :data:`CALIBRATION_BOX`, then :data:`FIXED_READINGS`."""
        return {name: getattr(self, name) for name in (*CALIBRATION_BOX, *FIXED_READINGS)}

    def model_name(self, model: str) -> str:
        """The bundled profile of ``model`` at the fitted precision (``nin-in8``)."""
        from nomasplit.zoo import variant_name

        return variant_name(model, self.input_bits, self.activation_bits)

    def base(self) -> dict[str, Any]:
        """Changes of every scenario (config fields and pseudo-parameters)."""
        compensation = (
            {"kind": "linear"}
            if self.amdahl_parallel_fraction is None
            else {"kind": "amdahl", "parallel_fraction": self.amdahl_parallel_fraction}
        )
        return {
            "device_flops_per_s": self.device_flops_per_s,
            DEVICE_ENERGY_PER_FLOP: self.device_energy_per_flop_j,
            EDGE_ENERGY_PER_FLOP: self.edge_energy_per_flop_j,
            "compensation": compensation,
            "latency_weight": self.latency_weight,
            EDGE_UNITS_PER_USER: self.edge_units_per_user,
            "user_placement": self.user_placement,
        }

    def algorithm_settings(self) -> dict[str, dict[str, Any]]:
        """The reproduction's settings per method, with DNN Surgery's server sized per user when fitted."""
        settings = dict(ALGORITHM_SETTINGS)
        if self.dnn_surgery_units_per_user is not None:
            settings["dnn-surgery"] = {"mode": "heavy", "server_units_per_user": self.dnn_surgery_units_per_user}
        return settings


def shipped_parameters() -> CalibratedParameters:
    """The parameters of ``--preset calibrated`` (``calibrated.json`` in this package)."""
    text = resources.files("nomasplit.experiments").joinpath("calibrated.json").read_text(encoding="utf-8")
    import json

    return validate_as(CalibratedParameters, json.loads(text), "calibrated.json")


def load_parameters(path: str | Path) -> CalibratedParameters:
    """Read a settings file written by ``nomasplit calibrate`` (InputError names a bad field)."""
    return validate_as(CalibratedParameters, read_json(path), str(path))


#: Subchannels of the density sweep (Figs. 6, 9) in the calibrated preset: U = 10..90 users per AP then span
#: 1/3 to 3 users per subchannel, so density matters (full scale; quick: 20 subchannels for U = 10..50).
DENSITY_SUBCHANNELS = 30
DENSITY_SUBCHANNELS_QUICK = 20
#: Bandwidth of one subchannel [Hz]: the paper's 10 MHz / 250.
PAPER_SUBCHANNEL_HZ = 40e3


def calibrated_readings(parameters: CalibratedParameters, quick: bool) -> tuple[tuple[str, str], ...]:
    """The readings the calibrated preset adds (copied into its report)."""
    subchannels = DENSITY_SUBCHANNELS_QUICK if quick else DENSITY_SUBCHANNELS
    capacity = (
        "no finite edge server (as in the paper's problem P0, which bounds only each user's r_i: Edge-Only and "
        "Neurosurgeon take r_max units, ECC chooses r_i, DNN Surgery limits itself as below)"
        if parameters.edge_units_per_user is None
        else f"a finite edge server per AP of {parameters.edge_units_per_user:g} compute units per user of its cell "
        "(edge_capacity_units; every method's offloading users share it)"
    )
    surgery_units = parameters.dnn_surgery_units_per_user
    surgery = (
        "Run in its heavy-load mode. "
        + (
            "The system's finite edge server (above) is the one it shares."
            if parameters.edge_units_per_user is not None
            else (
                f"It assumes a server of {surgery_units:g} compute units per user of the AP's cell, shared by the "
                "AP's offloading users (fitted; the paper says only that DNN Surgery considers the edge "
                "server's resource limit and so gets a little less compute than Neurosurgeon)."
                if surgery_units is not None
                else f"It assumes a server of {DNN_SURGERY_SERVER_UNITS:g} compute units per AP."
            )
        )
        + " On chain models its light-load mode makes exactly Neurosurgeon's splits."
    )
    return (
        (
            "Calibrated parameters",
            f"device {parameters.device_flops_per_s / 1e9:g} GFLOP/s at "
            f"{parameters.device_energy_per_flop_j * 1e9:g} nJ/FLOP; edge {parameters.edge_energy_per_flop_j * 1e9:g}"
            f" nJ/FLOP at one unit; lambda(r) "
            + (
                "linear"
                if parameters.amdahl_parallel_fraction is None
                else f"Amdahl with parallel fraction {parameters.amdahl_parallel_fraction:g}"
            )
            + f"; {parameters.input_bits}-bit input, {parameters.activation_bits}-bit activations; {capacity}; "
            f"latency weight w_T = {parameters.latency_weight:g}; "
            f"{parameters.users_per_subchannel:g} users per AP per subchannel in the fixed-density sweeps"
            + (
                f"; DNN Surgery's server {surgery_units:g} units per user"
                if surgery_units is not None and parameters.edge_units_per_user is None
                else ""
            )
            + f". Fitted by `nomasplit calibrate` to {', '.join(FITTED_QUOTES)}; everything else is held out.",
        ),
        ("DNN Surgery", surgery),
        (
            "Users per AP (calibrated)",
            (
                "Exactly U_n users in each AP's cell, uniform inside it (user_placement 'per_cell'): the paper's "
                "user density and the overload reading are per AP. With users uniform over the whole area an AP's "
                "count varies by about sqrt(U_n) from seed to seed, and so would its overload."
                if parameters.user_placement == "per_cell"
                else "Users uniform over the whole network, each served by its nearest AP (user_placement 'area', "
                "set by the settings file; the paper's Section VI-A): U_n is the average number of users per AP, so "
                "some cells hold more users than subchannels (an OMA method leaves the rest on the device there) "
                "and others fewer."
            ),
        ),
        (
            "Overload (calibrated)",
            f"The sweeps at a fixed density (models, workload, extras) put {parameters.users_per_subchannel:g} "
            "users of an AP on each subchannel (M = U_n / that, 40 kHz each): above 1, OMA methods leave some "
            "users without a subchannel (they run Device-Only) while NOMA clusters up to K = 3.",
        ),
        (
            "Figs. 6, 9 (user density)",  # replaces the common reading: not the paper's 250 subchannels
            f"U = {', '.join(map(str, USER_DENSITIES_QUICK if quick else USER_DENSITIES))} users per AP (the paper "
            f"quotes U = 10 and U = 90) on M = {subchannels} subchannels of 40 kHz instead of the paper's 250, so "
            "that the users per AP span fewer and more users than subchannels: density then decides who gets a "
            "subchannel.",
        ),
        (
            "Figs. 8, 11 workload",
            "Every cost of the system model (spec) scales linearly with the workload k, and so does the "
            "objective: every method makes the same choices at every k, and a figure normalised to Device-Only "
            "at k = 500 shows the same curve shape for all methods (500 / k times a constant). A finite edge "
            "server (a cap on compute units) does not change this: it binds equally at every k. The trends "
            "'ECC-NOMA's advantage grows with the workload' therefore cannot hold in this model.",
        ),
    )


def regime_maps(parameters: CalibratedParameters, quick: bool) -> tuple[RegimeMapSpec, ...]:
    """The two regime maps (beyond the paper), with the paper's and the calibrated operating points marked."""
    network: dict[str, Any] = {
        "model": parameters.model_name(SWEEP_MODEL),
        "users_per_ap": 20 if quick else 30,
        "num_aps": 3,
        "num_subchannels": 20 if quick else 30,
        "uplink_bandwidth_hz": (20 if quick else 30) * PAPER_SUBCHANNEL_HZ,
        "downlink_bandwidth_hz": (20 if quick else 30) * PAPER_SUBCHANNEL_HZ,
    }
    speeds = (0.5e9, 1e9, 3e9, 1e10) if quick else (0.5e9, 1e9, 3e9, 1e10, 3e10)
    return (
        RegimeMapSpec(
            key="regime-speed-bandwidth",
            title="Regime map: device speed x bandwidth per subchannel",
            x_parameter=DEVICE_SPEED_AT_FIXED_ENERGY,
            x_values=speeds,
            x_label="device speed [FLOP/s]",
            y_parameter=SUBCHANNEL_BANDWIDTH,
            y_values=(1e4, 4e4, 1.6e5, 6.4e5) if quick else (1e4, 4e4, 1.6e5, 6.4e5, 2.56e6),
            y_label="bandwidth per subchannel [Hz]",
            overrides={**network, USERS_PER_SUBCHANNEL: parameters.users_per_subchannel},
            marks=(
                RegimeMark(label="paper (10 GFLOP/s, 40 kHz)", x=1e10, y=PAPER_SUBCHANNEL_HZ),
                RegimeMark(label="calibrated", x=parameters.device_flops_per_s, y=PAPER_SUBCHANNEL_HZ),
            ),
        ),
        RegimeMapSpec(
            key="regime-overload-speed",
            title="Regime map: users per subchannel x device speed",
            x_parameter=DEVICE_SPEED_AT_FIXED_ENERGY,
            x_values=speeds,
            x_label="device speed [FLOP/s]",
            y_parameter=USERS_PER_SUBCHANNEL,
            y_values=(0.5, 1.0, 2.0, 3.0),
            y_label="users per AP per subchannel, U_n / M",
            overrides=network,
            marks=(
                RegimeMark(label="paper (10 GFLOP/s, 1 per subch.)", x=1e10, y=1.0),
                RegimeMark(label="calibrated", x=parameters.device_flops_per_s, y=parameters.users_per_subchannel),
            ),
        ),
    )


def calibrated_settings(
    parameters: CalibratedParameters | None = None, *, quick: bool = False, num_seeds: int | None = None
) -> ReproductionSettings:
    """The ``calibrated`` preset: the paper preset's sweeps with the fitted parameters and the readings of
    :func:`calibrated_readings`, plus the regime maps. ``parameters`` default to the shipped ones."""
    parameters = parameters or shipped_parameters()
    subchannels = DENSITY_SUBCHANNELS_QUICK if quick else DENSITY_SUBCHANNELS
    return build_settings(
        preset="calibrated",
        quick=quick,
        num_seeds=num_seeds or (QUICK_SEEDS if quick else 5),
        models=tuple(parameters.model_name(model) for model in PAPER_MODELS),
        sweep_model=parameters.model_name(SWEEP_MODEL),
        base=parameters.base(),
        network={USERS_PER_SUBCHANNEL: parameters.users_per_subchannel},
        users_network={
            "num_subchannels": subchannels,
            "uplink_bandwidth_hz": subchannels * PAPER_SUBCHANNEL_HZ,
            "downlink_bandwidth_hz": subchannels * PAPER_SUBCHANNEL_HZ,
        },
        regime_maps=regime_maps(parameters, quick),
        fitted=FITTED_QUOTES,
        readings=calibrated_readings(parameters, quick),
        algorithm_settings=parameters.algorithm_settings(),
    )


# --- the fit ------------------------------------------------------------------------------------------------

#: The network of a calibration evaluation: the quick preset's per-model sweep (3 APs, 20 users per AP, 40 kHz
#: subchannels; M follows the overload reading).
CALIBRATION_NETWORK: dict[str, Any] = {
    "num_aps": 3,
    "users_per_ap": 20,
    "num_subchannels": 20,
    "uplink_bandwidth_hz": 20 * PAPER_SUBCHANNEL_HZ,
    "downlink_bandwidth_hz": 20 * PAPER_SUBCHANNEL_HZ,
}

#: Where the search starts: the hand search of issue 9 (1 GFLOP/s, 1 nJ/FLOP device, 1.1 nJ/FLOP edge, Amdahl
#: lambda, 8-bit camera input), with one user per subchannel, no edge limit and DNN Surgery assuming one unit per
#: user.
CALIBRATION_START: dict[str, Any] = {
    "device_flops_per_s": 1e9,
    "device_energy_per_flop_j": 1e-9,
    "edge_energy_per_flop_j": 1.1e-9,
    "amdahl_parallel_fraction": 0.9,
    "input_bits": 8,
    "activation_bits": 32,
    "edge_units_per_user": None,
    "users_per_subchannel": 1.0,
    "dnn_surgery_units_per_user": 1.0,
    "latency_weight": 0.5,
    "user_placement": CALIBRATED_USER_PLACEMENT,
}

#: The methods a calibration evaluation runs (what the fitted quotes need).
CALIBRATION_METHODS: tuple[str, ...] = ("device-only", "neurosurgeon", "dnn-surgery", "ecc-oma", "ecc-noma")


def evaluation_settings(
    values: dict[str, Any],
    *,
    num_seeds: int = 1,
    network: dict[str, Any] | None = None,
    algorithm_settings: dict[str, dict[str, Any]] | None = None,
) -> ReproductionSettings:
    """The sweep of one calibration evaluation: Figs. 2-3's and 5's per-model sweep with these parameter values.

    ``algorithm_settings`` replace, per method, the settings the preset would run with these values
    (:meth:`CalibratedParameters.algorithm_settings`)."""
    parameters = CalibratedParameters(**values)
    sweep = SweepSpec(
        name="models",
        parameter="model",
        values=tuple(parameters.model_name(model) for model in PAPER_MODELS),
        methods=CALIBRATION_METHODS,
        overrides={
            **(CALIBRATION_NETWORK if network is None else network),
            USERS_PER_SUBCHANNEL: values.get("users_per_subchannel", 1.0),
        },
        label="DNN model",
    )

    def models_figure(key: str, measure: Literal["latency", "energy"], baseline: str, *methods: str) -> FigureSpec:
        return FigureSpec(key=key, title=key, sweep="models", measure=measure, baseline=baseline, methods=methods)

    figures = (
        models_figure("2", "latency", "device-only", "ecc-oma", "ecc-noma"),
        models_figure("3", "energy", "device-only", "ecc-oma"),
        models_figure("5", "energy", "neurosurgeon", "dnn-surgery", "ecc-oma"),
    )
    run_with = {
        method: settings
        for method, settings in parameters.algorithm_settings().items()
        if method in CALIBRATION_METHODS
    }
    return ReproductionSettings(
        preset="custom",
        base=parameters.base(),
        sweeps=(sweep,),
        figures=figures,
        num_seeds=num_seeds,
        algorithm_settings={**run_with, **(algorithm_settings or {})},
    )


def _matches(value: str, point: str) -> bool:
    try:
        return math.isclose(float(value), float(point))
    except ValueError:
        return model_family(value) == point


#: A candidate must lower the loss by more than this fraction to replace the incumbent. The loss is estimated on
#: a few Monte-Carlo seeds (2 by default), so smaller changes are within its noise and would let the search
#: drift between nearly equal points (a refit moved w_T from 0.9 to 0.7 for a 0.2 % lower loss).
MIN_IMPROVEMENT = 0.01

#: Loss of a quoted number whose point was not run (finite, so that the settings file stays strict JSON).
MISSING_LOSS = 1e6


def calibration_loss(tables: dict[str, pd.DataFrame], quotes: tuple[QuotedNumber, ...]) -> dict[str, float]:
    """Squared log distance of ours to each quoted number (a range: mean over its points of the squared log
    distance to the range, 0 inside). A missing point counts :data:`MISSING_LOSS`."""
    losses = {}
    for quoted in quotes:
        table = tables.get(quoted.figure)
        rows = table[table["algorithm"] == quoted.method] if table is not None and len(table) else None
        if rows is None or len(rows) == 0:
            losses[quoted.key] = MISSING_LOSS
            continue
        if quoted.point is None:
            distances = [
                max(0.0, math.log(quoted.low / mean), math.log(mean / quoted.high)) ** 2 for mean in rows["mean"]
            ]
            losses[quoted.key] = float(np.mean(distances))
        else:
            hit = rows[[_matches(str(value), quoted.point) for value in rows["value"]]]
            losses[quoted.key] = math.log(float(hit["mean"].iloc[0]) / quoted.low) ** 2 if len(hit) else MISSING_LOSS
    return losses


class Evaluation(BaseModel):
    """One point of the search: parameter values, loss per fitted quote, total loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: dict[str, Any]
    losses: dict[str, float]
    loss: float


def calibrate(
    out_dir: str | Path,
    *,
    box: dict[str, ParameterRange] | None = None,
    start: dict[str, Any] | list[dict[str, Any] | None] | None = None,
    fitted: tuple[str, ...] = FITTED_QUOTES,
    num_seeds: int = 1,
    max_rounds: int = 2,
    min_improvement: float = MIN_IMPROVEMENT,
    confirm_seeds: int | None = None,
    network: dict[str, Any] | None = None,
    algorithm_settings: dict[str, dict[str, Any]] | None = None,
    workers: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[CalibratedParameters, list[Evaluation]]:
    """Fit the open parameters to the fitted quotes by coordinate search over the box's grid.

    Args:
        out_dir: the resumable store of the evaluations (``results/<hash>/``, as for ``reproduce``).
        box: parameter -> candidate values (default :data:`CALIBRATION_BOX`); parameters outside it keep
            ``start``'s value.
        start: the first point (default :data:`CALIBRATION_START`; None in a list is that point too), or a list of
            them: the search runs from each in turn (sharing evaluations) and keeps the lowest loss (the first
            start on a tie; with ``confirm_seeds``, the lowest confirmed loss). Coordinate search is local: a
            second start catches a better point that needs two parameters to move together (a refit from the
            previous fit kept a finite edge server that the declared start, with lambda changed first, did
            without).
        fitted: keys of the quoted numbers to fit (default :data:`FITTED_QUOTES`).
        num_seeds: Monte-Carlo seeds per evaluation.
        max_rounds: at most this many passes over the parameters; a pass that improves nothing ends the search.
        min_improvement: a candidate replaces the incumbent only when it lowers the loss by more than this
            fraction (default :data:`MIN_IMPROVEMENT`): the loss is a Monte-Carlo estimate over a few seeds.
        confirm_seeds: when given (more than ``num_seeds``), each start's end point is evaluated again with this
            many seeds and the lowest of those losses chooses the point (the first start on a tie), so that the
            choice between starts is not made by the noise of a few seeds; ``fit`` records both losses.
        network: the evaluation network (default :data:`CALIBRATION_NETWORK`).
        algorithm_settings: settings per method (e.g. a solver's time budget) that replace those the preset
            would run with each candidate (:meth:`CalibratedParameters.algorithm_settings`: the reproduction's
            own, DNN Surgery's server sized by the candidate), so that by default the fit sees the solvers the
            preset runs.
        workers: process-pool size of each batch (0: this process).
        progress: progress bars. log: called with one line per parameter pass.

    Returns:
        The best parameters (with the evidence in ``fit``) and every evaluation, in order.
    """
    from nomasplit.experiments.reproduce import check_algorithm_settings
    from nomasplit.experiments.sweep import build_tasks, load_results, run_sweep

    check_algorithm_settings(algorithm_settings or {}, "algorithm_settings")  # before any evaluation runs
    started = time.perf_counter()
    box = CALIBRATION_BOX if box is None else box
    starts = [{**CALIBRATION_START, **(item or {})} for item in (start if isinstance(start, list) else [start])]
    quotes = tuple(quoted for quoted in QUOTED_NUMBERS if quoted.key in fitted)
    unknown = set(fitted) - {quoted.key for quoted in quotes}
    if unknown:
        raise ValueError(f"unknown quoted numbers to fit: {sorted(unknown)}")
    if confirm_seeds is not None and confirm_seeds <= num_seeds:
        raise ValueError(f"confirm_seeds ({confirm_seeds}) must exceed num_seeds ({num_seeds})")
    cache: dict[str, Evaluation] = {}
    history: list[Evaluation] = []

    def key_of(values: dict[str, Any], seeds: int = num_seeds) -> str:
        return repr((seeds, sorted(values.items())))

    def evaluate_batch(candidates: list[dict[str, Any]], seeds: int = num_seeds) -> list[Evaluation]:
        new = {key_of(values, seeds): values for values in candidates if key_of(values, seeds) not in cache}
        todo = list(new.values())
        settings_list = [
            evaluation_settings(values, num_seeds=seeds, network=network, algorithm_settings=algorithm_settings)
            for values in todo
        ]
        tasks = [task for settings in settings_list for task in build_tasks(settings)]
        if tasks:
            run_sweep(tasks, out_dir, workers=workers, progress=progress)
        for values, settings in zip(todo, settings_list, strict=True):
            results = load_results(build_tasks(settings), out_dir)
            tables = {
                figure.key: figure_table(results, figure, [str(v) for v in settings.sweeps[0].values])
                for figure in settings.figures
            }
            losses = calibration_loss(tables, quotes)
            evaluation = Evaluation(values=values, losses=losses, loss=float(sum(losses.values())))
            cache[key_of(values, seeds)] = evaluation
            if seeds == num_seeds:
                history.append(evaluation)
        return [cache[key_of(values, seeds)] for values in candidates]

    def search(first: dict[str, Any]) -> tuple[Evaluation, int]:
        best = evaluate_batch([first])[0]
        rounds = 0
        for rounds in range(1, max_rounds + 1):
            improved = False
            for name, parameter_range in box.items():
                candidates = [{**best.values, name: value} for value in parameter_range.values]
                for evaluation in evaluate_batch(candidates):
                    if evaluation.loss < best.loss * (1 - min_improvement) - 1e-12:
                        best, improved = evaluation, True
                if log is not None:
                    log(f"round {rounds}, {name}: best {best.values[name]!r}, loss {best.loss:.4g}")
            if not improved:
                break
        return best, rounds

    outcomes = []
    for index, first in enumerate(starts):
        if log is not None and len(starts) > 1:
            log(f"start {index + 1} of {len(starts)}")
        outcomes.append(search(first))
    confirmed = (
        evaluate_batch([outcome.values for outcome, _ in outcomes], seeds=confirm_seeds)
        if confirm_seeds is not None
        else [outcome for outcome, _ in outcomes]
    )
    if log is not None and confirm_seeds is not None:
        log(f"confirmed with {confirm_seeds} seeds: " + ", ".join(f"{item.loss:.4g}" for item in confirmed))
    chosen = min(range(len(starts)), key=lambda index: (confirmed[index].loss, index))
    best, rounds = outcomes[chosen]
    fit = {
        "method": "coordinate search over the grid of CALIBRATION_BOX (every candidate of one parameter with "
        "the others fixed, keep the best if it lowers the loss by more than min_improvement; passes until none "
        "improves), from each of 'starts'; the lowest loss is kept (with confirm_seeds: the lowest loss of "
        "each start's end point evaluated again with that many seeds)",
        "fitted": list(fitted),
        "targets": {quoted.key: [quoted.low, quoted.high] for quoted in quotes},
        "losses": best.losses,
        "loss": best.loss,
        "rounds": rounds,
        "min_improvement": min_improvement,
        "confirm_seeds": confirm_seeds,
        "confirmed_losses": confirmed[chosen].losses if confirm_seeds is not None else None,
        "confirmed_loss": confirmed[chosen].loss if confirm_seeds is not None else None,
        "evaluations": len(history),
        "num_seeds": num_seeds,
        "algorithm_settings": evaluation_settings(
            best.values, network=network, algorithm_settings=algorithm_settings
        ).algorithm_settings,
        "solver_settings_replaced": algorithm_settings or {},
        "network": network if network is not None else CALIBRATION_NETWORK,
        "box": {name: list(parameter_range.values) for name, parameter_range in box.items()},
        "start": starts[chosen],
        "starts": [
            {
                "start": first,
                "loss": outcome.loss,
                "confirmed_loss": check.loss if confirm_seeds is not None else None,
                "values": outcome.values,
                "rounds": outcome_rounds,
            }
            for first, (outcome, outcome_rounds), check in zip(starts, outcomes, confirmed, strict=True)
        ],
        "code": code_fingerprint(),
        "wall_time_s": time.perf_counter() - started,
    }
    return CalibratedParameters(**best.values, fit=fit), history


def write_parameters(path: str | Path, parameters: CalibratedParameters) -> Path:
    """Write the settings file atomically."""
    write_json(path, parameters.model_dump(mode="json"))
    return Path(path)
