"""The outcome of evaluating a discrete plan on its scenario."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ViolationKind = Literal[
    "cluster_size",
    "missing_subchannel",
    "uplink_power_bounds",
    "downlink_power_bounds",
    "compute_units_bounds",
    "edge_capacity",
]


class Violation(BaseModel):
    """One broken constraint of problem (18)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ViolationKind
    message: str
    user: int | None = None
    ap: int | None = None
    subchannel: int | None = None
    direction: Literal["uplink", "downlink"] | None = None


class UserOutcome(BaseModel):
    """Per-user latency (eq. 12), energy (eq. 17) and utility (eq. 19) with their parts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: int
    ap: int
    split: int
    offloads: bool
    latency_s: float | None = Field(description="T_i; null if not finite (offloading without a subchannel)")
    energy_j: float | None = Field(description="E_i")
    utility: float | None = Field(description="U_i = w_T T_i + w_E E_i")
    device_latency_s: float
    edge_latency_s: float
    uplink_latency_s: float | None
    downlink_latency_s: float | None
    device_energy_j: float
    edge_energy_j: float
    uplink_energy_j: float | None
    downlink_energy_j: float | None
    uplink_rate_bps: float
    downlink_rate_bps: float


class Totals(BaseModel):
    """Sums and means over users."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: float | None = Field(description="Gamma = sum_i U_i (eq. 20)")
    total_latency_s: float | None
    mean_latency_s: float | None
    total_energy_j: float | None
    mean_energy_j: float | None
    num_users: int
    num_offloading: int


class EvaluationResult(BaseModel):
    """Result of ``nomasplit evaluate``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    scenario_sha256: str
    plan_sha256: str
    feasible: bool
    violations: list[Violation]
    totals: Totals
    users: list[UserOutcome]
