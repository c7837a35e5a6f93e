"""Image decoding and validation: every accepted layout and every rejected input."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.errors import ImageError
from impasto.runtime.io.images import (
    decode_image,
    encode_image,
    fit_max_size,
    header_size,
    read_image,
    sniff_format,
    to_rgb8,
    write_image,
)


def _encode_bgr(arr: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, arr)
    assert ok
    return buf.tobytes()


def _png_with_header_size(width: int, height: int) -> bytes:
    """A small real PNG whose IHDR claims ``width x height`` (CRC fixed up): a decompression bomb's header."""
    data = bytearray(_encode_bgr(np.zeros((8, 8, 3), np.uint8), ".png"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff"])
def test_round_trip_formats_rgb_order(ext, tmp_path):
    rgb = np.zeros((21, 33, 3), np.uint8)
    rgb[..., 0] = 200  # pure red in RGB
    path = tmp_path / f"red{ext}"
    write_image(path, rgb)
    got = read_image(path)
    assert got.shape == (21, 33, 3) and got.dtype == np.uint8
    assert got[..., 0].mean() > 180 and got[..., 2].mean() < 20  # red stayed red: no BGR swap leaked
    assert header_size(path.read_bytes(), sniff_format(path.read_bytes())) in ((33, 21), None)


def test_header_size_matches_the_decoded_size(tmp_path):
    for ext in (".png", ".jpg", ".bmp", ".webp"):
        data = _encode_bgr(np.zeros((17, 29, 3), np.uint8), ext)
        assert header_size(data, sniff_format(data)) == (29, 17), ext


def test_grayscale_is_replicated():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    got = decode_image(_encode_bgr(gray, ".png"))
    assert got.shape == (8, 8, 3)
    assert (got[..., 0] == gray).all() and (got[..., 1] == gray).all() and (got[..., 2] == gray).all()


def test_rgba_is_composited_over_white():
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 2] = 255  # red
    bgra[:2, :, 3] = 255  # top half opaque, bottom half fully transparent
    got = decode_image(_encode_bgr(bgra, ".png"))
    assert (got[:2] == [255, 0, 0]).all()
    assert (got[2:] == [255, 255, 255]).all()


def test_16bit_png_is_scaled_to_8bit():
    bgr16 = np.full((5, 6, 3), 65535, np.uint16)
    bgr16[..., 0] = 257 * 10  # blue channel = 10 in 8 bits
    got = decode_image(_encode_bgr(bgr16, ".png"))
    assert got.dtype == np.uint8
    assert (got[..., 2] == 10).all() and (got[..., 0] == 255).all()


@pytest.mark.parametrize("arr, match", [
    (np.zeros((0, 5, 3), np.uint8), "non-empty"),
    (np.zeros((5, 5, 2), np.uint8), "HxWx3"),
    (np.zeros((2, 5, 5, 3), np.uint8), "HxWx3"),
    (np.zeros((5, 5, 3), np.int32), "dtype"),
    (np.full((5, 5, 3), 1.5, np.float32), r"\[0, 1\]"),
    (np.full((5, 5, 3), np.nan, np.float32), r"\[0, 1\]"),
    ([[1, 2, 3]], "numpy array"),
])
def test_to_rgb8_rejects(arr, match):
    with pytest.raises(ImageError, match=match):
        to_rgb8(arr)


def test_to_rgb8_converts_float_and_gray():
    f = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3)
    assert to_rgb8(f)[-1, -1, -1] == 255 and to_rgb8(f)[0, 0, 0] == 0
    g = np.full((3, 4, 1), 7, np.uint8)
    assert to_rgb8(g).shape == (3, 4, 3)


def test_empty_file(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(tmp_path / "e.jpg")


def test_not_an_image(tmp_path):
    (tmp_path / "t.jpg").write_text("hello, I am text")
    with pytest.raises(ImageError, match="not an image"):
        read_image(tmp_path / "t.jpg")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="directory"):
        read_image(tmp_path)


@pytest.mark.parametrize("ext, match", [(".jpg", "truncated JPEG"), (".png", "truncated PNG")])
def test_truncated_files(photo, ext, match):
    data = encode_image(photo, ext)
    with pytest.raises(ImageError, match=match):
        decode_image(data[: len(data) // 2])


def test_zero_size_header():
    with pytest.raises(ImageError, match="non-empty image, got 0x8"):
        decode_image(_png_with_header_size(0, 8))


def test_decompression_bomb_rejected_before_decoding(monkeypatch):
    def never(*a, **k):
        raise AssertionError("imdecode must not run on a bomb")

    monkeypatch.setattr(cv2, "imdecode", never)
    with pytest.raises(ImageError, match="100000x100000 = 10000000000 pixels exceeds the limit"):
        decode_image(_png_with_header_size(100_000, 100_000), name="bomb.png")


def test_pixel_limit_is_configurable(photo):
    data = encode_image(photo, ".jpg")
    h, w = photo.shape[:2]
    assert decode_image(data, max_pixels=h * w).shape == photo.shape
    with pytest.raises(ImageError, match=f"exceeds the limit of {h * w - 1} pixels"):
        decode_image(data, max_pixels=h * w - 1)


def test_fit_max_size(photo):
    out = fit_max_size(photo, 100)
    assert max(out.shape[:2]) == 100
    assert abs(out.shape[1] / out.shape[0] - photo.shape[1] / photo.shape[0]) < 0.02
    assert fit_max_size(photo, 10_000) is photo
    with pytest.raises(ImageError, match="positive"):
        fit_max_size(photo, 0)


def test_encode_rejects_unknown_extension(photo):
    with pytest.raises(ImageError, match="expected one of"):
        encode_image(photo, ".gif")


def test_write_image_creates_parents(tmp_path, photo):
    path = Path(tmp_path / "a" / "b" / "c.jpg")
    write_image(path, photo)
    assert read_image(path).shape == photo.shape


def test_written_files_get_the_usual_permissions(tmp_path, photo):
    """mkstemp makes owner-only files; a published output is 0o666 minus the umask, like open() makes."""
    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "out.png", photo)
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(umask)
    mode = (tmp_path / "out.png").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644
