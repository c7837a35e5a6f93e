"""``Stylizer.stylize_batch``: same-size images in one model call give each image's own ``Stylizer`` result."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import ImageError
from impasto.runtime import Stylizer


@pytest.fixture(scope="module")
def stylizer():
    with Stylizer.load(backend="ort-cpu", threads=1) as s:
        yield s


def test_a_batch_equals_one_call_per_image(stylizer, photo):
    rng = np.random.default_rng(0)
    images = [photo[:96, :128], photo[50:146, 60:188], rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)]
    batched = stylizer.stylize_batch(images, style="wave:0.3,candy:0.7", strength=0.8, preserve_colors=True)
    for image, got in zip(images, batched, strict=True):
        want = stylizer(image, style="wave:0.3,candy:0.7", strength=0.8, preserve_colors=True)
        assert got.shape == image.shape and np.abs(got.astype(int) - want).max() <= 1
    assert not np.array_equal(batched[0], batched[1])  # each image its own result


def test_tiny_images_are_padded_and_cropped_back(stylizer):
    tiny = [np.full((3, 4, 3), 40 * i, np.uint8) for i in range(3)]
    for image, got in zip(tiny, stylizer.stylize_batch(tiny), strict=True):
        assert got.shape == (3, 4, 3) and np.abs(got.astype(int) - stylizer(image)).max() <= 1


def test_images_of_different_sizes_are_refused(stylizer):
    with pytest.raises(ImageError, match="expected images of one size"):
        stylizer.stylize_batch([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)])
    assert stylizer.stylize_batch([]) == []
