"""Class 3 (masks): label-index masks (FastPhotoStyle's and ADE20K-style) are read as labels, beside colour-coded ones.

A single-channel mask, 8 or 16 bits, is a label-index mask: each integer value is a label,
and style pixels pair with the content label of the same value. ``--json`` reports the
kind and the labels found in each mask; a mask that yields one label while the other
yields several is a warning on stderr and in ``--json``; masks of two kinds, or an index
mask with more labels than the graph takes, are one line and exit 2. Checked on the Deep
Photo Style Transfer pair 1 (colour-coded masks) and index masks made from them, and with
a hypothesis property: every pixel of an index pair is labelled by its value, or the pair
is refused.

On main at 973f7ac: a single-channel mask was read as grey RGB, its labels 0, 1, 2 merged
into one colour, ``--json`` said ``"labels": {"count": 1}`` and the output was that of a
run without masks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impasto.errors import ImageError
from impasto.runtime.io.images import read_image
from impasto.runtime.io.masks import decode_mask, label_maps
from impasto.runtime.pipelines.photoreal import WCTStylizer

#: Index value of each DPST label colour (RGB).
VALUES = {(0, 0, 0): 0, (255, 255, 255): 1, (0, 255, 0): 2}


def _impasto(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "IMPASTO_FFMPEG": "none"})


def _index_of(colour_mask: np.ndarray) -> np.ndarray:
    """The DPST colour mask as label values (uint8 HxW)."""
    decoded = decode_mask(colour_mask)
    values = np.array([VALUES[tuple(int(v) for v in c)] for c in decoded.colors], np.uint8)
    return values[decoded.labels]


@pytest.fixture(scope="module")
def dpst(shared, tmp_path_factory) -> dict[str, Path]:
    """DPST pair 1 at 160 px wide: photos, their colour masks, and index masks made from them (8 and 16 bits)."""
    src = shared / "data" / "photoreal" / "dpst"
    d = tmp_path_factory.mktemp("dpst1")
    paths = {}
    for role, photo, seg in (("content", "content/in1.jpg", "segmentation/in1.png"),
                             ("style", "style/tar1.jpg", "segmentation/tar1.png")):
        image = read_image(src / photo)
        h, w = round(image.shape[0] * 160 / image.shape[1]), 160
        colour = cv2.resize(read_image(src / seg), (w, h), interpolation=cv2.INTER_NEAREST)
        index = _index_of(colour)
        files = {role: cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)[..., ::-1], f"{role}_colour":
                 colour[..., ::-1], f"{role}_index8": index, f"{role}_index16": index.astype(np.uint16) * 1000}
        for name, pixels in files.items():
            paths[name] = d / f"{name}.png"
            cv2.imwrite(str(paths[name]), np.ascontiguousarray(pixels))
    assert cv2.imread(str(paths["content_index16"]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    return paths


def _photoreal(dpst: dict[str, Path], out: Path, *masks: Path) -> subprocess.CompletedProcess:
    pair = ["--content-mask", masks[0], "--style-mask", masks[1]] if masks else []
    return _impasto("photoreal", dpst["content"], "--style-image", dpst["style"], "-o", out, *pair, "--json",
                    cwd=out.parent)


def test_index_masks_8_and_16_bit_label_the_regions_like_the_colour_masks(dpst, tmp_path):
    runs = {}
    for kind in ("colour", "index8", "index16", None):
        masks = (dpst[f"content_{kind}"], dpst[f"style_{kind}"]) if kind else ()
        res = _photoreal(dpst, tmp_path / f"{kind}.png", *masks)
        assert res.returncode == 0 and res.stderr == "", res.stderr
        runs[kind] = (json.loads(res.stdout), read_image(tmp_path / f"{kind}.png").astype(int))
    for kind, scale in (("index8", 1), ("index16", 1000)):
        labels = runs[kind][0]["labels"]
        assert labels["kind"] == "index" and labels["count"] == 3 == labels["content_labels"] == labels["style_labels"]
        assert [lab["value"] for lab in labels["labels"]] == [0, scale, 2 * scale] and labels["global_fallback"] == []
        assert runs[kind][0]["warnings"] == []
        assert np.abs(runs[kind][1] - runs["colour"][1]).mean() < 2  # the same regions as the colour masks
        assert np.abs(runs[kind][1] - runs[None][1]).mean() > 5  # and not the unmasked result
    assert runs["colour"][0]["labels"]["kind"] == "colour" and runs["colour"][0]["labels"]["count"] == 3


def test_one_label_against_several_is_a_warning_in_the_output_and_the_json(dpst, tmp_path):
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.zeros(read_image(dpst["content"]).shape[:2], np.uint8))
    res = _photoreal(dpst, tmp_path / "out.png", flat, dpst["style_index8"])
    assert res.returncode == 0, res.stderr
    warning = "content mask yields 1 label while style mask yields 3"
    assert res.stderr.startswith(f"impasto: WARNING: {warning}") and len(res.stderr.strip().splitlines()) == 1
    report = json.loads(res.stdout)
    assert report["labels"]["count"] == 1 and report["warnings"][0].startswith(warning)


def test_masks_of_two_kinds_are_one_line_exit_2_nothing_written(dpst, tmp_path):
    res = _photoreal(dpst, tmp_path / "out.png", dpst["content_index8"], dpst["style_colour"])
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0] == ("impasto: error: masks: expected two of one kind, got a label-index content mask and a "
                        "colour-coded style mask (label-index masks have one channel, colour-coded ones three)")
    assert not (tmp_path / "out.png").exists()


def test_an_index_mask_with_more_labels_than_the_graph_takes_is_refused(dpst, tmp_path):
    h, w = read_image(dpst["content"]).shape[:2]
    stripes = tmp_path / "stripes.png"
    cv2.imwrite(str(stripes), (np.arange(w)[None] * 20 // w).repeat(h, 0).astype(np.uint8))  # values 0..19
    res = _photoreal(dpst, tmp_path / "out.png", stripes, dpst["style_index8"])
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "content mask: expected at most 16 labels, got 20 distinct values in a label-index mask" in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_the_api_takes_integer_arrays_as_index_masks():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    style = np.concatenate([np.full((32, 96, 3), (230, 40, 30), np.uint8), np.full((32, 96, 3), (20, 60, 220),
                                                                                    np.uint8)])
    cm = np.zeros((48, 64), np.uint16)
    cm[:, 32:] = 7
    sm = np.zeros((64, 96, 1), np.int64)
    sm[32:] = 7
    with WCTStylizer.load(method="photowct", backend="ort-cpu") as model:
        masked = model.run(content, style, content_mask=cm, style_mask=sm)
        plain = model(content, style)
    assert masked["labels"]["kind"] == "index" and [lab["value"] for lab in masked["labels"]["labels"]] == [0, 7]
    left, right = masked["image"][:, :24].astype(int).mean((0, 1)), masked["image"][:, 40:].astype(int).mean((0, 1))
    assert left[0] > left[2] and right[2] > right[0]  # each half took its own region's colours
    assert np.abs(masked["image"].astype(int) - plain.astype(int)).mean() > 5


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1),
       st.sampled_from([np.uint8, np.uint16, np.int64, np.bool_]))
def test_index_pairs_label_every_pixel_by_value_or_refuse(h, w, n_content, n_style, seed, dtype):
    rng = np.random.default_rng(seed)
    top = 2 if dtype == np.bool_ else 300 if dtype != np.uint8 else 255
    content = rng.choice(rng.integers(0, top, n_content), (h, w)).astype(dtype)
    style = rng.choice(rng.integers(0, top, n_style), (w, h)).astype(dtype)
    try:
        c, s, info = label_maps(content, style, max_labels=16)
    except ImageError as exc:
        assert len(np.unique(content)) > 16 and "expected at most 16 labels" in str(exc)
        return
    values = np.array([lab["value"] for lab in info["labels"]])
    assert info["kind"] == "index" and info["count"] == len(values) == len(np.unique(content)) <= 16
    assert np.array_equal(values[c], content.astype(int)) and info["style_labels"] == len(np.unique(style))
    matched = s >= 0
    assert np.array_equal(values[s[matched]], style[matched].astype(int))
    assert not np.isin(style[~matched].astype(int), values).any()
    assert len(info["warnings"]) == ((info["count"] == 1) != (info["style_labels"] == 1))
