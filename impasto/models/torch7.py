"""PyTorch counterparts of the Torch7 ``nn`` layers of Johnson's ``fast-neural-style`` models, and their wrapper.

The Torch7 models (jcjohnson/fast-neural-style, ``models.lua``) are ``nn.Sequential``
chains of padding, convolution, full (transposed) convolution, instance or batch
normalisation, ReLU and residual blocks (``ConcatTable`` of a branch and an identity or
``ShaveImage``, then ``CAddTable``), ending in ``Tanh``, ``MulConstant`` and
``TotalVariation`` (the identity in a forward pass). Here each maps to a module of
``torch.nn`` or to one of the few below; :mod:`impasto.export.convert.torch7` builds the
chain from a ``.t7`` file.

Convention:
    :class:`Torch7Graph` follows the ``stylize`` contract: RGB ``[0, 1]`` in, the
    upstream preprocessing (``vgg``: BGR, 0-255, minus the caffe mean; ``resnet``: RGB
    ``[0, 1]`` minus the ImageNet mean, divided by its std), the network, the inverse
    of the preprocessing, the top-left ``H x W`` of the output (the network rounds
    sides up to a multiple of 4), clamped to ``[0, 1]``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Per-channel mean and std of each upstream preprocessing, in the network's channel order.
PREPROCESSING: dict[str, tuple[tuple[float, ...], tuple[float, ...], float, bool]] = {
    # name: (mean, std, scale, bgr)
    "vgg": ((103.939, 116.779, 123.68), (1.0, 1.0, 1.0), 255.0, True),
    "resnet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1.0, False),
}


class Pad(nn.Module):
    """``nn.SpatialReflectionPadding`` / ``nn.SpatialReplicationPadding`` (left, right, top, bottom)."""

    def __init__(self, left: int, right: int, top: int, bottom: int, mode: str) -> None:
        super().__init__()
        self.pads, self.mode = (left, right, top, bottom), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads, mode=self.mode)


class Scale(nn.Module):
    """``nn.MulConstant``."""

    def __init__(self, constant: float) -> None:
        super().__init__()
        self.constant = constant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.constant


class Shave(nn.Module):
    """``nn.ShaveImage``: drop ``size`` pixels on every side."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.size
        return x[:, :, s: x.shape[2] - s, s: x.shape[3] - s]


class BranchSum(nn.ModuleList):
    """``nn.ConcatTable`` followed by ``nn.CAddTable``: the sum of every branch's output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self[0](x)
        for branch in self[1:]:
            out = out + branch(x)
        return out


class Torch7Graph(nn.Module):
    """The ``stylize``-contract wrapper around a converted chain; see the module docstring."""

    def __init__(self, net: nn.Module, preprocessing: str) -> None:
        super().__init__()
        mean, std, scale, bgr = PREPROCESSING[preprocessing]
        self.net, self.scale, self.bgr = net, scale, bgr
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.flip(1) if self.bgr else image
        y = self.net((x * self.scale - self.mean) / self.std)
        y = ((y * self.std + self.mean) / self.scale)[:, :, : image.shape[2], : image.shape[3]]
        return (y.flip(1) if self.bgr else y).clamp(0.0, 1.0)
