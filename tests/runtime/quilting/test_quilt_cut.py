"""The minimum-error boundary cut: dynamic programming against exhaustive enumeration of every path."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from impasto.runtime.quilting.cut import cut_mask, min_cost_path, path_cost


def brute_force_paths(rows: int, cols: int):
    """Every vertical path: a start column, then a step of -1, 0 or +1 per row, staying inside."""
    for start in range(cols):
        for steps in itertools.product((-1, 0, 1), repeat=rows - 1):
            path = [start]
            for s in steps:
                path.append(path[-1] + s)
            if all(0 <= c < cols for c in path):
                yield path


@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 4), (5, 1), (4, 3), (6, 4), (7, 5), (8, 2)])
@pytest.mark.parametrize("seed", range(4))
def test_dp_path_is_the_brute_force_minimum(rows, cols, seed):
    err = np.random.default_rng(seed).random((rows, cols)) ** 2
    best = min(brute_force_paths(rows, cols), key=lambda p: path_cost(err, p))
    path = min_cost_path(err)
    assert all(abs(b - a) <= 1 for a, b in itertools.pairwise(path)) and all(0 <= c < cols for c in path)
    assert path_cost(err, path) == pytest.approx(path_cost(err, best), abs=1e-12)
    assert path == best  # random floats: the minimum is unique


def test_dp_follows_a_zero_valley_that_a_greedy_walk_misses():
    err = np.ones((6, 5))
    err[0, 0] = 0.5                       # greedy would start here...
    for r, c in enumerate([4, 3, 2, 2, 1, 0]):
        err[r, c] = 0.0                   # ...the cheap valley starts on the far side
    assert min_cost_path(err) == [4, 3, 2, 2, 1, 0]


def test_cut_mask_combines_both_cuts_at_the_corner():
    patch, overlap = 8, 3
    err = np.ones((patch, patch))
    err[:, 1] = 0.0                        # vertical valley in column 1
    err[2, 1:] = 0.0                       # horizontal valley in row 2, right of the vertical one
    cut = cut_mask(err, overlap, left=True, top=True)
    assert not cut.mask[:, 0].any() and cut.mask[2:, 1:].all()   # left of the vertical cut: the canvas
    assert not cut.mask[:2, 2:].any()                             # above the horizontal cut: the canvas
    assert cut.length == 2 * patch and cut.cost == pytest.approx(1.0)  # only err[r, 0] of the top strip is unavoidable
    only_left = cut_mask(err, overlap, left=True, top=False)
    assert only_left.mask[:, 1:].all() and not only_left.mask[:, 0].any() and only_left.length == patch
