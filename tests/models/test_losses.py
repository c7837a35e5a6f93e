import pytest
import torch

from impasto.models.losses import content_loss, gatys_style_layer_loss, gram, style_loss, tv_loss


def test_gram_matches_definition():
    f = torch.randn(2, 3, 4, 5)
    g = gram(f, normalize="none")
    flat = f.reshape(2, 3, 20)
    assert torch.allclose(g[1], flat[1] @ flat[1].T, atol=1e-5)
    assert torch.allclose(gram(f), g / (3 * 4 * 5))
    with pytest.raises(ValueError, match="expected BxCxHxW"):
        gram(torch.randn(3, 4))


def test_relative_losses_are_scale_free():
    a, b = torch.rand(1, 8, 6, 6), torch.rand(1, 8, 6, 6)
    assert torch.allclose(content_loss(a, b), content_loss(100 * a, 100 * b), rtol=1e-4)
    s1 = style_loss({"x": a}, {"x": gram(b)})
    s2 = style_loss({"x": 100 * a}, {"x": gram(100 * b)})
    assert torch.allclose(s1, s2, rtol=1e-3)
    assert style_loss({"x": b}, {"x": gram(b)}) < 1e-10


def test_gatys_layer_loss_zero_at_target_and_normalised():
    f = torch.rand(1, 4, 8, 8)
    assert gatys_style_layer_loss(f, gram(f, normalize="none")) == 0
    g0 = torch.zeros(1, 4, 4)
    expected = (gram(f, normalize="none") ** 2).sum() / (4 * 16 * 64 ** 2)
    assert torch.allclose(gatys_style_layer_loss(f, g0), expected)


def test_tv_loss():
    assert tv_loss(torch.ones(1, 3, 5, 5)) == 0
    x = torch.zeros(1, 1, 2, 2)
    x[..., 0, 0] = 1
    assert tv_loss(x) > 0
