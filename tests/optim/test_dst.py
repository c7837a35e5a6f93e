"""Deformable Style Transfer: its loss decreases and the keypoints move towards their targets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from impasto.errors import UserError
from impasto.optim.dst import DSTConfig, apply_displacements, displacement_field, run_dst, to_normalised


def test_loss_decreases_and_points_move_to_targets(photo, vgg_weights):
    from impasto.models.vgg import VGG16Features

    content = cv2.resize(photo, (64, 48), interpolation=cv2.INTER_AREA)
    guide = cv2.resize(photo[:, ::-1], (64, 48), interpolation=cv2.INTER_AREA)
    pc = np.array([[16.0, 12.0], [48.0, 12.0], [16.0, 36.0], [48.0, 36.0]])
    pg = pc + np.array([[6.0, 3.0], [-5.0, 4.0], [4.0, -4.0], [-6.0, -3.0]])
    img, s = run_dst(content, guide, DSTConfig(size=48, iters=25, k=4, lr_points=0.02), keypoints=(pc, pg),
                     vgg=VGG16Features(vgg_weights), progress=False)
    assert img.shape == (36, 48, 3) and img.dtype == np.uint8
    assert s["final_losses"]["total"] < 0.5 * s["initial_losses"]["total"]
    assert s["point_distance_after"] < 0.8 * s["point_distance_before"]
    assert s["final_losses"]["warp"] < s["initial_losses"]["warp"]
    geometry = apply_displacements(content, s)  # the same displacements applied to the photo alone
    assert geometry.shape == content.shape and np.abs(geometry.astype(int) - content.astype(int)).mean() > 1


def test_to_normalised_uses_align_corners_false():
    p = to_normalised(np.array([[0.5, 0.5], [99.5, 49.5]]), 100, 50)
    np.testing.assert_allclose(p[0].numpy(), [[-0.99, -0.98], [0.99, 0.98]], atol=1e-6)


def test_displacement_field_is_zero_without_motion():
    import torch

    src = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.0, 0.5], [0.3, 0.1]]])
    assert displacement_field(src, src.clone(), 16, 0.0).abs().max() < 1e-5


def test_bad_config_is_a_user_error():
    with pytest.raises(UserError, match="k >= 3"):
        DSTConfig(k=2)
    with pytest.raises(UserError, match="warp_weight"):
        DSTConfig(warp_weight=-1.0)


def test_pruning_drops_a_crowded_pair_and_reports_it(photo, vgg_weights):
    from impasto.models.vgg import VGG16Features

    content = cv2.resize(photo, (64, 48), interpolation=cv2.INTER_AREA)
    pc = np.array([[16.0, 12.0], [48.0, 12.0], [16.0, 36.0], [48.0, 36.0], [16.5, 12.5]])
    pg = pc + np.array([[6.0, 3.0], [-5.0, 4.0], [4.0, -4.0], [-6.0, -3.0], [30.0, 20.0]])
    vgg = VGG16Features(vgg_weights)
    _, s = run_dst(content, content, DSTConfig(size=32, iters=2, k=4), keypoints=(pc, pg), vgg=vgg, progress=False)
    assert s["pruning"]["dropped"] == [{"index": 4, "reason": "crowded"}]
    assert len(s["keypoints_content"]) == len(s["displacements"]) == 4
    _, raw = run_dst(content, content, DSTConfig(size=32, iters=2, k=4, prune=False), keypoints=(pc, pg), vgg=vgg,
                     progress=False)
    assert raw["pruning"] is None and len(raw["keypoints_content"]) == 5
