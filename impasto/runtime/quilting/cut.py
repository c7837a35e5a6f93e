"""The minimum-error boundary cut of image quilting (Efros & Freeman 2001), by dynamic programming (torch-free).

Convention:
    An error surface is a 2-D float array ``err[row, col] >= 0``: the squared colour
    difference, summed over channels, between the canvas and the new block at each pixel
    of an overlap. A *vertical* path holds one column per row and moves at most one
    column between neighbouring rows; it runs from the first row to the last. The
    horizontal cut of a top overlap is the vertical cut of its transpose.

    The join mask of a block (:func:`cut_mask`) is ``True`` where the new block's pixel is
    kept: on and right of the vertical cut in the left overlap, on and below the
    horizontal cut in the top overlap, both at the corner where the two overlaps meet, and
    everywhere outside the overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def min_cost_path(err: np.ndarray) -> list[int]:
    """The vertical path of least total error through ``err`` (one column per row).

    Dynamic programming: ``cost[r][c] = err[r][c] + min(cost[r-1][c-1..c+1])``, then a
    trace back from the cheapest cell of the last row. Ties go to the smaller column.
    Overlaps are a few pixels wide, so plain Python lists beat numpy calls per row here.

    Args:
        err: ``rows x cols`` error surface, ``rows, cols >= 1``, finite and ``>= 0``.

    Returns:
        ``path[r]``: the path's column in row ``r``.
    """
    rows, cols = err.shape
    grid = err.tolist()
    cost = [list(grid[0])]
    for r in range(1, rows):
        prev, row = cost[-1], grid[r]
        cost.append([row[c] + min(prev[max(c - 1, 0):c + 2]) for c in range(cols)])
    last = cost[-1]
    c = min(range(cols), key=last.__getitem__)
    path = [c]
    for r in range(rows - 2, -1, -1):
        prev = cost[r]
        lo, hi = max(c - 1, 0), min(c + 1, cols - 1)
        c = min(range(lo, hi + 1), key=prev.__getitem__)
        path.append(c)
    path.reverse()
    return path


def path_cost(err: np.ndarray, path: list[int]) -> float:
    """Total error of a vertical ``path`` through ``err``."""
    return float(err[np.arange(len(path)), path].sum())


@dataclass(frozen=True)
class Cut:
    """Where a new block replaces the canvas, and what the seam costs.

    Attributes:
        mask: ``patch x patch`` bool, True where the new block's pixel is kept.
        cost: total error along the cut paths (both cuts of a corner block).
        length: number of pixels on the cut paths.
    """

    mask: np.ndarray
    cost: float
    length: int


def cut_mask(err: np.ndarray, overlap: int, *, left: bool, top: bool) -> Cut:
    """The minimum-error boundary cut of one block, vertical and horizontal combined at the corner.

    Args:
        err: ``patch x patch`` error surface between the canvas and the new block (only
            the left ``overlap`` columns and the top ``overlap`` rows are read).
        overlap: the overlap width in pixels (``1 <= overlap < patch``).
        left: the block has a neighbour on its left (cut the left overlap).
        top: the block has a neighbour above (cut the top overlap).

    Returns:
        The join mask and the cost and length of the cut paths.
    """
    patch = err.shape[0]
    mask = np.ones((patch, patch), bool)
    cost, length = 0.0, 0
    cols = np.arange(overlap)
    if left:
        strip = err[:, :overlap]
        path = min_cost_path(strip)
        mask[:, :overlap] &= cols[None, :] >= np.asarray(path)[:, None]
        cost, length = cost + path_cost(strip, path), length + patch
    if top:
        strip = err[:overlap, :].T
        path = min_cost_path(strip)
        mask[:overlap, :] &= cols[:, None] >= np.asarray(path)[None, :]
        cost, length = cost + path_cost(strip, path), length + patch
    return Cut(mask, cost, length)
