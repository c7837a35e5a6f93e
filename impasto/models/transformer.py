"""Feed-forward image transformation network (Johnson et al. 2016, Ulyanov et al. 2016).

Reflection padding, instance normalisation, residual blocks and resize-convolution
upsampling (nearest-neighbour resize, then a convolution: no transposed convolutions,
so no checkerboard artefacts).

Convention:
    Input ``(B, 3, H, W)`` RGB in ``[0, 1]``, any ``H, W`` >= 4, odd sizes included; the
    output has exactly the input's size. The raw output is unbounded during training;
    :meth:`TransformerNet.stylize` (and the exported graph) clamps it to ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from impasto.models.norm_stats import StatsExchange


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a :class:`TransformerNet`.

    Attributes:
        width: channels after the first convolution; the two downsampling stages use
            ``2 * width`` and ``4 * width``.
        n_residual: number of residual blocks at 1/4 resolution.
    """

    width: int = 32
    n_residual: int = 5

    def __post_init__(self) -> None:
        if self.width < 1 or self.n_residual < 0:
            raise ValueError(f"TransformerConfig: expected width >= 1 and n_residual >= 0, got {self}")

    def to_dict(self) -> dict:
        return asdict(self)


#: Named presets. ``fast`` runs about 4x faster than ``johnson`` on a CPU.
PRESETS: dict[str, TransformerConfig] = {
    "johnson": TransformerConfig(width=32, n_residual=5),
    "fast": TransformerConfig(width=16, n_residual=3),
}


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance norm (the state-dict keys of ``nn.InstanceNorm2d``) that may take given statistics."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.channels = channels
        #: Set by :class:`~impasto.models.norm_stats.StatsForm`: statistics given from outside.
        self.exchange: StatsExchange | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exchange is None:
            return super().forward(x)
        x = self.exchange.normalize(x, self.eps)
        return x * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)


class ConvLayer(nn.Sequential):
    """Reflection pad + conv (+ instance norm + ReLU)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, *, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride)]
        if norm:
            layers.append(InstanceNorm(cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(ch, ch, 3), ConvLayer(ch, ch, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpConv(nn.Module):
    """Nearest resize to an exact target size, then a convolution (resize-convolution)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, 3)

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=like.shape[-2:], mode="nearest")
        return self.conv(x)


class TransformerNet(nn.Module):
    """Image transformation network; see the module docstring for the convention."""

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config or TransformerConfig()
        w = self.config.width
        self.enc1 = ConvLayer(3, w, 9)
        self.enc2 = ConvLayer(w, 2 * w, 3, stride=2)
        self.enc3 = ConvLayer(2 * w, 4 * w, 3, stride=2)
        self.res = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(self.config.n_residual)])
        self.up1 = UpConv(4 * w, 2 * w)
        self.up2 = UpConv(2 * w, w)
        self.out = ConvLayer(w, 3, 9, norm=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        y = self.res(self.enc3(e2))
        y = self.up1(y, e2)
        y = self.up2(y, e1)
        return self.out(y)

    @torch.no_grad()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: clamp the output to ``[0, 1]``."""
        return self.forward(x).clamp(0.0, 1.0)


class ClampedOutput(nn.Module):
    """Wrap a network so its output is clamped to ``[0, 1]`` (the exported graph)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).clamp(0.0, 1.0)
