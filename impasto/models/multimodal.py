"""Multimodal Transfer network (MT-Net; Wang et al. 2017, "Multimodal Transfer: A Hierarchical
Deep Convolutional Neural Network for Fast Artistic Style Transfer").

Three subnets in a chain, each at twice the resolution of the one before:

- **style subnet** (1/4 of the input, 256 px for a 1024 px input): an *RGB block* on the
  colour image and a *luminance block* on its luma ``Y = 0.299 R + 0.587 G + 0.114 B``
  (each: 9x9 conv, two stride-2 3x3 convs, residual blocks), their features concatenated,
  then a *conv block* (residual blocks, two resize-convolutions, a 3x3 output conv);
- **enhance subnet** (1/2, 512 px): the style output bilinearly upsampled, then an encoder
  with three stride-2 convs, residual blocks and three resize-convolutions; its result is
  *added* to the upsampled style output (a residual enhancement, not in the paper);
- **refine subnet** (full size, 1024 px): the enhance output bilinearly upsampled, a
  shallow encoder (two stride-2 convs), residual blocks, two resize-convolutions; its
  result is *added* to the upsampled enhance output (a residual refinement, not in the paper).

The two residual connections are this implementation's choice: each subnet starts as
(nearly) the identity on the upsampled coarser result, so the finer outputs inherit the
style subnet's progress from the first iterations instead of first learning to copy their
input, which the short CPU training here cannot afford.

Every upsampling inside a subnet is a resize-convolution (nearest resize to the exact
size of the matching encoder feature, then a convolution), as in
:class:`impasto.models.transformer.UpConv`, which this module reuses.

Convention:
    Input ``(B, 3, H, W)`` RGB in ``[0, 1]``, ``H, W >= MIN_SIDE``; odd sizes work. The
    three levels have sizes ``s3 = (H, W)``, ``s2 = ceil(s3 / 2)`` and ``s1 = ceil(s2 / 2)``
    (per side). The style subnet sees the input reduced to ``s1`` by two 2x2 box averages
    (:func:`half_size`); each subnet's input is the previous output upsampled bilinearly by
    exactly 2 and cropped to the level's size (:func:`double_size`). :meth:`MultimodalNet.forward` returns
    ``(y1, y2, y3)`` with sizes ``s1, s2, s3``: raw (unbounded) during training;
    :class:`ClampedMultimodal` (the exported graph) clamps each to ``[0, 1]``. Each subnet
    takes the previous subnet's *raw* output, so training and inference see the same values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from impasto.models.transformer import ConvLayer, ResidualBlock, UpConv

#: Smallest input side: the style subnet's 9x9 reflection padding (4 pixels) needs the 1/4
#: level to be >= 5 pixels, i.e. ceil(ceil(side / 2) / 2) >= 5.
MIN_SIDE = 17
#: Output names, coarse to fine, and each level's nominal side for a 1024 px input.
OUTPUT_NAMES: tuple[str, str, str] = ("stylized_256", "stylized_512", "stylized_1024")
SCALES: tuple[int, int, int] = (256, 512, 1024)
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class MultimodalConfig:
    """Shape of a :class:`MultimodalNet`.

    Attributes:
        style_width: channels after the style subnet's first conv (paper: 32); its RGB and
            luminance blocks each end with ``4 * style_width`` channels.
        enhance_width: channels after the enhance subnet's first conv (paper: 32).
        refine_width: channels after the refine subnet's first conv (paper: 32).
        style_residual: residual blocks in each of the RGB, luminance and conv blocks.
        enhance_residual: residual blocks of the enhance subnet.
        refine_residual: residual blocks of the refine subnet.
    """

    style_width: int = 16
    enhance_width: int = 16
    refine_width: int = 8
    style_residual: int = 2
    enhance_residual: int = 3
    refine_residual: int = 2

    def __post_init__(self) -> None:
        widths = (self.style_width, self.enhance_width, self.refine_width)
        blocks = (self.style_residual, self.enhance_residual, self.refine_residual)
        if min(widths) < 1 or min(blocks) < 0:
            raise ValueError(f"MultimodalConfig: expected widths >= 1 and residual counts >= 0, got {self}")

    def to_dict(self) -> dict:
        return asdict(self)


#: Named presets: ``paper`` has the paper's widths; ``cpu`` is what a 2-core CPU can train.
PRESETS: dict[str, MultimodalConfig] = {
    "paper": MultimodalConfig(32, 32, 32, 3, 3, 3),
    "cpu": MultimodalConfig(),
}


def half_size(x: torch.Tensor) -> torch.Tensor:
    """2x2 box average to ``ceil(H/2) x ceil(W/2)``; at an odd side the last row/column is averaged with itself.

    One replicated row and column, then floor-mode pooling: the same numbers as
    ``ceil_mode`` pooling that counts only existing pixels, with a shape formula the ONNX
    exporter gets right (its ``ceil_mode`` shapes made ONNX Runtime reject odd sizes).
    """
    return F.avg_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, 2)


def double_size(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling, cropped to ``like``'s size (drops the row/column an odd side does not have).

    The exact factor 2 keeps the sampling positions exact (no size-derived scale to round),
    and the crop matches :func:`half_size`'s alignment: level pixel ``i`` covers the finer
    level's pixels ``2i`` and ``2i + 1``.
    """
    up = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
    return up[..., : like.shape[-2], : like.shape[-1]]


def luminance(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB -> ``(B, 1, H, W)`` luma (ITU-R BT.601 weights)."""
    return LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]


class Encoder(nn.Module):
    """9x9 conv (stride 1) then ``n_down`` stride-2 3x3 convs doubling the channels, then residual blocks.

    :meth:`forward` returns every stage's features, finest first (the skip sizes for the
    decoder's resize-convolutions).
    """

    def __init__(self, cin: int, width: int, n_down: int, n_residual: int, first_kernel: int = 9) -> None:
        super().__init__()
        self.stages = nn.ModuleList([ConvLayer(cin, width, first_kernel)])
        for i in range(n_down):
            self.stages.append(ConvLayer(width * 2 ** i, width * 2 ** (i + 1), 3, stride=2))
        self.res = nn.Sequential(*[ResidualBlock(width * 2 ** n_down) for _ in range(n_residual)])
        self.out_channels = width * 2 ** n_down

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        feats[-1] = self.res(feats[-1])
        return feats


class Decoder(nn.Module):
    """Resize-convolutions back to the encoder's stage sizes, halving channels, then a 3x3 conv to RGB."""

    def __init__(self, cin: int, width: int, n_up: int, n_residual: int) -> None:
        super().__init__()
        self.res = nn.Sequential(*[ResidualBlock(cin) for _ in range(n_residual)])
        chans = [cin] + [width * 2 ** (n_up - 1 - i) for i in range(n_up)]
        self.ups = nn.ModuleList([UpConv(chans[i], chans[i + 1]) for i in range(n_up)])
        self.out = ConvLayer(chans[-1], 3, 3, norm=False, relu=False)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """``skips``: encoder features finest first; only their sizes are used."""
        y = self.res(x)
        for up, like in zip(self.ups, reversed(skips[:-1])):
            y = up(y, like)
        return self.out(y)


class StyleSubnet(nn.Module):
    """RGB block + luminance block, concatenated, then the conv block (see the module docstring)."""

    def __init__(self, width: int, n_residual: int) -> None:
        super().__init__()
        self.rgb = Encoder(3, width, 2, n_residual)
        self.lum = Encoder(1, width, 2, n_residual)
        self.conv = Decoder(2 * self.rgb.out_channels, width, 2, n_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frgb = self.rgb(x)
        flum = self.lum(luminance(x))
        joint = torch.cat([frgb[-1], flum[-1]], dim=1)
        return self.conv(joint, frgb)


class EnhanceSubnet(nn.Module):
    """Three stride-2 stages down and three resize-convolutions up; the result is added to the input."""

    def __init__(self, width: int, n_residual: int) -> None:
        super().__init__()
        self.enc = Encoder(3, width, 3, n_residual)
        self.dec = Decoder(self.enc.out_channels, width, 3, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.enc(x)
        return x + self.dec(feats[-1], feats)


class RefineSubnet(nn.Module):
    """A shallow encoder-decoder whose output is added to its input (residual refinement)."""

    def __init__(self, width: int, n_residual: int) -> None:
        super().__init__()
        self.enc = Encoder(3, width, 2, n_residual, first_kernel=3)
        self.dec = Decoder(self.enc.out_channels, width, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.enc(x)
        return x + self.dec(feats[-1], feats)


class MultimodalNet(nn.Module):
    """MT-Net; see the module docstring for the structure and the convention."""

    def __init__(self, config: MultimodalConfig | None = None) -> None:
        super().__init__()
        self.config = config or MultimodalConfig()
        c = self.config
        self.style = StyleSubnet(c.style_width, c.style_residual)
        self.enhance = EnhanceSubnet(c.enhance_width, c.enhance_residual)
        self.refine = RefineSubnet(c.refine_width, c.refine_residual)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the raw outputs ``(y1, y2, y3)`` at 1/4, 1/2 and full size."""
        x2 = half_size(x)
        x1 = half_size(x2)
        y1 = self.style(x1)
        y2 = self.enhance(double_size(y1, x2))
        y3 = self.refine(double_size(y2, x))
        return y1, y2, y3

    @torch.no_grad()
    def stylize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inference: every output clamped to ``[0, 1]``."""
        y1, y2, y3 = self.forward(x)
        return y1.clamp(0.0, 1.0), y2.clamp(0.0, 1.0), y3.clamp(0.0, 1.0)


class ClampedMultimodal(nn.Module):
    """Wrap a :class:`MultimodalNet` so all three outputs are clamped to ``[0, 1]`` (the exported graph)."""

    def __init__(self, net: MultimodalNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y1, y2, y3 = self.net(x)
        return y1.clamp(0.0, 1.0), y2.clamp(0.0, 1.0), y3.clamp(0.0, 1.0)


def level_sizes(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The output sizes ``(s1, s2, s3)`` for an input of ``height x width`` (see the convention)."""
    h2, w2 = (height + 1) // 2, (width + 1) // 2
    return ((h2 + 1) // 2, (w2 + 1) // 2), (h2, w2), (height, width)
