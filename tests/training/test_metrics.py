"""The quality metrics behind every quality floor and figure, on cases with known answers.

Images are 192x128 crops of the two sample photos; the distances are computed with the
project's VGG16 weights (``IMPASTO_VGG16_WEIGHTS``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from impasto.runtime.io.images import read_image  # noqa: E402
from impasto.training.metrics import content_distance, edge_correlation, style_distance  # noqa: E402

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module")
def vgg(vgg_weights):
    from impasto.models.vgg import VGG16Features

    return VGG16Features(vgg_weights)


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    return cv2.resize(read_image(ASSETS / "chelsea.jpg"), (192, 128), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.resize(read_image(ASSETS / "astronaut.jpg"), (192, 128), interpolation=cv2.INTER_AREA)


def test_an_image_is_at_distance_zero_from_itself(cat, vgg):
    assert style_distance(cat, cat, vgg) == 0.0
    assert content_distance(cat, cat, vgg) == 0.0
    assert edge_correlation(cat, cat) == pytest.approx(1.0, abs=1e-9)


def test_a_blank_image_is_about_as_far_as_the_content_energy(cat, vgg):
    """Relative error: features of zero would score exactly 1; a flat image's are small, so ~1."""
    for value in (0, 128, 255):
        d = content_distance(np.full_like(cat, value), cat, vgg)
        assert 0.8 < d < 1.3, (value, d)
    brighter = np.clip(cat.astype(np.int16) + 10, 0, 255).astype(np.uint8)
    assert content_distance(brighter, cat, vgg) < 0.02  # the same photo, slightly brighter: near 0


def test_gram_statistics_ignore_where_things_are_but_content_does_not(cat, astronaut, vgg):
    """Swapping the halves keeps the texture statistics and moves every feature."""
    swapped = np.concatenate([cat[:, 96:], cat[:, :96]], axis=1)
    other = style_distance(astronaut, cat, vgg)
    assert style_distance(swapped, cat, vgg) < 0.05 * other
    assert content_distance(swapped, cat, vgg) > 1.0


def test_the_style_image_is_compared_at_the_image_scale(cat, astronaut, vgg):
    """A half-size copy of the style is enlarged to the image's size first: near 0, far below another photo."""
    half = cv2.resize(cat, (96, 64), interpolation=cv2.INTER_AREA)
    assert style_distance(cat, half, vgg) < 0.1 * style_distance(astronaut, cat, vgg)


def test_content_distance_refuses_different_sizes(cat, vgg):
    with pytest.raises(ValueError, match="expected equal shapes"):
        content_distance(cat[:64], cat, vgg)


def test_edge_correlation_measures_structure_not_colour(cat, astronaut):
    assert edge_correlation(255 - cat, cat) == pytest.approx(1.0, abs=1e-6)  # inverted: the same edges
    assert edge_correlation(cat[:, ::-1].copy(), cat) < 0.2  # mirrored: other edges
    assert edge_correlation(astronaut, cat) < 0.2


def test_edge_correlation_of_a_collapsed_output_is_zero_not_nan(cat):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero warning would fail the test
        assert edge_correlation(np.full_like(cat, 77), cat) == 0.0
        assert edge_correlation(cat, np.zeros_like(cat)) == 0.0
