"""Warp-network training: self-supervised pairs, a loss that decreases, checkpoints that resume."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from impasto.errors import UserError
from impasto.models.warpnet import WarpNet, WarpNetConfig, warp_image
from impasto.runtime.io.images import write_image
from impasto.training.warp_pairs import WarpSampler, field_at
from impasto.training.warpnet import WarpNetTrainConfig, dense_epe, field_tv, train_warpnet, warp_losses


class Unshuffle(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(F.avg_pool2d(x, 4, 4) - 0.5, 4)


def smooth_photos(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def test_pairs_are_consistent_with_their_fields():
    photos = smooth_photos(3, 64)
    sampler = WarpSampler(photometric=0.0)
    guide, field, valid = sampler.pairs(photos, torch.Generator().manual_seed(0))
    assert guide.shape == photos.shape and field.shape == (3, 2, 64, 64) and valid.shape == (3, 1, 64, 64)
    torch.testing.assert_close(guide, warp_image(photos, field) * valid, atol=1e-5, rtol=0)
    assert 0.5 < float(valid.mean()) <= 1.0 and float(field.abs().mean()) > 0.01
    assert field_at(field, 4).shape == (3, 2, 4, 4)


def test_epe_is_zero_for_the_true_field_and_in_pixels():
    field = torch.zeros(1, 2, 32, 32)
    valid = torch.ones(1, 1, 32, 32)
    coarse = torch.zeros(1, 2, 2, 2)
    coarse[:, 0] = 2 * 3 / 32  # 3 px in x
    assert float(dense_epe(coarse, field, valid)) == pytest.approx(3.0, abs=1e-5)
    assert float(dense_epe(torch.zeros(1, 2, 2, 2), field, valid)) == 0.0


def test_training_loss_decreases_on_a_tiny_run():
    torch.manual_seed(0)
    net = WarpNet(WarpNetConfig(size=64, hidden=16), Unshuffle())
    cfg = WarpNetTrainConfig(data="unused", size=64, hidden=16)
    sampler = WarpSampler()
    photos = smooth_photos(4, 64)
    guide, field, valid = sampler.pairs(photos, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(net.head.parameters(), lr=3e-3)
    totals = []
    for _ in range(30):
        losses = warp_losses(net, photos, guide, field, valid, cfg)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        totals.append(float(losses["total"].detach()))
    assert totals[-1] < 0.8 * totals[0], totals
    assert set(losses) == {"field", "window", "smooth", "total", "epe_px"}
    parts = losses["field"] + losses["window"] + losses["smooth"]
    assert float(losses["total"].detach()) == pytest.approx(float(parts.detach()))


def test_field_tv_is_zero_for_a_constant_field_and_counts_cells():
    assert float(field_tv(torch.full((2, 2, 8, 8), 0.3))) == 0.0
    ramp = torch.zeros(1, 2, 8, 8)
    ramp[:, 0] = torch.arange(8.0) * (2 / 8)  # x shifts one more cell per column
    assert float(field_tv(ramp)) == pytest.approx(0.5)  # 1 cell/cell in x on one of the two components, 0 in y
    steep = ramp * 3
    assert float(field_tv(steep)) == pytest.approx(1.5)


def test_config_rejects_bad_values():
    with pytest.raises(UserError, match="multiple of 16"):
        WarpNetTrainConfig(data="x", size=100)
    with pytest.raises(UserError, match="loss weights"):
        WarpNetTrainConfig(data="x", field_weight=0.0, window_weight=0.0)
    with pytest.raises(UserError, match="smooth=-1"):
        WarpNetTrainConfig(data="x", smooth_weight=-1.0)


def test_train_writes_a_checkpoint_and_resumes(tmp_path, photo, vgg_weights):
    from impasto.models.checkpoint import load_checkpoint

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(5):
        crop = photo[i * 10:i * 10 + 200, i * 15:i * 15 + 260]
        write_image(data / f"p{i}.png", cv2.resize(crop, (80, 64), interpolation=cv2.INTER_AREA))
    out = tmp_path / "wn.pt"
    cfg = WarpNetTrainConfig(data=str(data), iters=2, size=32, hidden=8, batch=1, holdout=1, checkpoint_every=1,
                             preview_every=2)
    s = train_warpnet(cfg, out, progress=False, vgg_weights=vgg_weights)
    assert s["iterations"] == 2 and out.is_file() and (tmp_path / "wn.preview.jpg").is_file()
    ckpt = load_checkpoint(out)
    assert ckpt["method"] == "warpnet" and ckpt["model"]["config"]["size"] == 32
    assert np.isfinite(ckpt["card"]["heldout_epe_px"]) and "identity_epe_px" in ckpt["card"]
    with pytest.raises(UserError, match="exists"):
        train_warpnet(cfg, out, progress=False, vgg_weights=vgg_weights)
    s = train_warpnet(WarpNetTrainConfig(**{**cfg.__dict__, "iters": 3}), out, resume=True, progress=False,
                      vgg_weights=vgg_weights)
    assert s["iterations"] == 3
    with pytest.raises(UserError, match="other settings"):
        train_warpnet(WarpNetTrainConfig(**{**cfg.__dict__, "iters": 4, "lr": 1e-2}), out, resume=True,
                      progress=False, vgg_weights=vgg_weights)
    lines = (tmp_path / "wn.losses.csv").read_text().splitlines()
    assert lines[0].startswith("iteration,field,window,smooth") and len(lines) == 4
    # --init: a new run starting from this head, recorded in the card; another model is refused
    s2 = train_warpnet(WarpNetTrainConfig(**{**cfg.__dict__, "iters": 1}), tmp_path / "wn2.pt", progress=False,
                       vgg_weights=vgg_weights, init=out)
    card = load_checkpoint(s2["checkpoint"])["card"]
    assert card["init_from"]["checkpoint"] == "wn.pt" and card["init_from"]["iterations"] == 3
    with pytest.raises(UserError, match="--init: expected a warpnet checkpoint with this model"):
        train_warpnet(WarpNetTrainConfig(**{**cfg.__dict__, "hidden": 16}), tmp_path / "wn3.pt", progress=False,
                      vgg_weights=vgg_weights, init=out)
