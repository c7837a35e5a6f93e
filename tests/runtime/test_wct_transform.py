"""The NumPy WCT (square roots by eigh) against the float64 PyTorch reference ``wct_eigh``."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from impasto.models import wct as torch_wct  # noqa: E402
from impasto.runtime.pipelines import wct_transform  # noqa: E402

EPS, MIN_PIXELS = 1e-3, 10.0


def _features(rng: np.random.Generator, c: int, h: int, w: int, scale: float = 3.0) -> np.ndarray:
    """ReLU-like features with per-channel scales that differ by orders of magnitude, as VGG's do."""
    spread = np.exp(rng.uniform(-3, 2, size=(1, c, 1, 1)))
    return (np.maximum(rng.standard_normal((1, c, h, w)), 0) * spread * scale).astype(np.float32)


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    return (labels[None, None] == np.arange(n)[None, :, None, None]).astype(np.float32)


def _reference(fc, fs, wc, ws, alpha) -> np.ndarray:
    return torch_wct.wct_eigh(*(torch.from_numpy(a) for a in (fc, fs, wc, ws)), alpha, eps=EPS,
                              min_pixels=MIN_PIXELS).numpy()


def _relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("c", [64, 256])
def test_no_masks_matches_the_float64_reference(c):
    rng = np.random.default_rng(c)
    fc, fs = _features(rng, c, 23, 31), _features(rng, c, 19, 40, scale=5.0)
    ones_c, ones_s = np.ones((1, 1, 23, 31), np.float32), np.ones((1, 1, 19, 40), np.float32)
    got = wct_transform.wct(fc, fs, ones_c, ones_s, 1.0, eps=EPS, min_pixels=MIN_PIXELS)
    ref = _reference(fc, fs, ones_c, ones_s, 1.0)
    assert got.dtype == np.float32 and got.shape == fc.shape
    assert _relative_error(got, ref) < 1e-4
    # the transform moved the features: the check would fail against the content itself
    assert _relative_error(fc, ref) > 0.1


def test_masks_soft_boundaries_and_a_label_the_style_lacks():
    """Three labels pooled one level down (soft weights on the boundaries); label 2 is not in the style, so it takes
    the whole style image's statistics."""
    rng = np.random.default_rng(7)
    h, w, hs, ws = 30, 42, 34, 26
    cl = np.where(np.arange(2 * w)[None, :] < w, 0, 1).repeat(2 * h, 0)
    cl[: h // 2, : w // 2] = 2
    sl = np.where(np.arange(2 * hs)[:, None] < hs, 0, 1).repeat(2 * ws, 1)
    wc = wct_transform.pool_mask(_one_hot(cl, 3))
    wsm = wct_transform.pool_mask(_one_hot(sl, 3))
    assert 0 < ((wc > 0) & (wc < 1)).sum()  # pooled boundaries: soft weights
    fc, fs = _features(rng, 128, h, w), _features(rng, 128, hs, ws)
    got = wct_transform.wct(fc, fs, wc, wsm, 0.7, eps=EPS, min_pixels=MIN_PIXELS)
    ref = _reference(fc, fs, wc, wsm, 0.7)
    assert _relative_error(got, ref) < 1e-4
    # label 2's pixels took the whole style image's statistics: they equal a run where every label falls back
    # (min_pixels above any label's count), and label 0's pixels do not
    glob = wct_transform.wct(fc, fs, wc, wsm, 0.7, eps=EPS, min_pixels=1e9)
    only2, only0 = wc[0, 2] == 1, wc[0, 0] == 1
    assert np.abs(got[0][:, only2] - glob[0][:, only2]).max() < 1e-4 * np.abs(got).max()
    assert np.abs(got[0][:, only0] - glob[0][:, only0]).max() > 1e-2 * np.abs(got).max()


def test_alpha_zero_returns_the_content_and_alpha_blends_linearly():
    rng = np.random.default_rng(3)
    fc, fs = _features(rng, 64, 12, 17), _features(rng, 64, 15, 11)
    ones_c, ones_s = np.ones((1, 1, 12, 17), np.float32), np.ones((1, 1, 15, 11), np.float32)
    zero = wct_transform.wct(fc, fs, ones_c, ones_s, 0.0, eps=EPS, min_pixels=MIN_PIXELS)
    np.testing.assert_allclose(zero, fc, rtol=0, atol=1e-5 * np.abs(fc).max())
    full = wct_transform.wct(fc, fs, ones_c, ones_s, 1.0, eps=EPS, min_pixels=MIN_PIXELS)
    half = wct_transform.wct(fc, fs, ones_c, ones_s, 0.5, eps=EPS, min_pixels=MIN_PIXELS)
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * fc, rtol=0, atol=1e-5 * np.abs(full).max())


def test_a_label_absent_from_the_content_changes_nothing():
    rng = np.random.default_rng(5)
    fc, fs = _features(rng, 64, 16, 20), _features(rng, 64, 18, 18)
    lab = np.where(np.arange(20)[None, :] < 8, 0, 1).repeat(16, 0)
    slab = np.where(np.arange(18)[:, None] < 9, 0, 1).repeat(18, 1)
    two = wct_transform.wct(fc, fs, _one_hot(lab, 2), _one_hot(slab, 2), 1.0, eps=EPS, min_pixels=MIN_PIXELS)
    # a third label that no content pixel carries (the style has some of it)
    slab3 = slab.copy()
    slab3[:3] = 2
    three = wct_transform.wct(fc, fs, _one_hot(lab, 3), _one_hot(slab3, 3), 1.0, eps=EPS, min_pixels=MIN_PIXELS)
    ref3 = _reference(fc, fs, _one_hot(lab, 3), _one_hot(slab3, 3), 1.0)
    assert _relative_error(three, ref3) < 1e-4
    assert two.shape == three.shape


def test_pool_mask_matches_torch_on_odd_sizes():
    rng = np.random.default_rng(1)
    m = _one_hot(rng.integers(0, 3, (37, 51)), 3)
    got = wct_transform.pool_mask(m)
    ref = torch.nn.functional.avg_pool2d(torch.from_numpy(m), 2, 2).numpy()
    assert got.shape == (1, 3, 18, 25)
    np.testing.assert_allclose(got, ref, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize(("fc", "fs", "wc", "ws"), [
    ((1, 64, 8, 8), (1, 32, 8, 8), (1, 1, 8, 8), (1, 1, 8, 8)),   # channels differ
    ((1, 64, 8, 8), (1, 64, 8, 8), (1, 2, 8, 8), (1, 1, 8, 8)),   # label counts differ
    ((1, 64, 8, 8), (1, 64, 8, 8), (1, 1, 4, 8), (1, 1, 8, 8)),   # mask not at the features' size
    ((64, 8, 8), (1, 64, 8, 8), (1, 1, 8, 8), (1, 1, 8, 8)),      # not 1xCxHxW
])
def test_shapes_that_do_not_fit_are_one_clear_error(fc, fs, wc, ws):
    arrays = [np.ones(s, np.float32) for s in (fc, fs, wc, ws)]
    with pytest.raises(ValueError, match="expected") as info:
        wct_transform.wct(*arrays, 1.0, eps=EPS, min_pixels=MIN_PIXELS)
    assert "\n" not in str(info.value)


def test_overwrite_input_gives_the_same_result():
    rng = np.random.default_rng(11)
    fc, fs = _features(rng, 64, 14, 18), _features(rng, 64, 16, 12)
    lab = np.where(np.arange(18)[None, :] < 7, 0, 1).repeat(14, 0)
    slab = np.where(np.arange(16)[:, None] < 8, 0, 1).repeat(12, 1)
    wc, wsm = _one_hot(lab, 2), _one_hot(slab, 2)
    ref = _reference(fc, fs, wc, wsm, 0.4)
    kept = wct_transform.wct(fc, fs, wc, wsm, 0.4, eps=EPS, min_pixels=MIN_PIXELS)
    fc2, fs2 = fc.copy(), fs.copy()
    used = wct_transform.wct(fc2, fs2, wc, wsm, 0.4, eps=EPS, min_pixels=MIN_PIXELS, overwrite_input=True)
    assert _relative_error(kept, ref) < 1e-4 and _relative_error(used, ref) < 1e-4
    assert not np.array_equal(fc2, fc)  # used as work space, as documented


def test_a_workspace_reused_across_sizes_and_label_counts_changes_nothing():
    rng = np.random.default_rng(13)
    ws = wct_transform.Workspace()
    for c, h, w, labels in ((64, 9, 13, 1), (128, 20, 24, 3), (64, 30, 31, 2), (64, 9, 13, 1)):
        fc, fs = _features(rng, c, h, w), _features(rng, c, h + 2, w - 1)
        lab = rng.integers(0, labels, (h, w))
        slab = rng.integers(0, labels, (h + 2, w - 1))
        wc, wsm = _one_hot(lab, labels), _one_hot(slab, labels)
        fresh = wct_transform.wct(fc, fs, wc, wsm, 0.9, eps=EPS, min_pixels=1.0)
        reused = wct_transform.wct(fc, fs, wc, wsm, 0.9, eps=EPS, min_pixels=1.0, workspace=ws)
        assert np.array_equal(fresh, reused)
        ref = torch_wct.wct_eigh(*(torch.from_numpy(a) for a in (fc, fs, wc, wsm)), 0.9, eps=EPS, min_pixels=1.0)
        assert _relative_error(reused, ref.numpy()) < 1e-4


@pytest.mark.parametrize("labels", [2, wct_transform.DENSE_LABELS, wct_transform.DENSE_LABELS + 2])
def test_both_ways_of_applying_the_transform_match_the_reference(labels):
    """Up to DENSE_LABELS labels the transform runs over every pixel per label, above it on each label's pixels;
    pooled (soft) boundaries included."""
    rng = np.random.default_rng(labels)
    h, w = 26, 34
    lab = rng.integers(0, labels, (h // 2 + 1, w // 2 + 1)).repeat(4, 0).repeat(4, 1)[: 2 * h, : 2 * w]
    slab = rng.integers(0, labels, (h // 2 + 1, w // 2 + 1)).repeat(4, 0).repeat(4, 1)[: 2 * h, : 2 * w]
    wc = wct_transform.pool_mask(_one_hot(lab, labels))
    wsm = wct_transform.pool_mask(_one_hot(slab, labels))
    fc, fs = _features(rng, 64, h, w), _features(rng, 64, h, w)
    got = wct_transform.wct(fc, fs, wc, wsm, 0.8, eps=EPS, min_pixels=2.0)
    ref = torch_wct.wct_eigh(*(torch.from_numpy(a) for a in (fc, fs, wc, wsm)), 0.8, eps=EPS, min_pixels=2.0)
    assert _relative_error(got, ref.numpy()) < 1e-4
