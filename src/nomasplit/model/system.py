"""The system model of ``system-model.md`` in PyTorch: SINR, rates, latency, energy and utility per user.

A :class:`SystemModel` is built once per scenario (tensors on a device, SIC orders precomputed); it then
evaluates any :class:`Decision`, relaxed (rows of ``beta`` on the simplex, Corollary 1) or discrete (one-hot
rows), and everything is differentiable with autograd in ``beta``, powers and compute units.

Shapes: ``N`` APs, ``U`` users, ``M`` subchannels, ``F_max`` the most split units of any user's model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import numpy as np
import torch

from nomasplit.data.scenario import Scenario
from nomasplit.model.backend import resolve_torch_device
from nomasplit.model.compensation import compensation_function
from nomasplit.model.noma import CellTables, SicOrder, later_sum, rate_bps, to_slots


@dataclass(frozen=True)
class Decision:
    """Decision variables of every user (relaxed or discrete).

    Attributes:
        split: ``[U]`` int64, ``s_i`` in 0..F_i (``F_i``: Device-Only).
        beta_up: ``[U, M]`` uplink subchannel weights (one-hot when discrete).
        beta_dn: ``[U, M]`` downlink subchannel weights.
        uplink_power_w: ``[U]`` ``p_i``.
        downlink_power_w: ``[U]`` ``P_i``.
        compute_units: ``[U]`` ``r_i``.
    """

    split: torch.Tensor
    beta_up: torch.Tensor
    beta_dn: torch.Tensor
    uplink_power_w: torch.Tensor
    downlink_power_w: torch.Tensor
    compute_units: torch.Tensor

    def detach(self) -> Decision:
        """A copy without autograd history."""
        return Decision(**{f.name: getattr(self, f.name).detach() for f in fields(self)})


@dataclass(frozen=True)
class Costs:
    """Per-user outcome of a decision (all ``[U]``), eq. (1)-(19), and the objective ``Gamma`` (eq. 20)."""

    offloads: torch.Tensor
    uplink_rate_bps: torch.Tensor
    downlink_rate_bps: torch.Tensor
    device_latency_s: torch.Tensor
    edge_latency_s: torch.Tensor
    uplink_latency_s: torch.Tensor
    downlink_latency_s: torch.Tensor
    device_energy_j: torch.Tensor
    edge_energy_j: torch.Tensor
    uplink_energy_j: torch.Tensor
    downlink_energy_j: torch.Tensor
    latency_s: torch.Tensor
    energy_j: torch.Tensor
    utility: torch.Tensor
    objective: torch.Tensor


def _user_tables(scenario: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-user profile tables padded to ``F_max + 1`` split points, scaled by the workload ``k_i``.

    Returns:
        ``device_flops [U, F_max+1]`` (``k D(s)``), ``upload_bits [U, F_max+1]`` (``k w(s)``),
        ``total_flops [U]`` (``k Z``), ``result_bits [U]`` (``k m``), ``num_layers [U]`` (``F_i``).
    """
    num_layers = scenario.user_num_layers()
    max_layers = int(num_layers.max())
    index = np.asarray(scenario.user_profile)
    # Only the profiles some user runs are padded to F_max + 1 (a listed profile no user runs may be longer).
    per_profile: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for profile_index in np.unique(index):
        profile = scenario.profiles[int(profile_index)]
        flops = profile.cumulative_flops()
        bits = profile.upload_bits()
        pad = max_layers + 1 - flops.shape[0]
        per_profile[int(profile_index)] = (np.pad(flops, (0, pad), mode="edge"), np.pad(bits, (0, pad), mode="edge"))
    workload = scenario.workload_tasks
    device_flops = np.stack([per_profile[int(i)][0] for i in index]) * workload[:, None]
    upload_bits = np.stack([per_profile[int(i)][1] for i in index]) * workload[:, None]
    total_flops = np.array([scenario.profiles[i].total_flops for i in index]) * workload
    result_bits = np.array([scenario.profiles[i].result_bits for i in index]) * workload
    return device_flops, upload_bits, total_flops, result_bits, num_layers


def _compute_tables(
    scenario: Scenario, device_flops: np.ndarray, total_flops: np.ndarray, lambda_one: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device latency, device energy and edge work of every user at every split point.

    FLOP model (the default, the paper's reading), for user ``i`` at split ``s`` with ``k = k_i``:
    ``T_dev = k D(s) / c_i`` (eq. 1), ``E_dev = xi_i c_i^2 phi_i k D(s)`` (eq. 13), edge work
    ``W = k (Z - D(s))`` FLOPs, so that edge time is ``W / (lambda(r) c_min)`` (eq. 3) and edge energy
    ``xi_e phi_e (lambda(r) c_min)^2 W`` (eq. 16).

    Measured tables (``scenario.device_unit_latency_s``, ``edge_unit_latency_s``, per profile, seconds per
    unit and task): ``T_dev = k sum_{d<=s} t_dev(d)``; the device energy keeps the FLOP model's power
    ``xi_i c_i^3 phi_i`` [W], ``E_dev = xi_i c_i^3 phi_i T_dev`` (equal to eq. 13 when ``t_dev = f / c_i``);
    the edge work is ``W = k sum_{d>s} t_edge(d) lambda(1) c_min``: the seconds measured on one compute unit
    turned into "FLOPs at c_min", so edge time and energy keep the form of eq. (3) and (16).

    Args:
        scenario: the scenario.
        device_flops: ``[U, F_max+1]`` ``k D(s)`` padded with the last value.
        total_flops: ``[U]`` ``k Z``.
        lambda_one: ``lambda(1)``.

    Returns:
        ``device_latency_s [U, F_max+1]``, ``device_energy_j [U, F_max+1]``, ``edge_work [U, F_max+1]``.
    """
    speed = scenario.device_flops_per_s  # [U]
    energy_per_flop = scenario.device_switched_capacitance * speed**2 * scenario.device_cycles_per_flop  # [U]
    device_latency = device_flops / speed[:, None]  # [U, F_max+1]
    device_energy = energy_per_flop[:, None] * device_flops  # [U, F_max+1]
    edge_work = total_flops[:, None] - device_flops  # [U, F_max+1]
    device_tables = scenario.device_unit_latency_s or [None] * len(scenario.profiles)
    edge_tables = scenario.edge_unit_latency_s or [None] * len(scenario.profiles)
    width = device_flops.shape[1]
    for user, profile_index in enumerate(scenario.user_profile):
        tasks = float(scenario.workload_tasks[user])
        device_table = device_tables[profile_index]
        if device_table is not None:
            seconds = np.concatenate([[0.0], np.cumsum(device_table)]) * tasks  # [F_i+1]
            device_latency[user] = np.pad(seconds, (0, width - seconds.shape[0]), mode="edge")
            device_energy[user] = energy_per_flop[user] * speed[user] * device_latency[user]
        edge_table = edge_tables[profile_index]
        if edge_table is not None:
            remaining_s = np.concatenate([np.cumsum(np.asarray(edge_table)[::-1])[::-1], [0.0]]) * tasks  # [F_i+1]
            work = remaining_s * lambda_one * scenario.edge_unit_flops_per_s
            edge_work[user] = np.pad(work, (0, width - work.shape[0]))
    return device_latency, device_energy, edge_work


class SystemModel:
    """Vectorised, differentiable evaluation of decisions on one scenario."""

    def __init__(
        self, scenario: Scenario, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64
    ) -> None:
        self.scenario = scenario
        self.device = resolve_torch_device(device)
        self.dtype = dtype
        self.num_aps = scenario.num_aps
        self.num_users = scenario.num_users
        self.num_subchannels = scenario.num_subchannels
        self.noma = scenario.access == "noma"
        self.cluster_size = scenario.effective_cluster_size

        def tensor(values: object) -> torch.Tensor:
            return torch.tensor(np.array(values, dtype=np.float64), dtype=dtype, device=self.device)

        self.association = torch.as_tensor(scenario.association, dtype=torch.long, device=self.device)  # [U]
        users = torch.arange(self.num_users, device=self.device)
        uplink_gain = tensor(scenario.uplink_gain)  # [N, U, M]
        downlink_gain = tensor(scenario.downlink_gain)  # [N, U, M]
        other_cell = self.association[None, :] != torch.arange(self.num_aps, device=self.device)[:, None]  # [N, U]
        # Gains with each AP's own users zeroed (inter-cell terms without cancellation), laid out with the
        # subchannel first so that the inter-cell sums are batched row-vector-matrix products: a [1, K] row times a
        # contiguous [K, L] matrix per subchannel (faster on the CPU than the matrix-vector form, whose rows are
        # long and few).
        uplink_other = uplink_gain * other_cell[:, :, None]  # [N, U, M]
        downlink_other = downlink_gain * other_cell[:, :, None]  # [N, U, M]
        self.uplink_gain_other_mun = uplink_other.permute(2, 1, 0).contiguous()  # [M, U, N]
        self.downlink_gain_other_mnu = downlink_other.permute(2, 0, 1).contiguous()  # [M, N, U]
        self.uplink_gain_own = uplink_gain[self.association, users]  # [U, M]
        self.downlink_gain_own = downlink_gain[self.association, users]  # [U, M]
        self.cells = CellTables.build(self.association, self.num_aps)
        self.uplink_order = SicOrder.build(
            to_slots(self.uplink_gain_own, self.cells), self.cells.slot_valid, strongest_first=True
        )
        self.downlink_order = SicOrder.build(
            to_slots(self.downlink_gain_own, self.cells), self.cells.slot_valid, strongest_first=False
        )
        self.uplink_later = self.uplink_order.later_sum_index(self.cells, self.association)
        self.downlink_later = self.downlink_order.later_sum_index(self.cells, self.association)

        self.uplink_subchannel_hz = scenario.uplink_bandwidth_hz / self.num_subchannels
        self.downlink_subchannel_hz = scenario.downlink_bandwidth_hz / self.num_subchannels
        self.uplink_noise_w = scenario.noise_psd_w_per_hz * self.uplink_subchannel_hz
        self.downlink_noise_w = scenario.noise_psd_w_per_hz * self.downlink_subchannel_hz

        device_flops, upload_bits, total_flops, result_bits, num_layers = _user_tables(scenario)
        self.device_flops_table = tensor(device_flops)  # [U, F_max+1]
        self.upload_bits_table = tensor(upload_bits)  # [U, F_max+1]
        self.total_flops = tensor(total_flops)  # [U]
        self.result_bits = tensor(result_bits)  # [U]
        self.num_layers = torch.as_tensor(num_layers, dtype=torch.long, device=self.device)  # [U]
        self.max_layers = int(num_layers.max())
        self._device_only_utility: torch.Tensor | None = None  # device_only_utility(), once computed
        self._sic_positions: tuple[torch.Tensor, torch.Tensor] | None = None  # sic_positions(), once computed

        self.latency_weight = tensor(scenario.latency_weight)  # [U]
        self.device_flops_per_s = tensor(scenario.device_flops_per_s)  # [U]
        # xi_i c_i^2 phi_i: joules per FLOP on the device (eq. 13).
        self.device_energy_per_flop_j = tensor(
            scenario.device_switched_capacitance * scenario.device_flops_per_s**2 * scenario.device_cycles_per_flop
        )  # [U]
        self.edge_unit_flops_per_s = scenario.edge_unit_flops_per_s
        self.edge_energy_coefficient = scenario.edge_switched_capacitance * scenario.edge_cycles_per_flop
        self.compensation = compensation_function(scenario.compensation)
        # Per-user, per-split compute tables: what every consumer reads (measured where the scenario has them).
        lambda_one = float(self.compensation(torch.tensor(1.0, dtype=torch.float64)))
        device_latency, device_energy, edge_work = _compute_tables(scenario, device_flops, total_flops, lambda_one)
        self.device_latency_table = tensor(device_latency)  # [U, F_max+1] s, eq. (1)
        self.device_energy_table = tensor(device_energy)  # [U, F_max+1] J, eq. (13)
        self.edge_work_table = tensor(edge_work)  # [U, F_max+1] FLOPs at c_min per unit, eq. (3), (16)

    def with_dtype(self, dtype: torch.dtype) -> SystemModel:
        """This model in another float type, without building it again: every float table cast (the values a
        new model of that type would hold), the integer tables and the SIC decoding orders shared (so both
        decode in the order of the scenario's gains, not of their rounded copies)."""
        if dtype == self.dtype:
            return self
        other = copy.copy(self)
        other.dtype = dtype
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                setattr(other, name, value.to(dtype))
        other._device_only_utility = None
        return other

    # --- radio ------------------------------------------------------------------------------------------
    def uplink_sinr(self, beta_up: torch.Tensor, power_w: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Uplink SINR at the serving AP (eq. 5). Inactive (Device-Only) users transmit nothing.

        Args:
            beta_up: ``[U, M]``; power_w: ``[U]``; active: ``[U]`` bool (offloading users).

        Returns:
            ``[U, M]``.
        """
        tx = beta_up * (power_w * active)[:, None]  # [U, M] transmitted power per subchannel
        # Inter-cell: received at AP n from users of other cells, then read at each user's AP.
        inter_at_ap = torch.bmm(tx.T.contiguous().unsqueeze(1), self.uplink_gain_other_mun)[:, 0, :]  # [M, N]
        interference = inter_at_ap.T[self.association]  # [U, M]
        if self.noma:
            interference = interference + later_sum(tx * self.uplink_gain_own, self.uplink_later)
        return power_w[:, None] * self.uplink_gain_own / (interference + self.uplink_noise_w)

    def downlink_sinr(self, beta_dn: torch.Tensor, power_w: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Downlink SINR at each user (eq. 8, with the receiver's channel for interference: spec "Downlink").

        Returns:
            ``[U, M]``.
        """
        tx = beta_dn * (power_w * active)[:, None]  # [U, M] power the AP spends on each user per subchannel
        ap_total = torch.zeros(self.num_aps, self.num_subchannels, dtype=tx.dtype, device=tx.device)
        ap_total = ap_total.index_add(0, self.association, tx)  # [N, M]
        interference = torch.bmm(ap_total.T.contiguous().unsqueeze(1), self.downlink_gain_other_mnu)[:, 0, :].T
        if self.noma:
            stronger_power = later_sum(tx, self.downlink_later)  # [U, M]
            interference = interference + self.downlink_gain_own * stronger_power
        return power_w[:, None] * self.downlink_gain_own / (interference + self.downlink_noise_w)

    def sinrs(self, decision: Decision) -> tuple[torch.Tensor, torch.Tensor]:
        """Uplink and downlink SINR of every user on every subchannel (eq. 5, 8), Device-Only users silent.
        ``[U, M]`` each."""
        activity = self.offloads(decision.split).to(self.dtype)
        return (
            self.uplink_sinr(decision.beta_up, decision.uplink_power_w, activity),
            self.downlink_sinr(decision.beta_dn, decision.downlink_power_w, activity),
        )

    def rates(
        self, decision: Decision, sinrs: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Uplink ``R_i`` and downlink ``Phi_i`` in bit/s, ``[U]`` each (0 for Device-Only users); ``sinrs``:
        the decision's :meth:`sinrs` where the caller has them."""
        activity = self.offloads(decision.split).to(self.dtype)
        sinr_up, sinr_dn = sinrs if sinrs is not None else self.sinrs(decision)
        uplink = rate_bps(decision.beta_up * activity[:, None], sinr_up, self.uplink_subchannel_hz)
        downlink = rate_bps(decision.beta_dn * activity[:, None], sinr_dn, self.downlink_subchannel_hz)
        return uplink, downlink

    # --- costs ------------------------------------------------------------------------------------------
    def offloads(self, split: torch.Tensor) -> torch.Tensor:
        """``s_i < F_i``: the user sends something to the edge. ``[U]`` bool."""
        return split < self.num_layers

    def costs(self, decision: Decision, sinrs: tuple[torch.Tensor, torch.Tensor] | None = None) -> Costs:
        """Latency (eq. 12), energy (eq. 17), utility (eq. 19) and ``Gamma`` (eq. 20) of a decision (``sinrs``:
        its :meth:`sinrs` where the caller has them)."""
        return self.costs_at_rates(decision, *self.rates(decision, sinrs))

    def costs_at_rates(self, decision: Decision, uplink_rate: torch.Tensor, downlink_rate: torch.Tensor) -> Costs:
        """:meth:`costs` of a decision whose rates ``R_i`` and ``Phi_i`` (``[U]`` bit/s, eq. 6 and 9) are given: a
        caller that computes them another way (the polish's :mod:`~nomasplit.solvers.search.assigned`) shares
        every other equation."""
        split = torch.minimum(decision.split, self.num_layers)
        active = self.offloads(split)
        device_latency = torch.gather(self.device_latency_table, 1, split[:, None])[:, 0]  # [U] eq. (1)
        device_energy = torch.gather(self.device_energy_table, 1, split[:, None])[:, 0]  # [U] eq. (13)
        edge_flops = torch.gather(self.edge_work_table, 1, split[:, None])[:, 0]  # [U]
        upload_bits = torch.gather(self.upload_bits_table, 1, split[:, None])[:, 0]  # [U]
        one = torch.ones_like(edge_flops)
        edge_speed = torch.where(
            active, self.compensation(decision.compute_units) * self.edge_unit_flops_per_s, one
        )  # [U] FLOP/s; placeholder 1 for Device-Only users (no edge work)
        safe_uplink = torch.where(active, uplink_rate, one)
        safe_downlink = torch.where(active, downlink_rate, one)
        zero = torch.zeros_like(edge_flops)

        edge_latency = torch.where(active, edge_flops / edge_speed, zero)  # eq. (3)
        uplink_latency = torch.where(active, upload_bits / safe_uplink, zero)  # eq. (7)
        downlink_latency = torch.where(active, self.result_bits / safe_downlink, zero)  # eq. (10)
        edge_energy = torch.where(active, self.edge_energy_coefficient * edge_speed**2 * edge_flops, zero)  # eq. (16)
        uplink_energy = torch.where(active, decision.uplink_power_w * uplink_latency, zero)  # eq. (14)
        downlink_energy = torch.where(active, decision.downlink_power_w * downlink_latency, zero)  # eq. (15)

        latency = device_latency + edge_latency + uplink_latency + downlink_latency  # eq. (12)
        energy = device_energy + edge_energy + uplink_energy + downlink_energy  # eq. (17)
        utility = self.latency_weight * latency + (1.0 - self.latency_weight) * energy  # eq. (19)
        return Costs(
            offloads=active,
            uplink_rate_bps=uplink_rate,
            downlink_rate_bps=downlink_rate,
            device_latency_s=device_latency,
            edge_latency_s=edge_latency,
            uplink_latency_s=uplink_latency,
            downlink_latency_s=downlink_latency,
            device_energy_j=device_energy,
            edge_energy_j=edge_energy,
            uplink_energy_j=uplink_energy,
            downlink_energy_j=downlink_energy,
            latency_s=latency,
            energy_j=energy,
            utility=utility,
            objective=utility.sum(),
        )

    def objective(self, decision: Decision) -> torch.Tensor:
        """``Gamma = sum_i U_i`` (eq. 20), a differentiable scalar."""
        return self.costs(decision).objective

    def sic_positions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each user's place in its AP's SIC decoding order on each subchannel, uplink and downlink (``[U, M]``
        int64 each; :meth:`~nomasplit.model.noma.SicOrder.positions`: a user is decoded after another of its AP
        iff its place is higher), computed once per model."""
        if self._sic_positions is None:
            self._sic_positions = (
                self.uplink_order.positions(self.cells, self.association),
                self.downlink_order.positions(self.cells, self.association),
            )
        return self._sic_positions

    def device_only_utility(self) -> torch.Tensor:
        """``U_i`` of every user at ``s_i = F_i`` (independent of the other users and of powers), computed once
        per model. ``[U]``."""
        if self._device_only_utility is None:
            zeros = torch.zeros(self.num_users, self.num_subchannels, dtype=self.dtype, device=self.device)
            ones = torch.ones(self.num_users, dtype=self.dtype, device=self.device)
            with torch.no_grad():
                self._device_only_utility = self.costs(
                    Decision(self.full_split(), zeros, zeros, ones, ones, ones)
                ).utility
        return self._device_only_utility

    # --- helpers ------------------------------------------------------------------------------------------
    def full_split(self) -> torch.Tensor:
        """``s_i = F_i`` for every user (Device-Only). ``[U]`` int64."""
        return self.num_layers.clone()

    def common_split(self, split: int) -> torch.Tensor:
        """The same split point for every user, capped at each user's ``F_i``. ``[U]`` int64."""
        return torch.clamp(torch.full_like(self.num_layers, split), max=self.num_layers)
