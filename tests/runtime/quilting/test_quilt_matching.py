"""FFT window matching equals the weighted sums of squared differences computed window by window."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.runtime.quilting.matching import Term, WindowMatcher, pick_within_tolerance


def test_weighted_ssd_of_several_terms_matches_direct_sums():
    rng = np.random.default_rng(0)
    image = rng.random((23, 19, 4))
    patch = 6
    a, b = rng.random((patch, patch, 4)), rng.random((patch, patch, 4))
    wa = (rng.random((patch, patch, 1)) > 0.5) * np.array([1.0, 1.0, 1.0, 0.0])
    wb = rng.random((patch, patch, 4))
    got = WindowMatcher(image).ssd([Term(a, wa.astype(np.float32)), Term(b, wb.astype(np.float32))])
    assert got.shape == (23 - patch + 1, 19 - patch + 1)
    want = np.array([[(wa * (image[y:y + patch, x:x + patch] - a) ** 2).sum()
                      + (wb * (image[y:y + patch, x:x + patch] - b) ** 2).sum()
                      for x in range(got.shape[1])] for y in range(got.shape[0])])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_window_cut_from_the_image_is_found_exactly():
    image = np.random.default_rng(1).random((40, 37, 3))
    mask = np.zeros((8, 8, 1), np.float32)
    mask[:, :2] = mask[:2, :] = 1
    err = WindowMatcher(image).ssd([Term(image[11:19, 23:31], mask)])
    assert np.unravel_index(err.argmin(), err.shape) == (11, 23) and err.min() < 1e-4


def test_pick_within_tolerance_draws_only_near_best_and_all_of_them():
    err = np.array([[5.0, 1.0, 1.05], [1.2, 3.0, 1.09]])
    rng = np.random.default_rng(0)
    picks = {pick_within_tolerance(err, 0.1, rng) for _ in range(200)}
    assert picks == {(0, 1), (0, 2), (1, 2)}
    assert {pick_within_tolerance(err, 0.0, rng) for _ in range(20)} == {(0, 1)}


@pytest.mark.parametrize("shape", [(12, 12, 3), (31, 17, 3)])
def test_map_has_one_entry_per_window(shape):
    image = np.zeros(shape)
    err = WindowMatcher(image).ssd([Term(np.ones((5, 5, 3)), np.ones((5, 5, 1), np.float32))])
    assert err.shape == (shape[0] - 4, shape[1] - 4)
    np.testing.assert_allclose(err, 75.0, rtol=1e-5)
