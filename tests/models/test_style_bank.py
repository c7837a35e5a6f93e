"""StyleBankNet: exact output sizes, conditioning linear in the style weights, α reaches every layer."""

from __future__ import annotations

import pytest
import torch

from impasto.models.style_bank import ClampedBank, StyleBankConfig, StyleBankNet


def _net(n_styles: int = 3) -> StyleBankNet:
    torch.manual_seed(0)
    net = StyleBankNet(StyleBankConfig(n_styles=n_styles, widths=(4, 8), n_residual=1, hidden=4))
    with torch.no_grad():  # styles that differ, and an α response that is not ~0
        net.cond.A.normal_(0.0, 0.3)
        net.cond.b.add_(torch.randn_like(net.cond.b) * 0.3)
    return net.eval()


def _ones(n: int) -> torch.Tensor:
    return torch.ones(n)


@pytest.mark.parametrize("size", [(5, 5), (17, 23), (64, 48)])
def test_output_has_the_input_size(size):
    net = _net()
    x = torch.rand(2, 3, *size)
    y = net(x, torch.tensor([1.0, 0, 0]), _ones(1), _ones(4))
    assert y.shape == x.shape


def test_normalisation_parameters_are_linear_in_the_style_weights():
    net = _net()
    alpha = torch.rand(5) * 2
    a, b = torch.tensor([1.0, 0, 0]), torch.tensor([0, 0, 1.0])
    mix = net.cond(0.3 * a + 0.7 * b, alpha)
    for (gm, bm), (ga, ba), (gb, bb) in zip(mix, net.cond(a, alpha), net.cond(b, alpha), strict=True):
        torch.testing.assert_close(gm, 0.3 * ga + 0.7 * gb)
        torch.testing.assert_close(bm, 0.3 * ba + 0.7 * bb)


def test_styles_and_alpha_change_the_output():
    net = _net()
    x = torch.rand(1, 3, 32, 32)
    base = net(x, torch.tensor([1.0, 0, 0]), _ones(1), _ones(4))
    other_style = net(x, torch.tensor([0, 1.0, 0]), _ones(1), _ones(4))
    other_alpha = net(x, torch.tensor([1.0, 0, 0]), _ones(1), torch.tensor([1.0, 1, 2, 2]))
    assert (base - other_style).abs().mean() > 1e-3
    assert (base - other_alpha).abs().mean() > 1e-3


def test_untrained_bank_starts_from_identity_normalisation():
    net = StyleBankNet(StyleBankConfig(n_styles=2))
    (g, b), *_ = net.cond(torch.tensor([0.5, 0.5]), torch.ones(5))
    assert torch.allclose(g, torch.ones_like(g), atol=0.05) and torch.allclose(b, torch.zeros_like(b), atol=0.05)


def test_clamped_bank_output_is_in_range():
    y = ClampedBank(_net())(torch.rand(1, 3, 20, 20) * 4 - 2, torch.tensor([0, 0, 1.0]), _ones(1), _ones(4))
    assert y.min() >= 0 and y.max() <= 1


def test_config_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected 2 widths"):
        StyleBankConfig(n_styles=2, widths=(4, 8, 16))
    with pytest.raises(ValueError, match="n_styles"):
        StyleBankConfig(n_styles=0)
    assert StyleBankConfig(n_styles=2).n_alpha == 5


def test_upsample_mode_changes_only_the_resize():
    torch.manual_seed(0)
    near = StyleBankNet(StyleBankConfig(n_styles=2, widths=(4, 8), n_residual=1, upsample="nearest")).eval()
    bil = StyleBankNet(StyleBankConfig(n_styles=2, widths=(4, 8), n_residual=1, upsample="bilinear")).eval()
    bil.load_state_dict(near.state_dict())  # same parameters: the mode is not a weight
    x = torch.rand(1, 3, 21, 30)
    args = (torch.tensor([1.0, 0.0]), _ones(1), _ones(4))
    a, b = near(x, *args), bil(x, *args)
    assert a.shape == b.shape == x.shape and (a - b).abs().max() > 1e-4
    with pytest.raises(ValueError, match="expected upsample in"):
        StyleBankConfig(n_styles=2, upsample="bicubic")
    assert StyleBankConfig(n_styles=2).upsample == "nearest"  # the first shipped bank's checkpoints load unchanged
