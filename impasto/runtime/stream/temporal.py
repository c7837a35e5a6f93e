"""Temporal stability for video: optical flow, warping, occlusion masks, a stabiliser and its metric.

Per-frame stylisation flickers: a small change in the content moves brush strokes
around. :class:`TemporalStabilizer` blends each stylised frame with the previous
*output* warped into the current frame by dense optical flow computed on the *content*
frames, except where the flow is not trustworthy (occlusions, disocclusions, motion
boundaries, pixels that come from outside the frame), which take the new frame.
:func:`warping_error` measures the flicker left (Lai et al. 2018, "Learning Blind Video
Temporal Consistency"; the occlusion test is Sundaram et al. 2010 as used by Ruder et
al. 2016, "Artistic style transfer for videos").

Example:
    >>> stab = TemporalStabilizer(StabilizerConfig(weight=0.6))
    >>> outputs = [stab(content, stylizer(content)) for content in frames]
    >>> sequence_warping_error(frames, outputs)        # lower is steadier

Convention:
    Frames are ``HxWx3`` uint8 RGB. A flow field is ``HxWx2`` float32 ``(dx, dy)`` in
    pixels, defined on the pixels of its *source* frame: ``flow(a, b)`` maps pixel ``x``
    of ``a`` to ``x + flow[x]`` in ``b``. *Backward* flow goes from the current frame to
    the previous one, so ``warp(previous, backward)`` lines the previous frame up with
    the current one (``cv2.remap``). Masks are ``HxW`` bool, True where the backward flow
    is trusted. Warping errors are mean absolute differences in 8-bit levels (0-255),
    averaged over channels and trusted pixels.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from impasto.errors import UserError

#: Optical flow methods from OpenCV's main modules (no contrib needed).
FLOW_METHODS = ("dis", "farneback")
#: Gaussian sigma (pixels) that softens the blend weight towards untrusted pixels.
_MASK_SOFTNESS_PX = 2.0


def _cv2():
    import cv2

    return cv2


@dataclass(frozen=True)
class StabilizerConfig:
    """How strongly and how (by which flow) to stabilise.

    Attributes:
        weight: 0 = off (each frame as stylised), 1 = keep the warped previous output
            wherever the flow is trusted (``tools/eval_temporal.py`` measures what a weight buys).
        flow: ``"dis"`` (fast, default) or ``"farneback"``.
        flow_max_side: compute both flows and the consistency mask on frames downscaled so
            their longest side is at most this (the backward flow and the mask are upsampled
            back for the full-resolution warp and blend). 320 (was 640) costs the stabiliser
            5.2 instead of 13 ms per frame at 480 px and a slightly *lower* warping error on
            ``mountain_2`` (``tools/bench_stabilizer.py``, ``tools/eval_temporal.py``).
    """

    weight: float = 0.0
    flow: str = "dis"
    flow_max_side: int = 320

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, (int, float)) and 0.0 <= self.weight <= 1.0):
            raise UserError(f"stabilize: expected a number in [0, 1], got {self.weight!r}")
        if self.flow not in FLOW_METHODS:
            raise UserError(f"flow: expected one of {list(FLOW_METHODS)}, got {self.flow!r}")
        if not (isinstance(self.flow_max_side, int) and self.flow_max_side >= 16):
            raise UserError(f"flow_max_side: expected an integer >= 16, got {self.flow_max_side!r}")


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """``HxW`` uint8 luma of an RGB frame (what the flow is computed on)."""
    return _cv2().cvtColor(rgb, _cv2().COLOR_RGB2GRAY)


@dataclass(frozen=True)
class Motion:
    """Backward flow and trusted-pixel mask between two consecutive content frames."""

    backward: np.ndarray
    mask: np.ndarray


class FlowEstimator:
    """Dense optical flow between two grayscale frames of the same size.

    Args:
        method: ``"dis"`` (OpenCV's DIS, fast preset) or ``"farneback"``.
        max_side: downscale so the longest side is at most this before estimating
            (``None``: full resolution); the flow is upsampled and rescaled back.
    """

    def __init__(self, method: str = "dis", max_side: int | None = 640) -> None:
        if method not in FLOW_METHODS:
            raise UserError(f"flow: expected one of {list(FLOW_METHODS)}, got {method!r}")
        self.method = method
        self.max_side = max_side
        self._dis = None

    def _estimate(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
        if self.method == "farneback":
            return cv2.calcOpticalFlowFarneback(src, dst, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                                poly_n=5, poly_sigma=1.2, flags=0)
        if self._dis is None:  # DIS objects are stateful: one per estimator (and thread)
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        return self._dis.calc(src, dst, None)

    def _working_size(self, h: int, w: int) -> tuple[int, int] | None:
        scale = 1.0 if self.max_side is None else min(1.0, self.max_side / max(h, w))
        return None if scale >= 1.0 else (max(8, round(w * scale)), max(8, round(h * scale)))

    @staticmethod
    def _check(src: np.ndarray, dst: np.ndarray) -> None:
        if src.shape != dst.shape or src.ndim != 2:
            raise UserError(f"flow: expected two HxW grayscale frames of one size, got {src.shape} and {dst.shape}")

    @staticmethod
    def _upsample(flow: np.ndarray, h: int, w: int) -> np.ndarray:
        cv2 = _cv2()
        sw, sh = flow.shape[1], flow.shape[0]
        up = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        up *= np.array([w / sw, h / sh], np.float32)
        return up

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Flow from ``src`` to ``dst`` (``HxW`` uint8 each): ``src[x] ~ dst[x + flow[x]]``."""
        self._check(src, dst)
        h, w = src.shape
        size = self._working_size(h, w)
        if size is None:
            return self._estimate(src, dst).astype(np.float32, copy=False)
        cv2 = _cv2()
        small = self._estimate(cv2.resize(src, size, interpolation=cv2.INTER_AREA),
                               cv2.resize(dst, size, interpolation=cv2.INTER_AREA))
        return self._upsample(small, h, w).astype(np.float32, copy=False)

    def shrink(self, gray: np.ndarray) -> np.ndarray:
        """``gray`` downscaled to the working resolution (itself if already small enough).

        Callers that see each frame twice (as ``cur``, then as ``prev``) shrink it once and
        pass the result to :meth:`motion_from_small`.
        """
        size = self._working_size(*gray.shape[:2])
        return gray if size is None else _cv2().resize(gray, size, interpolation=_cv2().INTER_AREA)

    def motion(self, prev: np.ndarray, cur: np.ndarray) -> Motion:
        """Backward flow ``cur -> prev`` and its trusted-pixel mask (:func:`consistency_mask`).

        Both flows and the mask are computed at the working resolution, then upsampled.
        """
        self._check(prev, cur)
        return self.motion_from_small(self.shrink(prev), self.shrink(cur), cur.shape)

    def motion_from_small(self, prev_small: np.ndarray, cur_small: np.ndarray, shape: tuple[int, ...]) -> Motion:
        """:meth:`motion` from frames already :meth:`shrink`-ed; ``shape`` is the full ``(H, W)``.

        Each flow (backward, forward) is estimated exactly once; the forward flow only
        feeds the consistency check, the backward flow both the check and the warp.
        """
        self._check(prev_small, cur_small)
        h, w = shape[:2]
        backward = self._estimate(cur_small, prev_small).astype(np.float32, copy=False)
        mask = consistency_mask(backward, self._estimate(prev_small, cur_small).astype(np.float32, copy=False))
        if backward.shape[:2] == (h, w):
            return Motion(backward, mask)
        cv2 = _cv2()
        mask = cv2.resize(mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        return Motion(self._upsample(backward, h, w), mask)


@functools.lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """``HxWx2`` float32 pixel coordinates ``(x, y)``, built once per frame size (read-only)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.ascontiguousarray(np.stack([gx, gy], axis=2))
    grid.flags.writeable = False
    return grid


def _sample_map(flow: np.ndarray) -> np.ndarray:
    """``x + flow[x]`` as one ``HxWx2`` float32 map, the form ``cv2.remap`` takes without a second map."""
    return _pixel_grid(*flow.shape[:2]) + flow


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``x + flow[x]`` (bilinear, edges replicated): ``out[x] = image[x + flow[x]]``.

    With the backward flow (current -> previous), this moves the previous frame onto
    the current one.
    """
    cv2 = _cv2()
    return cv2.remap(image, _sample_map(flow), None, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Pixels of the current frame whose backward flow can be trusted.

    Args:
        backward: flow current -> previous, on the current frame's pixels.
        forward: flow previous -> current, on the previous frame's pixels.

    Returns:
        ``HxW`` bool: False where the forward-backward check fails (occluded or
        disoccluded: ``|b + f(x + b)|^2 > 0.01 (|b|^2 + |f(x + b)|^2) + 0.5``), on motion
        boundaries (``|grad b|^2 > 0.01 |b|^2 + 0.002``), or where ``x + b`` leaves the frame.
    """
    cv2 = _cv2()
    h, w = backward.shape[:2]
    sample_at = _sample_map(backward)
    map_x, map_y = sample_at[..., 0], sample_at[..., 1]
    fwd_at = cv2.remap(forward, sample_at, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bx, by = cv2.split(backward)
    fx, fy = cv2.split(fwd_at)
    b_sq = bx * bx + by * by
    round_trip = (bx + fx) ** 2 + (by + fy) ** 2
    consistent = round_trip <= 0.01 * (b_sq + fx * fx + fy * fy) + 0.5
    grads = np.zeros_like(bx)
    for c in (bx, by):
        gx = cv2.Sobel(c, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)  # central differences
        gy = cv2.Sobel(c, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
        grads += gx * gx + gy * gy
    smooth = grads <= 0.01 * b_sq + 0.002
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return consistent & smooth & inside


class TemporalStabilizer:
    """Blend each stylised frame with the previous output, warped along the content's motion.

    ``out_t = s_t + weight * m * (warp(out_{t-1}) - s_t)`` where ``s_t`` is the stylised frame
    and ``m`` is :func:`consistency_mask` of the content frames' flow, softened (Gaussian,
    2 px) inside the trusted region so no hard seam shows; untrusted pixels keep ``m = 0``,
    so occluded and newly visible regions take the new frame. The blend is recursive (it
    uses the previous *output*), so static regions settle. State resets when the frame size
    changes or on :meth:`reset` (e.g. after a style switch).

    Args:
        config: weight and flow settings; ``weight == 0`` passes frames through untouched.
    """

    def __init__(self, config: StabilizerConfig) -> None:
        self.config = config
        self._flow = FlowEstimator(config.flow, config.flow_max_side)
        self._prev_small: np.ndarray | None = None  # previous content, gray, at the flow's working size
        self._prev_out: np.ndarray | None = None
        #: Fraction of the last frame's pixels that were blended (0 before the second frame).
        self.coverage = 0.0

    def reset(self) -> None:
        self._prev_small = None
        self._prev_out = None
        self.coverage = 0.0

    def set_weight(self, weight: float) -> None:
        """Change the weight between frames (a live key); turning it on or off restarts from the next frame.

        Call it from the thread that calls the stabiliser (the state is not locked).
        """
        config = dataclasses.replace(self.config, weight=weight)  # validates
        if (weight == 0.0) != (self.config.weight == 0.0):  # off keeps no state: what it held is stale
            self.reset()
        self.config = config

    def __call__(self, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The stabilised version of ``stylized`` (the stylisation of ``content``); both ``HxWx3`` uint8 RGB."""
        if content.shape != stylized.shape:
            raise UserError(f"stabilize: expected content and stylised frames of one shape, got {content.shape} "
                            f"and {stylized.shape}")
        if self.config.weight == 0.0:
            return stylized
        small = self._flow.shrink(to_gray(content))
        if self._prev_out is None or self._prev_out.shape != stylized.shape:
            self._prev_small, self._prev_out, self.coverage = small, stylized, 0.0
            return stylized
        cv2 = _cv2()
        motion = self._flow.motion_from_small(self._prev_small, small, stylized.shape)
        self.coverage = float(motion.mask.mean())
        trusted = motion.mask.astype(np.float32)
        # soft inside the trusted region (no hard seams along thin rejected lines), 0 outside it
        alpha = cv2.GaussianBlur(trusted, (0, 0), _MASK_SOFTNESS_PX) * trusted * np.float32(self.config.weight)
        out = cv2.blendLinear(warp(self._prev_out, motion.backward), stylized, alpha, 1.0 - alpha)
        self._prev_small, self._prev_out = small, out
        return out


def content_motion(prev_content: np.ndarray, content: np.ndarray, *, flow: str = "farneback",
                   flow_max_side: int | None = None) -> Motion:
    """The :class:`Motion` from ``prev_content`` to ``content`` (both ``HxWx3`` uint8 RGB)."""
    if prev_content.shape != content.shape:
        raise UserError(f"warping_error: expected content frames of one shape, got {prev_content.shape} "
                        f"and {content.shape}")
    return FlowEstimator(flow, flow_max_side).motion(to_gray(prev_content), to_gray(content))


def warping_error(prev_content: np.ndarray, content: np.ndarray, prev_output: np.ndarray, output: np.ndarray, *,
                  flow: str = "farneback", flow_max_side: int | None = None, motion: Motion | None = None) -> float:
    """Mean ``|O_t - warp(O_{t-1})|`` over trusted pixels, flow from the content frames.

    Args:
        prev_content, content: consecutive content frames ``I_{t-1}``, ``I_t``.
        prev_output, output: their stylisations ``O_{t-1}``, ``O_t`` (same size).
        flow: flow method; the default (Farneback) differs from the stabiliser's default
            (DIS) so the metric does not simply reward following one estimator's errors.
        flow_max_side: see :class:`FlowEstimator` (``None``: full resolution).
        motion: precomputed :func:`content_motion` of the content pair (skips the flow).

    Returns:
        Mean absolute difference in 8-bit levels (0-255); ``nan`` if no pixel is trusted.
    """
    shapes = {prev_content.shape, content.shape, prev_output.shape, output.shape}
    if len(shapes) != 1:
        raise UserError(f"warping_error: expected four frames of one shape, got {sorted(shapes)}")
    if motion is None:
        motion = content_motion(prev_content, content, flow=flow, flow_max_side=flow_max_side)
    if not motion.mask.any():
        return math.nan
    diff = np.abs(output.astype(np.float32) - warp(prev_output, motion.backward).astype(np.float32))
    return float(diff[motion.mask].mean())


def sequence_warping_error(contents: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *,
                           flow: str = "farneback", flow_max_side: int | None = None,
                           motions: Sequence[Motion] | None = None) -> float:
    """Mean :func:`warping_error` over consecutive pairs (pairs with no trusted pixel are skipped).

    Pass ``motions`` (``[content_motion(c[i-1], c[i]) for i in 1..n-1]``) to score several
    output sequences of one content sequence without recomputing the flow.
    """
    if len(contents) != len(outputs) or len(contents) < 2:
        raise UserError(f"warping_error: expected two or more content frames and as many outputs, got "
                        f"{len(contents)} and {len(outputs)}")
    if motions is not None and len(motions) != len(contents) - 1:
        raise UserError(f"warping_error: expected {len(contents) - 1} motions, got {len(motions)}")
    errors = [warping_error(contents[i - 1], contents[i], outputs[i - 1], outputs[i], flow=flow,
                            flow_max_side=flow_max_side, motion=None if motions is None else motions[i - 1])
              for i in range(1, len(contents))]
    finite = [e for e in errors if not math.isnan(e)]
    return float(np.mean(finite)) if finite else math.nan
