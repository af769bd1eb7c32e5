"""Euclidean projections onto the feasible sets of the relaxed problem (optax ``projections`` in spirit).

Pure functions of tensors, vectorised, on any device and dtype. Each returns the unique minimiser of
``||y - x||^2`` over its set; the formula is in the docstring. Used by every gradient method of
:mod:`nomasplit.solvers.relaxation.gradient` after each step.
"""

from __future__ import annotations

import numpy as np
import torch

#: Bisection steps of :func:`project_capped_box`; 2**-100 of the bracket is far below float64 resolution.
CAPPED_BOX_BISECTION_STEPS = 100


def project_simplex_rows(values: torch.Tensor) -> torch.Tensor:
    """Project each row onto the probability simplex ``{y >= 0, sum_m y_m = 1}`` (Corollary 1's relaxation).

    ``argmin_y ||y - x||^2  s.t.  y >= 0, 1^T y = 1``  is  ``y = max(x - tau, 0)`` with the threshold
    ``tau = (sum_{k <= rho} x_(k) - 1) / rho``, where ``x_(1) >= x_(2) >= ...`` are the sorted entries and
    ``rho = max{k : x_(k) - (sum_{l <= k} x_(l) - 1) / k > 0}`` (Held, Wolfe and Crowder 1974; Duchi et al.
    2008).

    Args:
        values: ``[..., M]``; each row along the last dimension is projected.

    Returns:
        ``[..., M]`` with non-negative rows summing to one.
    """
    num = values.shape[-1]
    ordered = sorted_descending(values)  # [..., M]
    cumulative = torch.cumsum(ordered, dim=-1) - 1.0  # [..., M]
    ranks = torch.arange(1, num + 1, device=values.device, dtype=values.dtype)  # [M]
    positive = ordered - cumulative / ranks > 0  # [..., M]; a prefix of True
    rho = positive.sum(dim=-1, keepdim=True).clamp(min=1)  # [..., 1]
    tau = torch.gather(cumulative, -1, rho - 1) / rho.to(values.dtype)  # [..., 1]
    return torch.clamp(values - tau, min=0.0)


def sorted_descending(values: torch.Tensor) -> torch.Tensor:
    """Each row along the last dimension sorted in descending order (values only), as ``torch.sort`` gives them.

    On the CPU in float32 and float64, numpy sorts (its vectorised sort is much faster than ``torch.sort`` on
    rows of a few hundred; docs/reproduction.md times the solve it speeds up most). Sorted values are unique, so
    the result is the same to the bit, NaN first, except that equal zeros may come in another order of their
    signs (``-0.0``, ``0.0``), which no sum or comparison of :func:`project_simplex_rows` can tell apart.
    Elsewhere (CUDA, other dtypes, a tensor that needs its gradient) ``torch.sort``."""
    if values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64) and not values.requires_grad:
        ascending = np.sort(values.numpy(), axis=-1)
        return torch.from_numpy(np.flip(ascending, axis=-1).copy())
    return torch.sort(values, dim=-1, descending=True).values


def project_box(values: torch.Tensor, low: float | torch.Tensor, high: float | torch.Tensor) -> torch.Tensor:
    """Project onto the box ``{low <= y <= high}``: ``y = min(max(x, low), high)`` element-wise.

    Args:
        values: any shape; low, high: scalars or tensors broadcastable to ``values`` with ``low <= high``.
    """
    low_t = torch.as_tensor(low, dtype=values.dtype, device=values.device)
    high_t = torch.as_tensor(high, dtype=values.dtype, device=values.device)
    return torch.minimum(torch.maximum(values, low_t), high_t)


def project_capped_box(
    values: torch.Tensor,
    low: float,
    high: float,
    group: torch.Tensor,
    capacity: torch.Tensor,
    capped: torch.Tensor | None = None,
) -> torch.Tensor:
    """Project onto ``{low <= y_i <= high, sum_{i in group g, capped} y_i <= capacity_g for every g}``.

    The sets of different groups are independent. For one group, the KKT conditions give
    ``y_i = clip(x_i - nu_g, low, high)`` with ``nu_g = 0`` if ``sum_i clip(x_i, low, high) <= capacity_g``
    and otherwise the ``nu_g > 0`` solving ``sum_i clip(x_i - nu_g, low, high) = capacity_g`` (a decreasing,
    piecewise-linear function of ``nu_g``), found here by bisection on ``[0, max_i x_i - low]``; the upper end of
    the final bracket is returned, so the capacity holds. Entries with ``capped`` False are only clipped.

    If ``low * (number of capped entries of g) > capacity_g`` the set is empty; then every capped entry of
    ``g`` is set to ``low`` (the point closest to feasibility); callers must make users Device-Only to fix it.

    Args:
        values: ``[U]`` the point to project.
        low, high: scalar bounds.
        group: ``[U]`` long, the group (AP) of each entry, 0..G-1.
        capacity: ``[G]`` cap on each group's sum.
        capped: ``[U]`` bool, entries that count towards their group's cap (default: all).

    Returns:
        ``[U]``.
    """
    clipped = project_box(values, low, high)  # [U]
    if capped is None:
        capped = torch.ones_like(values, dtype=torch.bool)
    num_groups = capacity.shape[0]
    weight = capped.to(values.dtype)  # [U]

    def group_sum(per_entry: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(num_groups, dtype=values.dtype, device=values.device)
        return out.index_add(0, group, per_entry * weight)  # [G]

    over = group_sum(clipped) > capacity  # [G]
    if not bool(over.any()):
        return clipped
    lower = torch.zeros(num_groups, dtype=values.dtype, device=values.device)  # [G]: sum > capacity here
    span = torch.clamp(values - low, min=0.0) * weight  # [U]
    upper_init = torch.zeros(num_groups, dtype=values.dtype, device=values.device)
    upper = upper_init.scatter_reduce(0, group, span, reduce="amax", include_self=True)  # [G]: sum = low * count
    for _ in range(CAPPED_BOX_BISECTION_STEPS):
        middle = 0.5 * (lower + upper)
        total = group_sum(project_box(values - middle[group], low, high))  # [G]
        too_big = total > capacity
        lower = torch.where(too_big, middle, lower)
        upper = torch.where(too_big, upper, middle)
    shift = torch.where(over, upper, torch.zeros_like(upper))[group] * weight  # [U]
    return project_box(values - shift, low, high)


def project_rows_with_column_caps(
    values: torch.Tensor,
    association: torch.Tensor,
    num_aps: int,
    caps: torch.Tensor,
    *,
    iterations: int = 30,
    duals: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Onto rows on the simplex whose column sums per AP are capped (the relaxed cluster-size constraint).

    The set is ``{x : x[i, :] on the simplex, sum_{i in U_n} x[i, m] <= caps[n] for every AP n, subchannel m}``:
    in a discrete plan at most ``K`` users of an AP share a subchannel, so the relaxed weights of an AP's users
    on one subchannel sum to at most ``K`` (``caps``; with more than ``K M`` users the caller raises the cap to
    ``|U_n| / M`` so that the set is not empty).

    Solved by its Lagrangian dual: with a multiplier ``mu[n, m] >= 0`` per cap, the rows minimising the
    Lagrangian are ``x_i(mu) = P_simplex(y_i - mu[a(i)])`` (the caps only shift each row), and the dual is concave
    in ``mu`` with gradient ``colsum_n(x(mu)) - caps[n]``. Each iteration takes the ascent step
    ``mu <- max(0, mu + (colsum - cap) / s)``, where ``s[n, m]`` (at least 1) counts the AP's rows with a positive
    weight on ``m``: a diagonal Newton step, since moving ``mu[n, m]`` by ``d`` moves each such row's weight on
    ``m`` by about ``-d``. ``duals`` starts the multipliers where a previous call left them (the caller keeps
    them between its gradient steps, whose points move little), so a few iterations per call follow the
    multipliers as they move. The result always has its rows exactly on the simplex; it meets the caps, and is
    the Euclidean projection, as far as the multipliers have converged (exactly where no cap binds: then
    ``mu = 0`` and this is :func:`project_simplex_rows`).

    Args:
        values: ``[U, M]``; association: ``[U]`` long; num_aps: ``N``; caps: ``[N]``.
        iterations: ascent steps of the multipliers.
        duals: ``[N, M]`` multipliers to start from (default zero).

    Returns:
        The projected ``[U, M]`` and the multipliers ``[N, M]`` reached (to pass as ``duals`` next time).
    """
    shape = (num_aps, values.shape[1])
    mu = torch.zeros(shape, dtype=values.dtype, device=values.device) if duals is None else duals
    projected = project_simplex_rows(values - mu[association])
    for _ in range(iterations):
        zeros = torch.zeros(shape, dtype=values.dtype, device=values.device)
        column_sum = zeros.index_add(0, association, projected)  # [N, M]
        support = zeros.index_add(0, association, (projected > 0).to(values.dtype))  # [N, M]
        mu = (mu + (column_sum - caps[:, None]) / support.clamp_min(1.0)).clamp_min(0.0)
        projected = project_simplex_rows(values - mu[association])
    return projected, mu
