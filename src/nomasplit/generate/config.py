"""The scenario generator's configuration: one validated, frozen model that YAML/JSON config files map to.

Every key carries its unit in its name (powers and noise in dBm, converted to watts only through
:mod:`nomasplit.units` when the scenario is built), a default, and the default's source: the paper's
Section VI-A, the spec (``system-model.md``), 3GPP TR 36.814, or "our choice" where the paper is silent.
Each field's ``json_schema_extra`` holds ``unit`` and ``source``; :func:`config_reference_markdown` turns them
into the table of ``docs/scenarios.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from nomasplit.data import Compensation, LinearCompensation
from nomasplit.data.files import validate_as
from nomasplit.data.limits import CONFIG_LIMITS, check_limits
from nomasplit.errors import InputError
from nomasplit.io import read_yaml

#: Default number of users per AP when neither ``num_users`` nor ``users_per_ap`` is given (paper VI-A).
DEFAULT_USERS_PER_AP = 250

#: Largest gain tensor (elements per direction, N * U * M) the generator will build: 50 M float64 = 400 MB.
MAX_GAIN_ELEMENTS = 50_000_000

PROFILE_SUFFIXES = (".json", ".json.gz")

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

PAPER = "paper Sec. VI-A"
OUR_CHOICE = "our choice"


def _meta(unit: str, source: str) -> dict[str, Any]:
    return {"unit": unit, "source": source}


def known_model_names() -> tuple[str, ...]:
    """Names of the bundled profiles (``nomasplit.zoo.PROFILE_NAMES``: the zoo models and precision variants)."""
    from nomasplit.zoo import PROFILE_NAMES

    return tuple(PROFILE_NAMES)


def is_profile_path(model: str) -> bool:
    """True if ``model`` names a profile JSON file rather than a bundled model."""
    return model.endswith(PROFILE_SUFFIXES)


def check_model_name(model: str) -> str:
    """Return ``model`` if it is a bundled model name or a profile path; raise ``ValueError`` otherwise."""
    if is_profile_path(model):
        return model
    names = known_model_names()
    if model not in names:
        raise ValueError(
            f"unknown model {model!r}; allowed: one of {', '.join(names)}, or a path to a profile JSON "
            f"(ending {' or '.join(PROFILE_SUFFIXES)})"
        )
    return model


class ModelShare(BaseModel):
    """One model of a mix: a fraction of the users runs it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: str = Field(description="bundled profile name (nomasplit.zoo.PROFILE_NAMES) or path to a profile JSON")
    fraction: float = Field(gt=0, le=1, allow_inf_nan=False, description="share of the users running it")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return check_model_name(value)


class ScenarioConfig(BaseModel):
    """Everything the scenario generator needs (spec ``system-model.md``; paper Section VI-A).

    Build one from a file with :func:`load_config`, from a mapping with :func:`parse_config` (both raise
    :class:`~nomasplit.errors.InputError` naming the field), or directly (raises pydantic's
    ``ValidationError``). :func:`paper_config` is the paper's setup. :meth:`with_overrides` changes fields.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # --- identity and randomness -------------------------------------------------------------------
    name: str = Field(
        default="scenario",
        min_length=1,
        description="scenario name, copied into the file",
        json_schema_extra=_meta("-", "-"),
    )
    description: str = Field(
        default="", description="free text, copied into the file", json_schema_extra=_meta("-", "-")
    )
    seed: int = Field(
        default=0,
        ge=0,
        description="seed of the one numpy Generator (the --seed flag wins)",
        json_schema_extra=_meta("-", OUR_CHOICE),
    )

    # --- topology ----------------------------------------------------------------------------------
    num_aps: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="N: access points, each with an edge server",
        json_schema_extra=_meta("-", PAPER),
    )
    layout: Literal["hexagonal", "grid", "line", "explicit"] = Field(
        default="hexagonal",
        description="AP placement: hexagonal rings (centre first, then ring 1, ...), a grid, a line, or ap_positions_m",
        json_schema_extra=_meta("-", OUR_CHOICE + " (paper silent; usual cellular layout)"),
    )
    inter_site_distance_m: float = Field(
        default=500.0,
        gt=0,
        allow_inf_nan=False,
        description="distance between neighbouring APs",
        json_schema_extra=_meta("m", "3GPP TR 36.814 urban macro (paper silent)"),
    )
    grid_columns: int | None = Field(
        default=None,
        ge=1,
        description="grid layout only: APs per row (default ceil(sqrt(num_aps)))",
        json_schema_extra=_meta("-", OUR_CHOICE),
    )
    ap_positions_m: list[Annotated[tuple[FiniteFloat, FiniteFloat], Strict(False)]] | None = Field(
        default=None,
        description="explicit layout only: [num_aps] (x, y) positions",
        json_schema_extra=_meta("m", "-"),
    )
    area_margin_m: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="explicit layout only: users are uniform in the APs' bounding box grown by this margin "
        "(default inter_site_distance_m / 2)",
        json_schema_extra=_meta("m", OUR_CHOICE),
    )
    num_users: int | None = Field(
        default=None,
        ge=1,
        description="U: total users (give this or users_per_ap, not both)",
        json_schema_extra=_meta("-", PAPER + ": 1250"),
    )
    users_per_ap: int | None = Field(
        default=None,
        ge=1,
        description=f"user density: U = num_aps * users_per_ap (default {DEFAULT_USERS_PER_AP} if num_users "
        "is not given)",
        json_schema_extra=_meta("-", PAPER + ": 1250 users / 5 APs"),
    )
    user_placement: Literal["area", "per_cell"] = Field(
        default="area",
        description="'area': users uniform in the whole area (users per AP vary); 'per_cell': exactly "
        "users_per_ap users uniform in each AP's cell (needs users_per_ap, not the explicit layout)",
        json_schema_extra=_meta("-", OUR_CHOICE + " (paper: uniform)"),
    )
    min_distance_m: float = Field(
        default=35.0,
        gt=0,
        allow_inf_nan=False,
        description="distances below this are raised to it in the path loss",
        json_schema_extra=_meta("m", "3GPP TR 36.814 (paper silent)"),
    )

    # --- channel -----------------------------------------------------------------------------------
    path_loss_model: Literal["3gpp", "power_law"] = Field(
        default="3gpp",
        description="'3gpp': 128.1 + 37.6 log10(d / 1 km) dB; 'power_law': "
        "path_loss_reference_db + 10 alpha log10(d / 1 m) dB",
        json_schema_extra=_meta("-", "3GPP TR 36.814 macro; paper VI-A uses power_law, exponent 5"),
    )
    path_loss_exponent: float = Field(
        default=5.0,
        gt=0,
        allow_inf_nan=False,
        description="alpha of the power law (power_law only)",
        json_schema_extra=_meta("-", PAPER),
    )
    path_loss_reference_db: float = Field(
        default=0.0,
        allow_inf_nan=False,
        description="power-law loss at 1 m (power_law only)",
        json_schema_extra=_meta("dB", OUR_CHOICE + " (plain d^-alpha)"),
    )
    fading: Literal["rayleigh", "none"] = Field(
        default="rayleigh",
        description="small-scale power fading per (AP, user, subchannel): exponential(1), independent "
        "for uplink and downlink; 'none' keeps the path gain only",
        json_schema_extra=_meta("-", PAPER + " (i.i.d. Rayleigh); spec"),
    )
    num_subchannels: int = Field(
        default=250,
        ge=1,
        description="M: orthogonal subchannels shared by all APs",
        json_schema_extra=_meta("-", PAPER),
    )
    uplink_bandwidth_hz: float = Field(
        default=10e6,
        gt=0,
        allow_inf_nan=False,
        description="B_up, split equally into M subchannels",
        json_schema_extra=_meta("Hz", PAPER),
    )
    downlink_bandwidth_hz: float = Field(
        default=10e6,
        gt=0,
        allow_inf_nan=False,
        description="B_dn, split equally into M subchannels",
        json_schema_extra=_meta("Hz", PAPER + " (system bandwidth, read for both directions)"),
    )
    noise_psd_dbm_per_hz: float = Field(
        default=-174.0,
        allow_inf_nan=False,
        description="N0; the noise on a subchannel is N0 * B / M",
        json_schema_extra=_meta("dBm/Hz", PAPER),
    )
    access: Literal["noma", "oma"] = Field(
        default="noma",
        description="NOMA with SIC, or OMA (cluster_size 1; another cluster_size is refused)",
        json_schema_extra=_meta("-", PAPER),
    )
    cluster_size: int = Field(
        default=3,
        ge=1,
        description="K: at most K users of one AP on one subchannel (1 with OMA)",
        json_schema_extra=_meta("-", PAPER),
    )
    uplink_power_min_dbm: float = Field(
        default=0.0,
        allow_inf_nan=False,
        description="p_min of every user",
        json_schema_extra=_meta("dBm", OUR_CHOICE + " (1 mW)"),
    )
    uplink_power_max_dbm: float = Field(
        default=25.0,
        allow_inf_nan=False,
        description="p_max of every user",
        json_schema_extra=_meta("dBm", PAPER),
    )
    downlink_power_min_dbm: float = Field(
        default=0.0,
        allow_inf_nan=False,
        description="P_min that an AP spends on one user",
        json_schema_extra=_meta("dBm", OUR_CHOICE + " (1 mW)"),
    )
    downlink_power_max_dbm: float = Field(
        default=23.0,
        allow_inf_nan=False,
        description="P_max that an AP spends on one user",
        json_schema_extra=_meta("dBm", OUR_CHOICE + ": 250 users x 23 dBm = 47 dBm, a macro cell's total"),
    )

    # --- users and workload ------------------------------------------------------------------------
    latency_weight: float = Field(
        default=0.5,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="w_T of every user; the energy weight is w_E = 1 - w_T",
        json_schema_extra=_meta("-", OUR_CHOICE + " (paper silent)"),
    )
    workload_tasks: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="k: tasks per user, multiplies all FLOPs and bits",
        json_schema_extra=_meta("tasks", PAPER + " (Figs. 8, 11 vary it)"),
    )
    model: str | list[ModelShare] = Field(
        default="vgg16",
        description="the users' DNN: a bundled profile name (nin, tiny-yolov2, vgg16, tiny-yolov2-voc, or a "
        "precision variant such as nin-in8), a profile JSON path, or a mix "
        "[{model, fraction}] with fractions summing to 1",
        json_schema_extra=_meta("-", PAPER + " (VGG16, one of its three models)"),
    )

    # --- device ------------------------------------------------------------------------------------
    device_flops_per_s: float = Field(
        default=1e10,
        gt=0,
        allow_inf_nan=False,
        description="c_i: effective DNN throughput of a device",
        json_schema_extra=_meta("FLOP/s", OUR_CHOICE + ": mid-range smartphone CPU (docs/scenarios.md)"),
    )
    device_cycles_per_flop: float = Field(
        default=0.25,
        gt=0,
        allow_inf_nan=False,
        description="phi_i (the paper's 'cycles per bit', read as cycles per FLOP): 2.5 GHz / 10 GFLOP/s",
        json_schema_extra=_meta("cycle/FLOP", OUR_CHOICE + "; spec reading"),
    )
    device_switched_capacitance: float = Field(
        default=1e-29,
        gt=0,
        allow_inf_nan=False,
        description="xi_i, chosen so that xi_i c_i^2 phi_i = 0.25 nJ/FLOP (2.5 W at c_i)",
        json_schema_extra=_meta("J s^2/(FLOP^2 cycle)", OUR_CHOICE + " (docs/scenarios.md)"),
    )
    device_flops_spread_fraction: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="heterogeneity h: c_i uniform in device_flops_per_s * [1 - h, 1 + h] (0: identical)",
        json_schema_extra=_meta("-", OUR_CHOICE + " (paper: identical devices)"),
    )

    # --- edge --------------------------------------------------------------------------------------
    edge_unit_flops_per_s: float = Field(
        default=2e10,
        gt=0,
        allow_inf_nan=False,
        description="c_min: speed of one edge compute unit; user i gets lambda(r_i) * c_min",
        json_schema_extra=_meta("FLOP/s", OUR_CHOICE + ": one server CPU core (docs/scenarios.md)"),
    )
    compute_units_min: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="r_min",
        json_schema_extra=_meta("units", OUR_CHOICE),
    )
    compute_units_max: float = Field(
        default=4.0,
        gt=0,
        allow_inf_nan=False,
        description="r_max",
        json_schema_extra=_meta("units", OUR_CHOICE),
    )
    edge_cycles_per_flop: float = Field(
        default=0.125,
        gt=0,
        allow_inf_nan=False,
        description="phi_e, cycles per FLOP (2.5 GHz / 20 GFLOP/s)",
        json_schema_extra=_meta("cycle/FLOP", OUR_CHOICE + "; spec reading"),
    )
    edge_switched_capacitance: float = Field(
        default=2e-30,
        gt=0,
        allow_inf_nan=False,
        description="xi_e, chosen so that xi_e c_min^2 phi_e = 0.1 nJ/FLOP at r = 1 (x lambda(r)^2 above)",
        json_schema_extra=_meta("J s^2/(FLOP^2 cycle)", OUR_CHOICE + " (docs/scenarios.md)"),
    )
    edge_capacity_units: FiniteFloat | list[FiniteFloat] | None = Field(
        default=None,
        description="optional cap on the sum of r_i over an AP's offloading users: one number for every AP "
        "or a list of num_aps (null: no cap)",
        json_schema_extra=_meta("units", PAPER + " (no cap)"),
    )
    compensation: Compensation = Field(
        default_factory=LinearCompensation,
        description="lambda(r), eq. (3): {kind: linear}, {kind: power, exponent}, {kind: amdahl, parallel_fraction} "
        "or {kind: measured, units, speedup} (nomasplit scenario apply-measurements writes one)",
        json_schema_extra=_meta("-", "spec (linear: the single-core case)"),
    )

    # --- validation --------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("num_users") is None and data.get("users_per_ap") is None:
            data["users_per_ap"] = DEFAULT_USERS_PER_AP
        if data.get("access") == "oma" and "cluster_size" not in data:
            data["cluster_size"] = 1  # OMA is K = 1; a cluster size given with it must be 1 (checked below)
        return data

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | list[ModelShare]) -> str | list[ModelShare]:
        if isinstance(value, str):
            return check_model_name(value)
        if not value:
            raise ValueError("a model mix needs at least one entry")
        total = sum(share.fraction for share in value)
        if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-9):
            raise ValueError(f"fractions of the model mix must sum to 1, got {total:g}")
        names = [share.model for share in value]
        if len(set(names)) != len(names):
            raise ValueError("each model may appear only once in a mix")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> ScenarioConfig:
        if self.access == "oma" and self.cluster_size != 1:
            raise ValueError(
                f"cluster_size {self.cluster_size} contradicts access 'oma' (OMA is one user per subchannel, K = 1): "
                "drop cluster_size or set it to 1"
            )
        check_limits(self, CONFIG_LIMITS)
        if self.num_users is not None and self.users_per_ap is not None:
            raise ValueError(f"give num_users ({self.num_users}) or users_per_ap ({self.users_per_ap}), not both")
        for low_name, high_name in (
            ("uplink_power_min_dbm", "uplink_power_max_dbm"),
            ("downlink_power_min_dbm", "downlink_power_max_dbm"),
            ("compute_units_min", "compute_units_max"),
        ):
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low > high:
                raise ValueError(f"{low_name} ({low:g}) must not exceed {high_name} ({high:g})")
        if self.layout == "explicit":
            if self.ap_positions_m is None:
                raise ValueError("layout 'explicit' needs ap_positions_m: a list of num_aps [x, y] pairs in m")
            if len(self.ap_positions_m) != self.num_aps:
                raise ValueError(
                    f"ap_positions_m has {len(self.ap_positions_m)} entries, expected num_aps = {self.num_aps}"
                )
        else:
            if self.ap_positions_m is not None:
                raise ValueError(f"ap_positions_m is only allowed with layout 'explicit' (layout is {self.layout!r})")
            if self.area_margin_m is not None:
                raise ValueError(f"area_margin_m is only allowed with layout 'explicit' (layout is {self.layout!r})")
        if self.user_placement == "per_cell":
            if self.users_per_ap is None:
                raise ValueError("user_placement 'per_cell' needs users_per_ap (num_users is given instead)")
            if self.layout == "explicit":
                raise ValueError("user_placement 'per_cell' is not available with layout 'explicit' (no cells)")
        if self.grid_columns is not None and self.layout != "grid":
            raise ValueError(f"grid_columns is only allowed with layout 'grid' (layout is {self.layout!r})")
        if isinstance(self.edge_capacity_units, list):
            if len(self.edge_capacity_units) != self.num_aps:
                raise ValueError(
                    f"edge_capacity_units has {len(self.edge_capacity_units)} entries, expected num_aps = "
                    f"{self.num_aps} (or give one number for every AP)"
                )
            capacities = self.edge_capacity_units
        else:
            capacities = [] if self.edge_capacity_units is None else [self.edge_capacity_units]
        if any(capacity <= 0 for capacity in capacities):
            raise ValueError("edge_capacity_units must be positive")
        elements = self.num_aps * self.total_users * self.num_subchannels
        if elements > MAX_GAIN_ELEMENTS:
            raise ValueError(
                f"num_aps x users x num_subchannels = {self.num_aps} x {self.total_users} x "
                f"{self.num_subchannels} = {elements} gains per direction; "
                f"at most {MAX_GAIN_ELEMENTS} allowed"
            )
        return self

    # --- derived -----------------------------------------------------------------------------------
    @property
    def total_users(self) -> int:
        """``U``: ``num_users`` if given, else ``num_aps * users_per_ap``."""
        if self.num_users is not None:
            return self.num_users
        assert self.users_per_ap is not None  # guaranteed by the before-validator
        return self.num_aps * self.users_per_ap

    @property
    def model_shares(self) -> list[ModelShare]:
        """The model mix (a single model is a mix with one entry of fraction 1)."""
        if isinstance(self.model, str):
            return [ModelShare(model=self.model, fraction=1.0)]
        return list(self.model)

    def with_overrides(self, **changes: Any) -> ScenarioConfig:
        """A validated copy with some keys changed; raises :class:`InputError` naming the field.

        Setting ``num_users`` clears ``users_per_ap`` and vice versa, so either can override the other.
        """
        data = self.model_dump(mode="json")
        if changes.get("num_users") is not None:
            data["users_per_ap"] = None
        if changes.get("users_per_ap") is not None:
            data["num_users"] = None
        if changes.get("access") == "oma" and "cluster_size" not in changes:
            data["cluster_size"] = 1  # --access oma on a NOMA config: OMA is K = 1
        data.update(changes)
        return parse_config(data, source="config")


def parse_config(data: Any, source: str = "config") -> ScenarioConfig:
    """Validate a mapping as a :class:`ScenarioConfig`; raise :class:`InputError` naming each bad field."""
    return validate_as(ScenarioConfig, data, source)


def _resolve_profile_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make relative profile paths in ``model`` relative to the config file's folder."""

    def resolve(model: Any) -> Any:
        if isinstance(model, str) and is_profile_path(model) and not Path(model).is_absolute():
            return str((base / model).resolve())
        return model

    model = data.get("model")
    if isinstance(model, list):
        data["model"] = [
            {**share, "model": resolve(share.get("model"))} if isinstance(share, dict) else share for share in model
        ]
    elif model is not None:
        data["model"] = resolve(model)
    return data


def load_config(path: str | Path) -> ScenarioConfig:
    """Read a YAML or JSON config file (a relative profile path in ``model`` is relative to the file).

    Raises:
        InputError: unreadable or malformed file, unknown key, or a value out of range (names the field).
    """
    path = Path(path)
    data = read_yaml(path)
    if data is None:
        raise InputError(f"{path}: empty config file; expected a mapping of keys (e.g. num_aps: 5)")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    if "dynamics" in data:  # the section of `nomasplit simulate`: checked here, not part of the scenario config
        from nomasplit.generate.dynamics import parse_dynamics

        parse_dynamics(data.pop("dynamics"), source=str(path))
    return parse_config(_resolve_profile_paths(data, path.parent), source=str(path))


def paper_config(**overrides: Any) -> ScenarioConfig:
    """The paper's Section VI-A setup, with optional overrides (e.g. ``model='nin'``).

    5 APs, 1250 users (250 per AP), 250 subchannels over 10 MHz (each direction), K = 3 NOMA, 25 dBm
    device power, -174 dBm/Hz noise, path loss exponent 5, VGG16. Everything the paper leaves open keeps
    this module's documented defaults (our choices).
    """
    config = ScenarioConfig(
        name="paper-vi-a",
        description="Section VI-A of the paper: 5 APs, 1250 users, 10 MHz, 250 subchannels, K = 3, 25 dBm",
        num_aps=5,
        users_per_ap=250,
        num_subchannels=250,
        uplink_bandwidth_hz=10e6,
        downlink_bandwidth_hz=10e6,
        noise_psd_dbm_per_hz=-174.0,
        access="noma",
        cluster_size=3,
        uplink_power_max_dbm=25.0,
        path_loss_model="power_law",
        path_loss_exponent=5.0,
        fading="rayleigh",
        model="vgg16",
    )
    return config.with_overrides(**overrides) if overrides else config


def config_reference_markdown(model: type[BaseModel] | None = None) -> str:
    """The table of every config key (unit, default, meaning, source) that ``docs/scenarios.md`` shows; of another
    settings model whose every field has a default and ``_meta`` (the ``dynamics`` section, docs/online.md)."""
    model = ScenarioConfig if model is None else model
    lines = ["| key | unit | default | meaning | source |", "|---|---|---|---|---|"]
    defaults = model()
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        value = getattr(defaults, name)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        default = "null" if value is None else f"{value!r}" if isinstance(value, str) else f"{value}"
        cells = [
            f"`{name}`",
            str(extra.get("unit", "-")),
            f"`{default}`",
            field.description or "",
            str(extra.get("source", "-")),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
