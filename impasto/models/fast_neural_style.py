"""The ``TransformerNet`` of pytorch/examples ``fast_neural_style``, re-implemented to load its state dicts as is.

The upstream network (``fast_neural_style/neural_style/transformer_net.py``): three
reflection-padded convolutions (9x9 stride 1, 3x3 stride 2, 3x3 stride 2; 32, 64, 128
channels) each followed by an affine instance norm and a ReLU; five residual blocks of
128 channels (conv, norm, ReLU, conv, norm, plus the input); two nearest x2 upsamplings
each followed by a reflection-padded 3x3 convolution, a norm and a ReLU; a final 9x9
convolution to RGB with no norm. The attribute names below are the upstream's, so a
``torch.save(model.state_dict())`` of it loads with ``load_state_dict`` unchanged.

Convention:
    :class:`FastNeuralStyleNet` works in the upstream's range: input ``(B, 3, H, W)`` RGB
    in ``[0, 255]``, output unbounded (the upstream clamps to ``[0, 255]`` when it saves
    the image), of size ``4 * ceil(ceil(H / 2) / 2)`` by the same of ``W`` (larger than
    the input when a side is not a multiple of 4). :class:`FastNeuralStyleGraph` follows
    the ``stylize`` contract: RGB ``[0, 1]`` in, ``[0, 1]`` out of exactly the input's size
    (the upstream output's top-left ``H x W``, divided by 255 and clamped).
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

#: Old checkpoints' instance-norm running statistics, dropped on load as the upstream script does.
STALE_KEY = re.compile(r"in\d+\.running_(mean|var)$")
#: The upstream network's input and output scale.
PIXEL_SCALE = 255.0


class PaddedConv(nn.Module):
    """Reflection padding of ``kernel // 2``, then a convolution (upstream ``ConvLayer``; keys ``conv2d.*``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"))


class UpsampledConv(PaddedConv):
    """Nearest x2 upsampling, then a :class:`PaddedConv` (upstream ``UpsampleConvLayer`` with ``upsample=2``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Residual(nn.Module):
    """``x + in2(conv2(relu(in1(conv1(x)))))`` (upstream ``ResidualBlock``)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = PaddedConv(ch, ch, 3)
        self.in1 = nn.InstanceNorm2d(ch, affine=True)
        self.conv2 = PaddedConv(ch, ch, 3)
        self.in2 = nn.InstanceNorm2d(ch, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class FastNeuralStyleNet(nn.Module):
    """The upstream ``TransformerNet`` (0-255 in, unbounded out); see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.in1 = PaddedConv(3, 32, 9), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = PaddedConv(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = PaddedConv(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        for i in range(1, 6):
            setattr(self, f"res{i}", Residual(128))
        self.deconv1, self.in4 = UpsampledConv(128, 64, 3), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = UpsampledConv(64, 32, 3), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = PaddedConv(32, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


class FastNeuralStyleGraph(nn.Module):
    """The ``stylize``-contract wrapper: ``[0, 1]`` -> the upstream's 0-255 -> cropped, ``[0, 1]`` clamped."""

    def __init__(self, net: FastNeuralStyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        y = self.net(image * PIXEL_SCALE)[:, :, : image.shape[2], : image.shape[3]]
        return (y / PIXEL_SCALE).clamp(0.0, 1.0)
