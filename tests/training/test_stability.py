"""The stability term: its value on networks whose behaviour is known, its motion, its gradients."""

from __future__ import annotations

import math

import pytest
import torch

from impasto.training.stability import StabilityConfig, apply_motion, random_motion, stability_loss

CFG = StabilityConfig(max_shift=1.5, max_rotation=0.01, max_zoom=0.02, noise=0.05, margin=6)


def _smooth_images(b: int = 2, h: int = 48, w: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    small = torch.rand(b, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def test_identity_passes_the_noise_through_unamplified():
    x = _smooth_images()
    loss = stability_loss(lambda t: t, x, x, CFG, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, rel=0.1)


def test_gain_shows_as_its_square():
    x = _smooth_images()
    loss = stability_loss(lambda t: 3 * t, x, 3 * x, CFG, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(9.0, rel=0.1)


def test_a_network_that_ignores_the_motion_scores_high():
    x = _smooth_images()
    pattern = torch.sin(torch.arange(64.0) * 1.3).expand(2, 3, 48, 64)  # fixed texture, does not move with the input

    def fixed_texture(t: torch.Tensor) -> torch.Tensor:
        return t + pattern

    loss = stability_loss(fixed_texture, x, fixed_texture(x), CFG, torch.Generator().manual_seed(0))
    assert loss.item() > 20


def test_motion_is_small_and_matches_the_config():
    theta = random_motion(256, 40, 80, CFG, torch.Generator().manual_seed(0))
    shift_px = theta[:, 0, 2].abs() * 80 / 2
    assert shift_px.max() <= 1.5 + 1e-6 and shift_px.max() > 1.2  # uniform draws fill the range
    scale = theta[:, 0, 0].square() + (theta[:, 0, 1] * 2).square()  # aspect 2: the rotation term is divided by 2
    assert ((scale.sqrt() - 1).abs() <= 0.021).all()
    # a pure shift of 1 pixel moves an image by exactly 1 pixel
    x = torch.arange(20.0).repeat(1, 1, 10, 1)
    one = torch.tensor([[[1.0, 0.0, 2 / 20], [0.0, 1.0, 0.0]]])
    assert torch.allclose(apply_motion(x, one)[..., 2:-2], x[..., 3:-1], atol=1e-4)


def test_gradients_reach_the_network():
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    x = _smooth_images()
    loss = stability_loss(net, x, net(x), CFG, torch.Generator().manual_seed(0))
    loss.backward()
    assert math.isfinite(loss.item()) and net.weight.grad.abs().sum() > 0


def test_bad_shapes_and_config_are_refused():
    x = _smooth_images()
    with pytest.raises(ValueError, match=r"one \(B, C, H, W\) shape"):
        stability_loss(lambda t: t, x, x[:, :2], CFG)
    with pytest.raises(ValueError, match="larger than 2 x margin"):
        stability_loss(lambda t: t, x[..., :10, :10], x[..., :10, :10], CFG)
    with pytest.raises(ValueError, match="noise > 0"):
        StabilityConfig(noise=0.0)
