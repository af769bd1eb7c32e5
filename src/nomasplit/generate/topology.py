"""Where the APs and users are, and which AP serves each user.

AP layouts (``inter_site_distance_m`` = distance between neighbouring APs):

- ``hexagonal``: the points of a hexagonal lattice taken ring by ring (the centre AP at the origin, then the
  6 APs of ring 1, then the 12 of ring 2, ...; within a ring by angle from the +x axis). Each AP's cell is
  the regular hexagon of inradius ISD / 2 around it (its Voronoi cell in the full lattice).
- ``grid``: rows of ``grid_columns`` APs (default ``ceil(sqrt(N))``) spaced ISD apart, filled row by row
  from the origin; each AP's cell is the ISD x ISD square around it.
- ``line``: N APs on the x axis, ISD apart, from the origin; square cells as for the grid.
- ``explicit``: the given positions; the area is their bounding box grown by a margin.

Users are uniform in the area: the union of the APs' cells (all the same size and non-overlapping, so a
user picks a cell uniformly, then a uniform point in it), or the rectangle for the explicit layout. The
``per_cell`` placement instead puts exactly the same number of users in each cell.
Association is by path gain only (largest average gain, i.e. the nearest AP; ties go to the lowest index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

Layout = Literal["hexagonal", "grid", "line", "explicit"]

#: Unit vectors of the 6 hexagonal-lattice neighbour directions (0, 60, ..., 300 degrees). Shape [6, 2].
HEX_NEIGHBOUR_DIRECTIONS = np.array(
    [[math.cos(k * math.pi / 3), math.sin(k * math.pi / 3)] for k in range(6)], dtype=np.float64
)


def hexagonal_positions(num_aps: int, inter_site_distance_m: float) -> np.ndarray:
    """The first ``num_aps`` points of a hexagonal lattice, ring by ring. Shape ``[num_aps, 2]`` in m."""
    points: list[tuple[float, float]] = []
    ring = 0
    while len(points) < num_aps:
        ring_points = []
        # Axial coordinates (q, r) with hex distance == ring: max(|q|, |r|, |q + r|) == ring.
        for q in range(-ring, ring + 1):
            for r in range(-ring, ring + 1):
                if max(abs(q), abs(r), abs(q + r)) != ring:
                    continue
                x = inter_site_distance_m * (q + r / 2.0)
                y = inter_site_distance_m * (r * math.sqrt(3.0) / 2.0)
                angle = math.atan2(y, x) % (2.0 * math.pi)
                ring_points.append((round(angle, 12), x, y))
        ring_points.sort()
        points.extend((x, y) for _, x, y in ring_points)
        ring += 1
    return np.array(points[:num_aps], dtype=np.float64)


def grid_positions(num_aps: int, inter_site_distance_m: float, columns: int | None = None) -> np.ndarray:
    """Rows of ``columns`` APs (default ``ceil(sqrt(num_aps))``), row by row. Shape ``[num_aps, 2]`` in m."""
    columns = columns if columns is not None else math.ceil(math.sqrt(num_aps))
    index = np.arange(num_aps)
    # [num_aps, 2]
    return np.stack([index % columns, index // columns], axis=1).astype(np.float64) * inter_site_distance_m


def line_positions(num_aps: int, inter_site_distance_m: float) -> np.ndarray:
    """``num_aps`` APs on the x axis. Shape ``[num_aps, 2]`` in m."""
    return grid_positions(num_aps, inter_site_distance_m, columns=num_aps)


def ap_positions(
    layout: Layout,
    num_aps: int,
    inter_site_distance_m: float,
    *,
    grid_columns: int | None = None,
    explicit_positions_m: Sequence[Sequence[float]] | None = None,
) -> np.ndarray:
    """AP coordinates for a layout. Shape ``[num_aps, 2]`` in m."""
    if layout == "hexagonal":
        return hexagonal_positions(num_aps, inter_site_distance_m)
    if layout == "grid":
        return grid_positions(num_aps, inter_site_distance_m, grid_columns)
    if layout == "line":
        return line_positions(num_aps, inter_site_distance_m)
    if explicit_positions_m is None:
        raise ValueError("the explicit layout needs explicit_positions_m")
    positions = np.asarray(explicit_positions_m, dtype=np.float64).reshape(num_aps, 2)
    return positions


def hexagon_vertices(inter_site_distance_m: float) -> np.ndarray:
    """Vertices of the hexagonal cell around the origin (circumradius ISD / sqrt 3). Shape ``[6, 2]``."""
    circumradius = inter_site_distance_m / math.sqrt(3.0)
    angles = np.pi / 6.0 + np.arange(6) * np.pi / 3.0  # vertices lie between neighbour directions
    return circumradius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_in_hexagons(rng: np.random.Generator, centres_m: np.ndarray, inter_site_distance_m: float) -> np.ndarray:
    """One uniform point in the hexagonal cell around each centre: ``[K, 2]`` centres -> ``[K, 2]`` points.

    The hexagon is cut into 6 equal triangles (centre, vertex k, vertex k+1); pick one uniformly, then a
    uniform point in it (``u a + v b`` with ``u + v <= 1``, reflecting draws with ``u + v > 1``).
    """
    count = centres_m.shape[0]
    vertices = hexagon_vertices(inter_site_distance_m)  # [6, 2]
    triangle = rng.integers(0, 6, size=count)  # [K]
    uv = rng.random((count, 2))  # [K, 2]
    outside = uv.sum(axis=1) > 1.0
    uv[outside] = 1.0 - uv[outside]
    # [K, 2]
    offsets = uv[:, :1] * vertices[triangle] + uv[:, 1:] * vertices[(triangle + 1) % 6]
    return centres_m + offsets


def sample_user_positions(
    rng: np.random.Generator,
    layout: Layout,
    ap_positions_m: np.ndarray,
    num_users: int,
    inter_site_distance_m: float,
    *,
    area_margin_m: float | None = None,
    per_cell: bool = False,
) -> np.ndarray:
    """Users uniform in the area of the layout (see the module docstring). Shape ``[num_users, 2]`` in m.

    With ``per_cell``, ``num_users`` must be a multiple of the number of APs and each AP's cell gets exactly
    ``num_users / num_aps`` users (in blocks: the first ``num_users / num_aps`` users in cell 0, ...), uniform
    in the cell.
    """
    num_aps = ap_positions_m.shape[0]
    if per_cell and layout == "explicit":
        raise ValueError("per-cell placement needs cells; the explicit layout has none")
    if per_cell and num_users % num_aps:
        raise ValueError(f"per-cell placement needs num_users ({num_users}) to be a multiple of {num_aps}")
    if layout == "explicit":
        margin = inter_site_distance_m / 2.0 if area_margin_m is None else area_margin_m
        low = ap_positions_m.min(axis=0) - margin  # [2]
        high = ap_positions_m.max(axis=0) + margin  # [2]
        return low + rng.random((num_users, 2)) * (high - low)
    if per_cell:
        cell = np.repeat(np.arange(num_aps), num_users // num_aps)  # [U]
    else:
        cell = rng.integers(0, num_aps, size=num_users)  # [U] the cell each user falls in
    centres = ap_positions_m[cell]  # [U, 2]
    if layout == "hexagonal":
        return sample_in_hexagons(rng, centres, inter_site_distance_m)
    # grid and line: ISD x ISD squares
    return centres + (rng.random((num_users, 2)) - 0.5) * inter_site_distance_m


def distances_m(ap_positions_m: np.ndarray, user_positions_m: np.ndarray) -> np.ndarray:
    """Euclidean AP-user distances. ``[N, 2]``, ``[U, 2]`` -> ``[N, U]`` in m."""
    # [N, U, 2]
    difference = ap_positions_m[:, None, :] - user_positions_m[None, :, :]
    return np.sqrt(np.sum(difference * difference, axis=-1))


def associate_by_path_gain(path_gain: np.ndarray) -> np.ndarray:
    """Serving AP of each user: the largest average (path) gain; ties go to the lowest AP index.

    Args:
        path_gain: ``[N, U]`` linear path gains (no fading).

    Returns:
        ``[U]`` int64 AP indices.
    """
    return np.argmax(path_gain, axis=0).astype(np.int64)
