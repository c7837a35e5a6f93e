"""Measuring flicker: a clip's frames, the warping error of whole sequences, and a bounded-memory meter.

The metric itself is :func:`impasto.runtime.stream.temporal.warping_error` (mean
``|O_t - warp(O_{t-1})|`` over pixels whose content flow passes the forward-backward check);
this module only feeds it: :func:`read_clip` loads a video file or a folder of frames,
:class:`ClipScorer` scores several output sequences of one clip (the content flow computed
once per output size), and :class:`WarpingErrorMeter` scores a live stream pair by pair,
holding only the previous pair (``impasto webcam --json``). :func:`fine_detail` says how
much fine texture a sequence has, which the warping error grows with even where that
texture moves exactly with the scene (sub-pixel motion: the flow's errors and the
interpolation of the warp): compare flicker between outputs of similar detail.

Example:
    >>> frames = read_clip("clip.mp4", max_side=480)
    >>> scorer = ClipScorer(frames)
    >>> scorer.score(frames), scorer.score(stylised_frames)    # the input's own error, then the output's

Convention:
    Frames are ``HxWx3`` uint8 RGB. Warping errors are in 8-bit levels (0-255), averaged
    over channels and trusted pixels, then over consecutive pairs; ``nan`` when no pixel of
    any pair is trusted. Output sequences of another size than the clip are scored along
    the clip's frames resized to their size (area interpolation).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from impasto.errors import UserError
from impasto.runtime.io.images import IMAGE_SUFFIXES, fit_max_size, read_image
from impasto.runtime.io.video import VideoReader, resize_frame
from impasto.runtime.stream.temporal import Motion, content_motion, sequence_warping_error, warping_error

#: Gaussian sigma (pixels) of :func:`fine_detail`'s low-pass.
DETAIL_SIGMA_PX = 1.0


def fine_detail(frames: Sequence[np.ndarray]) -> float:
    """Mean ``|F - GaussianBlur(F, sigma=1 px)|`` over pixels, channels and frames, in 8-bit levels.

    The energy of the finest texture (what a blur of about a pixel removes). Sharpening a
    clip multiplies its warping error although every pixel still moves with the scene (an
    unsharp mask of amount 3 on the 240-frame 640x360 pan of ``tools/make_test_clips.py``,
    run at 480x270: detail x3.2, warping error x2.6), so the warping error is only
    comparable between outputs of similar detail.

    Raises:
        UserError: for no frames.
    """
    if not frames:
        raise UserError("fine_detail: expected one or more frames, got none")
    import cv2

    return float(np.mean([np.abs(f.astype(np.float32) - cv2.GaussianBlur(f, (0, 0), DETAIL_SIGMA_PX)
                                 .astype(np.float32)).mean() for f in frames]))


def clip_frame_files(folder: Path, what: str = "clip") -> list[Path]:
    """The image files directly in ``folder``, sorted by name; a one-line error when fewer than two."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise UserError(f"{what} {str(folder)!r}: expected a folder with two or more frames "
                        f"({', '.join(sorted(IMAGE_SUFFIXES))}), got {len(files)}")
    return files


def read_clip(clip: str | os.PathLike, *, max_frames: int | None = None, max_side: int | None = None,
              what: str = "clip") -> list[np.ndarray]:
    """Up to ``max_frames`` consecutive frames of a video file or a folder of frames (sorted by name).

    Args:
        clip: a video file OpenCV/FFmpeg reads, or a folder of frame images.
        max_frames: keep the first N frames (None: all).
        max_side: downscale so the longest side is at most this (None: as stored).
        what: the flag or name used in error messages.

    Raises:
        UserError: a missing path, an empty folder, fewer than two frames, frames of different sizes.
        VideoError: a file that is not a readable video.
    """
    path = Path(clip)
    if not path.exists():
        raise UserError(f"{what} {str(path)!r}: expected a video file or a folder of frames, got no such path")
    if path.is_dir():
        frames = [read_image(p) for p in clip_frame_files(path, what)[:max_frames]]
    else:
        with VideoReader(path) as reader:
            frames = []
            while (max_frames is None or len(frames) < max_frames) and (frame := reader.read()) is not None:
                frames.append(frame)
    if len(frames) < 2:
        raise UserError(f"{what} {str(path)!r}: expected two or more frames, got {len(frames)}")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise UserError(f"{what} {str(path)!r}: expected frames of one size, got {sorted(shapes)}")
    return [fit_max_size(f, max_side) for f in frames]


class ClipScorer:
    """Warping errors of output sequences of one clip, the content flow computed once per size.

    Args:
        contents: the clip's frames (what the outputs were made from), two or more.
        flow: the metric's flow method (default Farneback at full resolution, as
            :func:`~impasto.runtime.stream.temporal.warping_error`).
    """

    def __init__(self, contents: Sequence[np.ndarray], *, flow: str = "farneback") -> None:
        if len(contents) < 2:
            raise UserError(f"warping_error: expected two or more content frames, got {len(contents)}")
        self.contents = list(contents)
        self.flow = flow
        self._by_size: dict[tuple[int, int], tuple[list[np.ndarray], list[Motion]]] = {}

    def contents_at(self, width: int, height: int) -> tuple[list[np.ndarray], list[Motion]]:
        """The clip's frames at ``width x height`` and the motions between consecutive ones (cached)."""
        if (width, height) not in self._by_size:
            frames = [resize_frame(f, (width, height)) for f in self.contents]
            motions = [content_motion(frames[i - 1], frames[i], flow=self.flow) for i in range(1, len(frames))]
            self._by_size[(width, height)] = (frames, motions)
        return self._by_size[(width, height)]

    def score(self, outputs: Sequence[np.ndarray]) -> float:
        """Mean warping error (0-255) of ``outputs`` along the clip's flow; the first ``min(len)`` frames of each."""
        n = min(len(outputs), len(self.contents))
        if n < 2:
            raise UserError(f"warping_error: expected two or more output frames, got {len(outputs)}")
        h, w = outputs[0].shape[:2]
        frames, motions = self.contents_at(w, h)
        return sequence_warping_error(frames[:n], list(outputs[:n]), flow=self.flow, motions=motions[:n - 1])


class WarpingErrorMeter:
    """The warping error of a stream, pair by pair, in bounded memory (the previous pair only).

    Call :meth:`add` with each shown content frame and the frame shown for it; :attr:`mean`
    is the mean over the pairs scored so far. Pairs whose sizes differ (a resized stream)
    restart the measure from the new frame; pairs with no trusted pixel are skipped.

    Args:
        every: score one pair in ``every`` (1: all); the others only move the window on,
            which bounds the cost on a live stream.
        flow: the metric's flow method (as :class:`ClipScorer`).
    """

    def __init__(self, *, every: int = 1, flow: str = "farneback") -> None:
        if not (isinstance(every, int) and every >= 1):
            raise UserError(f"every: expected a positive integer, got {every!r}")
        self.every = every
        self.flow = flow
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._seen = 0
        self._total = 0.0
        #: Pairs scored (with at least one trusted pixel).
        self.pairs = 0

    def add(self, content: np.ndarray, shown: np.ndarray) -> float | None:
        """Score the pair (previous frame, this frame) when it is due; returns its error, or None."""
        prev, self._prev = self._prev, (content, shown)
        if prev is None or prev[0].shape != content.shape or prev[1].shape != shown.shape:
            return None
        self._seen += 1
        if (self._seen - 1) % self.every:
            return None
        if content.shape != shown.shape:  # a shown frame of another size than its content: compare at its size
            h, w = shown.shape[:2]
            prev_content, content = resize_frame(prev[0], (w, h)), resize_frame(content, (w, h))
        else:
            prev_content = prev[0]
        err = warping_error(prev_content, content, prev[1], shown, flow=self.flow)
        if math.isnan(err):
            return None
        self._total += err
        self.pairs += 1
        return err

    @property
    def mean(self) -> float | None:
        """Mean warping error (0-255) over the pairs scored, None before the first."""
        return self._total / self.pairs if self.pairs else None
