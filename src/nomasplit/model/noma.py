"""NOMA with successive interference cancellation: SINR and rates, vectorised (spec eq. 5-10).

Memory is ``O(N * U * M)``: intra-cell interference is computed per AP on ``[N, U_max, M]`` tables of the
AP's own users (``U_max`` = most users of one AP), in SIC decoding order (sorted once per scenario), with a
reversed cumulative sum; never a ``[U, U, M]`` pairwise tensor.

Decoding order (spec "Uplink" and "Downlink"): uplink, the AP decodes strongest first, so user ``i`` is
interfered by the weaker users of its cell; downlink, users decode weakest first, so user ``i`` is interfered
by the stronger users of its cell. Ties in gain: the lower user index is decoded first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


def decoded_after(later_gain: Any, later_index: Any, earlier_gain: Any, earlier_index: Any, *, uplink: bool) -> Any:
    """Whether user ``later`` is decoded after user ``earlier`` by SIC on one AP and subchannel: THE decoding order
    of this project, which the model (:class:`SicOrder`), the improvement phase's prices and ``exact``'s group
    costs all follow (a test checks :class:`SicOrder` against it).

    Uplink: the AP decodes the strongest own gain first; downlink: users decode the weakest first. Ties in gain:
    the lower user index is decoded first. A user decoded *earlier* suffers interference from those decoded
    after it (uplink); on the downlink a user suffers from the same-cell users decoded after it. Elementwise on
    numbers, numpy arrays or torch tensors.
    """
    ahead = earlier_gain > later_gain if uplink else earlier_gain < later_gain
    return ahead | ((earlier_gain == later_gain) & (earlier_index < later_index))


@dataclass(frozen=True)
class CellTables:
    """Per-AP tables of the AP's own users, padded to ``U_max``.

    Attributes:
        cell_users: ``[N, U_max]`` user index of each slot; padding slots hold ``U`` (a dummy user).
        slot_valid: ``[N, U_max]`` bool, False on padding slots.
        user_slot: ``[U]`` slot of each user within its AP's table.
    """

    cell_users: torch.Tensor
    slot_valid: torch.Tensor
    user_slot: torch.Tensor

    @staticmethod
    def build(association: torch.Tensor, num_aps: int) -> CellTables:
        """Group users by serving AP, keeping ascending user index within each AP."""
        num_users = association.shape[0]
        counts = torch.bincount(association, minlength=num_aps)  # [N]
        max_users = max(int(counts.max().item()), 1)
        order = torch.sort(association, stable=True).indices  # users grouped by AP, ascending index
        starts = torch.cumsum(counts, 0) - counts  # [N]
        slot_sorted = torch.arange(num_users, device=association.device) - starts[association[order]]
        user_slot = torch.empty_like(association)
        user_slot[order] = slot_sorted
        cell_users = torch.full((num_aps, max_users), num_users, dtype=torch.long, device=association.device)
        cell_users[association, user_slot] = torch.arange(num_users, device=association.device)
        return CellTables(cell_users=cell_users, slot_valid=cell_users < num_users, user_slot=user_slot)


@dataclass(frozen=True)
class SicOrder:
    """SIC decoding order of each AP's users on each subchannel.

    Attributes:
        last_first: ``[N, U_max, M]`` slots in reverse decoding order (the last decoded first).
    """

    last_first: torch.Tensor

    @staticmethod
    def build(own_gain_slots: torch.Tensor, slot_valid: torch.Tensor, *, strongest_first: bool) -> SicOrder:
        """Sort each AP's users per subchannel by own gain; ties keep ascending user index (stable sort): the
        order of :func:`decoded_after` (``uplink = strongest_first``), slots being in ascending user index.

        Args:
            own_gain_slots: ``[N, U_max, M]`` gain of each slot's user to/from its own AP.
            slot_valid: ``[N, U_max]`` False on padding slots (sorted last; they carry zeros anyway).
            strongest_first: True for the uplink (descending gain), False for the downlink (ascending).
        """
        pad = float("-inf") if strongest_first else float("inf")
        key = torch.where(slot_valid[:, :, None], own_gain_slots, torch.full_like(own_gain_slots, pad))
        order = torch.sort(key, dim=1, descending=strongest_first, stable=True).indices
        return SicOrder(last_first=torch.flip(order, [1]).contiguous())

    def positions(self, cells: CellTables, association: torch.Tensor) -> torch.Tensor:
        """Each user's place in its AP's decoding order on each subchannel: for any two users ``a`` and ``b`` of
        one AP, ``a`` is decoded after ``b`` on subchannel ``m`` (:func:`decoded_after`) iff
        ``positions[a, m] > positions[b, m]`` (a test checks it). So a search can compare two gathered integers
        instead of their gains.

        Returns:
            ``[U, M]`` int64 positions (0 = decoded first).
        """
        slots = self.last_first.shape[1]
        ranks = torch.arange(slots - 1, -1, -1, device=self.last_first.device)[None, :, None]  # last decoded: top
        by_slot = torch.empty_like(self.last_first).scatter_(1, self.last_first, ranks.expand_as(self.last_first))
        return by_slot[association, cells.user_slot]  # [U, M]

    def later_sum_index(self, cells: CellTables, association: torch.Tensor) -> LaterSumIndex:
        """The flat indices of :func:`later_sum` for this order (built once per model)."""
        _, slots, num_subchannels = self.last_first.shape
        channel = torch.arange(num_subchannels, device=self.last_first.device)
        # The user of each place in reverse decoding order (the dummy user U on padding places).
        users = torch.gather(cells.cell_users[:, :, None].expand_as(self.last_first), 1, self.last_first)
        # Each user's place in that order on every subchannel (the inverse permutation of its slot).
        places = torch.arange(slots, device=self.last_first.device)[None, :, None].expand_as(self.last_first)
        place_of_slot = torch.empty_like(self.last_first).scatter_(1, self.last_first, places)
        place = place_of_slot[association, cells.user_slot]  # [U, M]
        return LaterSumIndex(
            gather=users * num_subchannels + channel,
            back=(association[:, None] * slots + place) * num_subchannels + channel,
        )


@dataclass(frozen=True)
class LaterSumIndex:
    """Flat indices that take ``[U, M]`` per-user values into one SIC order and back (:func:`later_sum`).

    Attributes:
        gather: ``[N, U_max, M]``: the entry of the padded ``[U + 1, M]`` values at each place of the reverse
            decoding order (last decoded first).
        back: ``[U, M]``: each user's place in that ``[N, U_max, M]`` order.
    """

    gather: torch.Tensor
    back: torch.Tensor


def later_sum(per_user: torch.Tensor, index: LaterSumIndex) -> torch.Tensor:
    """For each user and subchannel, the sum of ``per_user`` over the users of its AP decoded after it there.

    A cumulative sum in reverse decoding order, shifted by one (exclusive): no subtraction, so no cancellation
    between large and small terms. Two flat gathers (:class:`LaterSumIndex`) move the values into that order and
    back.

    Args:
        per_user: ``[U, M]``.

    Returns:
        ``[U, M]``.
    """
    padded = torch.cat([per_user, torch.zeros_like(per_user[:1])], 0)  # [U + 1, M]: padding places read 0
    reverse = torch.take(padded, index.gather)  # [N, U_max, M], last decoded first
    inclusive = torch.cumsum(reverse, 1)
    exclusive = torch.cat([torch.zeros_like(inclusive[:, :1]), inclusive[:, :-1]], 1)
    return torch.take(exclusive, index.back)


def to_slots(per_user: torch.Tensor, cells: CellTables) -> torch.Tensor:
    """``[U, M]`` -> ``[N, U_max, M]`` (padding slots get 0)."""
    padded = torch.cat([per_user, torch.zeros_like(per_user[:1])], 0)  # [U + 1, M]
    return padded[cells.cell_users]


def rate_bps(beta: torch.Tensor, sinr: torch.Tensor, subchannel_bandwidth_hz: float) -> torch.Tensor:
    """``R_i = sum_m beta[i, m] * b * log2(1 + SINR[i, m])`` (eq. 6, 9). Shape ``[U]``."""
    return (beta * subchannel_bandwidth_hz * torch.log2(1.0 + sinr)).sum(dim=1)
