"""Classes 6, 12, 13 and 15 (image files): writes keep what was given, bombs are refused from the header in
every accepted format, valid files with trailing bytes decode, damaged ones get impasto's own line.

On main at 973f7ac: HxW arrays were written mirrored, HxWx4 with channels reversed,
float [0, 1] arrays as 0/1; a 12000x12000 TIFF was decoded (386 MB) before being refused;
a JPEG with a motion photo's video after its end marker and a PNG with bytes after IEND
were refused as truncated; a corrupt PNG printed libpng's line before impasto's;
quality 101 was clamped with an OpenCV warning.
"""

from __future__ import annotations

import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from impasto.errors import ImageError
from impasto.runtime.io.headers import header_size, sniff_format
from impasto.runtime.io.images import decode_image, read_image, write_image


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)


def _raw(path) -> np.ndarray:
    """The file as OpenCV reads it, unchanged (BGR order, own channel count and depth)."""
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


# --- class 6: write_image writes what it was given ------------------------------------------------

def test_grey_arrays_are_written_as_they_are_not_mirrored(tmp_path):
    grey = _gradient()[..., 0]
    write_image(tmp_path / "g.png", grey)
    assert np.array_equal(_raw(tmp_path / "g.png"), grey)
    write_image(tmp_path / "g1.png", grey[..., None])
    assert np.array_equal(_raw(tmp_path / "g1.png"), grey)


def test_rgba_keeps_its_channel_order_and_alpha(tmp_path):
    rgba = np.dstack([_gradient(), np.linspace(0, 255, 32, dtype=np.uint8)[None].repeat(24, 0)])
    write_image(tmp_path / "a.png", rgba)
    assert np.array_equal(_raw(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    write_image(tmp_path / "a.jpg", rgba)  # no alpha in JPEG: composited over white, like the readers do
    back = read_image(tmp_path / "a.jpg").astype(int)
    assert back[:, 0].min() > 245  # alpha 0: white
    assert np.abs(back[:, -1] - _gradient()[:, -1]).mean() < 6  # alpha 255: the colour itself (JPEG-rounded)


def test_float_images_in_0_1_are_scaled_not_truncated(tmp_path):
    f = _gradient().astype(np.float32) / 255.0
    write_image(tmp_path / "f.png", f)
    assert np.array_equal(read_image(tmp_path / "f.png"), _gradient())


def test_sixteen_bits_are_kept_in_png_and_scaled_elsewhere(tmp_path):
    deep = (_gradient().astype(np.uint16) * 257)
    write_image(tmp_path / "d.png", deep)
    assert _raw(tmp_path / "d.png").dtype == np.uint16
    write_image(tmp_path / "d.jpg", deep)
    assert np.abs(read_image(tmp_path / "d.jpg").astype(int) - _gradient()).mean() < 3


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4, 2), np.uint8), "HxWx3 or HxWx4"),
    (np.zeros((4, 4, 3), np.int32), "dtype"),
    (np.full((4, 4, 3), 2.0, np.float32), r"range \[2, 2\]"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.zeros((0, 4, 3), np.uint8), "non-empty"),
    ([[1, 2]], "numpy array"),
])
def test_other_arrays_are_refused_and_nothing_is_written(tmp_path, bad, match):
    with pytest.raises(ImageError, match=match):
        write_image(tmp_path / "x.png", bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("quality", [101, -1, 2.5, True])
def test_quality_outside_0_100_is_refused(tmp_path, quality):
    with pytest.raises(ImageError, match="0-100"):
        write_image(tmp_path / "x.jpg", _gradient(), quality=quality)
    assert list(tmp_path.iterdir()) == []


# --- class 12: the pre-decode size check holds for TIFF too ----------------------------------------

def _tiff_claiming(width: int, height: int, order: str = "<") -> bytes:
    """A small TIFF whose first IFD claims ``width x height`` (the pixel data is not there)."""
    import struct

    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, width * height)]
    ifd = struct.pack(order + "H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack(order + ("H" if typ == 3 else "I"), value).ljust(4, b"\x00")
        ifd += struct.pack(order + "HHI", tag, typ, count) + packed
    return magic + struct.pack(order + "I", 8) + ifd + b"\x00\x00\x00\x00"


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_tiff_bomb_is_refused_from_its_header(order):
    data = _tiff_claiming(12000, 12000, order)
    assert header_size(data, sniff_format(data)) == (12000, 12000)
    with pytest.raises(ImageError, match="12000x12000 = 144000000 pixels exceeds"):
        decode_image(data, name="bomb.tif")


def test_real_tiffs_report_their_size(tmp_path):
    for ext in (".tif", ".tiff"):
        path = tmp_path / f"x{ext}"
        cv2.imwrite(str(path), _gradient(17, 29))
        data = path.read_bytes()
        assert header_size(data, sniff_format(data)) == (29, 17)
        assert read_image(path).shape == (17, 29, 3)


# --- class 13: trailing bytes after a valid image ---------------------------------------------------

@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_trailing_bytes_after_the_end_marker_are_ignored(tmp_path, ext):
    ok, buf = cv2.imencode(ext, _gradient())
    tail = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64  # a motion photo's MP4 after the image
    got = decode_image(buf.tobytes() + tail, name=f"motion{ext}")
    assert np.abs(got.astype(int) - _gradient()[..., ::-1]).mean() < 3  # encoded as BGR, decoded as RGB


def test_progressive_jpegs_with_trailing_bytes_decode(tmp_path):
    ok, buf = cv2.imencode(".jpg", _gradient(64, 80), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert decode_image(buf.tobytes() + b"\xff\xd8trailing", name="p.jpg").shape == (64, 80, 3)


@pytest.mark.parametrize("ext, cut", [(".jpg", 40), (".png", 30)])
def test_truncated_files_are_still_refused(ext, cut):
    ok, buf = cv2.imencode(ext, _gradient(64, 80))
    with pytest.raises(ImageError, match="truncated"):
        decode_image(buf.tobytes()[:-cut], name=f"cut{ext}")


# --- class 15: impasto's line only ------------------------------------------------------------------

def test_a_damaged_png_gets_one_impasto_line_and_no_libpng_line(tmp_path):
    ok, buf = cv2.imencode(".png", _gradient(64, 80))
    data = bytearray(buf.tobytes())
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF  # flip bits inside the compressed data: the chunk's CRC no longer matches
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt PNG: chunk 'IDAT'.*CRC"):
        read_image(bad)
    run = subprocess.run([sys.executable, "-m", "impasto", "stylize", str(bad), "-o", str(tmp_path / "o.png")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"impasto: error: {bad}: corrupt PNG: chunk 'IDAT' at byte "
                                                f"{idat - 4} fails its CRC check"]
    assert not (tmp_path / "o.png").exists()


def test_crc_of_a_valid_png_matches():
    ok, buf = cv2.imencode(".png", _gradient())
    data = buf.tobytes()
    assert zlib.crc32(data[37:41]) != 0  # the IDAT type is covered by the CRC: sanity of the fixture
    assert decode_image(data).shape == (24, 32, 3)
