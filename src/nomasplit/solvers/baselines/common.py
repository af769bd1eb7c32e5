"""Pieces every baseline shares: OMA subchannel scheduling, single-user rate estimates, compute shares.

The baselines are single-user schemes run in a multi-user network. They share one simple, documented radio
and compute policy so that they differ only in how they choose split points (docs/baselines.md):

- **OMA scheduling.** Each AP gives each of its offloading users one uplink and one downlink subchannel of
  its own (at most one user of an AP per subchannel: ``K = 1``). Users are served strongest first (largest
  best own-cell uplink gain; ties by user index), each taking the free subchannel with its largest own gain in
  each direction. Subchannels are shared by all APs, so other cells still interfere (the model counts it).
  A user for whom no subchannel (or no edge capacity) is left runs Device-Only, as in the spec.
- **Maximum power.** Offloading users transmit at ``p_max``; their AP at ``P_max``.
- **Compute share.** Without an edge capacity, each offloading user gets ``r_max`` units. With a capacity
  ``C_n`` at AP ``n``, its ``n_off`` offloading users share it equally: ``clip(C_n / n_off, r_min, r_max)``,
  and at most ``floor(C_n / r_min)`` users of the AP may offload, so the share never drops below ``r_min``.
- **Noise-only rates.** What a single-user scheme believes its link gives: the Shannon rate on its own
  subchannel at maximum power with no interference, ``b log2(1 + p_max G_own / (N0 b))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from nomasplit.data.scenario import Scenario
from nomasplit.model.system import Decision, SystemModel

#: Marks "no subchannel" in assignment arrays.
NO_SUBCHANNEL = -1


def service_order(scenario: Scenario) -> np.ndarray:
    """Users in the order an AP's scheduler serves them: strongest best own-cell uplink gain first.

    Returns:
        ``[U]`` user indices (all APs interleaved; each AP only looks at its own users).
    """
    users = np.arange(scenario.num_users)
    own_uplink = scenario.uplink_gain[np.asarray(scenario.association), users]  # [U, M]
    best = own_uplink.max(axis=1)  # [U]
    return np.lexsort((users, -best))  # by best gain descending, then user index


def max_offloaders_per_ap(scenario: Scenario, capacity_units: np.ndarray | None) -> np.ndarray:
    """How many users of each AP may offload: ``M`` subchannels, and ``floor(C_n / r_min)`` with a capacity.

    Args:
        scenario: the instance.
        capacity_units: ``[N]`` edge capacity per AP, or None for no capacity.

    Returns:
        ``[N]`` int.
    """
    limit = np.full(scenario.num_aps, scenario.num_subchannels, dtype=np.int64)
    if capacity_units is not None:
        by_capacity = np.floor(np.asarray(capacity_units) / scenario.compute_units_min * (1 + 1e-12))
        limit = np.minimum(limit, by_capacity.astype(np.int64))
    return limit


def capacity_of(scenario: Scenario) -> np.ndarray | None:
    """The scenario's edge capacity per AP as ``[N]`` floats, or None."""
    if scenario.edge_capacity_units is None:
        return None
    return np.asarray(scenario.edge_capacity_units, dtype=np.float64)


def compute_share(scenario: Scenario, offloads: np.ndarray, capacity_units: np.ndarray | None) -> np.ndarray:
    """Compute units of each user under the equal-share policy (module docstring).

    Args:
        scenario: the instance.
        offloads: ``[U]`` bool, users that run part of their model on the edge.
        capacity_units: ``[N]`` capacity per AP, or None (every offloading user gets ``r_max``).

    Returns:
        ``[U]`` compute units: the share for offloading users, ``r_min`` for the others (unused).
    """
    association = np.asarray(scenario.association)
    units = np.full(scenario.num_users, scenario.compute_units_min)
    share = ap_share(scenario, np.bincount(association[offloads], minlength=scenario.num_aps), capacity_units)
    units[offloads] = share[association[offloads]]
    return units


def ap_share(scenario: Scenario, num_offloading: np.ndarray, capacity_units: np.ndarray | None) -> np.ndarray:
    """Per-AP equal share ``clip(C_n / n_off, r_min, r_max)`` (``r_max`` without capacity). ``[N]``."""
    share = np.full(scenario.num_aps, scenario.compute_units_max)
    if capacity_units is not None:
        busy = num_offloading > 0
        share[busy] = np.clip(
            capacity_units[busy] / num_offloading[busy],
            scenario.compute_units_min,
            scenario.compute_units_max,
        )
    return share


class OmaScheduler:
    """Hands out OMA subchannels per AP (``K = 1``): the free subchannel with the user's largest own gain.

    Args:
        scenario: the instance.
        max_offloaders: ``[N]`` most users of each AP that may hold subchannels at once.
    """

    def __init__(self, scenario: Scenario, max_offloaders: np.ndarray) -> None:
        self._association = np.asarray(scenario.association)
        users = np.arange(scenario.num_users)
        self._uplink_gain = scenario.uplink_gain[self._association, users]  # [U, M] own-cell gains
        self._downlink_gain = scenario.downlink_gain[self._association, users]  # [U, M]
        num_aps, num_subchannels = scenario.num_aps, scenario.num_subchannels
        self._uplink_free = np.ones((num_aps, num_subchannels), dtype=bool)  # [N, M]
        self._downlink_free = np.ones((num_aps, num_subchannels), dtype=bool)  # [N, M]
        self._room = np.asarray(max_offloaders, dtype=np.int64).copy()  # [N]
        self.uplink = np.full(scenario.num_users, NO_SUBCHANNEL, dtype=np.int64)  # [U]
        self.downlink = np.full(scenario.num_users, NO_SUBCHANNEL, dtype=np.int64)  # [U]

    def take(self, user: int) -> bool:
        """Give ``user`` its best free subchannel in each direction; False (nothing taken) if none is left."""
        ap = self._association[user]
        if self._room[ap] <= 0:
            return False
        up = int(np.argmax(np.where(self._uplink_free[ap], self._uplink_gain[user], -np.inf)))
        dn = int(np.argmax(np.where(self._downlink_free[ap], self._downlink_gain[user], -np.inf)))
        self._uplink_free[ap, up] = False
        self._downlink_free[ap, dn] = False
        self._room[ap] -= 1
        self.uplink[user], self.downlink[user] = up, dn
        return True

    def release(self, user: int) -> None:
        """Return ``user``'s subchannels (it runs Device-Only after all)."""
        ap = self._association[user]
        if self.uplink[user] == NO_SUBCHANNEL:
            return
        self._uplink_free[ap, self.uplink[user]] = True
        self._downlink_free[ap, self.downlink[user]] = True
        self._room[ap] += 1
        self.uplink[user] = self.downlink[user] = NO_SUBCHANNEL


def noise_only_rates(scenario: Scenario, user: int, uplink: int, downlink: int) -> tuple[float, float]:
    """Uplink and downlink rates (bit/s) a user expects alone on its subchannels at maximum power.

    ``b log2(1 + p_max G / (N0 b))`` (eq. 5-7 and 8-10 without interference terms).
    """
    ap = scenario.association[user]
    uplink_hz = scenario.uplink_bandwidth_hz / scenario.num_subchannels
    downlink_hz = scenario.downlink_bandwidth_hz / scenario.num_subchannels
    uplink_snr = (
        scenario.uplink_power_max_w * scenario.uplink_gain[ap, user, uplink] / (scenario.noise_psd_w_per_hz * uplink_hz)
    )
    downlink_snr = (
        scenario.downlink_power_max_w
        * scenario.downlink_gain[ap, user, downlink]
        / (scenario.noise_psd_w_per_hz * downlink_hz)
    )
    return uplink_hz * math.log2(1.0 + uplink_snr), downlink_hz * math.log2(1.0 + downlink_snr)


@dataclass(frozen=True)
class UserTables:
    """One user's profile as a single-user scheme sees it (workload included), for split points ``0..F``.

    Attributes:
        device_flops: ``[F+1]`` ``k D(s)``.
        upload_bits: ``[F+1]`` ``k w(s)``.
        total_flops: ``k Z``.
        result_bits: ``k m``.
        device_flops_per_s: ``c_i``.
        device_energy_per_flop_j: ``xi_i c_i^2 phi_i``.
        device_latency_s: ``[F+1]`` device compute time at each split (the model's ``device_latency_table``).
        device_energy_j: ``[F+1]`` device compute energy at each split (``device_energy_table``).
        edge_work: ``[F+1]`` edge work in FLOPs at ``c_min`` per unit (``edge_work_table``).
    """

    device_flops: np.ndarray
    upload_bits: np.ndarray
    total_flops: float
    result_bits: float
    device_flops_per_s: float
    device_energy_per_flop_j: float
    device_latency_s: np.ndarray
    device_energy_j: np.ndarray
    edge_work: np.ndarray

    @property
    def num_layers(self) -> int:
        """``F_i``."""
        return self.device_flops.shape[0] - 1

    def layer_flops(self) -> np.ndarray:
        """``[F]`` FLOPs of each unit, ``k f_delta``."""
        return np.diff(self.device_flops)


def user_tables(model: SystemModel) -> list[UserTables]:
    """Per-user :class:`UserTables` from the model's padded tables."""
    device_flops = model.device_flops_table.detach().cpu().numpy()  # [U, F_max+1]
    upload_bits = model.upload_bits_table.detach().cpu().numpy()  # [U, F_max+1]
    total_flops = model.total_flops.detach().cpu().numpy()
    result_bits = model.result_bits.detach().cpu().numpy()
    num_layers = model.num_layers.detach().cpu().numpy()
    speed = model.device_flops_per_s.detach().cpu().numpy()
    energy = model.device_energy_per_flop_j.detach().cpu().numpy()
    device_latency = model.device_latency_table.detach().cpu().numpy()  # [U, F_max+1]
    device_energy = model.device_energy_table.detach().cpu().numpy()  # [U, F_max+1]
    edge_work = model.edge_work_table.detach().cpu().numpy()  # [U, F_max+1]
    return [
        UserTables(
            device_flops=device_flops[user, : num_layers[user] + 1],
            upload_bits=upload_bits[user, : num_layers[user] + 1],
            total_flops=float(total_flops[user]),
            result_bits=float(result_bits[user]),
            device_flops_per_s=float(speed[user]),
            device_energy_per_flop_j=float(energy[user]),
            device_latency_s=device_latency[user, : num_layers[user] + 1],
            device_energy_j=device_energy[user, : num_layers[user] + 1],
            edge_work=edge_work[user, : num_layers[user] + 1],
        )
        for user in range(model.num_users)
    ]


def edge_speed_flops_per_s(model: SystemModel, compute_units: float) -> float:
    """``lambda(r) c_min`` for one value of ``r``."""
    units = torch.tensor([compute_units], dtype=torch.float64)
    return float(model.compensation(units)[0]) * model.edge_unit_flops_per_s


def estimated_split_costs(
    tables: UserTables,
    uplink_rate_bps: float,
    downlink_rate_bps: float,
    edge_flops_per_s: float,
    uplink_power_w: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A single user's own estimate of latency and device energy at every split point ``s = 0..F``.

    ``T(s) = D(s)/c + (Z - D(s))/edge + [s < F] (w(s)/R + m/Phi)`` (eq. 12) and
    ``E_dev(s) = xi c^2 phi D(s) + [s < F] p w(s)/R`` (eq. 13-14: the device's own energy).

    Returns:
        ``latency_s [F+1]``, ``device_energy_j [F+1]``.
    """
    offloads = np.arange(tables.num_layers + 1) < tables.num_layers  # [F+1]
    # A rate of 0 (a gain of 0, inside the documented range) makes every offloading split cost inf: the user
    # stays on the device. numpy float64 division gives inf there; Python's raises ZeroDivisionError.
    with np.errstate(divide="ignore", invalid="ignore"):
        upload_s = np.where(offloads, tables.upload_bits / np.float64(uplink_rate_bps), 0.0)  # [F+1]
        download = np.float64(tables.result_bits) / np.float64(downlink_rate_bps) if tables.result_bits else 0.0
        download_s = np.where(offloads, download, 0.0)  # [F+1]
    latency = tables.device_latency_s + tables.edge_work / edge_flops_per_s + upload_s + download_s
    energy = tables.device_energy_j + uplink_power_w * upload_s
    return latency, energy


def build_decision(
    model: SystemModel,
    split: np.ndarray,
    uplink: np.ndarray,
    downlink: np.ndarray,
    compute_units: np.ndarray,
) -> Decision:
    """A discrete :class:`Decision`: offloading users at maximum powers on their one-hot subchannels.

    Device-Only users (``split = F_i``) get zero ``beta`` rows and minimum powers (they send nothing).

    Args:
        model: the scenario's model (device and dtype).
        split: ``[U]`` split points; uplink, downlink: ``[U]`` subchannels (NO_SUBCHANNEL for Device-Only);
        compute_units: ``[U]``.
    """
    scenario = model.scenario
    num_layers = scenario.user_num_layers()
    offloads = split < num_layers  # [U]
    if np.any(offloads & ((uplink < 0) | (downlink < 0))):
        raise ValueError("an offloading user has no subchannel")
    beta_up = np.zeros((model.num_users, model.num_subchannels))  # [U, M]
    beta_dn = np.zeros((model.num_users, model.num_subchannels))  # [U, M]
    rows = np.flatnonzero(offloads)
    beta_up[rows, uplink[rows]] = 1.0
    beta_dn[rows, downlink[rows]] = 1.0
    uplink_power = np.where(offloads, scenario.uplink_power_max_w, scenario.uplink_power_min_w)
    downlink_power = np.where(offloads, scenario.downlink_power_max_w, scenario.downlink_power_min_w)

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=model.dtype, device=model.device)

    return Decision(
        split=torch.as_tensor(np.asarray(split, dtype=np.int64), device=model.device),
        beta_up=tensor(beta_up),
        beta_dn=tensor(beta_dn),
        uplink_power_w=tensor(uplink_power),
        downlink_power_w=tensor(downlink_power),
        compute_units=tensor(np.where(offloads, compute_units, scenario.compute_units_min)),
    )


#: A single user's split rule: (user, its tables, uplink rate, downlink rate) -> split point.
SplitRule = Callable[[int, UserTables, float, float], int]


def admit_and_split(
    model: SystemModel, rule: SplitRule, max_offloaders: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Serve users in :func:`service_order`; each one given subchannels picks its split with ``rule``.

    A user who picks Device-Only (or finds no subchannel left) gives its subchannels back, so the next user
    can have them.

    Returns:
        ``split [U]``, ``uplink [U]``, ``downlink [U]`` (NO_SUBCHANNEL for Device-Only users).
    """
    scenario = model.scenario
    tables = user_tables(model)
    split = scenario.user_num_layers().copy()  # everyone Device-Only until served
    scheduler = OmaScheduler(scenario, max_offloaders)
    for user in service_order(scenario):
        if not scheduler.take(int(user)):
            continue
        uplink_rate, downlink_rate = noise_only_rates(
            scenario, int(user), int(scheduler.uplink[user]), int(scheduler.downlink[user])
        )
        choice = rule(int(user), tables[user], uplink_rate, downlink_rate)
        split[user] = choice
        if choice >= tables[user].num_layers:
            scheduler.release(int(user))
    return split, scheduler.uplink.copy(), scheduler.downlink.copy()
