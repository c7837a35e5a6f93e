"""Fuzzing the readers that see untrusted bytes first: header parsers, the decoder's checks and the mask reader.

Properties (hypothesis, a few hundred cases in a few seconds): the header readers never
raise on any bytes; :func:`decode_image` either returns an ``HxWx3`` uint8 array within
the pixel limit or raises :class:`ImageError` — never another exception, never a bigger
image; :func:`decode_mask` assigns every pixel a label and returns at most ``max_labels``
colours, or raises :class:`ImageError`.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impasto.errors import ImageError
from impasto.runtime.io.headers import data_end, header_size, png_corruption, sniff_format
from impasto.runtime.io.images import decode_image
from impasto.runtime.io.masks import decode_mask

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seed_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (13, 17, 3), dtype=np.uint8)
    out = [cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff")]
    out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes())
    return out


SEEDS = _seed_files()


@st.composite
def mutated(draw) -> bytes:
    """A valid small image file with a few bytes changed, inserted, cut or appended."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "append", "header"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "header":  # where the sizes and lengths live
            at = draw(st.integers(0, min(40, len(data) - 1)))
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data += draw(st.binary(min_size=1, max_size=64))
        if not data:
            data = bytearray(b"\x00")
    return bytes(data)


@FUZZ
@given(st.one_of(st.binary(max_size=256), mutated()))
def test_header_readers_never_raise(data):
    fmt = sniff_format(data)
    for f in ("png", "jpeg", "bmp", "webp", "tiff"):
        size = header_size(data, f)
        assert size is None or (len(size) == 2 and all(isinstance(v, int) for v in size))
        end = data_end(data, f)
        assert end is None or 0 <= end <= len(data)
    assert png_corruption(data) is None or isinstance(png_corruption(data), str)
    assert fmt in (None, "png", "jpeg", "bmp", "webp", "tiff")


@FUZZ
@given(mutated(), st.sampled_from([100, 221, 10_000]))
def test_decode_returns_a_valid_image_or_an_image_error(data, max_pixels):
    try:
        img = decode_image(data, name="fuzz", max_pixels=max_pixels)
    except ImageError:
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert 0 < img.shape[0] * img.shape[1] <= max_pixels


@FUZZ
@given(st.integers(1, 24), st.integers(1, 24), st.integers(1, 40), st.integers(0, 2**32 - 1),
       st.sampled_from(["flat", "noisy", "random"]))
def test_mask_reader_labels_every_pixel_or_refuses(h, w, n_colours, seed, kind):
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (n_colours, 3), dtype=np.uint8)
    mask = palette[rng.integers(0, n_colours, (h, w))] if kind != "flat" else np.broadcast_to(
        palette[0], (h, w, 3)).copy()
    if kind == "noisy":
        mask = np.clip(mask.astype(int) + rng.integers(-20, 21, mask.shape), 0, 255).astype(np.uint8)
    try:
        lm = decode_mask(mask, name="fuzz mask", max_labels=16)
    except ImageError:
        return
    labels = np.asarray(lm.labels)
    assert labels.shape == (h, w)
    assert 1 <= len(lm.colors) <= 16 and labels.min() >= 0 and labels.max() < len(lm.colors)


@pytest.mark.parametrize("data", SEEDS)
def test_the_seeds_themselves_decode(data):
    assert decode_image(data).shape == (13, 17, 3)
