"""MUNIT's multi-scale LSGAN discriminator (Huang et al. 2018), one per domain, and its losses.

The structure follows the official NVlabs/MUNIT ``MsImageDis``: ``num_scales`` identical
patch discriminators, the first on the image, each next one on the image average-pooled
once more (3x3 window, stride 2, padding 1, padding not counted). Each patch
discriminator is a 4x4 stride-2 convolution (no normalisation) followed by
``n_layer - 1`` 4x4 stride-2 convolutions that double the width, each with its
activation, then a 1x1 convolution to one score per patch.

Convention:
    Images are ``(B, 3, H, W)`` in ``[-1, 1]`` (the generator's tanh range). The module
    names follow the official layout (``cnns.<scale>.<layer>.conv.weight`` and
    ``cnns.<scale>.<n_layer>.weight``), so an official ``dis_XXXXXXXX.pt`` entry loads as is
    when its configuration matches. LSGAN targets: 1 for real, 0 for fake.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from impasto.errors import ModelError

ACTIVATIONS = ("lrelu", "relu", "none")
PAD_TYPES = ("reflect", "zero", "replicate")


@dataclass(frozen=True)
class MunitDiscriminatorConfig:
    """The ``dis:`` settings of an official MUNIT config (``gan_type`` is always ``lsgan``, ``norm`` ``none``).

    Attributes:
        dim: width of the first convolution (official: 64).
        n_layer: stride-2 convolutions per scale (official: 4).
        num_scales: how many image scales are judged (official: 3).
        activ: activation after each convolution but the last.
        pad_type: padding of the 4x4 convolutions.
    """

    dim: int = 64
    n_layer: int = 4
    num_scales: int = 3
    activ: str = "lrelu"
    pad_type: str = "reflect"

    def __post_init__(self) -> None:
        if self.dim < 1 or self.n_layer < 1 or self.num_scales < 1:
            raise ModelError(f"discriminator: expected dim, n_layer and num_scales >= 1, got {self.dim}, "
                             f"{self.n_layer}, {self.num_scales}")
        if self.activ not in ACTIVATIONS or self.pad_type not in PAD_TYPES:
            raise ModelError(f"discriminator: expected activ in {ACTIVATIONS} and pad_type in {PAD_TYPES}, got "
                             f"{self.activ!r}, {self.pad_type!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class _ConvBlock(nn.Module):
    """Pad, 4x4 stride-2 convolution, activation (the official ``Conv2dBlock`` without a norm)."""

    def __init__(self, c_in: int, c_out: int, activ: str, pad_type: str) -> None:
        super().__init__()
        self.pad = {"reflect": nn.ReflectionPad2d, "zero": nn.ZeroPad2d, "replicate": nn.ReplicationPad2d}[pad_type](1)
        self.conv = nn.Conv2d(c_in, c_out, 4, 2)
        self.activation = {"lrelu": nn.LeakyReLU(0.2), "relu": nn.ReLU(), "none": nn.Identity()}[activ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.conv(self.pad(x)))


class MsImageDis(nn.Module):
    """Multi-scale patch discriminator; ``forward`` returns one score map per scale, finest first."""

    def __init__(self, config: MunitDiscriminatorConfig, input_dim: int = 3) -> None:
        super().__init__()
        self.config = config
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList(self._patch_net(config, input_dim) for _ in range(config.num_scales))

    @staticmethod
    def _patch_net(cfg: MunitDiscriminatorConfig, input_dim: int) -> nn.Sequential:
        layers: list[nn.Module] = [_ConvBlock(input_dim, cfg.dim, cfg.activ, cfg.pad_type)]
        dim = cfg.dim
        for _ in range(cfg.n_layer - 1):
            layers.append(_ConvBlock(dim, dim * 2, cfg.activ, cfg.pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for net in self.cnns:
            outputs.append(net(x))
            x = self.downsample(x)
        return outputs

    def dis_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """LSGAN discriminator loss ``sum_scales mean(D(fake)^2) + mean((D(real) - 1)^2)`` (``fake`` is detached)."""
        return sum((f.square().mean() + (r - 1).square().mean() for f, r in
                    zip(self(fake.detach()), self(real), strict=True)), torch.zeros((), device=real.device))

    def gen_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """LSGAN generator loss ``sum_scales mean((D(fake) - 1)^2)``."""
        return sum(((f - 1).square().mean() for f in self(fake)), torch.zeros((), device=fake.device))


def init_gaussian(module: nn.Module, std: float = 0.02) -> None:
    """The official discriminator initialisation: convolution weights ~ N(0, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
