"""The paper's Figs. 2-11 and our extra figures, as data: what is swept, over which values, which methods run,
and how each figure normalises its measure.

A *sweep* is a set of scenario configurations (one per point) that several figures share: Figs. 2-5 all read
the per-model sweep, Figs. 6 and 9 the user-density sweep, and so on. Each (sweep point, method, seed) is one
task of :mod:`nomasplit.experiments.sweep`; a figure only selects and normalises finished results.

The presets that fill these in (the paper's Section VI-A, ``--quick``, the calibrated one) are in
:mod:`nomasplit.experiments.presets`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from nomasplit.data.files import validate_strict
from nomasplit.data.hashing import sha256_of
from nomasplit.errors import InputError
from nomasplit.experiments.fingerprint import code_fingerprint
from nomasplit.generate import ScenarioConfig, paper_config
from nomasplit.io import read_yaml

#: Version of the result rows; part of every hash, so a change of what a task computes starts afresh.
RESULT_SCHEMA = 1

#: The paper's three CIFAR-10 models (Section VI-A).
PAPER_MODELS: tuple[str, ...] = ("nin", "tiny-yolov2", "vgg16")

#: Display names of the methods.
METHOD_LABELS: dict[str, str] = {
    "device-only": "Device-Only",
    "edge-only": "Edge-Only",
    "neurosurgeon": "Neurosurgeon",
    "dnn-surgery": "DNN Surgery",
    "ecc-oma": "ECC-OMA",
    "ecc-noma": "ECC-NOMA",
    "ligd-paper": "Li-GD (Table I)",
}

#: Pseudo-parameter of a sweep: the bandwidth of one subchannel, b = B / M [Hz]; sets B_up = B_dn = b * M.
SUBCHANNEL_BANDWIDTH = "subchannel_bandwidth_hz"

#: Pseudo-parameter of a sweep: the device speed c_i [FLOP/s] at the default energy per FLOP: sets
#: ``device_flops_per_s`` and scales ``device_switched_capacitance`` by ``(c_default / c)^2`` so that
#: ``xi c^2 phi`` (J/FLOP) stays at its default: phones of other speeds, equally efficient.
DEVICE_SPEED_AT_FIXED_ENERGY = "device_flops_per_s_at_fixed_energy_per_flop"

#: Pseudo-parameter: users per AP per subchannel, U_n / M (the overload of the NOMA clusters; above 1 an OMA
#: method cannot give every user a subchannel). Sets ``num_subchannels = max(1, round(users_per_ap / value))``
#: and keeps the bandwidth of one subchannel (B = b M).
USERS_PER_SUBCHANNEL = "users_per_ap_per_subchannel"

#: Pseudo-parameter: the device's energy per FLOP, xi_i c_i^2 phi_i [J/FLOP]; sets ``device_switched_capacitance``.
DEVICE_ENERGY_PER_FLOP = "device_energy_per_flop_j"

#: Pseudo-parameter: the edge's energy per FLOP at one unit, xi_e c_min^2 phi_e [J/FLOP]; sets
#: ``edge_switched_capacitance``.
EDGE_ENERGY_PER_FLOP = "edge_energy_per_flop_j"

#: Pseudo-parameter: a finite edge server per AP, in compute units per user of the point's cell
#: (``edge_capacity_units = value * users_per_ap``; 4 = r_max, no limit in practice).
EDGE_UNITS_PER_USER = "edge_units_per_user"

#: Every pseudo-parameter, in the order they are applied (after the config fields).
PSEUDO_PARAMETERS: tuple[str, ...] = (
    DEVICE_ENERGY_PER_FLOP,
    EDGE_ENERGY_PER_FLOP,
    DEVICE_SPEED_AT_FIXED_ENERGY,
    SUBCHANNEL_BANDWIDTH,
    USERS_PER_SUBCHANNEL,
    EDGE_UNITS_PER_USER,
)

SweepValue = float | int | str


def resolve_config(changes: dict[str, Any]) -> ScenarioConfig:
    """:func:`~nomasplit.generate.paper_config` with ``changes``: config fields, then the pseudo-parameters
    (:data:`PSEUDO_PARAMETERS`, in that order; a value of None leaves one out). InputError names a bad field."""
    fields = {key: value for key, value in changes.items() if key not in PSEUDO_PARAMETERS}
    pseudo = {key: changes[key] for key in PSEUDO_PARAMETERS if changes.get(key) is not None}
    config = paper_config().with_overrides(**fields)
    for key, raw in pseudo.items():
        value = float(raw)
        if not value > 0:
            raise InputError(f"{key} must be positive, got {raw!r}")
        update: dict[str, Any] = {}
        if key == DEVICE_ENERGY_PER_FLOP:
            update["device_switched_capacitance"] = value / (
                config.device_flops_per_s**2 * config.device_cycles_per_flop
            )
        elif key == EDGE_ENERGY_PER_FLOP:
            update["edge_switched_capacitance"] = value / (
                config.edge_unit_flops_per_s**2 * config.edge_cycles_per_flop
            )
        elif key == DEVICE_SPEED_AT_FIXED_ENERGY:
            update["device_flops_per_s"] = value
            update["device_switched_capacitance"] = (
                config.device_switched_capacitance * (config.device_flops_per_s / value) ** 2
            )
        elif key == SUBCHANNEL_BANDWIDTH:
            update["uplink_bandwidth_hz"] = value * config.num_subchannels
            update["downlink_bandwidth_hz"] = value * config.num_subchannels
        elif key == EDGE_UNITS_PER_USER:
            update["edge_capacity_units"] = value * config.total_users / config.num_aps
        else:  # USERS_PER_SUBCHANNEL
            users_per_ap = config.total_users / config.num_aps
            num_subchannels = max(1, round(users_per_ap / value))
            update["num_subchannels"] = num_subchannels
            update["uplink_bandwidth_hz"] = config.uplink_bandwidth_hz / config.num_subchannels * num_subchannels
            update["downlink_bandwidth_hz"] = config.downlink_bandwidth_hz / config.num_subchannels * num_subchannels
        config = config.with_overrides(**update)
    return config


_MODEL_LABELS = {"nin": "NiN", "tiny-yolov2": "tiny YOLOv2", "tiny-yolov2-voc": "tiny YOLOv2 VOC", "vgg16": "VGG16"}
_MODEL_LABELS.update({"resnet18": "ResNet-18", "mobilenet-v2": "MobileNetV2"})  # the DAG figure's models


def model_family(name: str) -> str:
    """The zoo model a sweep's model value is about, however it was given: a zoo name (``nin``), a bundled
    precision variant (``nin-in8-a16``) or a profile file (its ``model`` field, then the same rule)."""
    from nomasplit.zoo import base_model_of

    text = str(name)
    if text.endswith((".json", ".json.gz")):
        try:
            from nomasplit.data.files import load_profile

            text = load_profile(text).model
        except (InputError, OSError):
            text = Path(text).name.removesuffix(".gz").removesuffix(".json")
    return base_model_of(text)


def model_label(name: str) -> str:
    """Display name of a model (a precision variant keeps its suffix: ``NiN (in8-a16)``)."""
    family = model_family(name)
    label = _MODEL_LABELS.get(family, family)
    suffix = str(name).removeprefix(family).strip("-")
    return f"{label} ({suffix})" if suffix and family != str(name) and "/" not in str(name) else label


class SweepSpec(BaseModel):
    """One sweep: a parameter of :class:`~nomasplit.generate.ScenarioConfig` and its values.

    ``parameter`` is a config field (``model``, ``users_per_ap``, ``num_subchannels``, ``workload_tasks``,
    ``device_flops_per_s``, ...) or :data:`SUBCHANNEL_BANDWIDTH`. ``overrides`` change the base configuration
    for every point of this sweep (for example a smaller network for the subchannel sweep).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    parameter: str
    values: tuple[SweepValue, ...] = Field(min_length=1)
    methods: tuple[str, ...] = Field(min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)
    label: str = Field(description="x-axis label")
    log_x: bool = False


class FigureSpec(BaseModel):
    """One figure: a measure of some methods over a sweep, normalised to a baseline method.

    The ratio of method A at point x and seed s is ``mean_i q_i(B, x_ref, s) / mean_i q_i(A, x, s)``, q the
    latency (speedup) or the energy (energy reduction), B the baseline and ``x_ref = baseline_at`` if given
    (the paper's Figs. 8 and 11 normalise to Device-Only at k = 500), else ``x`` itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9-]+$", description="'2'..'11' for the paper's figures")
    title: str
    sweep: str
    measure: Literal["latency", "energy"]
    baseline: str
    methods: tuple[str, ...] = Field(min_length=1)
    baseline_at: SweepValue | None = None
    paper: bool = True

    @property
    def filename(self) -> str:
        """Base name of the figure's files (``fig02``, ..., ``fig-extra-device``)."""
        return f"fig{int(self.key):02d}" if self.key.isdigit() else f"fig-{self.key}"

    @property
    def ylabel(self) -> str:
        what = "latency speedup" if self.measure == "latency" else "energy consumption reduction"
        where = f" at {self.baseline_at:g}" if isinstance(self.baseline_at, int | float) else ""
        return f"{what} over {METHOD_LABELS.get(self.baseline, self.baseline)}{where}"


class RegimeMark(BaseModel):
    """A point marked on a regime map (an operating point)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    x: float
    y: float


class RegimeMapSpec(BaseModel):
    """A heatmap over two parameters (beyond the paper): ECC-NOMA's latency speedup over Device-Only and
    NOMA's over OMA (ECC-OMA's latency over ECC-NOMA's) at every (x, y).

    Each row (one ``y`` value) is an ordinary sweep over ``x`` named ``<key>-row<i>`` (:meth:`row_sweeps`), so
    the tasks, hashes and resumable store are the sweeps' own. ``x``/``y`` parameters are config fields or
    pseudo-parameters (:data:`PSEUDO_PARAMETERS`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^regime-[a-z0-9-]+$")
    title: str
    x_parameter: str
    x_values: tuple[float, ...] = Field(min_length=2)
    x_label: str
    y_parameter: str
    y_values: tuple[float, ...] = Field(min_length=2)
    y_label: str
    overrides: dict[str, Any] = Field(default_factory=dict)
    marks: tuple[RegimeMark, ...] = ()

    #: The methods a regime map needs.
    methods: tuple[str, ...] = ("device-only", "ecc-oma", "ecc-noma")

    @property
    def filename(self) -> str:
        return self.key

    def row_name(self, index: int) -> str:
        return f"{self.key}-row{index}"

    def row_sweeps(self) -> tuple[SweepSpec, ...]:
        """One sweep over ``x`` per ``y`` value."""
        return tuple(
            SweepSpec(
                name=self.row_name(index),
                parameter=self.x_parameter,
                values=self.x_values,
                methods=self.methods,
                overrides={**self.overrides, self.y_parameter: y},
                label=self.x_label,
                log_x=True,
            )
            for index, y in enumerate(self.y_values)
        )


class ReproductionSettings(BaseModel):
    """Everything that decides the results of a reproduction (and so its settings hash), plus the seeds.

    ``base`` overrides :func:`~nomasplit.generate.paper_config`; each sweep adds its overrides and its point
    (config fields and the pseudo-parameters of :func:`resolve_config`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Literal["paper", "calibrated", "custom"] = "custom"
    quick: bool = Field(default=False, description="the CI-sized network of --quick")
    base: dict[str, Any] = Field(default_factory=dict)
    sweeps: tuple[SweepSpec, ...]
    figures: tuple[FigureSpec, ...]
    regime_maps: tuple[RegimeMapSpec, ...] = ()
    fitted: tuple[str, ...] = Field(
        default=(), description="keys of the quoted numbers a calibration fitted (the rest are held out)"
    )
    readings: tuple[tuple[str, str], ...] = Field(
        default=(), description="(topic, text) of the readings this preset adds to READINGS"
    )
    num_seeds: int = Field(ge=1, le=10_000)
    first_seed: int = Field(default=0, ge=0)
    algorithm_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="settings per algorithm name, passed to solve()"
    )
    torch_device: str = Field(
        default="cpu",
        validation_alias=AliasChoices("torch_device", "device"),
        description="torch backend of the solvers, cpu or cuda ('device', its old name, is read until 0.3)",
    )

    @model_validator(mode="after")
    def _check(self) -> ReproductionSettings:
        names = [sweep.name for sweep in self.sweeps]
        if len(set(names)) != len(names):
            raise ValueError("sweep names must be unique")
        sweeps = {sweep.name: sweep for sweep in self.sweeps}
        for figure in self.figures:
            sweep = sweeps.get(figure.sweep)
            if sweep is None:
                raise ValueError(f"figure {figure.key} reads sweep {figure.sweep!r}, which is not defined")
            missing = [m for m in (*figure.methods, figure.baseline) if m not in sweep.methods]
            if missing:
                raise ValueError(f"figure {figure.key} needs methods {missing} that sweep {sweep.name} does not run")
            if figure.baseline_at is not None and figure.baseline_at not in sweep.values:
                raise ValueError(f"figure {figure.key}: baseline_at {figure.baseline_at} is not a point of the sweep")
        for regime in self.regime_maps:
            for row in regime.row_sweeps():
                if row.name not in sweeps:
                    raise ValueError(f"regime map {regime.key} needs sweep {row.name!r} (RegimeMapSpec.row_sweeps)")
        return self

    @property
    def seeds(self) -> list[int]:
        """The Monte-Carlo seeds: scenario ``seed`` and solver ``seed`` of every task."""
        return list(range(self.first_seed, self.first_seed + self.num_seeds))

    def sweep(self, name: str) -> SweepSpec:
        """The sweep called ``name``."""
        for sweep in self.sweeps:
            if sweep.name == name:
                return sweep
        raise KeyError(name)

    def settings_hash(self) -> str:
        """Short hash of the settings common to all tasks: base config, algorithm settings, torch device, and the
        fingerprint of the code (:mod:`~nomasplit.experiments.fingerprint`): results of older code are kept apart.

        Each task's own hash adds its point's full configuration and seed, so the sweeps, the seeds and the
        figure selection are left out on purpose: more seeds, more points or fewer figures reuse results.
        """
        payload = _HashPayload(
            schema_version=RESULT_SCHEMA,
            base=self.base,
            algorithm_settings=self.algorithm_settings,
            device=self.torch_device,  # the key keeps its old name: the rename alone orphans no result
            code=code_fingerprint(),
        )
        return sha256_of(payload)[:16]

    def select_figures(self, keys: list[str] | None) -> ReproductionSettings:
        """A copy with only the figures ``keys`` (and the sweeps they read); None keeps all."""
        if not keys:
            return self
        known = {figure.key: figure for figure in self.figures}
        maps = {regime.key: regime for regime in self.regime_maps}
        unknown = [key for key in keys if key not in known and key not in maps]
        if unknown:
            raise InputError(
                f"--figures: unknown figure(s) {', '.join(unknown)}; allowed: {', '.join([*known, *maps])}"
            )
        figures = tuple(known[key] for key in dict.fromkeys(keys) if key in known)
        regime_maps = tuple(maps[key] for key in dict.fromkeys(keys) if key in maps)
        used = {figure.sweep for figure in figures} | {
            row.name for regime in regime_maps for row in regime.row_sweeps()
        }
        sweeps = tuple(sweep for sweep in self.sweeps if sweep.name in used)
        return self.model_copy(update={"figures": figures, "sweeps": sweeps, "regime_maps": regime_maps})

    def without_regime_maps(self) -> ReproductionSettings:
        """A copy without the regime maps and their row sweeps."""
        rows = {row.name for regime in self.regime_maps for row in regime.row_sweeps()}
        sweeps = tuple(sweep for sweep in self.sweeps if sweep.name not in rows)
        return self.model_copy(update={"regime_maps": (), "sweeps": sweeps})

    def point_config(self, sweep: SweepSpec, value: SweepValue) -> ScenarioConfig:
        """The scenario configuration of one sweep point (validated; InputError names a bad field)."""
        changes: dict[str, Any] = {**self.base, **sweep.overrides, sweep.parameter: value}
        return resolve_config(changes)


class _HashPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int
    base: dict[str, Any]
    algorithm_settings: dict[str, dict[str, Any]]
    device: str
    code: str


# --- the paper's figures -------------------------------------------------------------------------------

ALL_METHODS: tuple[str, ...] = (
    "device-only",
    "edge-only",
    "neurosurgeon",
    "dnn-surgery",
    "ecc-oma",
    "ecc-noma",
)
#: Figs. 2-5 (the models sweep) also show the paper's Li-GD as Table I states it (``ligd-paper``, without the
#: project's baseline starts and discrete search), so that a reader sees what the paper's algorithm achieves alone.
MODEL_METHODS: tuple[str, ...] = (*ALL_METHODS, "ligd-paper")
#: Figs. 6-11 compare ECC-NOMA with the four baselines (Section VI-C).
NETWORK_METHODS: tuple[str, ...] = ("device-only", "edge-only", "neurosurgeon", "dnn-surgery", "ecc-noma")


def paper_figures(sweep_model_label: str) -> tuple[FigureSpec, ...]:
    """Figs. 2-11 and the extra device-speed and bandwidth figures; ``sweep_model_label`` names Figs. 6-11's model."""
    latency: Literal["latency", "energy"] = "latency"
    energy: Literal["latency", "energy"] = "energy"
    return (
        FigureSpec(
            key="2",
            title="Fig. 2: latency speedup for different DNN models",
            sweep="models",
            measure=latency,
            baseline="device-only",
            methods=("edge-only", "ecc-oma", "ecc-noma", "ligd-paper"),
        ),
        FigureSpec(
            key="3",
            title="Fig. 3: energy consumption reduction for different DNN models",
            sweep="models",
            measure=energy,
            baseline="device-only",
            methods=("edge-only", "ecc-oma", "ecc-noma", "ligd-paper"),
        ),
        FigureSpec(
            key="4",
            title="Fig. 4: latency speedup over Neurosurgeon",
            sweep="models",
            measure=latency,
            baseline="neurosurgeon",
            methods=("neurosurgeon", "dnn-surgery", "ecc-oma", "ecc-noma", "ligd-paper"),
        ),
        FigureSpec(
            key="5",
            title="Fig. 5: energy consumption reduction over Neurosurgeon",
            sweep="models",
            measure=energy,
            baseline="neurosurgeon",
            methods=("neurosurgeon", "dnn-surgery", "ecc-oma", "ecc-noma", "ligd-paper"),
        ),
        FigureSpec(
            key="6",
            title=f"Fig. 6: latency speedup under different user densities ({sweep_model_label})",
            sweep="users",
            measure=latency,
            baseline="device-only",
            methods=NETWORK_METHODS,
        ),
        FigureSpec(
            key="7",
            title=f"Fig. 7: latency speedup vs number of subchannels ({sweep_model_label})",
            sweep="subchannels",
            measure=latency,
            baseline="device-only",
            methods=NETWORK_METHODS,
        ),
        FigureSpec(
            key="8",
            title=f"Fig. 8: latency speedup under different workloads ({sweep_model_label})",
            sweep="workload",
            measure=latency,
            baseline="device-only",
            methods=NETWORK_METHODS,
            baseline_at=500.0,
        ),
        FigureSpec(
            key="9",
            title=f"Fig. 9: energy reduction under different user densities ({sweep_model_label})",
            sweep="users",
            measure=energy,
            baseline="device-only",
            methods=NETWORK_METHODS,
        ),
        FigureSpec(
            key="10",
            title=f"Fig. 10: energy reduction vs number of subchannels ({sweep_model_label})",
            sweep="subchannels",
            measure=energy,
            baseline="device-only",
            methods=NETWORK_METHODS,
        ),
        FigureSpec(
            key="11",
            title=f"Fig. 11: energy reduction under different workloads ({sweep_model_label})",
            sweep="workload",
            measure=energy,
            baseline="device-only",
            methods=NETWORK_METHODS,
            baseline_at=500.0,
        ),
        FigureSpec(
            key="extra-device",
            title=f"Extra: latency speedup vs device speed ({sweep_model_label})",
            sweep="device-speed",
            measure=latency,
            baseline="device-only",
            methods=ALL_METHODS,
            paper=False,
        ),
        FigureSpec(
            key="extra-bandwidth",
            title=f"Extra: latency speedup vs bandwidth per subchannel ({sweep_model_label})",
            sweep="bandwidth",
            measure=latency,
            baseline="device-only",
            methods=ALL_METHODS,
            paper=False,
        ),
    )


#: The model of Figs. 6-11 and the extra figures (the paper does not say which it used).
SWEEP_MODEL = "nin"

#: Device speeds of the extra figure [FLOP/s]: a microcontroller-class 1 GFLOP/s to a phone NPU's 1 TFLOP/s.
DEVICE_SPEEDS: tuple[float, ...] = (1e9, 3e9, 1e10, 3e10, 1e11, 3e11, 1e12)
#: Bandwidths of one subchannel in the extra figure [Hz]; the paper's 10 MHz / 250 is 40 kHz.
SUBCHANNEL_BANDWIDTHS: tuple[float, ...] = (1e4, 4e4, 1e5, 4e5, 1e6, 4e6)


#: Users per AP / M of the overload sweep (extra figure): from every user on its own subchannel to 3 per subchannel.
OVERLOAD_VALUES: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
#: The methods of the overload sweep.
OVERLOAD_METHODS: tuple[str, ...] = ("device-only", "edge-only", "neurosurgeon", "ecc-oma", "ecc-noma")


def overload_figures(sweep_model_label: str) -> tuple[FigureSpec, ...]:
    """The extra figures over users per subchannel (overload); ``sweep_model_label`` names their model."""
    return (
        FigureSpec(
            key="extra-overload",
            title=f"Extra: latency speedup vs users per subchannel ({sweep_model_label})",
            sweep="overload",
            measure="latency",
            baseline="device-only",
            methods=("edge-only", "neurosurgeon", "ecc-oma", "ecc-noma"),
            paper=False,
        ),
        FigureSpec(
            key="extra-overload-noma",
            title=f"Extra: NOMA over OMA, latency speedup vs users per subchannel ({sweep_model_label})",
            sweep="overload",
            measure="latency",
            baseline="ecc-oma",
            methods=("ecc-noma",),
            paper=False,
        ),
    )


def load_settings(path: str | Path) -> ReproductionSettings:
    """Read :class:`ReproductionSettings` from a YAML or JSON file (InputError names a bad field)."""
    return validate_strict(ReproductionSettings, read_yaml(path), str(path))
