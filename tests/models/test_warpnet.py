"""Learning-to-Warp network: shapes at odd sizes, identity at initialisation, an analytic known-field case."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from impasto.errors import UserError
from impasto.models.warpnet import GATE_SCALE, WarpNet, WarpNetConfig, identity_grid, warp_image


class Unshuffle(nn.Module):
    """A stride-16 'encoder' whose features are a cell's raw pixels (centred): every cell is distinctive."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(x - 0.5, 16)


def small_encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=4, padding=1), nn.ReLU())


def test_config_rejects_bad_sizes():
    with pytest.raises(UserError, match="multiple of 16"):
        WarpNetConfig(size=100)
    with pytest.raises(UserError, match="steps >= 1"):
        WarpNetConfig(steps=0)


@pytest.mark.parametrize("content_hw, guide_hw", [((37, 53), (64, 48)), ((64, 64), (17, 91))])
def test_shapes_at_odd_sizes(content_hw, guide_hw):
    net = WarpNet(WarpNetConfig(size=64, hidden=8), small_encoder()).eval()
    with torch.no_grad():
        field, warped = net(torch.rand(1, 3, *content_hw), torch.rand(1, 3, *guide_hw))
        coarse = net.coarse_fields(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
    assert field.shape == (1, 2, *content_hw) and warped.shape == (1, 3, *content_hw)
    assert len(coarse) == 3 and all(c.shape == (2, 2, 4, 4) for c in coarse)
    assert torch.isfinite(field).all() and torch.isfinite(warped).all()


def test_closed_gate_and_zero_last_conv_is_the_identity():
    net = WarpNet(WarpNetConfig(size=64, hidden=8), small_encoder()).eval()
    with torch.no_grad():
        net.head.gate.zero_()
    content = torch.rand(1, 3, 45, 61)
    with torch.no_grad():
        field, warped = net(content, torch.rand(1, 3, 50, 50))
    assert field.abs().max() == 0
    torch.testing.assert_close(warped, content, atol=1e-5, rtol=0)


def test_warp_image_moves_content_by_a_known_field():
    img = torch.rand(1, 3, 20, 30)
    field = torch.zeros(1, 2, 20, 30)
    field[:, 0] = 2 * 3 / 30  # +3 pixels in x: output(p) = image(p + 3)
    field[:, 1] = -2 * 2 / 20  # -2 pixels in y
    out = warp_image(img, field)
    torch.testing.assert_close(out[..., 2:, :27], img[..., :18, 3:], atol=1e-5, rtol=0)
    assert out[..., :2, :].abs().max() == 0 and out[..., :, 27:].abs().max() == 0  # zeros outside


def test_identity_grid_matches_align_corners_false():
    g = identity_grid(4, 8, torch.zeros(1))
    assert g.shape == (1, 2, 4, 8)
    assert math.isclose(float(g[0, 0, 0, 0]), -1 + 1 / 8) and math.isclose(float(g[0, 1, -1, 0]), 1 - 1 / 4)


def test_known_field_one_cell_shift():
    """Guide = content rolled one cell (16 px) right: the field is -16 px (-2/g) in x, 0 in y."""
    net = WarpNet(WarpNetConfig(size=96, steps=1, hidden=8), Unshuffle()).eval()
    with torch.no_grad():
        net.head.gate.fill_(1.0 / GATE_SCALE)
        net.head.log_scale.fill_(math.log(1e4))
    content = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    guide = torch.roll(content, shifts=16, dims=-1)  # guide(x) = content(x - 16)
    with torch.no_grad():
        coarse = net.coarse_fields(content, guide)[-1]
        field, warped = net(content, guide)
    g = net.config.grid
    inner = coarse[..., 1:]  # the first column wraps around
    torch.testing.assert_close(inner[:, 0], torch.full_like(inner[:, 0], -2 / g), atol=1e-3, rtol=0)
    torch.testing.assert_close(inner[:, 1], torch.zeros_like(inner[:, 1]), atol=1e-3, rtol=0)
    # dense field: exact from the centre of coarse column 1 (x = 24) on, where no wrapped column interpolates in
    torch.testing.assert_close(warped[..., 24:], guide[..., 24:], atol=1e-3, rtol=0)
    assert field.shape == (1, 2, 96, 96)


def test_untrained_network_is_the_local_matcher():
    """At initialisation f = the prior-weighted soft-argmax: a half-cell shift is found to within a few pixels."""
    net = WarpNet(WarpNetConfig(size=96, steps=1, hidden=8), Unshuffle()).eval()
    content = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    guide = torch.roll(content, shifts=16, dims=-1)
    with torch.no_grad():
        coarse = net.coarse_fields(content, guide)[-1]
    assert float(net.head.gate.detach()) * GATE_SCALE == pytest.approx(1.0)
    px = coarse[:, 0, :, 1:] * 96 / 2  # pixels
    assert float((px + 16).abs().mean()) < 4.0


def test_volume_layout_channels_are_content_positions():
    net = WarpNet(WarpNetConfig(size=64, hidden=8), Unshuffle()).eval()
    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        f = net.encoder(content)
        vol = net.volume(f, f)  # guide = content: each guide cell matches its own content cell best
    assert vol.shape == (1, 16, 4, 4)
    best = vol.argmax(dim=1)[0]
    assert torch.equal(best, torch.arange(16).reshape(4, 4))
