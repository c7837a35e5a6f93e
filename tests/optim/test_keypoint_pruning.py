"""Keypoint pruning before a TPS warp: crowded pairs, affine outliers and folds are dropped, good pairs kept."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.optim.keypoint_pruning import PruneConfig, affine_residuals, folded_fraction, prune_keypoints

ANCHORS = np.array([[-1, -1], [0, -1], [1, -1], [-1, 0], [1, 0], [-1, 1], [0, 1], [1, 1]]) * 0.98


def _smooth_pairs(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-spread content points and a gentle non-affine deformation of them."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(-0.6, 0.6, 4)
    grid = np.array([(x, y) for x in xs for y in xs])
    pc = grid[rng.choice(len(grid), n, replace=False)] + rng.uniform(-0.03, 0.03, (n, 2))
    ps = pc @ np.array([[1.05, 0.05], [-0.04, 0.95]]) + 0.05 + 0.06 * np.sin(2 * pc[:, ::-1])
    return pc, ps


def test_good_pairs_are_all_kept():
    pc, ps = _smooth_pairs()
    out = prune_keypoints(pc, ps, anchors=ANCHORS)
    assert out["keep"] == list(range(len(pc))) and out["dropped"] == []
    assert out["folded_before"] == 0 and out["folded_after"] == 0


def test_crowded_pair_with_the_lower_score_is_dropped():
    pc, ps = _smooth_pairs()
    pc = np.concatenate([pc, pc[:1] + 0.02])
    ps = np.concatenate([ps, ps[:1] + [0.5, 0.0]])  # nearly the same content point, far-off guide point
    scores = np.linspace(1.0, 0.5, len(pc))
    out = prune_keypoints(pc, ps, scores, anchors=ANCHORS)
    assert {d["index"]: d["reason"] for d in out["dropped"]} == {len(pc) - 1: "crowded"}


def test_a_pair_on_the_frame_is_dropped():
    pc, ps = _smooth_pairs()
    pc = np.concatenate([pc, [[-0.99, -0.99]]])
    ps = np.concatenate([ps, [[0.99, -0.99]]])  # frame corner matched to another frame corner
    out = prune_keypoints(pc, ps, anchors=ANCHORS)
    assert out["dropped"] == [{"index": len(pc) - 1, "reason": "border"}]


def test_an_affine_outlier_is_dropped_and_its_residual_reported():
    pc, ps = _smooth_pairs()
    ps = ps.copy()
    ps[3] += [0.6, 0.5]
    out = prune_keypoints(pc, ps, anchors=ANCHORS)
    reasons = {d["index"]: d for d in out["dropped"]}
    assert reasons[3]["reason"] == "outlier" and reasons[3]["residual"] > reasons[3]["limit"]
    assert 3 not in out["keep"] and len(out["keep"]) >= len(pc) - 2


def test_crossing_pairs_fold_and_one_of_them_is_dropped():
    pc = np.array([[-0.3, 0.0], [0.3, 0.0], [0.0, -0.5], [0.0, 0.5]])
    ps = np.array([[0.3, 0.0], [-0.3, 0.0], [0.0, -0.5], [0.0, 0.5]])  # the first two swap sides
    assert folded_fraction(pc, ps, ANCHORS, 32, 1e-3) > 0
    assert folded_fraction(pc, pc, ANCHORS, 32, 1e-3) == 0
    out = prune_keypoints(pc, ps, np.array([1.0, 0.9, 0.8, 0.7]), anchors=ANCHORS,
                          cfg=PruneConfig(outlier_floor=10.0, min_keep=1))
    assert out["folded_before"] > 0 and out["folded_after"] == 0
    folds = [d["index"] for d in out["dropped"] if d["reason"] == "fold"]
    assert folds[0] == 1  # of the swapped pair, the one with the lower score goes first
    assert not {0, 1} <= set(out["keep"]) and len(out["keep"]) >= 1


def test_min_keep_is_respected():
    pc = np.array([[-0.3, 0.0], [0.3, 0.0], [-0.29, 0.01]])
    ps = np.array([[0.3, 0.0], [-0.3, 0.0], [0.5, 0.5]])
    out = prune_keypoints(pc, ps, anchors=ANCHORS, cfg=PruneConfig(min_keep=3))
    assert out["keep"] == [0, 1, 2] and out["dropped"] == []


def test_affine_residuals_are_zero_for_an_affine_map():
    pc, _ = _smooth_pairs()
    ps = pc @ np.array([[0.9, 0.2], [-0.1, 1.1]]) + [0.1, -0.2]
    np.testing.assert_allclose(affine_residuals(pc, ps), 0, atol=1e-12)


@pytest.mark.parametrize("pc,ps,scores,match", [
    (np.zeros((3, 2)), np.zeros((3, 3)), None, r"guide points as Kx2, got \(3, 3\)"),
    (np.zeros((3, 2)), np.zeros((4, 2)), None, "expected as many guide points as content points"),
    (np.zeros((3, 2)), np.zeros((3, 2)), np.zeros(2), "expected 3 scores"),
])
def test_bad_inputs_are_user_errors(pc, ps, scores, match):
    with pytest.raises(UserError, match=match):
        prune_keypoints(pc, ps, scores)


def test_bad_config_is_a_user_error():
    with pytest.raises(UserError, match="grid >= 4"):
        PruneConfig(grid=2)
