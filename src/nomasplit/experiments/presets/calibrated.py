"""The ``calibrated`` preset: the paper preset's sweeps with the parameters the paper leaves open fitted inside a
declared box of physically plausible values (``nomasplit calibrate``, :mod:`nomasplit.experiments.calibration`).

- :data:`CALIBRATION_BOX`: each open parameter, its candidate values (a grid inside its plausible range) and
  the source of the range (docs/reproduction.md repeats them).
- :data:`FITTED_QUOTES`: the quoted numbers the fit sees (Fig. 2 NiN ECC-OMA 4.1 and ECC-NOMA 6.1, the Fig. 2
  ECC range 3.1-8, the Fig. 3 ECC range 0.85-0.97 and the two Fig. 5 ranges over Neurosurgeon, ECC 1.5-1.7 and
  DNN Surgery 1.3-1.49). Every other quoted number (Figs. 6 and 7) and all 25 trends are held out.
- :class:`CalibratedParameters` is the settings file ``nomasplit calibrate`` writes; :func:`calibrated_settings`
  turns it into the preset, at full or quick scale. The shipped file is ``calibrated.json`` next to this module.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nomasplit.data.files import validate_as
from nomasplit.experiments.figures import (
    DEVICE_ENERGY_PER_FLOP,
    DEVICE_SPEED_AT_FIXED_ENERGY,
    EDGE_ENERGY_PER_FLOP,
    EDGE_UNITS_PER_USER,
    PAPER_MODELS,
    SUBCHANNEL_BANDWIDTH,
    SWEEP_MODEL,
    USERS_PER_SUBCHANNEL,
    RegimeMapSpec,
    RegimeMark,
    ReproductionSettings,
)
from nomasplit.experiments.presets.paper import (
    ALGORITHM_SETTINGS,
    DNN_SURGERY_SERVER_UNITS,
    QUICK_SEEDS,
    USER_DENSITIES,
    USER_DENSITIES_QUICK,
    build_settings,
)
from nomasplit.io import read_json

#: Keys of the quoted numbers the calibration fits (:attr:`~nomasplit.experiments.claims.QuotedNumber.key`); all
#: others are held out.
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
    text = resources.files("nomasplit.experiments.presets").joinpath("calibrated.json").read_text(encoding="utf-8")
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
