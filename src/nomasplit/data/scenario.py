"""The scenario: a self-contained, validated description of one network instance.

Anyone can evaluate a plan from a scenario file alone: it holds the gain tensors, the association, the
per-user model profile and workload, weights, bounds, bandwidths, noise, the NOMA cluster size and the
compensation function. All quantities are linear SI; the unit is in each field's name.

Shapes: ``N = num_aps``, ``U = num_users``, ``M = num_subchannels``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from nomasplit.data.arrays import FloatArray
from nomasplit.data.limits import SCENARIO_LIMITS, check_limits
from nomasplit.data.profile import ModelProfile


class LinearCompensation(BaseModel):
    """``lambda(r) = r``: the single-core case of the paper's eq. (3)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    kind: Literal["linear"] = "linear"


class PowerCompensation(BaseModel):
    """``lambda(r) = r ** exponent``; exponent > 1 is the paper's "lambda(r) > r" multicore case."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    kind: Literal["power"] = "power"
    exponent: float = Field(gt=0, allow_inf_nan=False)


class AmdahlCompensation(BaseModel):
    """``lambda(r) = 1 / ((1 - f) + f / r)``: Amdahl's law with parallel fraction ``f`` (saturating speed-up)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    kind: Literal["amdahl"] = "amdahl"
    parallel_fraction: float = Field(gt=0, le=1, allow_inf_nan=False)


class MeasuredCompensation(BaseModel):
    """``lambda(r)`` measured on a real server: a monotone piecewise-linear table through ``(r_j, lambda_j)``.

    Between two measured points ``lambda`` is linear; below the first point it is proportional to ``r``
    (``lambda(r) = lambda_1 r / r_1``, so ``lambda(0) = 0``); above the last it continues with the last
    segment's slope (one point: proportional throughout). Units and speed-ups must both be strictly
    increasing, so ``lambda`` is increasing and invertible. ``nomasplit profile --measure --units`` fits one
    (``nomasplit.measure.lambda_fit.fit_measured_compensation``); ``source`` records how.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["measured"] = "measured"
    units: list[float] = Field(min_length=1, description="[J] compute units r_j where lambda was measured")
    speedup: list[float] = Field(min_length=1, description="[J] lambda(r_j): speed relative to one unit")
    source: dict[str, Any] = Field(default_factory=dict, description="host, method, fit error")

    @model_validator(mode="after")
    def _check_table(self) -> MeasuredCompensation:
        if len(self.units) != len(self.speedup):
            raise ValueError(f"units has {len(self.units)} entries and speedup {len(self.speedup)}; they must match")
        for name in ("units", "speedup"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ValueError(f"{name} must be positive finite numbers")
            if np.any(np.diff(values) <= 0):
                raise ValueError(f"{name} must be strictly increasing (lambda is increasing in r)")
        return self


Compensation = Annotated[
    LinearCompensation | PowerCompensation | AmdahlCompensation | MeasuredCompensation,
    Field(discriminator="kind"),
]


#: Optional scenario fields written only when set (files without them read as the FLOP model).
OPTIONAL_TABLES = ("device_unit_latency_s", "edge_unit_latency_s")


def _check_range(name_min: str, low: float, name_max: str, high: float) -> None:
    if low > high:
        raise ValueError(f"{name_min} ({low}) must not exceed {name_max} ({high})")


class Scenario(BaseModel):
    """One network instance (spec ``system-model.md``; paper Section III)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, strict=True)

    schema_version: Literal[1] = 1
    name: str = "scenario"
    description: str = ""
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="how the scenario was made: generator, seed, config, version"
    )

    # --- sizes -------------------------------------------------------------------------------------
    num_aps: int = Field(ge=1, description="N")
    num_users: int = Field(ge=1, description="U")
    num_subchannels: int = Field(ge=1, description="M")

    # --- radio -------------------------------------------------------------------------------------
    access: Literal["noma", "oma"] = Field(default="noma", description="NOMA with SIC, or OMA (K = 1)")
    cluster_size: int = Field(default=3, ge=1, description="K: users of one AP on one subchannel, at most")
    uplink_bandwidth_hz: float = Field(gt=0, allow_inf_nan=False, description="B_up, split into M subchannels")
    downlink_bandwidth_hz: float = Field(gt=0, allow_inf_nan=False, description="B_dn, split into M subchannels")
    noise_psd_w_per_hz: float = Field(gt=0, allow_inf_nan=False, description="N0; noise on a subchannel N0*B/M")
    ap_positions_m: FloatArray | None = Field(default=None, description="[N, 2] AP coordinates (informative)")
    user_positions_m: FloatArray | None = Field(default=None, description="[U, 2] user coordinates (informative)")
    association: list[int] = Field(description="[U] serving AP a(i) of each user, 0-based")
    uplink_gain: FloatArray = Field(description="[N, U, M] linear power gain user i -> AP n on subchannel m")
    downlink_gain: FloatArray = Field(description="[N, U, M] linear power gain AP n -> user i on subchannel m")
    uplink_power_min_w: float = Field(ge=0, allow_inf_nan=False, description="p_min")
    uplink_power_max_w: float = Field(gt=0, allow_inf_nan=False, description="p_max")
    downlink_power_min_w: float = Field(ge=0, allow_inf_nan=False, description="P_min, per user")
    downlink_power_max_w: float = Field(gt=0, allow_inf_nan=False, description="P_max, per user")

    # --- users -------------------------------------------------------------------------------------
    profiles: list[ModelProfile] = Field(min_length=1, description="model profiles the users refer to")
    user_profile: list[int] = Field(description="[U] index into profiles of each user's model")
    workload_tasks: FloatArray = Field(description="[U] tasks per user k: multiplies all FLOPs and bits")
    latency_weight: FloatArray = Field(description="[U] w_T in [0, 1]; the energy weight is w_E = 1 - w_T")
    device_flops_per_s: FloatArray = Field(description="[U] c_i, device compute speed")
    device_switched_capacitance: FloatArray = Field(description="[U] xi_i; xi_i c_i^2 phi_i is J per FLOP")
    device_cycles_per_flop: FloatArray = Field(description="[U] phi_i, read as cycles per FLOP")

    # --- edge --------------------------------------------------------------------------------------
    edge_unit_flops_per_s: float = Field(gt=0, allow_inf_nan=False, description="c_min: speed of one unit")
    compute_units_min: float = Field(gt=0, allow_inf_nan=False, description="r_min")
    compute_units_max: float = Field(gt=0, allow_inf_nan=False, description="r_max")
    edge_switched_capacitance: float = Field(ge=0, allow_inf_nan=False, description="xi_e")
    edge_cycles_per_flop: float = Field(ge=0, allow_inf_nan=False, description="phi_e")
    edge_capacity_units: list[float] | None = Field(
        default=None, description="[N] optional cap on the sum of compute units of an AP's offloading users"
    )
    compensation: Compensation = Field(default_factory=LinearCompensation, description="lambda(r), eq. (3)")

    # --- measured per-unit latency tables (optional; the FLOP model is the default) --------------------
    device_unit_latency_s: list[list[float] | None] | None = Field(
        default=None,
        description="[len(profiles)] per profile, null or [F] measured seconds of each unit on the device class "
        "(one task); replaces D(s)/c_i for every user of that profile",
    )
    edge_unit_latency_s: list[list[float] | None] | None = Field(
        default=None,
        description="[len(profiles)] per profile, null or [F] measured seconds of each unit on the edge with "
        "one compute unit (one task); edge work = seconds * lambda(1) * c_min replaces FLOPs",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Scenario:
        n, u, m = self.num_aps, self.num_users, self.num_subchannels
        for name in ("uplink_gain", "downlink_gain"):
            shape = getattr(self, name).shape
            if shape != (n, u, m):
                raise ValueError(
                    f"{name} has shape {list(shape)}, expected [num_aps, num_users, num_subchannels] = [{n}, {u}, {m}]"
                )
            if np.any(getattr(self, name) < 0):
                raise ValueError(f"{name} must be non-negative (linear power gains)")
        for name in ("association", "user_profile"):
            if len(getattr(self, name)) != u:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected num_users = {u}")
        bad_ap = [ap for ap in self.association if not 0 <= ap < n]
        if bad_ap:
            raise ValueError(f"association names AP {bad_ap[0]}, allowed 0..{n - 1}")
        bad_profile = [idx for idx in self.user_profile if not 0 <= idx < len(self.profiles)]
        if bad_profile:
            raise ValueError(f"user_profile names profile {bad_profile[0]}, allowed 0..{len(self.profiles) - 1}")
        per_user: dict[str, tuple[float, float | None]] = {
            "workload_tasks": (0.0, None),
            "latency_weight": (0.0, 1.0),
            "device_flops_per_s": (0.0, None),
            "device_switched_capacitance": (0.0, None),
            "device_cycles_per_flop": (0.0, None),
        }
        for name, (low, high) in per_user.items():
            values = getattr(self, name)
            if values.shape != (u,):
                raise ValueError(f"{name} has shape {list(values.shape)}, expected [num_users] = [{u}]")
            strict = name in ("workload_tasks", "device_flops_per_s")
            if np.any(values < low) or (strict and np.any(values <= low)):
                raise ValueError(f"{name} must be {'>' if strict else '>='} {low}")
            if high is not None and np.any(values > high):
                raise ValueError(f"{name} must be <= {high}")
        for label, shape, expected in (
            ("ap_positions_m", self.ap_positions_m, (n, 2)),
            ("user_positions_m", self.user_positions_m, (u, 2)),
        ):
            if shape is not None and shape.shape != expected:
                raise ValueError(f"{label} has shape {list(shape.shape)}, expected {list(expected)}")
        _check_range("uplink_power_min_w", self.uplink_power_min_w, "uplink_power_max_w", self.uplink_power_max_w)
        _check_range(
            "downlink_power_min_w", self.downlink_power_min_w, "downlink_power_max_w", self.downlink_power_max_w
        )
        _check_range("compute_units_min", self.compute_units_min, "compute_units_max", self.compute_units_max)
        if self.access == "oma" and self.cluster_size != 1:
            raise ValueError(f"cluster_size must be 1 with access 'oma' (got {self.cluster_size})")
        check_limits(self, SCENARIO_LIMITS)
        for name in ("device_unit_latency_s", "edge_unit_latency_s"):
            tables = getattr(self, name)
            if tables is None:
                continue
            if len(tables) != len(self.profiles):
                raise ValueError(
                    f"{name} has {len(tables)} entries, expected one per profile ({len(self.profiles)}; null for none)"
                )
            for index, table in enumerate(tables):
                if table is None:
                    continue
                units = self.profiles[index].num_layers
                if len(table) != units:
                    raise ValueError(
                        f"{name}[{index}] has {len(table)} unit latencies, profile {self.profiles[index].model!r} "
                        f"has {units} units"
                    )
                values = np.asarray(table, dtype=np.float64)
                if not np.all(np.isfinite(values)) or np.any(values < 0):
                    raise ValueError(f"{name}[{index}] must hold finite seconds >= 0")
        if self.edge_capacity_units is not None:
            if len(self.edge_capacity_units) != n:
                raise ValueError(f"edge_capacity_units has {len(self.edge_capacity_units)} entries, expected {n}")
            if any(not np.isfinite(c) or c <= 0 for c in self.edge_capacity_units):
                raise ValueError("edge_capacity_units must be positive finite numbers")
        return self

    @model_serializer(mode="wrap")
    def _omit_absent_tables(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out the measured tables when absent: a FLOP-model scenario's file and hash stay as they were."""
        data: dict[str, Any] = handler(self)
        for name in OPTIONAL_TABLES:
            if name in data and data[name] is None:
                del data[name]
        return data

    # --- derived quantities --------------------------------------------------------------------------
    def user_num_layers(self) -> np.ndarray:
        """``F_i`` of each user. Shape ``[U]``, int."""
        return np.array([self.profiles[idx].num_layers for idx in self.user_profile], dtype=np.int64)

    def users_of_ap(self, ap: int) -> list[int]:
        """``U_n``: the users served by AP ``ap``."""
        return [user for user, serving in enumerate(self.association) if serving == ap]

    @property
    def effective_cluster_size(self) -> int:
        """``K`` (1 for OMA)."""
        return 1 if self.access == "oma" else self.cluster_size

    def replace(self, **changes: Any) -> Scenario:
        """A validated copy with some fields changed (e.g. ``access='oma', cluster_size=1``)."""
        data = self.model_dump()
        data.update(changes)
        return Scenario.model_validate(data)
