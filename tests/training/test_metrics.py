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


# ---- impasto eval's measures (Judge, feature_distance, edge_ssim) ----

def test_known_gram_and_gram_distance_zero_for_identical_statistics():
    """gram of a known feature map; gram_distance is 0 against its own Gram and grows with the difference."""
    import torch

    from impasto.models.losses import gram
    from impasto.training.metrics import gram_distance

    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    g = gram(f)  # [[1*1+2*2, 1*3+2*4], [., 3*3+4*4]] / (C*H*W = 4)
    assert torch.allclose(g, torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    assert gram_distance({"relu1_2": f}, {"relu1_2": g}) == 0.0
    assert gram_distance({"relu1_2": 2 * f}, {"relu1_2": g}) > gram_distance({"relu1_2": 1.1 * f}, {"relu1_2": g}) > 0


def test_judge_content_as_output_scores_ratio_one_and_distance_zero(cat, astronaut, vgg):
    """The unstyled content is exactly as far from the painting as itself: ratio 1, distance 0, edge SSIM 1."""
    from impasto.training.metrics import Judge

    judge = Judge(vgg, side=192, small_side=96)
    judge.add_painting("p", astronaut)
    image = judge.add_content("c", cat)
    s = judge.score(image, "c", "p")
    assert s.style_ratio == pytest.approx(1.0, abs=1e-6)
    assert s.multiscale_style_ratio == pytest.approx(1.0, abs=1e-6)
    assert s.content_distance == 0.0 and s.edge_ssim == pytest.approx(1.0)


def test_judge_painting_as_output_scores_ratio_near_zero(cat, astronaut, vgg):
    """An output with the painting's own pixels has (nearly) its Gram statistics: ratio near 0, content far."""
    from impasto.training.metrics import Judge

    judge = Judge(vgg, side=192, small_side=96)
    judge.add_painting("p", astronaut)
    judge.add_content("c", cat)
    s = judge.score(astronaut, "c", "p")  # same 192x128 size as the content here
    assert s.style_ratio < 0.02 and s.multiscale_style_ratio < 0.02
    assert s.content_distance > 0.5 and s.edge_ssim < 0.5


def test_feature_distance_is_a_relative_norm(cat, vgg):
    """0 for the same image; otherwise ||F(a) - F(b)|| / ||F(b)|| at relu3_3."""
    import torch

    from impasto.training.metrics import feature_distance

    assert feature_distance(cat, cat, vgg) == 0.0
    with torch.no_grad():
        from impasto.models.imaging import to_tensor

        a = vgg(to_tensor(cat // 2)[None], ("relu3_3",))["relu3_3"]
        b = vgg(to_tensor(cat)[None], ("relu3_3",))["relu3_3"]
    assert feature_distance(cat // 2, cat, vgg) == pytest.approx(float((a - b).norm() / b.norm()), rel=1e-5)
    with pytest.raises(ValueError, match="equal shapes"):
        feature_distance(cat[:64], cat, vgg)


def test_edge_ssim_is_one_for_the_same_image_and_lower_for_a_blurred_one(cat):
    from impasto.training.metrics import edge_ssim

    assert edge_ssim(cat, cat) == pytest.approx(1.0)
    assert edge_ssim(cv2.GaussianBlur(cat, (0, 0), 3), cat) < 0.8
