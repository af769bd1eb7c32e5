"""Projections: feasible, idempotent, and equal to the argmin (KKT conditions / plain-loop references)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nomasplit.solvers.relaxation.projections import (
    project_box,
    project_capped_box,
    project_rows_with_column_caps,
    project_simplex_rows,
    sorted_descending,
)


def simplex_reference(row: np.ndarray) -> np.ndarray:
    """Plain loop: find tau by trying every active-set size (sorted), as in the docstring."""
    ordered = sorted(row, reverse=True)
    tau = 0.0
    running = 0.0
    for k, value in enumerate(ordered, start=1):
        running += value
        candidate = (running - 1.0) / k
        if value - candidate > 0:
            tau = candidate
    return np.maximum(row - tau, 0.0)


@given(
    st.integers(1, 6),
    st.integers(1, 12),
    st.floats(0.01, 100.0),
    st.integers(0, 2**31 - 1),
)
@settings(max_examples=60, deadline=None)
def test_simplex_projection_is_feasible_idempotent_and_matches_loop(rows, cols, scale, seed) -> None:
    values = torch.tensor(np.random.default_rng(seed).normal(0, scale, size=(rows, cols)), dtype=torch.float64)
    projected = project_simplex_rows(values)
    assert torch.all(projected >= 0)
    assert torch.allclose(projected.sum(dim=1), torch.ones(rows, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(project_simplex_rows(projected), projected, atol=1e-12)
    for index in range(rows):
        expected = simplex_reference(values[index].numpy())
        assert np.allclose(projected[index].numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rows_sorted_by_numpy_equal_torch_sort_and_so_does_the_projection(dtype) -> None:
    """The sort behind the simplex projection (numpy on the CPU) gives torch.sort's values to the bit, NaN, infinities,
    signed zeros and ties included, and the projection equals one computed with torch.sort."""
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(300, 250, generator=generator, dtype=torch.float64).to(dtype)
    values[:50] = torch.round(values[:50] * 2) / 4  # many ties
    values[50, :10] = -0.0
    values[50, 10:20] = 0.0
    values[51, 3], values[52, 7], values[53, 0] = math.nan, math.inf, -math.inf
    expected = torch.sort(values, dim=-1, descending=True).values
    torch.testing.assert_close(sorted_descending(values), expected, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(
        sorted_descending(values[:, ::2]),
        torch.sort(values[:, ::2], dim=-1, descending=True).values,
        rtol=0,
        atol=0,
        equal_nan=True,
    )
    ordered = expected
    cumulative = torch.cumsum(ordered, dim=-1) - 1.0
    ranks = torch.arange(1, values.shape[-1] + 1, dtype=dtype)
    rho = (ordered - cumulative / ranks > 0).sum(dim=-1, keepdim=True).clamp(min=1)
    reference = torch.clamp(values - torch.gather(cumulative, -1, rho - 1) / rho.to(dtype), min=0.0)
    torch.testing.assert_close(project_simplex_rows(values), reference, rtol=0, atol=0, equal_nan=True)


def test_simplex_projection_is_closest_point_among_random_feasible_points() -> None:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(1, 5)))
    y = project_simplex_rows(x)
    best = float(((y - x) ** 2).sum())
    others = torch.tensor(rng.dirichlet(np.ones(5), size=2000))
    assert float(((others - x) ** 2).sum(dim=1).min()) >= best - 1e-12


def test_box_projection_clips_and_is_idempotent() -> None:
    values = torch.tensor([-1.0, 0.5, 3.0], dtype=torch.float64)
    projected = project_box(values, 0.0, 1.0)
    assert projected.tolist() == [0.0, 0.5, 1.0]
    assert torch.equal(project_box(projected, 0.0, 1.0), projected)


def capped_reference(values: np.ndarray, low: float, high: float, cap: float) -> np.ndarray:
    """Plain loop for one group: bisection on nu of sum clip(x - nu) = cap."""
    clipped = np.clip(values, low, high)
    if clipped.sum() <= cap:
        return clipped
    lo, hi = 0.0, float(values.max() - low)
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.clip(values - mid, low, high).sum() > cap:
            lo = mid
        else:
            hi = mid
    return np.clip(values - hi, low, high)


@given(st.integers(1, 10), st.integers(1, 3), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_capped_box_is_feasible_idempotent_and_matches_loop(num_users, num_groups, seed) -> None:
    rng = np.random.default_rng(seed)
    low, high = 1.0, 8.0
    values = torch.tensor(rng.uniform(-2, 12, size=num_users), dtype=torch.float64)
    group = torch.tensor(rng.integers(0, num_groups, size=num_users))
    capped = torch.tensor(rng.random(num_users) < 0.8)
    counts = np.bincount(group[capped].numpy(), minlength=num_groups)
    capacity = torch.tensor(low * counts + rng.uniform(0, 10, size=num_groups), dtype=torch.float64)
    projected = project_capped_box(values, low, high, group, capacity, capped)
    assert torch.all(projected >= low) and torch.all(projected <= high)
    for g in range(num_groups):
        members = (group == g) & capped
        assert float(projected[members].sum()) <= float(capacity[g]) * (1 + 1e-12) + 1e-12
        expected = capped_reference(values[members].numpy(), low, high, float(capacity[g]))
        assert np.allclose(projected[members].numpy(), expected, atol=1e-9)
    free = ~capped
    assert torch.equal(projected[free], values[free].clamp(low, high))
    again = project_capped_box(projected, low, high, group, capacity, capped)
    assert torch.allclose(again, projected, atol=1e-9)


def test_capped_box_empty_set_gives_lower_bound() -> None:
    values = torch.tensor([5.0, 6.0], dtype=torch.float64)
    projected = project_capped_box(values, 1.0, 8.0, torch.tensor([0, 0]), torch.tensor([1.5], dtype=torch.float64))
    assert projected.tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("seed", range(6))
def test_rows_with_column_caps_is_the_euclidean_projection(seed: int) -> None:
    """Feasible (rows on the simplex, capped column sums per AP) and equal to a QP solved by scipy."""
    from scipy.optimize import minimize as scipy_minimize

    rng = np.random.default_rng(seed)
    num_users, num_subchannels, num_aps = 5, 3, 2
    values = rng.normal(0.3, 0.6, size=(num_users, num_subchannels))
    association = np.array([0, 0, 0, 1, 1])
    caps = np.array([1.0, 1.0])
    projected, duals = project_rows_with_column_caps(
        torch.tensor(values), torch.tensor(association), num_aps, torch.tensor(caps), iterations=2000
    )
    projected = projected.numpy()
    assert np.all(projected >= -1e-12)
    assert np.allclose(projected.sum(axis=1), 1.0)
    for ap in range(num_aps):
        assert np.all(projected[association == ap].sum(axis=0) <= caps[ap] + 1e-6)
    constraints = [
        {"type": "eq", "fun": lambda x, i=i: x.reshape(num_users, -1)[i].sum() - 1} for i in range(num_users)
    ]
    constraints += [
        {"type": "ineq", "fun": lambda x, n=n, m=m: caps[n] - x.reshape(num_users, -1)[association == n, m].sum()}
        for n in range(num_aps)
        for m in range(num_subchannels)
    ]
    reference = scipy_minimize(
        lambda x: 0.5 * np.sum((x - values.ravel()) ** 2),
        np.full(values.size, 1.0 / num_subchannels),
        jac=lambda x: x - values.ravel(),
        bounds=[(0, None)] * values.size,
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    assert np.allclose(projected.ravel(), reference.x, atol=1e-4)
    # Idempotent: a feasible point stays where it is.
    again, _ = project_rows_with_column_caps(
        torch.tensor(projected), torch.tensor(association), num_aps, torch.tensor(caps), iterations=2000
    )
    assert np.allclose(again.numpy(), projected, atol=1e-6)
    # Warm-started, a few steps per call reach the same projection (as the gradient methods call it), and a call
    # that starts from converged multipliers stays there.
    warm = None
    for _ in range(700):
        stepped, warm = project_rows_with_column_caps(
            torch.tensor(values), torch.tensor(association), num_aps, torch.tensor(caps), iterations=3, duals=warm
        )
    assert np.allclose(stepped.numpy(), reference.x.reshape(values.shape), atol=1e-4)
    assert torch.all(warm >= 0)
    restarted, _ = project_rows_with_column_caps(
        torch.tensor(values), torch.tensor(association), num_aps, torch.tensor(caps), iterations=0, duals=duals
    )
    assert np.allclose(restarted.numpy(), projected, atol=1e-9)


def test_rows_with_column_caps_that_do_not_bind_is_the_simplex_projection() -> None:
    """Where no cap binds the multipliers stay zero and the rows are the plain simplex projection, to the bit."""
    rng = np.random.default_rng(3)
    values = torch.tensor(rng.normal(0.0, 1.0, size=(6, 8)))
    association = torch.tensor([0, 0, 0, 1, 1, 1])
    projected, duals = project_rows_with_column_caps(
        values, association, 2, torch.tensor([3.0, 3.0], dtype=torch.float64), iterations=5
    )
    assert torch.equal(projected, project_simplex_rows(values))
    assert torch.equal(duals, torch.zeros(2, 8, dtype=torch.float64))
