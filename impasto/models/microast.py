"""MicroAST (Wang et al., AAAI 2023): a VGG-free arbitrary-style network, re-implemented for conversion.

Re-implemented from the layer order of the upstream ``net_microAST.py`` / ``function.py``
(github EndyWon/MicroAST at commit 5a6c9050, MIT licence, copyright 2022 Zhizhong Wang);
the parameter names equal the upstream ones, so the published state dicts of the content
encoder, style encoder, modulator and decoder load as they are.

The network: two micro encoders (a 9x9 convolution, two stride-2 depthwise + pointwise
steps, two residual blocks; the features after the first and after the second residual
block), a modulator (per level, a depthwise 3x3 convolution averaged over the image: one
scale and one shift per channel) and a micro decoder. At each of its two levels the decoder
applies AdaIN of the content features to the style features (blended with the content
features by ``alpha``) and then a residual block whose convolutions are modulated by the
style: ``scale * conv(x) + shift * x``, scale and shift computed from the style image, so
in the graph they are tensors, not initialisers. Two bilinear x2 upsamplings with depthwise
and pointwise convolutions and a 9x9 convolution give the image.

Convention:
    :class:`MicroAST` takes ``content`` ``1x3xHxW`` and ``style`` ``1x3xH'xW'`` in
    ``[0, 1]`` (the upstream test script feeds ``ToTensor`` images, RGB ``[0, 1]``) and
    ``alpha`` of shape ``(1,)`` in ``[0, 1]``. Upstream's decoder returns
    ``2*ceil(ceil(H/2)/2)`` rows (likewise columns), unclamped; :class:`MicroAST` keeps its
    top-left ``HxW`` (nothing is cut where H and W are multiples of 4) clamped to ``[0, 1]``,
    as upstream's ``save_image`` clamps, and blends it with the content in image space:
    ``alpha * stylized + (1 - alpha) * content``. Upstream's own ``alpha`` blends AdaIN'd and
    raw content features instead, but with the published weights (trained at ``alpha = 1``)
    its content features are ~50x smaller than the style-normalised ones, and any
    ``0 < alpha < 1`` saturates the output (measured at 0.25-0.75: every pixel 0 or 1), so
    the decoder always runs at upstream's ``alpha = 1``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

#: Channels of the encoders' and modulator's features.
FEATURES = 64
#: Upstream's ``calc_mean_std`` epsilon, added to the (unbiased) variance.
EPS = 1e-5


class ConvLayer(nn.Module):
    """Reflection padding of ``kernel // 2`` then a convolution (``groups`` for depthwise ones)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.conv_layer = nn.Conv2d(cin, cout, kernel, stride, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_layer(F.pad(x, (self.pad,) * 4, mode="reflect"))


class ResidualLayer(nn.Module):
    """Two 3x3 convolutions around a ReLU plus the input; optionally modulated by a style's scale and shift."""

    def __init__(self, channels: int = FEATURES) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None,
                shift: torch.Tensor | None = None) -> torch.Tensor:
        if scale is None or shift is None:
            return x + self.conv2(F.relu(self.conv1(x)))
        h = F.relu(scale * self.conv1(x) + shift * x)
        return x + scale * self.conv2(h) + shift * h


def _relu_after(*layers: nn.Module) -> list[nn.Module]:
    """``layers`` with a ReLU after each (indices as upstream's ``nn.Sequential``)."""
    out: list[nn.Module] = []
    for layer in layers:
        out += [layer, nn.ReLU()]
    return out


class Encoder(nn.Module):
    """The micro encoder (content and style encoders share it); returns the features at both levels."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(
            *_relu_after(ConvLayer(3, 16, 9), ConvLayer(16, 32, 3, 2, groups=16), ConvLayer(32, 32, 1),
                         ConvLayer(32, 64, 3, 2, groups=32), ConvLayer(64, 64, 1)),
            ResidualLayer())
        self.enc2 = nn.Sequential(ResidualLayer())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = self.enc1(x)
        return [first, self.enc2(first)]


class Modulator(nn.Module):
    """Per level, a channel scale and shift from the style features (depthwise 3x3 convolution, image mean)."""

    def __init__(self) -> None:
        super().__init__()
        for name in ("weight1", "bias1", "weight2", "bias2"):
            setattr(self, name, nn.Sequential(ConvLayer(FEATURES, FEATURES, 3, groups=FEATURES)))

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        def pooled(name: str, x: torch.Tensor) -> torch.Tensor:
            return getattr(self, name)(x).mean(dim=(2, 3), keepdim=True)

        return ([pooled("weight1", feats[0]), pooled("weight2", feats[1])],
                [pooled("bias1", feats[0]), pooled("bias2", feats[1])])


def mean_std(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and ``sqrt(unbiased variance + EPS)`` of ``NxCxHxW`` features, ``NxCx1x1`` each."""
    flat = x.flatten(2)
    return flat.mean(dim=2)[..., None, None], (flat.var(dim=2, unbiased=True) + EPS).sqrt()[..., None, None]


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The content features with the style features' per-channel mean and standard deviation."""
    cm, cs = mean_std(content)
    sm, ss = mean_std(style)
    return (content - cm) / cs * ss + sm


class Decoder(nn.Module):
    """The micro decoder: AdaIN and a style-modulated residual block per level, then upsampling to RGB."""

    def __init__(self) -> None:
        super().__init__()
        self.dec1 = ResidualLayer()
        self.dec2 = ResidualLayer()
        up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec3 = nn.Sequential(
            up, *_relu_after(ConvLayer(64, 32, 3, groups=32), ConvLayer(32, 32, 1)),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            *_relu_after(ConvLayer(32, 16, 3, groups=16), ConvLayer(16, 16, 1)), ConvLayer(16, 3, 9))

    def forward(self, content: list[torch.Tensor], style: list[torch.Tensor], scales: list[torch.Tensor],
                shifts: list[torch.Tensor]) -> torch.Tensor:
        """Upstream's decoder at its ``alpha = 1`` (the full transfer; see :class:`MicroAST` for alpha)."""
        x = self.dec1(adain(content[1], style[1]), scales[1], shifts[1])
        x = self.dec2(adain(x, style[0]), scales[0], shifts[0])
        return self.dec3(x)


class MicroAST(nn.Module):
    """Content, style, alpha -> the stylised content (see the module's Convention).

    Attributes:
        content_encoder, style_encoder, modulator, decoder: the four upstream networks,
            whose ``state_dict`` s are the four published files.
    """

    #: Upstream file stem -> attribute.
    PARTS = ("content_encoder", "style_encoder", "modulator", "decoder")

    def __init__(self) -> None:
        super().__init__()
        self.content_encoder = Encoder()
        self.style_encoder = Encoder()
        self.modulator = Modulator()
        self.decoder = Decoder()

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        style_feats = self.style_encoder(style)
        scales, shifts = self.modulator(style_feats)
        out = self.decoder(self.content_encoder(content), style_feats, scales, shifts)
        stylized = out[:, :, : content.shape[2], : content.shape[3]].clamp(0, 1)
        a = alpha.reshape(1, 1, 1, 1)
        return a * stylized + (1 - a) * content
