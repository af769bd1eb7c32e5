"""A Gymnasium environment over the moving network: learning-based planners against ours, on one simulator.

Importing this module registers ``nomasplit/NomaSplit-v0`` (``gymnasium.make("nomasplit/NomaSplit-v0")``); it
needs the optional ``gymnasium`` package (``pip install 'nomasplit[env]'``).

One step is one slot of :class:`~nomasplit.generate.dynamics.NetworkSimulator`: the agent plans the slot it
observes, gets ``reward = -Gamma`` of that plan on that slot, and then sees the next slot. An episode ends
(``truncated``) after ``episode_slots`` steps; it never terminates otherwise.

**Spaces.** Users are padded to ``max_users`` (arrivals beyond it are turned away); ``present`` marks the real
ones, in the scenario's user order (``env.unwrapped.scenario`` is the slot's :class:`~nomasplit.data.Scenario`,
``info["user_ids"]`` their identities; ``env.unwrapped.last_plan`` the plan the last step carried out, repaired).
``N`` APs, ``M`` subchannels, ``S = F_max + 1`` split points.

Observation (a ``Dict``):

- ``uplink_gain_db``, ``downlink_gain_db``: ``[max_users, N, M]`` float32, ``10 log10`` of the linear gains,
  clipped to ``[-400, 100]`` dB (padding: -400);
- ``positions_m``: ``[max_users, 2]`` float32 (padding: 0);
- ``association``: ``[max_users]`` serving AP (padding: 0);
- ``workload_tasks``: ``[max_users]`` float32 tasks ``k`` (padding: 0);
- ``num_layers``: ``[max_users]`` ``F_i`` (a split of ``F_i`` is Device-Only; padding: ``F_max``);
- ``present``: ``[max_users]`` 0/1.

Action, ``action_format="hybrid"`` (default), a ``Dict`` per user: ``split`` (``0..S-1``, capped at ``F_i``),
``uplink_subchannel`` and ``downlink_subchannel`` (``0..M-1``), and ``uplink_power``, ``downlink_power``,
``compute_units`` in ``[0, 1]``, each the fraction of its box (``p = p_min + a (p_max - p_min)``, the same for
``P`` and ``r``). ``action_format="discrete"``, the masked discrete form: a ``MultiDiscrete`` of
``max_users x 6`` entries, user by user ``(split, uplink, downlink, uplink power level, downlink power level,
compute unit level)`` with ``levels`` evenly spaced levels per box (level ``l`` is the fraction ``l / (levels - 1)``);
:meth:`NomaSplitEnv.action_masks` (also ``info["action_mask"]``) is the flat mask of every entry's allowed values
in that order (split points above ``F_i`` masked; a padded user may only take split ``S - 1``).

The constraints that no mask can express (at most ``K`` users of an AP on a subchannel, the edge capacity) are
restored by :func:`~nomasplit.solvers.search.warm_start.feasible_decision`: as many users as possible keep their
subchannel, the others get a free one of their AP or run Device-Only; ``info["repaired_users"]`` counts the users
whose split or subchannels differ from the action. :meth:`NomaSplitEnv.encode_plan` turns a
:class:`~nomasplit.data.Plan` of the observed slot into an action (``examples/online_policy.py`` runs the warm
re-planner that way).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

try:
    import gymnasium
    from gymnasium import spaces
except ImportError as exc:
    raise ModuleNotFoundError(
        "nomasplit.env needs the optional package 'gymnasium': pip install 'nomasplit[env]'", name="gymnasium"
    ) from exc

from nomasplit.data.plan import Plan
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.experiments.online import small_network
from nomasplit.generate.config import ScenarioConfig
from nomasplit.generate.dynamics import DynamicsConfig, NetworkSimulator, Snapshot
from nomasplit.generate.generator import load_model_profile
from nomasplit.model.evaluate import plan_from_decision
from nomasplit.model.system import SystemModel
from nomasplit.solvers.search.warm_start import feasible_decision

ENV_ID = "nomasplit/NomaSplit-v0"

#: Clip of the gains in dB (and the padding value).
GAIN_DB_RANGE = (-400.0, 100.0)

#: Entries per user of the discrete action: split, uplink, downlink, uplink power, downlink power, compute units.
DISCRETE_FIELDS = (
    "split",
    "uplink_subchannel",
    "downlink_subchannel",
    "uplink_power",
    "downlink_power",
    "compute_units",
)


def default_config() -> ScenarioConfig:
    """The environment's default network: :func:`~nomasplit.experiments.online.small_network` (3 APs, 30 users,
    10 subchannels, NiN on 1 GFLOP/s devices)."""
    return small_network()


class NomaSplitEnv(gymnasium.Env[dict[str, np.ndarray], Any]):
    """The moving network as a Gymnasium environment (module docstring).

    Args:
        config: the network (default :func:`default_config`).
        dynamics: how it moves (default: every default of :class:`DynamicsConfig`).
        episode_slots: steps per episode.
        max_users: padding of the user axis (default: twice the initial users).
        action_format: ``"hybrid"`` or ``"discrete"`` (module docstring).
        levels: power and compute unit levels of the discrete form (at least 2).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(
        self,
        config: ScenarioConfig | None = None,
        dynamics: DynamicsConfig | None = None,
        *,
        episode_slots: int = 20,
        max_users: int | None = None,
        action_format: Literal["hybrid", "discrete"] = "hybrid",
        levels: int = 5,
    ) -> None:
        self.config = config if config is not None else default_config()
        self.dynamics = dynamics if dynamics is not None else DynamicsConfig()
        if episode_slots < 1:
            raise InputError(f"episode_slots must be at least 1, got {episode_slots}")
        if action_format not in ("hybrid", "discrete"):
            raise InputError(f"action_format must be 'hybrid' or 'discrete', got {action_format!r}")
        if levels < 2:
            raise InputError(f"levels must be at least 2, got {levels}")
        self.episode_slots = episode_slots
        self.action_format = action_format
        self.levels = levels
        initial = self.config.total_users
        self.max_users = 2 * initial if max_users is None else max_users
        if self.max_users < initial:
            raise InputError(f"max_users ({self.max_users}) must be at least the initial users ({initial})")
        # the profiles are the config's, so the split range is known before any slot is drawn
        profiles = [load_model_profile(share.model) for share in self.config.model_shares]
        self.max_layers = int(max(profile.num_layers for profile in profiles))
        num_aps, num_subchannels = self.config.num_aps, self.config.num_subchannels
        users = self.max_users
        gain_box = spaces.Box(*GAIN_DB_RANGE, shape=(users, num_aps, num_subchannels), dtype=np.float32)
        self.observation_space: spaces.Space[Any] = spaces.Dict(
            {
                "uplink_gain_db": gain_box,
                "downlink_gain_db": gain_box,
                "positions_m": spaces.Box(-1e7, 1e7, shape=(users, 2), dtype=np.float32),
                "association": spaces.MultiDiscrete(np.full(users, num_aps)),
                "workload_tasks": spaces.Box(0.0, 1e9, shape=(users,), dtype=np.float32),
                "num_layers": spaces.MultiDiscrete(np.full(users, self.max_layers + 1)),
                "present": spaces.MultiBinary(users),
            }
        )
        self.action_nvec = np.tile(
            np.array([self.max_layers + 1, num_subchannels, num_subchannels, levels, levels, levels]), users
        )  # [max_users * 6]
        if action_format == "discrete":
            self.action_space: spaces.Space[Any] = spaces.MultiDiscrete(self.action_nvec)
        else:
            fraction = spaces.Box(0.0, 1.0, shape=(users,), dtype=np.float32)
            self.action_space = spaces.Dict(
                {
                    "split": spaces.MultiDiscrete(np.full(users, self.max_layers + 1)),
                    "uplink_subchannel": spaces.MultiDiscrete(np.full(users, num_subchannels)),
                    "downlink_subchannel": spaces.MultiDiscrete(np.full(users, num_subchannels)),
                    "uplink_power": fraction,
                    "downlink_power": fraction,
                    "compute_units": fraction,
                }
            )
        self.simulator: NetworkSimulator | None = None
        self.snapshot: Snapshot | None = None
        self.model: SystemModel | None = None
        self.last_plan: Plan | None = None
        self.steps = 0

    # --- observation -------------------------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The scenario of the slot the agent plans now."""
        if self.snapshot is None:
            raise InputError("call reset() before using the environment")
        return self.snapshot.scenario

    def _observation(self) -> dict[str, np.ndarray]:
        scenario = self.scenario
        users, count = self.max_users, scenario.num_users
        low = GAIN_DB_RANGE[0]

        def gain_db(gain: np.ndarray) -> np.ndarray:
            padded = np.full((users, scenario.num_aps, scenario.num_subchannels), low, dtype=np.float32)
            with np.errstate(divide="ignore"):
                padded[:count] = np.clip(10.0 * np.log10(np.transpose(gain, (1, 0, 2))), *GAIN_DB_RANGE)
            return padded  # [max_users, N, M]

        positions = np.zeros((users, 2), dtype=np.float32)
        if scenario.user_positions_m is not None:
            positions[:count] = np.clip(scenario.user_positions_m, -1e7, 1e7)
        association = np.zeros(users, dtype=np.int64)
        association[:count] = scenario.association
        workload = np.zeros(users, dtype=np.float32)
        workload[:count] = scenario.workload_tasks
        layers = np.full(users, self.max_layers, dtype=np.int64)
        layers[:count] = scenario.user_num_layers()
        present = np.zeros(users, dtype=np.int8)
        present[:count] = 1
        return {
            "uplink_gain_db": gain_db(scenario.uplink_gain),
            "downlink_gain_db": gain_db(scenario.downlink_gain),
            "positions_m": positions,
            "association": association,
            "workload_tasks": workload,
            "num_layers": layers,
            "present": present,
        }

    def action_masks(self) -> np.ndarray:
        """Flat mask of the discrete action's allowed values (module docstring). ``[sum(nvec)]`` bool."""
        scenario = self.scenario
        layers = np.full(self.max_users, -1, dtype=np.int64)  # padded users: only the last split
        layers[: scenario.num_users] = scenario.user_num_layers()
        masks = []
        for user in range(self.max_users):
            split = np.arange(self.max_layers + 1) <= layers[user]
            if layers[user] < 0:
                split = np.arange(self.max_layers + 1) == self.max_layers
            masks.append(split)
            masks.extend(np.ones(size, dtype=bool) for size in self.action_nvec[6 * user + 1 : 6 * user + 6])
        return np.concatenate(masks)

    def _info(self, **extra: Any) -> dict[str, Any]:
        assert self.snapshot is not None
        return {
            "user_ids": self.snapshot.user_ids.copy(),
            "slot": self.snapshot.slot,
            "action_mask": self.action_masks(),
            **extra,
        }

    # --- gymnasium API -----------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode at slot 0 of a network drawn with ``seed`` (default: from the environment's
        generator, itself seeded by the first ``reset(seed=...)``)."""
        super().reset(seed=seed)
        network_seed = int(self.np_random.integers(0, 2**31 - 1)) if seed is None else seed
        self.simulator = NetworkSimulator(self.config, self.dynamics, seed=network_seed, max_users=self.max_users)
        self.snapshot = self.simulator.first()
        self.model = SystemModel(self.snapshot.scenario)
        self.steps = 0
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply the plan of ``action`` to the observed slot, then move to the next one."""
        if self.simulator is None or self.model is None:
            raise InputError("call reset() before step()")
        plan = self.decode(action)
        decision = feasible_decision(self.model, *plan)
        with torch.no_grad():
            costs = self.model.costs(decision)
        objective = float(costs.objective.item())
        repaired = self._repaired(plan, decision)
        info_now = {
            "objective": objective,
            "latency_s": float(costs.latency_s.sum().item()),
            "energy_j": float(costs.energy_j.sum().item()),
            "offloading_users": int(costs.offloads.sum().item()),
            "repaired_users": repaired,
        }
        self.last_plan = Plan(users=plan_from_decision(self.model, decision))
        self.steps += 1
        self.snapshot = self.simulator.step()
        self.model = SystemModel(self.snapshot.scenario)
        reward = -objective if np.isfinite(objective) else -1e30  # a plan with an infinite latency
        truncated = self.steps >= self.episode_slots
        return self._observation(), reward, False, truncated, self._info(**info_now)

    # --- encoding ----------------------------------------------------------------------------------------
    def _box(self, fraction: np.ndarray, low: float, high: float) -> np.ndarray:
        return low + np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0) * (high - low)

    def decode(self, action: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The wanted per-user choices of an action for the observed slot's users: ``split``, ``uplink``,
        ``downlink`` (``[U]`` each) and ``powers`` (``[3, U]``: W, W, units), before any repair."""
        scenario = self.scenario
        count = scenario.num_users
        if self.action_format == "discrete":
            table = np.asarray(action, dtype=np.int64).reshape(self.max_users, 6)[:count]  # [U, 6]
            fractions = table[:, 3:].T / (self.levels - 1)  # [3, U]
            split, uplink, downlink = table[:, 0], table[:, 1], table[:, 2]
        else:
            split = np.asarray(action["split"], dtype=np.int64)[:count]
            uplink = np.asarray(action["uplink_subchannel"], dtype=np.int64)[:count]
            downlink = np.asarray(action["downlink_subchannel"], dtype=np.int64)[:count]
            fractions = np.stack(
                [np.asarray(action[name], dtype=np.float64)[:count] for name in DISCRETE_FIELDS[3:]]
            )  # [3, U]
        powers = np.stack(
            [
                self._box(fractions[0], scenario.uplink_power_min_w, scenario.uplink_power_max_w),
                self._box(fractions[1], scenario.downlink_power_min_w, scenario.downlink_power_max_w),
                self._box(fractions[2], scenario.compute_units_min, scenario.compute_units_max),
            ]
        )
        return split, uplink, downlink, powers

    def _repaired(self, wanted: tuple[np.ndarray, ...], decision: Any) -> int:
        assert self.model is not None
        split, uplink, downlink, _ = wanted
        layers = self.model.num_layers.cpu().numpy()
        got_split = decision.split.cpu().numpy()
        offloads = got_split < layers
        got_up = np.where(offloads, decision.beta_up.argmax(dim=1).cpu().numpy(), -1)
        got_dn = np.where(offloads, decision.beta_dn.argmax(dim=1).cpu().numpy(), -1)
        want_split = np.minimum(split, layers)
        want_offloads = want_split < layers
        want_up = np.where(want_offloads, uplink, -1)
        want_dn = np.where(want_offloads, downlink, -1)
        return int(np.sum((got_split != want_split) | (got_up != want_up) | (got_dn != want_dn)))

    def _fraction(self, values: np.ndarray, low: float, high: float) -> np.ndarray:
        return np.clip((values - low) / (high - low) if high > low else np.zeros_like(values), 0.0, 1.0)

    def encode_plan(self, plan: Plan) -> Any:
        """The action that carries out ``plan`` (for the observed slot; powers rounded to the nearest level in
        the discrete form, to float32 in the hybrid one). Device-Only users get split ``F_i`` and subchannel 0."""
        scenario = self.scenario
        plan.check_against(scenario)
        users = self.max_users
        entries = plan.decisions_by_user()
        split = np.full(users, self.max_layers, dtype=np.int64)
        uplink = np.zeros(users, dtype=np.int64)
        downlink = np.zeros(users, dtype=np.int64)
        fractions = np.zeros((3, users))
        bounds = (
            (scenario.uplink_power_min_w, scenario.uplink_power_max_w),
            (scenario.downlink_power_min_w, scenario.downlink_power_max_w),
            (scenario.compute_units_min, scenario.compute_units_max),
        )
        for entry in entries:
            split[entry.user] = entry.split
            uplink[entry.user] = entry.uplink_subchannel or 0
            downlink[entry.user] = entry.downlink_subchannel or 0
            values = (entry.uplink_power_w, entry.downlink_power_w, entry.compute_units)
            for row, (low, high) in enumerate(bounds):
                fractions[row, entry.user] = self._fraction(np.asarray(values[row]), low, high)
        if self.action_format == "discrete":
            levels = np.rint(fractions * (self.levels - 1)).astype(np.int64)  # [3, max_users]
            return np.stack([split, uplink, downlink, *levels], axis=1).reshape(-1)
        action = {"split": split, "uplink_subchannel": uplink, "downlink_subchannel": downlink}
        return {
            **action,
            **{name: fractions[row].astype(np.float32) for row, name in enumerate(DISCRETE_FIELDS[3:])},
        }


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="nomasplit.env:NomaSplitEnv")
