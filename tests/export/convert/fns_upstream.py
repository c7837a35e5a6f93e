"""The pytorch/examples ``fast_neural_style`` TransformerNet as the tests know it (not impasto's module).

Written for the tests from the upstream layer order (``neural_style/transformer_net.py``):
the same submodule names, so its ``state_dict()`` is a checkpoint in exactly the upstream
layout, and its forward is the reference the converted graph is checked against.
Loaded by path (``--import-mode=importlib``).
"""

from __future__ import annotations

import torch
from torch import nn


class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(ConvLayer):
    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, upsample: int) -> None:
        super().__init__(cin, cout, kernel_size, stride)
        self.upsample_layer = nn.Upsample(mode="nearest", scale_factor=upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.upsample_layer(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3, 1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.in2(self.conv2(self.relu(self.in1(self.conv1(x))))) + x


class TransformerNet(nn.Module):
    """Upstream ``TransformerNet``: 0-255 in, unbounded out, sides rounded up to a multiple of 4."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.in1 = ConvLayer(3, 32, 9, 1), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = ConvLayer(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = ConvLayer(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        self.res1, self.res2, self.res3, self.res4, self.res5 = (ResidualBlock(128) for _ in range(5))
        self.deconv1, self.in4 = UpsampleConvLayer(128, 64, 3, 1, 2), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = UpsampleConvLayer(64, 32, 3, 1, 2), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stages = [(self.conv1, self.in1), (self.conv2, self.in2), (self.conv3, self.in3)]
        for conv, norm in stages:
            x = self.relu(norm(conv(x)))
        x = self.res5(self.res4(self.res3(self.res2(self.res1(x)))))
        for conv, norm in [(self.deconv1, self.in4), (self.deconv2, self.in5)]:
            x = self.relu(norm(conv(x)))
        return self.deconv3(x)


def trained_like(seed: int = 0) -> TransformerNet:
    """A random network whose output sits mostly inside 0-255 (as a trained one's does), so parity is not
    hidden by the clamp: the affine norms' weights and biases are random and the last bias is mid-grey."""
    torch.manual_seed(seed)
    net = TransformerNet()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if ".in" in f".{name}" and name.split(".")[-2].startswith("in"):
                p.copy_(torch.rand_like(p) + 0.5 if name.endswith("weight") else torch.randn_like(p) * 0.2)
        net.deconv3.conv2d.weight.mul_(20.0)
        net.deconv3.conv2d.bias.fill_(127.5)
    return net.eval()


def with_stale_norm_stats(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict as PyTorch < 0.4 saved it: every instance norm also has running statistics."""
    out = dict(state)
    for k, v in state.items():
        if k.split(".")[-2].startswith("in") and k.endswith(".weight"):
            out[k[: -len("weight")] + "running_mean"] = torch.zeros_like(v)
            out[k[: -len("weight")] + "running_var"] = torch.ones_like(v)
    return out


def upstream_stylize(net: TransformerNet, image01: torch.Tensor) -> torch.Tensor:
    """What the upstream ``stylize`` saves, back in ``[0, 1]`` and cut to the input's size."""
    with torch.no_grad():
        y = net(image01 * 255.0).clamp(0.0, 255.0) / 255.0
    return y[:, :, : image01.shape[2], : image01.shape[3]]

