"""Optical flow, warping, occlusion masks, the temporal stabiliser and the warping-error metric."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from impasto.errors import UserError
from impasto.runtime.stream.temporal import (
    FlowEstimator,
    StabilizerConfig,
    TemporalStabilizer,
    consistency_mask,
    content_motion,
    sequence_warping_error,
    to_gray,
    warp,
    warping_error,
)


def moving_pattern(n: int, w: int = 96, h: int = 64, step: int = 2, seed: int = 0) -> list[np.ndarray]:
    """A smooth random texture sliding left by ``step`` pixels per frame (the camera pans right)."""
    rng = np.random.default_rng(seed)
    tex = (rng.random((h, w + n * step, 3)) * 255).astype(np.uint8)
    tex = cv2.GaussianBlur(tex, (0, 0), 1.5)
    return [np.ascontiguousarray(tex[:, i * step:i * step + w]) for i in range(n)]


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_recovers_a_translation(method):
    a, b = moving_pattern(2, step=3)
    backward = FlowEstimator(method, max_side=None)(to_gray(b), to_gray(a))  # b[x] ~ a[x + (3, 0)]
    inner = backward[8:-8, 8:-20]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.3)


def test_downscaled_flow_is_rescaled_to_full_resolution():
    a, b = moving_pattern(2, w=320, h=200, step=4)
    flow = FlowEstimator("dis", max_side=160)(to_gray(b), to_gray(a))
    assert flow.shape == (200, 320, 2)
    assert np.median(flow[20:-20, 20:-40, 0]) == pytest.approx(4.0, abs=0.6)


def test_warp_lines_the_previous_frame_up_with_the_current_one():
    a, b = moving_pattern(2, step=2)
    flow = np.zeros(a.shape[:2] + (2,), np.float32)
    flow[..., 0] = 2.0
    warped = warp(a, flow)
    assert np.array_equal(warped[:, :-4], b[:, :-4])


def test_consistency_mask_flags_pixels_that_come_from_outside_the_frame():
    h, w = 40, 60
    backward = np.zeros((h, w, 2), np.float32)
    backward[..., 0] = 5.0   # current x came from previous x + 5: the right 5 columns have no source
    forward = -backward
    mask = consistency_mask(backward, forward)
    assert mask[:, :50].all() and not mask[:, -4:].any()
    # a forward flow that disagrees (occlusion) fails the round trip
    assert not consistency_mask(backward, np.zeros_like(forward))[:, :50].any()


def test_stabilisation_reduces_warping_error_on_a_moving_pattern(tiny_model):
    from impasto.runtime import Stylizer

    frames = moving_pattern(12)
    with Stylizer.load(str(tiny_model), backend="ort-cpu") as stylizer:
        stylised = [stylizer(f) for f in frames]  # an untrained net flickers a lot under a 2-pixel pan
    motions = [content_motion(frames[i - 1], frames[i]) for i in range(1, len(frames))]
    off = sequence_warping_error(frames, stylised, motions=motions)
    errors, deviations = {}, {}
    for weight in (0.5, 0.8, 1.0):
        stab = TemporalStabilizer(StabilizerConfig(weight=weight))
        outputs = [stab(c, s) for c, s in zip(frames, stylised)]
        errors[weight] = sequence_warping_error(frames, outputs, motions=motions)
        deviations[weight] = np.mean([np.abs(o.astype(int) - s).mean() for o, s in zip(outputs, stylised)])
        assert stab.coverage > 0.8  # most pixels were trusted and blended
    assert off > 5
    assert errors[0.5] < 0.8 * off and errors[0.8] < errors[0.5] and errors[1.0] < errors[0.8]
    # the weight trades stability for faithfulness to the per-frame stylisation
    assert deviations[0.5] < deviations[0.8] < deviations[1.0]


def test_weight_zero_passes_frames_through_and_a_scene_cut_takes_the_new_frame():
    frames = moving_pattern(3)
    off = TemporalStabilizer(StabilizerConfig(weight=0.0))
    assert all(off(f, f) is f for f in frames)
    stab = TemporalStabilizer(StabilizerConfig(weight=0.9))
    stab(frames[0], frames[0])
    cut_content = moving_pattern(1, seed=7)[0]  # an unrelated frame: nothing is trusted
    new = np.full_like(cut_content, 200)
    out = stab(cut_content, new)
    assert stab.coverage < 0.3
    assert (out == new).mean() > 0.7


def test_first_frame_and_size_change_reset_the_state():
    stab = TemporalStabilizer(StabilizerConfig(weight=0.7))
    a = moving_pattern(1)[0]
    assert np.array_equal(stab(a, a), a)
    b = moving_pattern(1, w=64, h=48)[0]
    assert np.array_equal(stab(b, b), b) and stab.coverage == 0.0


def test_warping_error_is_zero_for_a_static_scene_and_validates_shapes():
    a = moving_pattern(1)[0]
    assert warping_error(a, a, a, a) == pytest.approx(0.0, abs=0.01)
    noisy = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    assert warping_error(a, a, a, noisy) == pytest.approx(np.abs(noisy.astype(int) - a).mean(), rel=1e-3)
    with pytest.raises(UserError, match="four frames of one shape"):
        warping_error(a, a, a, a[:10])
    with pytest.raises(UserError, match="two or more content frames"):
        sequence_warping_error([a], [a])
    flat = np.zeros((8, 8, 3), np.uint8)
    assert math.isfinite(warping_error(flat, flat, flat, flat))


@pytest.mark.parametrize("kwargs, message", [({"weight": 1.5}, "stabilize"), ({"weight": -0.1}, "stabilize"),
                                             ({"flow": "raft"}, "flow"), ({"flow_max_side": 4}, "flow_max_side")])
def test_stabilizer_config_rejects_bad_values(kwargs, message):
    with pytest.raises(UserError, match=message):
        StabilizerConfig(**kwargs)


def _mean_gradient(gray: np.ndarray) -> float:
    gy, gx = np.gradient(gray.astype(np.float32))
    return float(np.hypot(gx, gy).mean())


def test_reduced_resolution_flow_warps_close_to_full_resolution_flow():
    """Flow at <= 320 px on a 640x400 pair lines the previous frame up nearly as well as full-resolution flow.

    Tolerance: a flow error of ``d`` pixels moves a pixel's value by about ``d * |grad I|``. On this
    texture (random noise blurred by sigma 1.5 px: fine detail, the hard case for a half-size flow) the
    reduced-resolution warp must agree with the full-resolution one, and with the true frame, to within
    the change a 0.3-pixel misalignment makes (measured: ~0.24 px vs each other, ~0.22 px vs the truth;
    full resolution alone: ~0.15 px).
    """
    a, b = moving_pattern(2, w=640, h=400, step=3)
    outputs = {}
    for side in (320, 4096):
        stab = TemporalStabilizer(StabilizerConfig(weight=1.0, flow_max_side=side))
        stab(a, a)
        outputs[side] = stab(b, b).astype(np.float32)  # stylised = content: the warp alone decides the output
        assert stab.coverage > 0.95
    inner = (slice(16, -16), slice(16, -19))  # away from the borders and the 3 columns that enter the frame
    px = _mean_gradient(to_gray(b)[inner])
    cheap_vs_full = np.abs(outputs[320] - outputs[4096])[inner].mean()
    cheap_vs_truth = np.abs(outputs[320] - b)[inner].mean()
    assert cheap_vs_full < 0.3 * px, (cheap_vs_full, px)
    assert cheap_vs_truth < 0.3 * px, (cheap_vs_truth, px)
    assert StabilizerConfig().flow_max_side == 320  # the default takes the cheap path at 480 px and above


def test_stabiliser_estimates_each_flow_once_and_shrinks_each_frame_once(monkeypatch):
    calls = {"estimate": [], "shrink": 0}
    real_estimate, real_shrink = FlowEstimator._estimate, FlowEstimator.shrink

    def counting_estimate(self, src, dst):
        calls["estimate"].append(src.shape)
        return real_estimate(self, src, dst)

    def counting_shrink(self, gray):
        calls["shrink"] += 1
        return real_shrink(self, gray)

    monkeypatch.setattr(FlowEstimator, "_estimate", counting_estimate)
    monkeypatch.setattr(FlowEstimator, "shrink", counting_shrink)
    frames = moving_pattern(5, w=640, h=400, step=2)
    stab = TemporalStabilizer(StabilizerConfig(weight=0.5))
    for f in frames:
        stab(f, f)
    assert len(calls["estimate"]) == 2 * (len(frames) - 1)  # backward + forward per pair, nothing recomputed
    assert set(calls["estimate"]) == {(200, 320)}  # both at the reduced working size
    assert calls["shrink"] == len(frames)  # each frame downscaled once, reused as the next pair's previous frame


def test_set_weight_changes_the_blend_live_and_restarts_after_off():
    rng = np.random.default_rng(1)
    base = cv2.resize((rng.random((12, 16, 3)) * 255).astype(np.uint8), (80, 60), interpolation=cv2.INTER_CUBIC)
    frames = [np.roll(base, i, axis=1) for i in range(4)]
    noisy = [np.clip(f + rng.normal(0, 20, f.shape), 0, 255).astype(np.uint8) for f in frames]
    stab = TemporalStabilizer(StabilizerConfig(weight=0.8))
    stab(frames[0], noisy[0])
    assert not np.array_equal(stab(frames[1], noisy[1]), noisy[1])  # blended
    stab.set_weight(0.0)
    assert stab(frames[2], noisy[2]) is noisy[2] and stab.coverage == 0.0  # off: passed through, state dropped
    stab.set_weight(0.5)
    assert np.array_equal(stab(frames[3], noisy[3]), noisy[3])  # back on: restarts from this frame, no stale blend
    with pytest.raises(UserError, match="stabilize: expected a number in"):
        stab.set_weight(1.5)
