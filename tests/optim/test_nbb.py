"""Neural Best Buddies: a known shift is found exactly; k-means; settings and drawing."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.optim.nbb import NBBConfig, best_buddies, draw_matches, kmeans


@pytest.fixture(scope="module")
def vgg(vgg_weights):
    from impasto.models.vgg import VGG16Features

    return VGG16Features(vgg_weights)


def shifted_pair(photo: np.ndarray, tx: int, ty: int, side: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Crops A and B of one photo with B(p) = A(p - t): what sits at p in A sits at p + t in B."""
    y0, x0 = 40, 60
    a = photo[y0:y0 + side, x0:x0 + side]
    b = photo[y0 - ty:y0 - ty + side, x0 - tx:x0 - tx + side]
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def test_finds_a_known_shift(photo, vgg):
    a, b = shifted_pair(photo, 9, -6)
    res = best_buddies(a, b, NBBConfig(k=6, size=128), vgg=vgg)
    d = res["points_b"] - res["points_a"]
    assert len(d) == 6
    np.testing.assert_allclose(np.median(d, axis=0), [9.0, -6.0], atol=0.5)
    exact = np.all(np.abs(d - [9.0, -6.0]) <= 1.0, axis=1)
    assert exact.sum() >= 5, d  # best buddies are not guaranteed; nearly all must be exact
    assert list(res["pairs_per_level"]) == ["relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1"]
    assert np.all(np.diff(res["scores"]) <= 0)  # best first


def test_points_are_in_pixels_of_each_original_image(photo, vgg):
    a, b = shifted_pair(photo, 8, 4)
    big_b = np.repeat(np.repeat(b, 2, axis=0), 2, axis=1)  # B at twice the size: its points double
    res = best_buddies(a, big_b, NBBConfig(k=4, size=128, finest="relu2_1"), vgg=vgg)
    d = res["points_b"] / 2 - res["points_a"]
    np.testing.assert_allclose(np.median(d, axis=0), [8.0, 4.0], atol=1.0)
    assert res["size_b"] == [256, 256]


def test_kmeans_separates_blobs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (20, 2))])
    labels = kmeans(x, 2)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1 and labels[0] != labels[-1]


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="--k"):
        NBBConfig(k=0)
    with pytest.raises(UserError, match="finest"):
        NBBConfig(finest="relu9_9")


def test_draw_matches_puts_both_images_side_by_side():
    a, b = np.zeros((50, 80, 3), np.uint8), np.full((100, 60, 3), 255, np.uint8)
    out = draw_matches(a, b, np.array([[10.0, 10.0]]), np.array([[30.0, 50.0]]), height=100)
    assert out.shape == (100, 160 + 60, 3) and out.dtype == np.uint8
    assert out[..., :].std() > 0 and (out[20, 20] != 0).any()  # the dot drawn on the black image
