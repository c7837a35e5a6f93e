import pytest
import torch
from torch import nn

from impasto.models.transformer import PRESETS, ClampedOutput, TransformerConfig, TransformerNet


@pytest.mark.parametrize("size", [(64, 64), (65, 97), (33, 31), (8, 13)])
def test_output_has_input_size(size):
    net = TransformerNet(PRESETS["fast"]).eval()
    x = torch.rand(2, 3, *size)
    assert net(x).shape == x.shape


def test_no_transposed_convolutions_and_reflection_padding():
    net = TransformerNet()
    kinds = {type(m) for m in net.modules()}
    assert not any(issubclass(k, nn.ConvTranspose2d) for k in kinds)
    assert nn.ReflectionPad2d in kinds and any(issubclass(k, nn.InstanceNorm2d) for k in kinds)


def test_presets_fast_is_smaller():
    n_fast = sum(p.numel() for p in TransformerNet(PRESETS["fast"]).parameters())
    n_full = sum(p.numel() for p in TransformerNet(PRESETS["johnson"]).parameters())
    assert n_fast * 4 < n_full


def test_clamped_output_range():
    net = ClampedOutput(TransformerNet(TransformerConfig(width=4, n_residual=1)))
    with torch.no_grad():
        y = net(torch.rand(1, 3, 16, 16) * 50)
    assert y.min() >= 0 and y.max() <= 1


def test_config_validation():
    with pytest.raises(ValueError, match="expected width >= 1"):
        TransformerConfig(width=0)
