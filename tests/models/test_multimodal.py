"""MT-Net: output sizes at odd sizes, the resampling helpers, luminance, and which subnets each loss trains."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.nn import functional as F  # noqa: E402

from impasto.models.multimodal import (  # noqa: E402
    MIN_SIDE,
    PRESETS,
    ClampedMultimodal,
    MultimodalConfig,
    MultimodalNet,
    double_size,
    half_size,
    level_sizes,
    luminance,
)

TINY = MultimodalConfig(style_width=4, enhance_width=4, refine_width=4, style_residual=1, enhance_residual=1,
                        refine_residual=1)


@pytest.fixture(scope="module")
def net() -> MultimodalNet:
    torch.manual_seed(0)
    return MultimodalNet(TINY).eval()


@pytest.mark.parametrize("hw", [(MIN_SIDE, MIN_SIDE), (33, 50), (101, 147), (64, 64), (18, 129)])
def test_output_sizes_follow_the_convention(net, hw):
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        ys = net(x)
    assert [tuple(y.shape[-2:]) for y in ys] == list(level_sizes(*hw))
    assert all(y.shape[:2] == (2, 3) for y in ys)
    assert tuple(ys[2].shape[-2:]) == hw  # the finest output has the input's exact size


def test_level_sizes_are_ceil_halvings():
    assert level_sizes(1024, 1024) == ((256, 256), (512, 512), (1024, 1024))
    assert level_sizes(101, 147) == ((26, 37), (51, 74), (101, 147))


def test_below_min_side_fails(net):
    with pytest.raises(RuntimeError):
        net(torch.rand(1, 3, MIN_SIDE - 1, 40))


def test_half_size_is_a_box_average_with_edge_rows_averaged_with_themselves():
    x = torch.arange(15.0).view(1, 1, 3, 5)
    got = half_size(x)
    ref = F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)
    assert got.shape == (1, 1, 2, 3)
    assert torch.equal(got, ref)
    assert got[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 5 + 6) / 4)
    assert got[0, 0, 1, 2].item() == pytest.approx(14.0)  # the lone corner pixel


def test_double_size_matches_bilinear_resize_for_even_sides_and_crops_odd_ones():
    y = torch.rand(1, 3, 8, 12)
    like = torch.zeros(1, 3, 16, 24)
    ref = F.interpolate(y, size=(16, 24), mode="bilinear", align_corners=False)
    assert torch.allclose(double_size(y, like), ref, atol=1e-6)
    odd = double_size(y, torch.zeros(1, 3, 15, 23))
    assert odd.shape[-2:] == (15, 23) and torch.equal(odd, double_size(y, like)[..., :15, :23])


def test_luminance_uses_bt601_weights():
    x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(luminance(x), torch.full((1, 1, 2, 2), 0.299))
    gray = torch.full((1, 3, 2, 2), 0.5)
    assert torch.allclose(luminance(gray), torch.full((1, 1, 2, 2), 0.5))


def test_style_subnet_has_rgb_and_luminance_blocks(net):
    assert net.style.rgb.stages[0][1].in_channels == 3
    assert net.style.lum.stages[0][1].in_channels == 1
    # the conv block takes the concatenation of both blocks' features
    assert net.style.conv.res[0].body[0][1].in_channels == 2 * net.style.rgb.out_channels


def _grads(net: MultimodalNet, k: int) -> dict[str, float]:
    net.zero_grad(set_to_none=True)
    ys = net(torch.rand(1, 3, 40, 40))
    ys[k].square().mean().backward()
    out = {}
    for name in ("style", "enhance", "refine"):
        g = [p.grad for p in getattr(net, name).parameters() if p.grad is not None]
        out[name] = float(sum(t.abs().sum() for t in g)) if g else 0.0
    return out


def test_each_loss_trains_its_own_and_earlier_subnets_only():
    torch.manual_seed(1)
    net = MultimodalNet(TINY).train()
    g1, g2, g3 = _grads(net, 0), _grads(net, 1), _grads(net, 2)
    assert g1["style"] > 0 and g1["enhance"] == 0 and g1["refine"] == 0
    assert g2["style"] > 0 and g2["enhance"] > 0 and g2["refine"] == 0
    assert g3["style"] > 0 and g3["enhance"] > 0 and g3["refine"] > 0


def test_clamped_outputs_are_in_unit_range(net):
    with torch.no_grad():
        ys = ClampedMultimodal(net)(torch.rand(1, 3, 33, 35) * 4 - 2)
    assert all(float(y.min()) >= 0.0 and float(y.max()) <= 1.0 for y in ys)


def test_presets_and_config_validation():
    assert PRESETS["paper"].style_width == 32 and PRESETS["paper"].refine_width == 32
    with pytest.raises(ValueError, match="expected widths >= 1"):
        MultimodalConfig(style_width=0)
    assert MultimodalConfig(**TINY.to_dict()) == TINY


def test_enhance_and_refine_start_from_their_upsampled_input(net):
    """With their last convolutions zeroed, the finer outputs are the coarser ones upsampled (residual subnets)."""
    import copy

    zeroed = copy.deepcopy(net)
    with torch.no_grad():
        for sub in (zeroed.enhance, zeroed.refine):
            conv = sub.dec.out[1]
            conv.weight.zero_()
            conv.bias.zero_()
        x = torch.rand(1, 3, 45, 38)
        y1, y2, y3 = zeroed(x)
    assert torch.allclose(y2, double_size(y1, half_size(x)), atol=1e-6)
    assert torch.allclose(y3, double_size(y2, x), atol=1e-6)
