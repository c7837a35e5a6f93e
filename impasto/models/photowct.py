"""PhotoWCT (Li et al. 2018, "A Closed-form Solution to Photorealistic Image Stylization") and
WCT (Li et al. 2017, "Universal Style Transfer via Feature Transforms"): encoder, decoders, pipeline.

- :class:`Encoder`: VGG16 (the project's weights, :mod:`impasto.models.vgg`) up to
  ``relu4_1``; its max-pooling layers return their indices ("switches").
- :class:`Decoder`: one per level ``relu1_1 … relu4_1``, trained to reconstruct the image
  from the encoder's features (:mod:`impasto.training.decoder`). ``kind="photo"``
  decoders **unpool** with the encoder's switches (PhotoWCT); ``kind="artistic"``
  decoders upsample (nearest) and convolve instead (WCT). The decoders are lean — the
  first decoder layer mirrors the encoder's channels only where unpooling needs them —
  so they train in minutes on a CPU; see :data:`DECODER_LAYOUT`.
- :class:`StylePipeline`: coarse to fine, at each level: encode the current image,
  apply the mask-restricted :func:`~impasto.models.wct.wct` towards the style's features
  at that level, decode; for ``photo`` it then applies the guided filter
  (:mod:`impasto.models.guided_filter`) guided by the content. This whole module is what
  ``impasto export photowct|wct`` turns into one ONNX graph.

Switches:
    The photo decoders unpool with the switches of the **content photo's** encoding at
    every level, not those of the intermediate (already stylised and decoded) image. The
    content's maxima carry its structure, which is what unpooling is there to keep; and an
    argmax over a decoded image flips between neighbouring pixels on rounding-level
    differences, so the exported graph (ONNX Runtime) and PyTorch would disagree by
    whole pixels at coarser levels (measured: 0.02 max abs error with per-image switches,
    against ~3e-5 with the content's).

Convention:
    Images are ``(1, 3, H, W)`` RGB in ``[0, 1]`` (the pipeline takes batch 1); label
    masks are ``(1, L, H, W)`` one-hot float weights (one all-ones channel for "no
    masks"); ``alpha`` is a ``(1,)`` float. Sides must be at least :data:`MIN_SIDE`
    pixels (``relu4_1`` is at 1/8 resolution and the decoders reflect-pad).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from impasto.models import guided_filter as gf
from impasto.models import wct as wct_mod
from impasto.models.vgg import IMAGENET_MEAN, IMAGENET_STD

#: The WCT levels, fine to coarse.
LEVELS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: Channels of each level's features.
CHANNELS: dict[str, int] = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
KINDS: tuple[str, ...] = ("photo", "artistic")
#: Smallest image side the pipeline takes (relu4_1 is 1/8 of it and is reflect-padded by the decoder).
MIN_SIDE = 16
#: Encoder convolutions: (name, in, out, index in torchvision's vgg16().features).
ENCODER_CONVS: tuple[tuple[str, int, int, int], ...] = (
    ("conv1_1", 3, 64, 0), ("conv1_2", 64, 64, 2),
    ("conv2_1", 64, 128, 5), ("conv2_2", 128, 128, 7),
    ("conv3_1", 128, 256, 10), ("conv3_2", 256, 256, 12), ("conv3_3", 256, 256, 14),
    ("conv4_1", 256, 512, 17),
)
#: Per block: the convolutions before its ``reluK_1`` tap (block 1 starts with conv1_1).
_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("conv1_1",), ("conv1_2", "conv2_1"), ("conv2_2", "conv3_1"), ("conv3_2", "conv3_3", "conv4_1"),
)
#: The guided filter's regularisation in this pipeline: 1e-4, a tenth of FastPhotoStyle's 1e-3
#: (:data:`impasto.models.guided_filter.DEFAULT_EPS`, which its converter keeps). On 10 DPST pairs
#: it lowered the median Gram distance to the style photo from 1.523 to 1.291 at edge SSIM 0.825
#: (was 0.852); 3e-3 and more raised the Gram distance and lowered the edge SSIM (README, "Smoothing").
SMOOTH_EPS = 1e-4
#: Hidden width of every decoder's last layer.
FINAL_WIDTH = 32
#: Decoder layout, for documentation: level -> layers (``u``: unpool or upsample).
DECODER_LAYOUT: dict[str, str] = {
    "relu1_1": "conv3 64>32, conv3 32>3",
    "relu2_1": "conv3 128>64, u1, conv3 64>32, conv3 32>3",
    "relu3_1": "conv3 256>128, u2, conv3 128>64, u1, conv3 64>32, conv3 32>3",
    "relu4_1": "conv1 512>256, u3, conv3 256>128, u2, conv3 128>64, u1, conv3 64>32, conv3 32>3",
}

Switch = tuple[torch.Tensor, tuple[int, int]]


class Encoder(nn.Module):
    """VGG16's convolutions up to ``conv4_1`` with index-returning max-pooling (frozen).

    Args:
        weights: a VGG16 weights file (see :mod:`impasto.models.vgg` for the order of
            resolution); ``None`` with ``random=True`` keeps a random initialisation
            (tests).
        random: skip loading weights.
    """

    def __init__(self, weights: str | os.PathLike | None = None, *, random: bool = False) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({name: nn.Conv2d(cin, cout, 3, padding=1)
                                    for name, cin, cout, _ in ENCODER_CONVS})
        self.weights_path: str | None = None
        if not random:
            from impasto.models.vgg import load_state_dict, resolve_weights_path

            path, _ = resolve_weights_path(weights)
            sd = load_state_dict(path)
            for name, _, _, idx in ENCODER_CONVS:
                self.convs[name].weight.data.copy_(sd[f"features.{idx}.weight"])
                self.convs[name].bias.data.copy_(sd[f"features.{idx}.bias"])
            self.weights_path = str(path)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Encoder:  # always frozen, always eval
        return super().train(False)

    def run(self, x: torch.Tensor, upto: str, taps: tuple[str, ...] = ()) -> tuple[dict[str, torch.Tensor],
                                                                                  list[Switch]]:
        """Encode ``x`` up to the level ``upto``.

        Returns:
            ``({level: features}`` for ``upto`` and every level in ``taps``, ``switches)``:
            one ``(indices, pre-pool size)`` per max-pooling passed, pool1 first.
        """
        depth = LEVELS.index(upto)
        x = (x - self.mean) / self.std
        feats: dict[str, torch.Tensor] = {}
        switches: list[Switch] = []
        for i, block in enumerate(_BLOCKS[: depth + 1]):
            for j, name in enumerate(block):
                if i > 0 and j == len(block) - 1:  # VGG's pooling comes right before convK_1
                    size = (x.shape[-2], x.shape[-1])
                    x, idx = F.max_pool2d(x, 2, 2, return_indices=True)
                    switches.append((idx, size))
                x = F.relu(self.convs[name](x))
            level = LEVELS[i]
            if level == upto or level in taps:
                feats[level] = x
        return feats, switches

    def encode(self, x: torch.Tensor, level: str) -> tuple[torch.Tensor, list[Switch]]:
        """``(features at level, switches)``."""
        feats, switches = self.run(x, level)
        return feats[level], switches

    def features(self, x: torch.Tensor, levels: tuple[str, ...] | list[str]) -> dict[str, torch.Tensor]:
        """Features at several levels in one pass."""
        deepest = max(levels, key=LEVELS.index)
        return self.run(x, deepest, tuple(levels))[0]


def unpool(x: torch.Tensor, switch: Switch) -> torch.Tensor:
    """Max-unpooling: every value goes back to where its pooling window's maximum was.

    A scatter into zeros of the pre-pool size (odd sizes: the row/column the pooling
    dropped stays zero); exports to ONNX ``ScatterElements``.
    """
    idx, (h, w) = switch
    b, c = x.shape[0], x.shape[1]
    out = x.new_zeros(b, c, h * w)
    return out.scatter(2, idx.flatten(2), x.flatten(2)).view(b, c, h, w)


@dataclass(frozen=True)
class DecoderConfig:
    """Which decoder: the WCT ``level`` it inverts and its ``kind`` (``photo`` unpools, ``artistic`` upsamples)."""

    level: str
    kind: str = "photo"
    refine: int = 0

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"DecoderConfig: level expected one of {LEVELS}, got {self.level!r}")
        if self.kind not in KINDS:
            raise ValueError(f"DecoderConfig: kind expected one of {KINDS}, got {self.kind!r}")
        if not 0 <= self.refine <= 3:
            raise ValueError(f"DecoderConfig: refine expected 0..3 extra convolutions per upsampling, "
                             f"got {self.refine!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class Decoder(nn.Module):
    """Reconstruct the image from one level's features; see :data:`DECODER_LAYOUT`.

    ``forward(features, switches)`` takes the encoder's switches (``photo``: unpooling;
    ``artistic``: only their sizes, to upsample to the exact pre-pool size) and returns
    the unclamped ``(1, 3, H, W)`` image.

    The features are first multiplied by the per-channel buffer ``input_scale`` (part of
    the state dict), which the trainer sets once to ``1 / std(channel)`` over its first
    batches: VGG channels differ in scale by orders of magnitude (and the weight file
    changes the overall scale ~100x), and an input that badly conditioned slows Adam's
    convergence several-fold.
    """

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        k = LEVELS.index(config.level) + 1
        chans = [FINAL_WIDTH, 64, 128, 256, 512]
        self.stages = nn.ModuleList()
        for j in range(k, 0, -1):
            kernel = 1 if j == 4 else 3
            self.stages.append(nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(chans[j], chans[j - 1], kernel),
                                             nn.ReLU(inplace=True)))
        # config.refine extra 3x3 convolutions after each unpooling / upsampling, at its width
        # (an upsampled map is blocky; one layer that only narrows the channels cannot undo that)
        self.refines = nn.ModuleList(
            nn.Sequential(*[m for _ in range(config.refine) for m in (
                nn.ReflectionPad2d(1), nn.Conv2d(chans[j - 1], chans[j - 1], 3), nn.ReLU(inplace=True))])
            for j in range(k, 1, -1)) if config.refine else None
        self.out = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(FINAL_WIDTH, 3, 3))
        with torch.no_grad():  # start at the average photo colour: Adam moves a bias ~lr per step
            self.out[1].bias.copy_(torch.tensor(IMAGENET_MEAN))
        self.register_buffer("input_scale", torch.ones(1, chans[k], 1, 1))

    def forward(self, x: torch.Tensor, switches: list[Switch]) -> torch.Tensor:
        n = len(self.stages)
        x = x * self.input_scale
        if len(switches) != n - 1:
            raise ValueError(f"Decoder({self.config.level}): expected {n - 1} switches, got {len(switches)}")
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < n - 1:
                sw = switches[n - 2 - i]
                x = unpool(x, sw) if self.config.kind == "photo" else F.interpolate(x, size=sw[1], mode="nearest")
                if self.refines is not None:
                    x = self.refines[i](x)
        return self.out(x)


class StylePipeline(nn.Module):
    """The whole coarse-to-fine WCT / PhotoWCT stylisation as one module (see the module docstring).

    Args:
        encoder: the frozen :class:`Encoder`.
        decoders: one :class:`Decoder` per level to use, all of one kind.
        eps: relative covariance regularisation of the WCT.
        ns_iters: Newton–Schulz steps.
        min_pixels: weighted style pixels a label needs at a level (else global statistics).
        smooth_radius: guided-filter radius (``photo`` only).
        smooth_eps: guided-filter regularisation (``photo`` only).

    ``forward(content, style, content_mask, style_mask, alpha)`` returns
    ``(stylized, unsmoothed)`` for ``photo`` (``stylized`` is guided-filtered) and
    ``(stylized,)`` for ``artistic``; both in ``[0, 1]``.
    """

    def __init__(self, encoder: Encoder, decoders: dict[str, Decoder], *, eps: float = wct_mod.DEFAULT_EPS,
                 ns_iters: int = wct_mod.DEFAULT_NS_ITERS, min_pixels: float = wct_mod.DEFAULT_MIN_PIXELS,
                 smooth_radius: int = gf.DEFAULT_RADIUS, smooth_eps: float = SMOOTH_EPS) -> None:
        super().__init__()
        if not decoders:
            raise ValueError("StylePipeline: expected at least one decoder")
        kinds = {d.config.kind for d in decoders.values()}
        if len(kinds) != 1:
            raise ValueError(f"StylePipeline: expected decoders of one kind, got {sorted(kinds)}")
        for level, d in decoders.items():
            if d.config.level != level:
                raise ValueError(f"StylePipeline: decoder for {d.config.level} given as {level}")
        self.kind = kinds.pop()
        self.levels = tuple(sorted(decoders, key=LEVELS.index, reverse=True))  # coarse to fine
        self.encoder = encoder
        self.decoders = nn.ModuleDict({lv: decoders[lv] for lv in self.levels})
        self.eps, self.ns_iters, self.min_pixels = float(eps), int(ns_iters), float(min_pixels)
        self.smooth_radius, self.smooth_eps = int(smooth_radius), float(smooth_eps)
        self.requires_grad_(False)
        self.eval()

    def forward(self, content: torch.Tensor, style: torch.Tensor, content_mask: torch.Tensor,
                style_mask: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, ...]:
        s_feats = self.encoder.features(style, self.levels)
        c_masks, s_masks = wct_mod.mask_pyramid(content_mask, LEVELS), wct_mod.mask_pyramid(style_mask, LEVELS)
        first, content_switches = self.encoder.run(content, self.levels[0])
        x = content
        for i, level in enumerate(self.levels):
            f = first[level] if i == 0 else self.encoder.encode(x, level)[0]
            switches = content_switches[: LEVELS.index(level)]  # the content photo's (see the module docstring)
            t = wct_mod.wct(f, s_feats[level], c_masks[level], s_masks[level], alpha, eps=self.eps,
                            iters=self.ns_iters, min_pixels=self.min_pixels)
            x = self.decoders[level](t, switches).clamp(0.0, 1.0)
        if self.kind == "photo":
            smoothed = gf.guided_filter(content, x, self.smooth_radius, self.smooth_eps).clamp(0.0, 1.0)
            return smoothed, x
        return (x,)

    def describe(self) -> dict:
        return {"kind": self.kind, "levels": list(self.levels), "eps": self.eps, "ns_iters": self.ns_iters,
                "min_pixels": self.min_pixels, "smooth_radius": self.smooth_radius, "smooth_eps": self.smooth_eps}
