"""The stability term: its value on networks whose behaviour is known, its motion, its gradients."""

from __future__ import annotations

import math

import pytest
import torch

from impasto.training.stability import (
    StabilityConfig,
    fourier_shift_images,
    random_shifts,
    shift_images,
    stability_loss,
)

CFG = StabilityConfig(max_shift=3, noise=0.05, margin=6)
SUB = StabilityConfig(max_shift=3, noise=0.05, margin=6, subpixel=True)


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


def test_shifts_are_whole_pixels_in_range_and_exact():
    shifts = random_shifts(500, CFG, torch.Generator().manual_seed(0))
    assert shifts.dtype == torch.int64 and shifts.abs().max() == 3
    assert set(shifts.flatten().tolist()) == set(range(-3, 4))
    x = torch.rand(2, 3, 20, 30)
    moved = shift_images(x, torch.tensor([[2, -1], [0, 3]]))
    assert torch.equal(moved[0, :, 2:, :-1], x[0, :, :-2, 1:])  # down 2, left 1: no interpolation
    assert torch.equal(moved[1, :, :, 3:], x[1, :, :, :-3])
    assert torch.equal(moved[0, :, :2, 5], x[0, :, :1, 6].expand(-1, 2))  # the top edge row replicated


def test_a_sharp_but_equivariant_network_is_not_penalised():
    """Fine texture that moves with the scene (here: the input's own pixel noise, amplified 1x) costs nothing extra."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 48, 64, generator=g)  # white noise: the sharpest possible content
    loss = stability_loss(lambda t: t, x, x, CFG, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, rel=0.1)


def test_a_stride_two_network_that_aliases_is_penalised():
    """Subsampling then nearest upsampling is not shift-equivariant: odd shifts move its blocks."""
    x = _smooth_images()

    def blocky(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(t[..., ::4, ::4], scale_factor=4, mode="nearest")

    g = torch.Generator().manual_seed(0)
    hard = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(5))
    assert stability_loss(blocky, hard, blocky(hard), CFG, g).item() > 20
    assert stability_loss(lambda t: t, x, x, CFG, torch.Generator().manual_seed(0)).item() < 1.2


@pytest.mark.parametrize("cfg", [CFG, SUB], ids=["whole_pixels", "subpixel"])
def test_gradients_reach_the_network(cfg):
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    x = _smooth_images()
    loss = stability_loss(net, x, net(x), cfg, torch.Generator().manual_seed(0))
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
    with pytest.raises(ValueError, match="margin >= max_shift"):
        StabilityConfig(max_shift=9, margin=8)


def test_subpixel_shifts_are_real_numbers_in_range():
    shifts = random_shifts(2000, SUB, torch.Generator().manual_seed(0))
    assert shifts.dtype == torch.float64 and shifts.abs().max() <= 3
    assert shifts.abs().max() > 2.9 and (shifts != shifts.round()).float().mean() > 0.99


def test_fourier_shift_by_whole_pixels_is_the_exact_shift_away_from_the_edges():
    x = torch.rand(2, 3, 20, 30, generator=torch.Generator().manual_seed(2))
    shifts = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    moved = fourier_shift_images(x, shifts)
    exact = shift_images(x, shifts.long())
    torch.testing.assert_close(moved[..., 3:-3, 3:-3], exact[..., 3:-3, 3:-3], atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[0, :, :2, 5], x[0, :, :2, 6].flip(-1))  # mirrored, not replicated, edge
    torch.testing.assert_close(fourier_shift_images(x, torch.zeros(2, 2)), x, atol=1e-5, rtol=0)


def test_fourier_half_pixel_shift_interpolates_smooth_images_and_keeps_fine_texture():
    """On smooth content it agrees with linear interpolation; on white noise it keeps the power bilinear loses."""
    smooth = _smooth_images(1)
    half = fourier_shift_images(smooth, torch.tensor([[0.5, 0.0]]))
    linear = (smooth[..., :-1, :] + smooth[..., 1:, :]) / 2  # pixel i of a shift by 0.5 sits between i - 1 and i
    assert (half[..., 1:, :] - linear)[..., 6:-6, 6:-6].abs().max() < 0.02
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    inner = (..., slice(8, -8), slice(8, -8))
    moved = fourier_shift_images(noise, torch.tensor([[0.5, 0.5]]))
    bilinear = (noise[..., :-1, :-1] + noise[..., 1:, :-1] + noise[..., :-1, 1:] + noise[..., 1:, 1:]) / 4
    assert moved[inner].var() > 0.8 * noise[inner].var()
    assert bilinear[inner].var() < 0.3 * noise[inner].var()


def test_fourier_shift_refuses_shifts_of_the_wrong_shape_and_keeps_the_dtype():
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"expected shifts of shape \(2, 2\), got \(3, 2\)"):
        fourier_shift_images(x, torch.zeros(3, 2))
    assert fourier_shift_images(x.double(), torch.zeros(2, 2)).dtype == torch.float64
    assert fourier_shift_images(x.bfloat16(), torch.zeros(2, 2)).dtype == torch.bfloat16


def test_subpixel_term_scores_identity_one_and_a_fixed_texture_high():
    x = _smooth_images()
    identity = stability_loss(lambda t: t, x, x, SUB, torch.Generator().manual_seed(0))
    assert identity.item() == pytest.approx(1.0, rel=0.1)
    pattern = torch.sin(torch.arange(64.0) * 1.3).expand(2, 3, 48, 64)

    def fixed_texture(t: torch.Tensor) -> torch.Tensor:
        return t + pattern

    assert stability_loss(fixed_texture, x, fixed_texture(x), SUB, torch.Generator().manual_seed(0)).item() > 20

