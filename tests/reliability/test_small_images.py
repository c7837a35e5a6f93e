"""Class 11 (small images): a side of 4 px or less no longer crashes inside ONNX Runtime.

The feed-forward style graphs take sides of at least 5 px (their 9x9 reflection padding).
Smaller images are padded up to it (edge pixels repeated) and the result is cropped back,
in every pipeline that runs them (stylize, folders, sheet, video, webcam); the size flags
(``--max-size``, ``sheet --tile``, ``webcam --size``) take at least 5 px, or one line and
exit 2.

On main at 973f7ac: 1x1, 3x2 and 1000x3 images, ``--max-size 1``, ``sheet --tile 1``,
``video --max-size 2`` and ``webcam --size 2x2`` exited 1 with a 36-line ONNX Runtime
traceback, and a folder run whose first file was 1x1 wrote no file at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.errors import UserError
from impasto.runtime.io.images import read_image
from impasto.runtime.pipelines.sheet import builtin_sheet
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.pipelines.tensors import MIN_SIDE, pad_to_min_side

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "tests" / "data" / "tone_32x24_10fps.mp4"
SMALL = [(1, 1), (2, 3), (3, 1000), (4, 4), (1000, 2)]


def _impasto(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "IMPASTO_FFMPEG": "none"})


def _write(path: Path, h: int, w: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


@pytest.fixture(scope="module")
def stylizer():
    with Stylizer.load(backend="ort-cpu") as s:
        yield s


@pytest.mark.parametrize("h, w", SMALL)
def test_the_api_stylises_tiny_images_at_their_own_size(stylizer, h, w):
    image = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = stylizer(image)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8


def test_padding_repeats_the_edge_and_the_crop_undoes_it():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded, crop = pad_to_min_side(image, MIN_SIDE)
    assert padded.shape == (MIN_SIDE, MIN_SIDE, 3) and np.array_equal(padded[crop], image)
    rows, cols = crop
    assert np.array_equal(padded[0, cols], image[0]) and np.array_equal(padded[-1, cols], image[-1])
    assert np.array_equal(padded[rows, 0], image[:, 0]) and np.array_equal(padded[rows, -1], image[:, -1])
    big = np.zeros((MIN_SIDE, 9, 3), np.uint8)
    assert pad_to_min_side(big, MIN_SIDE)[0] is big


@pytest.mark.parametrize("h, w", [(1, 1), (2, 3), (3, 1000)])
def test_stylize_writes_tiny_images_at_their_size(tmp_path, h, w):
    src = _write(tmp_path / f"{w}x{h}.png", h, w)
    res = _impasto("stylize", src, "-o", tmp_path / "out.png", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and read_image(tmp_path / "out.png").shape == (h, w, 3)


def test_a_folder_whose_first_file_is_tiny_writes_every_file(tmp_path):
    _write(tmp_path / "in" / "a_1x1.png", 1, 1)
    _write(tmp_path / "in" / "b_good.png", 48, 64, seed=1)
    res = _impasto("stylize", tmp_path / "in", "-o", tmp_path / "out", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert read_image(tmp_path / "out" / "in" / "a_1x1.png").shape == (1, 1, 3)
    assert read_image(tmp_path / "out" / "in" / "b_good.png").shape == (48, 64, 3)


@pytest.mark.parametrize("args, flag", [
    (["stylize", "{photo}", "-o", "{out}/a.png", "--max-size", "1"], "--max-size"),
    (["stylize", "{photo}", "-o", "{out}/a.png", "--max-size", "4"], "--max-size"),
    (["sheet", "{photo}", "-o", "{out}/s.png", "--tile", "1"], "--tile"),
    (["video", str(CLIP), "-o", "{out}/v.mp4", "--max-size", "2"], "--max-size"),
    (["webcam", "--camera", str(CLIP), "--no-window", "--frames", "2", "--size", "2x2"], "--size"),
    (["photoreal", "{photo}", "--style-image", "{photo}", "-o", "{out}/p.png", "--max-size", "3"], "--max-size"),
])
def test_size_flags_below_the_minimum_are_one_line_and_write_nothing(tmp_path, args, flag):
    photo = _write(tmp_path / "photo.png", 48, 64)
    out = tmp_path / "out"
    out.mkdir()
    res = _impasto(*(a.format(photo=photo, out=out) for a in args), cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith(f"impasto: error: argument {flag}: expected ")
    assert f"at least {MIN_SIDE} pixels" in lines[0]
    assert list(out.iterdir()) == []


def test_sheet_api_refuses_a_tile_below_the_minimum():
    with pytest.raises(UserError, match=f"tile: expected an integer of at least {MIN_SIDE}"):
        builtin_sheet(np.zeros((8, 8, 3), np.uint8), tile=2, backend="ort-cpu")


def test_the_smallest_flags_work(tmp_path):
    photo = _write(tmp_path / "photo.png", 300, 7)
    res = _impasto("stylize", photo, "-o", tmp_path / "a.png", "--max-size", str(MIN_SIDE), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert read_image(tmp_path / "a.png").shape == (MIN_SIDE, 1, 3)  # the short side goes below 5: padded
