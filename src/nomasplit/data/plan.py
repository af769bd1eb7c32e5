"""A plan: one decision per user, plus how it was obtained.

Per user (0-based indices): split point ``s_i`` in 0..F_i, uplink and downlink subchannel (``None`` for a
Device-Only user, ``s_i = F_i``), uplink power ``p_i`` [W], downlink power ``P_i`` [W] that the AP spends on
the user, and edge compute units ``r_i``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from nomasplit.data.hashing import sha256_of
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError


class UserDecision(BaseModel):
    """The decision for one user."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    user: int = Field(ge=0, description="user index, 0-based")
    split: int = Field(ge=0, description="s_i: units 1..s_i on the device; s_i = F_i is Device-Only")
    uplink_subchannel: int | None = Field(default=None, ge=0, description="u_i, 0-based; null if Device-Only")
    downlink_subchannel: int | None = Field(default=None, ge=0, description="d_i, 0-based; null if Device-Only")
    uplink_power_w: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="p_i")
    downlink_power_w: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="P_i")
    compute_units: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="r_i")


class SplitHistory(BaseModel):
    """Convergence record of one split candidate of a gradient method."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    split: int
    iterations: int = Field(ge=0)
    objective: list[float] = Field(description="objective after each iteration (first entry: start point)")
    stop_reason: str = ""


def _old_device_key(schema: dict[str, Any]) -> None:
    """The schema also accepts ``device``, the old name of ``torch_device`` (read until 0.3)."""
    schema["properties"]["device"] = {
        "deprecated": True,
        "description": "old name of torch_device (read until 0.3)",
        "type": "string",
    }


class SolveInfo(BaseModel):
    """How a plan was obtained (scipy ``OptimizeResult`` in spirit)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, json_schema_extra=_old_device_key)

    algorithm: str
    settings: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    torch_device: str = Field(
        default="cpu",
        validation_alias=AliasChoices("torch_device", "device"),
        description="torch backend the plan was computed on ('device', its old name, is read until 0.3)",
    )
    nomasplit_version: str = ""
    success: bool = True
    message: str = ""
    objective_relaxed: float | None = Field(default=None, description="Gamma of the relaxed solution")
    objective_rounded: float | None = Field(default=None, description="Gamma after rounding, before polish")
    objective: float | None = Field(default=None, description="Gamma of the final (discrete) plan")
    chosen_split: int | None = Field(default=None, description="common split chosen (None: per-user splits)")
    iterations_total: int = Field(default=0, ge=0)
    wall_time_s: float = Field(default=0.0, ge=0)
    history: list[SplitHistory] = Field(default_factory=list, description="one entry per split candidate")
    bound: float | None = Field(
        default=None,
        description="certified lower bound on the scenario's optimum Gamma (every solve: the relaxation of "
        "nomasplit.solvers.relaxation.bounds, or exact's proven bound if larger)",
    )
    gap: float | None = Field(default=None, description="relative gap (objective - bound) / |objective|")
    extra: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    """A complete plan for a scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    schema_version: Literal[1] = 1
    scenario_sha256: str | None = Field(default=None, description="hash of the scenario the plan was made for")
    users: list[UserDecision]
    solver: SolveInfo | None = None

    def check_against(self, scenario: Scenario) -> None:
        """Raise :class:`InputError` if the plan does not fit the scenario (users, subchannels, splits).

        Bounds on powers and compute units are not errors here: ``evaluate`` reports them as violations.
        """
        seen: set[int] = set()
        num_layers = scenario.user_num_layers()
        for index, decision in enumerate(self.users):
            where = f"users[{index}]"
            if decision.user >= scenario.num_users:
                raise InputError(
                    f"plan {where}.user = {decision.user} does not exist: the scenario has users "
                    f"0..{scenario.num_users - 1}"
                )
            if decision.user in seen:
                raise InputError(f"plan {where}.user = {decision.user} appears more than once")
            seen.add(decision.user)
            if decision.split > num_layers[decision.user]:
                raise InputError(
                    f"plan {where}.split = {decision.split} is out of range: user {decision.user}'s model has "
                    f"split points 0..{num_layers[decision.user]}"
                )
            for field in ("uplink_subchannel", "downlink_subchannel"):
                value = getattr(decision, field)
                if value is not None and value >= scenario.num_subchannels:
                    raise InputError(
                        f"plan {where}.{field} = {value} does not exist: the scenario has subchannels "
                        f"0..{scenario.num_subchannels - 1}"
                    )
        missing = sorted(set(range(scenario.num_users)) - seen)
        if missing:
            raise InputError(f"plan has no decision for user(s) {missing[:10]}{'...' if len(missing) > 10 else ''}")

    def decisions_by_user(self) -> list[UserDecision]:
        """Decisions sorted by user index."""
        return sorted(self.users, key=lambda decision: decision.user)


def check_plan_matches_scenario(
    plan: Plan, scenario: Scenario, *, plan_source: str = "plan", scenario_source: str = "scenario", force: bool = False
) -> str | None:
    """Check that ``plan`` was made for ``scenario`` (its recorded ``scenario_sha256``).

    A plan carries the SHA-256 of the scenario it was solved for; evaluating or running it on another scenario
    gives numbers that mean nothing, so a mismatch is refused unless ``force``.

    Returns:
        A warning to show (``None`` if the hashes match): a forced mismatch, or a plan that records no hash
        (written by hand or by another tool), which cannot be checked.

    Raises:
        InputError: the hashes differ and ``force`` is false; the message holds both hashes.
    """
    actual = sha256_of(scenario)
    recorded = plan.scenario_sha256
    if recorded is None:
        return (
            f"{plan_source} records no scenario_sha256, so it cannot be checked against {scenario_source} "
            f"(sha256 {actual}); make sure it was made for this scenario"
        )
    if recorded == actual:
        return None
    message = f"{plan_source} was made for a scenario with sha256 {recorded}, but {scenario_source} has sha256 {actual}"
    if not force:
        raise InputError(f"{message}; pass the plan's own scenario, or --force to use it anyway")
    return f"{message}; used anyway (--force): its numbers describe a different network"
