"""``runtime.stream.flicker``: reading clips, scoring sequences, the bounded-memory meter agreeing with both."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from support import load_module

from impasto.errors import UserError
from impasto.runtime.io.images import write_image
from impasto.runtime.io.video import write_video
from impasto.runtime.stream.flicker import ClipScorer, WarpingErrorMeter, fine_detail, read_clip
from impasto.runtime.stream.temporal import sequence_warping_error

ROOT = Path(__file__).resolve().parents[2]
clips = load_module(ROOT / "tools" / "make_test_clips.py", "make_test_clips")


@pytest.fixture(scope="module")
def pan() -> list[np.ndarray]:
    return clips.pan_frames(8, (96, 64))


def flickering(frames: list[np.ndarray], amplitude: float) -> list[np.ndarray]:
    """``frames`` with fresh noise per frame: flicker the flow cannot explain."""
    rng = np.random.default_rng(3)
    return [np.clip(f + rng.normal(0, amplitude, f.shape), 0, 255).astype(np.uint8) for f in frames]


def test_read_clip_from_a_folder_and_a_file_alike(pan, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(pan):
        write_image(folder / f"{i:03d}.png", f)
    write_video(tmp_path / "clip.avi", pan, fps=10)
    from_folder = read_clip(folder, max_frames=5, max_side=48)
    from_file = read_clip(tmp_path / "clip.avi", max_frames=5, max_side=48)
    assert len(from_folder) == len(from_file) == 5 and from_folder[0].shape == from_file[0].shape == (32, 48, 3)
    assert np.abs(from_folder[2].astype(float) - from_file[2]).mean() < 6  # JPEG noise only


@pytest.mark.parametrize("make, expected", [
    (lambda p: p / "missing", "got no such path"),
    (lambda p: p, "got 0"),
])
def test_read_clip_refuses_a_missing_path_or_an_empty_folder(tmp_path, make, expected):
    with pytest.raises(UserError, match=expected):
        read_clip(make(tmp_path), what="--video")


def test_scorer_orders_steady_and_flickering_outputs_and_matches_the_metric(pan):
    scorer = ClipScorer(pan)
    steady, noisy = scorer.score(pan), scorer.score(flickering(pan, 12))
    assert steady < 2 and noisy > 4 * steady
    assert steady == pytest.approx(sequence_warping_error(pan, pan))  # the one metric, not a second one
    half = [f[::2, ::2].copy() for f in pan]  # another size: scored along the clip resized to it
    assert scorer.score(half) < 3


def test_meter_agrees_with_the_sequence_metric_in_bounded_memory(pan):
    outputs = flickering(pan, 8)
    meter = WarpingErrorMeter()
    assert meter.mean is None
    for content, shown in zip(pan, outputs):
        meter.add(content, shown)
    assert meter.pairs == len(pan) - 1
    assert meter.mean == pytest.approx(sequence_warping_error(pan, outputs), rel=1e-6)
    sampled = WarpingErrorMeter(every=3)
    for content, shown in zip(pan, outputs):
        sampled.add(content, shown)
    assert sampled.pairs == math.ceil((len(pan) - 1) / 3)
    with pytest.raises(UserError, match="every: expected a positive integer"):
        WarpingErrorMeter(every=0)


def test_fine_detail_is_zero_for_flat_frames_and_grows_with_sharpening(pan):
    import cv2

    flat = [np.full((32, 48, 3), 128, np.uint8)] * 3
    assert fine_detail(flat) == 0.0

    def sharpen(f: np.ndarray) -> np.ndarray:
        blurred = cv2.GaussianBlur(f, (0, 0), 1.0).astype(np.float32)
        return np.clip(4 * f.astype(np.float32) - 3 * blurred, 0, 255).astype(np.uint8)

    sharp = [sharpen(f) for f in pan]
    assert fine_detail(sharp) > 2 * fine_detail(pan) > 0
    # the same motion, more detail: the warping error grows with it (why eval --video reports both)
    scorer = ClipScorer(pan)
    assert scorer.score(sharp) > 1.5 * scorer.score(pan)
    with pytest.raises(UserError, match="expected one or more frames, got none"):
        fine_detail([])
