"""A moving network: time-slotted snapshots of one scenario config (mobility, fading, arrivals, workloads).

Slot 0 is exactly :func:`~nomasplit.generate.generate_scenario` of the config and seed (same file, same hash).
Every later slot of ``slot_s`` seconds applies, in this order (all draws from one ``numpy.random.Generator``, kept
apart from the generator's own so that slot 0 stays the plain scenario):

1. **Departures** (Poisson): each user leaves with probability ``1 - exp(-slot_s / mean_session_s)``
   (exponential session times); the last user never leaves (a scenario has at least one user).
2. **Arrivals** (Poisson): ``Poisson(arrival_rate_per_s * slot_s)`` new users, uniform in the area like the
   generator's users, with a model drawn by the mix's fractions, fresh fading and their own mobility state.
3. **Mobility** at ``speed_m_per_s``: ``random_waypoint`` (Johnson and Maltz 1996; Camp, Boleng and Davies 2002):
   walk straight to a waypoint uniform in the area, then draw the next one, no pause; ``gauss_markov`` (Liang and
   Haas 1999): speed and direction are first-order autoregressive with memory ``alpha``,
   ``v_t = alpha v_{t-1} + (1 - alpha) v_mean + sqrt(1 - alpha^2) sigma_v w``, the same for the direction, and a
   user about to leave the area turns back (direction and mean direction + pi); ``static``: nobody moves.
   Then every user is re-associated to the nearest AP (largest path gain, as the generator does).
4. **Fading**: each complex small-scale coefficient ``h`` per (AP, user, subchannel) and direction follows the
   first-order Gauss-Markov process ``h_t = rho h_{t-1} + sqrt(1 - rho^2) w``, ``w ~ CN(0, 1)``, with Jakes'
   correlation ``rho = J0(2 pi f_D slot_s)`` for the user's Doppler frequency ``f_D = v f_c / c`` (Jakes 1974;
   the usual AR(1) model of Baddour and Beaulieu 2005). ``|h|^2`` stays exponential(1), the generator's Rayleigh
   power fading; slot 0's ``h`` takes the generator's ``|h|^2`` with a uniform phase. ``independent`` redraws
   ``h`` every slot, ``frozen`` keeps it (only path loss changes).
5. **Workloads**: each user redraws its tasks ``k`` uniformly in ``workload_range_tasks`` with probability
   ``1 - exp(-workload_change_rate_per_s * slot_s)``.

Users keep an identity across slots (``Snapshot.user_ids``; slots after 0 record it in the scenario's
``provenance["dynamics"]["user_ids"]``, where the warm start reads it). Positions are vectorised over users; a
paper-scale step (5 x 1250 x 250 coefficients per direction) takes well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import j0

from nomasplit import __version__
from nomasplit.data import Scenario
from nomasplit.data.files import validate_as
from nomasplit.errors import InputError
from nomasplit.generate.channel import path_gain
from nomasplit.generate.config import OUR_CHOICE, ScenarioConfig, config_reference_markdown, load_config, paper_config
from nomasplit.generate.generator import generate_scenario
from nomasplit.generate.topology import associate_by_path_gain, distances_m, sample_user_positions
from nomasplit.io import read_yaml

#: Key of the config file's section that this module reads (``nomasplit scenario generate`` validates and
#: otherwise ignores it).
DYNAMICS_KEY = "dynamics"

#: Speed of light [m/s], for the Doppler frequency ``f_D = v f_c / c``.
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0

#: Rounds of "walk to the waypoint, draw the next one" within one slot (a user faster than its waypoints are far).
MAX_WAYPOINTS_PER_SLOT = 16

JAKES = "Jakes 1974; AR(1) of Baddour and Beaulieu 2005"


def _meta(unit: str, source: str) -> dict[str, Any]:
    return {"unit": unit, "source": source}


class DynamicsConfig(BaseModel):
    """The ``dynamics`` section of a scenario config: how the network moves between slots (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    slot_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="length of one slot (the re-planning period)",
        json_schema_extra=_meta("s", OUR_CHOICE + " (1 s: the re-planning goal at the paper's scale)"),
    )
    mobility: Literal["random_waypoint", "gauss_markov", "static"] = Field(
        default="random_waypoint",
        description="mobility model: random waypoint (no pause), Gauss-Markov, or nobody moves",
        json_schema_extra=_meta("-", "Camp, Boleng and Davies 2002 (survey of both)"),
    )
    speed_m_per_s: float = Field(
        default=1.0,
        ge=0,
        le=200,
        allow_inf_nan=False,
        description="user speed (Gauss-Markov: the mean speed)",
        json_schema_extra=_meta("m/s", OUR_CHOICE + ": walking; 3GPP evaluations use 3 km/h = 0.83 m/s"),
    )
    gauss_markov_memory: float = Field(
        default=0.75,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="alpha of Gauss-Markov mobility (0: memoryless, 1: straight lines)",
        json_schema_extra=_meta("-", "Camp, Boleng and Davies 2002 use 0.75"),
    )
    gauss_markov_speed_std_fraction: float = Field(
        default=0.2,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="sigma of the Gauss-Markov speed, as a fraction of speed_m_per_s",
        json_schema_extra=_meta("-", OUR_CHOICE),
    )
    gauss_markov_direction_std_rad: float = Field(
        default=0.5,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="sigma of the Gauss-Markov direction",
        json_schema_extra=_meta("rad", OUR_CHOICE),
    )
    fading: Literal["jakes", "independent", "frozen"] = Field(
        default="jakes",
        description="small-scale fading between slots: Gauss-Markov with Jakes' rho = J0(2 pi f_D slot_s), "
        "redrawn every slot, or kept",
        json_schema_extra=_meta("-", JAKES),
    )
    carrier_frequency_hz: float = Field(
        default=2e9,
        gt=0,
        le=1e12,
        allow_inf_nan=False,
        description="f_c of the Doppler frequency f_D = v f_c / c",
        json_schema_extra=_meta("Hz", "3GPP TR 36.814 (2 GHz, as the path loss model)"),
    )
    mean_session_s: float | None = Field(
        default=600.0,
        gt=0,
        allow_inf_nan=False,
        description="mean time a user stays (exponential; Poisson departures); null: nobody leaves",
        json_schema_extra=_meta("s", OUR_CHOICE),
    )
    arrival_rate_per_s: float | None = Field(
        default=None,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="Poisson arrivals; null: num_users / mean_session_s (the mean population stays), 0 without "
        "departures",
        json_schema_extra=_meta("users/s", OUR_CHOICE),
    )
    workload_change_rate_per_s: float = Field(
        default=0.01,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="rate at which a user redraws its workload",
        json_schema_extra=_meta("1/s", OUR_CHOICE),
    )
    workload_range_tasks: tuple[float, float] | None = Field(
        default=None,
        description="[low, high] of a redrawn workload k (uniform); null: 0.5 and 2 times workload_tasks",
        json_schema_extra=_meta("tasks", OUR_CHOICE),
    )

    @model_validator(mode="after")
    def _check(self) -> DynamicsConfig:
        if self.workload_range_tasks is not None:
            low, high = self.workload_range_tasks
            if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or low > high:
                raise ValueError(f"workload_range_tasks must be 0 < low <= high, got [{low:g}, {high:g}]")
        return self

    def arrival_rate(self, num_users: int) -> float:
        """Poisson arrival rate [users/s] for an initial population of ``num_users``."""
        if self.arrival_rate_per_s is not None:
            return self.arrival_rate_per_s
        return 0.0 if self.mean_session_s is None else num_users / self.mean_session_s

    def workload_range(self, workload_tasks: float) -> tuple[float, float]:
        """``[low, high]`` of a redrawn workload."""
        if self.workload_range_tasks is not None:
            return self.workload_range_tasks
        return 0.5 * workload_tasks, 2.0 * workload_tasks


def dynamics_reference_markdown() -> str:
    """The table of every ``dynamics`` key (unit, default, meaning, source) that ``docs/online.md`` shows."""
    return config_reference_markdown(DynamicsConfig)


def parse_dynamics(data: Any, source: str = "config") -> DynamicsConfig:
    """Validate the ``dynamics`` section (``None``: every default); :class:`InputError` naming the field."""
    if data is None:
        return DynamicsConfig()
    if not isinstance(data, dict):
        raise InputError(f"{source}: {DYNAMICS_KEY} must be a mapping of keys, got {type(data).__name__}")
    return validate_as(DynamicsConfig, data, f"{source}: {DYNAMICS_KEY}")


def load_simulation_config(path: str | Path | None) -> tuple[ScenarioConfig, DynamicsConfig]:
    """The scenario config and its ``dynamics`` section from one file (``None``: the paper's setup, defaults)."""
    if path is None:
        return paper_config(), DynamicsConfig()
    config = load_config(path)
    data = read_yaml(Path(path))
    return config, parse_dynamics(data.get(DYNAMICS_KEY), source=str(path))


@dataclass(frozen=True)
class Snapshot:
    """The network in one slot.

    Attributes:
        slot: slot index (0 is the generated scenario).
        time_s: ``slot * slot_s``.
        scenario: the validated scenario of this slot.
        user_ids: ``[U]`` stable identity of each user (0..U0-1 for the initial users, then counting up).
        arrived: users that came at the start of this slot.
        departed: users that left at the start of this slot.
        handovers: users whose serving AP changed since the previous slot.
    """

    slot: int
    time_s: float
    scenario: Scenario
    user_ids: np.ndarray
    arrived: int = 0
    departed: int = 0
    handovers: int = 0


def _complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``CN(0, 1)`` samples (unit power) of ``shape``."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * math.sqrt(0.5)


def jakes_correlation(speed_m_per_s: np.ndarray, carrier_frequency_hz: float, slot_s: float) -> np.ndarray:
    """``rho = J0(2 pi f_D T)`` with ``f_D = v f_c / c`` (any shape in, same shape out)."""
    doppler_hz = np.asarray(speed_m_per_s, dtype=np.float64) * carrier_frequency_hz / SPEED_OF_LIGHT_M_PER_S
    return np.asarray(j0(2.0 * math.pi * doppler_hz * slot_s), dtype=np.float64)


class NetworkSimulator:
    """Time-slotted snapshots of a scenario config under a :class:`DynamicsConfig` (module docstring).

    Args:
        config: the scenario config (slot 0 is ``generate_scenario(config, seed=seed)``).
        dynamics: how the network moves.
        seed: seed of slot 0 and of the dynamics' generator (``None``: ``config.seed``).
        rng: the dynamics' generator (default: built from ``[seed, 26]``, apart from the generator's).
        max_users: arrivals beyond this many users are turned away (``None``: no cap; a Gymnasium environment
            needs one for its fixed-size spaces).
    """

    def __init__(
        self,
        config: ScenarioConfig,
        dynamics: DynamicsConfig,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        max_users: int | None = None,
    ) -> None:
        self.config = config
        self.dynamics = dynamics
        self.seed = config.seed if seed is None else seed
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")
        self.rng = rng if rng is not None else np.random.default_rng([self.seed, 26])
        first = generate_scenario(config, seed=self.seed)
        self.base = first
        self.ap_positions_m = np.asarray(first.ap_positions_m, dtype=np.float64)  # [N, 2]
        num_users = first.num_users
        self.next_id = num_users
        self.user_ids = np.arange(num_users, dtype=np.int64)  # [U]
        self.positions_m = np.array(first.user_positions_m, dtype=np.float64)  # [U, 2]
        self.association = np.asarray(first.association, dtype=np.int64)  # [U]
        self.user_profile = np.asarray(first.user_profile, dtype=np.int64)  # [U]
        self.device_flops_per_s = np.array(first.device_flops_per_s, dtype=np.float64)  # [U]
        self.workload_tasks = np.array(first.workload_tasks, dtype=np.float64)  # [U]
        gain_path = self._path_gain(self.positions_m)  # [N, U]
        phases = self.rng.uniform(0.0, 2.0 * math.pi, size=(2, *first.uplink_gain.shape))  # [2, N, U, M]
        with np.errstate(divide="ignore", invalid="ignore"):
            uplink_power = np.where(gain_path[:, :, None] > 0, first.uplink_gain / gain_path[:, :, None], 1.0)
            downlink_power = np.where(gain_path[:, :, None] > 0, first.downlink_gain / gain_path[:, :, None], 1.0)
        self.uplink_h = np.sqrt(uplink_power) * np.exp(1j * phases[0])  # [N, U, M]
        self.downlink_h = np.sqrt(downlink_power) * np.exp(1j * phases[1])  # [N, U, M]
        self.speed_m_per_s = np.full(num_users, dynamics.speed_m_per_s)  # [U]
        self.waypoint_m = self._sample_positions(num_users)  # [U, 2]
        self.direction_rad = self.rng.uniform(0.0, 2.0 * math.pi, size=num_users)  # [U]
        self.mean_direction_rad = self.direction_rad.copy()  # [U]
        self.slot = 0
        self.arrival_rate = dynamics.arrival_rate(num_users)
        if max_users is not None and max_users < num_users:
            raise InputError(f"max_users ({max_users}) must be at least the initial number of users ({num_users})")
        self.max_users = max_users

    # --- geometry ---------------------------------------------------------------------------------------
    def _path_gain(self, positions_m: np.ndarray) -> np.ndarray:
        config = self.config
        return path_gain(
            distances_m(self.ap_positions_m, positions_m),
            config.path_loss_model,
            exponent=config.path_loss_exponent,
            reference_db=config.path_loss_reference_db,
            min_distance_m=config.min_distance_m,
        )  # [N, U]

    def _sample_positions(self, count: int) -> np.ndarray:
        """``count`` points uniform in the area (as the generator's ``area`` placement). ``[count, 2]``."""
        return sample_user_positions(
            self.rng,
            self.config.layout,
            self.ap_positions_m,
            count,
            self.config.inter_site_distance_m,
            area_margin_m=self.config.area_margin_m,
        )

    def inside_area(self, points_m: np.ndarray) -> np.ndarray:
        """Whether each point lies in the area: its nearest AP's cell (hexagon or square), or the explicit
        layout's rectangle. ``[K, 2]`` -> ``[K]`` bool."""
        config = self.config
        isd = config.inter_site_distance_m
        if config.layout == "explicit":
            margin = isd / 2.0 if config.area_margin_m is None else config.area_margin_m
            low = self.ap_positions_m.min(axis=0) - margin  # [2]
            high = self.ap_positions_m.max(axis=0) + margin  # [2]
            return np.all((points_m >= low) & (points_m <= high), axis=1)
        nearest = np.argmin(distances_m(self.ap_positions_m, points_m), axis=0)  # [K]
        offset = points_m - self.ap_positions_m[nearest]  # [K, 2]
        if config.layout == "hexagonal":
            angles = np.arange(6) * math.pi / 3.0
            normals = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [6, 2] edge normals of a cell
            return np.max(offset @ normals.T, axis=1) <= isd / 2.0 + 1e-9
        return np.max(np.abs(offset), axis=1) <= isd / 2.0 + 1e-9

    # --- one slot ---------------------------------------------------------------------------------------
    def _depart(self) -> int:
        session = self.dynamics.mean_session_s
        if session is None or self.user_ids.size == 0:
            return 0
        leave = self.rng.random(self.user_ids.size) < -math.expm1(-self.dynamics.slot_s / session)  # [U]
        if leave.all():
            leave[0] = False  # a scenario has at least one user
        keep = ~leave
        for name in (
            "user_ids", "positions_m", "association", "user_profile", "device_flops_per_s", "workload_tasks",
            "speed_m_per_s", "waypoint_m", "direction_rad", "mean_direction_rad",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name)[keep])
        self.uplink_h = self.uplink_h[:, keep]
        self.downlink_h = self.downlink_h[:, keep]
        return int(leave.sum())

    def _arrive(self) -> int:
        count = int(self.rng.poisson(self.arrival_rate * self.dynamics.slot_s))
        if self.max_users is not None:
            count = min(count, self.max_users - self.user_ids.size)
        if count <= 0:
            return 0
        config = self.config
        shares = config.model_shares
        fractions = np.array([share.fraction for share in shares], dtype=np.float64)
        profile = (
            self.rng.choice(len(shares), size=count, p=fractions / fractions.sum())
            if len(shares) > 1
            else np.zeros(count, dtype=np.int64)
        )  # [A]
        spread = config.device_flops_spread_fraction
        flops = (
            config.device_flops_per_s * self.rng.uniform(1.0 - spread, 1.0 + spread, size=count)
            if spread > 0
            else np.full(count, config.device_flops_per_s)
        )  # [A]
        positions = self._sample_positions(count)  # [A, 2]
        shape = (self.ap_positions_m.shape[0], count, config.num_subchannels)
        self.user_ids = np.concatenate([self.user_ids, np.arange(self.next_id, self.next_id + count)])
        self.next_id += count
        self.positions_m = np.concatenate([self.positions_m, positions])
        self.association = np.concatenate([self.association, np.zeros(count, dtype=np.int64)])  # set after moving
        self.user_profile = np.concatenate([self.user_profile, profile.astype(np.int64)])
        self.device_flops_per_s = np.concatenate([self.device_flops_per_s, flops])
        self.workload_tasks = np.concatenate([self.workload_tasks, np.full(count, config.workload_tasks)])
        self.speed_m_per_s = np.concatenate([self.speed_m_per_s, np.full(count, self.dynamics.speed_m_per_s)])
        self.waypoint_m = np.concatenate([self.waypoint_m, self._sample_positions(count)])
        direction = self.rng.uniform(0.0, 2.0 * math.pi, size=count)
        self.direction_rad = np.concatenate([self.direction_rad, direction])
        self.mean_direction_rad = np.concatenate([self.mean_direction_rad, direction])
        self.uplink_h = np.concatenate([self.uplink_h, _complex_normal(self.rng, shape)], axis=1)
        self.downlink_h = np.concatenate([self.downlink_h, _complex_normal(self.rng, shape)], axis=1)
        return count

    def _move_random_waypoint(self) -> None:
        remaining = self.speed_m_per_s * self.dynamics.slot_s  # [U] metres left to walk this slot
        for _ in range(MAX_WAYPOINTS_PER_SLOT):
            to_go = self.waypoint_m - self.positions_m  # [U, 2]
            distance = np.hypot(to_go[:, 0], to_go[:, 1])  # [U]
            reach = (remaining >= distance) & (remaining > 0)  # [U]
            step = np.where(reach, 1.0, remaining / np.maximum(distance, 1e-12))  # [U]
            self.positions_m = self.positions_m + to_go * np.minimum(step, 1.0)[:, None]
            remaining = np.where(reach, remaining - distance, 0.0)
            if not reach.any():
                return
            self.waypoint_m[reach] = self._sample_positions(int(reach.sum()))

    def _move_gauss_markov(self) -> None:
        dynamics = self.dynamics
        alpha = dynamics.gauss_markov_memory
        noise = math.sqrt(max(1.0 - alpha * alpha, 0.0))
        count = self.user_ids.size
        mean_speed = dynamics.speed_m_per_s
        speed_noise = self.rng.standard_normal(count)  # [U]
        direction_noise = self.rng.standard_normal(count)  # [U]
        self.speed_m_per_s = np.maximum(
            alpha * self.speed_m_per_s
            + (1.0 - alpha) * mean_speed
            + noise * dynamics.gauss_markov_speed_std_fraction * mean_speed * speed_noise,
            0.0,
        )
        self.direction_rad = (
            alpha * self.direction_rad
            + (1.0 - alpha) * self.mean_direction_rad
            + noise * dynamics.gauss_markov_direction_std_rad * direction_noise
        )
        heading = np.stack([np.cos(self.direction_rad), np.sin(self.direction_rad)], axis=1)  # [U, 2]
        moved = self.positions_m + heading * (self.speed_m_per_s * dynamics.slot_s)[:, None]
        inside = self.inside_area(moved)  # [U]
        self.positions_m = np.where(inside[:, None], moved, self.positions_m)
        self.direction_rad = np.where(inside, self.direction_rad, self.direction_rad + math.pi)
        self.mean_direction_rad = np.where(inside, self.mean_direction_rad, self.mean_direction_rad + math.pi)

    def _fade(self, arrived: int) -> None:
        dynamics = self.dynamics
        if dynamics.fading == "frozen":
            return
        kept = self.user_ids.size - arrived  # arrivals already have fresh coefficients
        if kept == 0:
            return
        if dynamics.fading == "independent":
            rho = np.zeros(kept)
        else:
            rho = jakes_correlation(self.speed_m_per_s[:kept], dynamics.carrier_frequency_hz, dynamics.slot_s)
        innovation = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))[None, :, None]  # [1, U, 1]
        for name in ("uplink_h", "downlink_h"):
            h = getattr(self, name)
            shape = (h.shape[0], kept, h.shape[2])
            h[:, :kept] = rho[None, :, None] * h[:, :kept] + innovation * _complex_normal(self.rng, shape)

    def _change_workloads(self) -> None:
        dynamics = self.dynamics
        probability = -math.expm1(-dynamics.workload_change_rate_per_s * dynamics.slot_s)
        if probability <= 0:
            return
        change = self.rng.random(self.user_ids.size) < probability  # [U]
        low, high = dynamics.workload_range(self.config.workload_tasks)
        self.workload_tasks = np.where(
            change, self.rng.uniform(low, high, size=self.user_ids.size), self.workload_tasks
        )

    def step(self) -> Snapshot:
        """Advance one slot and return its snapshot."""
        departed = self._depart()
        arrived = self._arrive()
        previous_association = self.association.copy()
        if self.dynamics.mobility == "random_waypoint":
            self._move_random_waypoint()
        elif self.dynamics.mobility == "gauss_markov":
            self._move_gauss_markov()
        gain_path = self._path_gain(self.positions_m)  # [N, U]
        self.association = associate_by_path_gain(gain_path)
        kept = self.user_ids.size - arrived
        handovers = int(np.sum(self.association[:kept] != previous_association[:kept]))
        self._fade(arrived)
        self._change_workloads()
        self.slot += 1
        scenario = self._scenario(gain_path)
        return Snapshot(
            slot=self.slot,
            time_s=self.slot * self.dynamics.slot_s,
            scenario=scenario,
            user_ids=self.user_ids.copy(),
            arrived=arrived,
            departed=departed,
            handovers=handovers,
        )

    def first(self) -> Snapshot:
        """Slot 0: the generated scenario itself."""
        return Snapshot(slot=0, time_s=0.0, scenario=self.base, user_ids=np.arange(self.base.num_users))

    def _scenario(self, gain_path: np.ndarray) -> Scenario:
        base = self.base
        fields = {name: getattr(base, name) for name in Scenario.model_fields}
        uplink_power = (self.uplink_h * self.uplink_h.conj()).real  # [N, U, M] |h|^2
        downlink_power = (self.downlink_h * self.downlink_h.conj()).real  # [N, U, M]
        num_users = self.user_ids.size
        fields.update(
            description=f"{base.description} (slot {self.slot}, t = {self.slot * self.dynamics.slot_s:g} s)".strip(),
            provenance={
                **base.provenance,
                "nomasplit_version": __version__,
                DYNAMICS_KEY: {
                    "slot": self.slot,
                    "time_s": self.slot * self.dynamics.slot_s,
                    "config": self.dynamics.model_dump(mode="json"),
                    "user_ids": self.user_ids.tolist(),
                },
            },
            num_users=num_users,
            user_positions_m=self.positions_m.copy(),
            association=self.association.tolist(),
            uplink_gain=gain_path[:, :, None] * uplink_power,
            downlink_gain=gain_path[:, :, None] * downlink_power,
            user_profile=self.user_profile.tolist(),
            workload_tasks=self.workload_tasks.copy(),
            latency_weight=np.full(num_users, float(base.latency_weight[0])),
            device_flops_per_s=self.device_flops_per_s.copy(),
            device_switched_capacitance=np.full(num_users, float(base.device_switched_capacitance[0])),
            device_cycles_per_flop=np.full(num_users, float(base.device_cycles_per_flop[0])),
        )
        return Scenario(**fields)


def simulate_snapshots(
    config: ScenarioConfig, dynamics: DynamicsConfig, num_slots: int, *, seed: int | None = None
) -> list[Snapshot]:
    """Slots ``0..num_slots-1`` as a list (small networks; :class:`NetworkSimulator` steps one at a time)."""
    if num_slots < 1:
        raise InputError(f"num_slots must be at least 1, got {num_slots}")
    simulator = NetworkSimulator(config, dynamics, seed=seed)
    return [simulator.first()] + [simulator.step() for _ in range(num_slots - 1)]
