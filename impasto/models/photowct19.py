"""FastPhotoStyle's PhotoWCT (NVIDIA, ``photo_wct.pth``) in impasto's one-graph photoreal pipeline.

The upstream network has one VGG19 encoder per level (``e1`` … ``e4``, each a VGG19
prefix with its own weights, ending at ``relu1_1`` … ``relu4_1``) and one unpooling
decoder per level (``d1`` … ``d4``). :class:`VGG19Encoder` and :class:`UnpoolDecoder`
take their state dicts as stored (keys ``conv0``, ``conv1_1``, … as upstream names
them); :class:`PhotoWCT19Pipeline` runs them coarse to fine with impasto's WCT
(:func:`impasto.models.wct.wct`: Newton–Schulz square roots, soft label masks) and
guided-filter smoothing, with the same inputs and outputs as
:class:`impasto.models.photowct.StylePipeline` (contract ``photowct``).

Where it follows upstream and where not:
    - Style features at every level come from ``e4`` (upstream ``forward_multiple``);
      the content at level ``k`` is encoded by ``e_k``; decoders are not clamped
      between levels (upstream clamps only when saving the image).
    - The WCT is impasto's (relative ``eps`` regularisation, Newton–Schulz instead of
      SVD, soft masks with a global-statistics fallback) rather than upstream's SVD
      with ``+ I`` regularisation and per-label ``index_select``.
    - Unpooling uses the switches of the **content photo** encoded by ``e_k`` (upstream:
      those of the intermediate image): an argmax over a decoded image flips between
      neighbours on rounding-level differences, so ONNX Runtime and PyTorch would
      disagree by whole pixels (see :mod:`impasto.models.photowct`, "Switches").

Convention:
    Images are ``(1, 3, H, W)`` RGB in ``[0, 1]`` — upstream's own input (``ToTensor``):
    the encoders' learned 1x1 ``conv0`` maps it to the Caffe VGG's mean-subtracted BGR
    0–255 input, so no wrapper conversion is needed; the output is RGB ``[0, 1]``
    (clamped). Masks and ``alpha`` as in :mod:`impasto.models.photowct`. Sides at least
    :data:`MIN_SIDE` (``relu4_1`` at 1/8 resolution is reflect-padded).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from impasto.models import guided_filter as gf
from impasto.models import wct as wct_mod
from impasto.models.photowct import LEVELS, MIN_SIDE, Switch, unpool

__all__ = ["ENCODER_LAYERS", "DECODER_LAYERS", "MIN_SIDE", "VGG19Encoder", "UnpoolDecoder", "PhotoWCT19Pipeline",
           "expected_shapes"]

#: VGG19 encoder to ``relu4_1`` in order: (conv name, in, out); ``"pool"`` is a 2x2 max-pool with indices.
ENCODER_LAYERS: tuple[tuple[str, int, int] | str, ...] = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "pool",
    ("conv4_1", 256, 512),
)
#: The last encoder conv of each level (``relu{k}_1``).
_LEVEL_END = {"relu1_1": "conv1_1", "relu2_1": "conv2_1", "relu3_1": "conv3_1", "relu4_1": "conv4_1"}
#: Decoder of ``relu4_1`` in order: (conv name, in, out); ``"unpool"`` undoes the matching pool.
#: The decoder of level k is the tail starting at ``conv{k}_1`` (``d1``: ``conv1_1`` only).
DECODER_LAYERS: tuple[tuple[str, int, int] | str, ...] = (
    ("conv4_1", 512, 256), "unpool", ("conv3_4", 256, 256), ("conv3_3", 256, 256), ("conv3_2", 256, 256),
    ("conv3_1", 256, 128), "unpool", ("conv2_2", 128, 128),
    ("conv2_1", 128, 64), "unpool", ("conv1_2", 64, 64),
    ("conv1_1", 64, 3),
)


def _encoder_layers(level: str) -> list[tuple[str, int, int] | str]:
    end = _LEVEL_END[level]
    names = [layer if isinstance(layer, str) else layer[0] for layer in ENCODER_LAYERS]
    return list(ENCODER_LAYERS[: names.index(end) + 1])


def _decoder_layers(level: str) -> list[tuple[str, int, int] | str]:
    start = _LEVEL_END[level]
    names = [layer if isinstance(layer, str) else layer[0] for layer in DECODER_LAYERS]
    return list(DECODER_LAYERS[names.index(start):])


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of ``photo_wct.pth`` and its shape (``e1.conv0.weight`` … ``d4.conv1_1.bias``)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k, level in enumerate(LEVELS, start=1):
        shapes[f"e{k}.conv0.weight"], shapes[f"e{k}.conv0.bias"] = (3, 3, 1, 1), (3,)
        for prefix, layers in ((f"e{k}", _encoder_layers(level)), (f"d{k}", _decoder_layers(level))):
            for layer in layers:
                if not isinstance(layer, str):
                    name, cin, cout = layer
                    shapes[f"{prefix}.{name}.weight"], shapes[f"{prefix}.{name}.bias"] = (cout, cin, 3, 3), (cout,)
    return shapes


def _conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Reflection pad 1, 3x3 convolution (every upstream 3x3 layer)."""
    return conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))


class VGG19Encoder(nn.Module):
    """One upstream encoder ``e_k``: ``conv0`` (1x1) then VGG19 up to ``relu{k}_1``, reflection-padded.

    ``run(x, taps)`` returns ``({level: features}`` for this level and every level in
    ``taps``, ``switches)``: one ``(indices, pre-pool size)`` per max-pool, pool1 first.
    """

    def __init__(self, level: str) -> None:
        super().__init__()
        self.level = level
        self.layers = _encoder_layers(level)
        self.conv0 = nn.Conv2d(3, 3, 1)
        for layer in self.layers:
            if not isinstance(layer, str):
                self.add_module(layer[0], nn.Conv2d(layer[1], layer[2], 3))

    def run(self, x: torch.Tensor, taps: tuple[str, ...] = ()) -> tuple[dict[str, torch.Tensor], list[Switch]]:
        """Encode ``x`` to this encoder's level (and the levels in ``taps``)."""
        return self._run(x, taps, switches_only=False)

    def switches(self, x: torch.Tensor) -> list[Switch]:
        """Only the switches of ``x`` (stops after the last max-pool)."""
        return self._run(x, (), switches_only=True)[1]

    def _run(self, x: torch.Tensor, taps: tuple[str, ...], switches_only: bool) -> tuple[
            dict[str, torch.Tensor], list[Switch]]:
        pools = LEVELS.index(self.level)
        feats: dict[str, torch.Tensor] = {}
        switches: list[Switch] = []
        if switches_only and pools == 0:
            return feats, switches
        x = self.conv0(x)
        for layer in self.layers:
            if layer == "pool":
                size = (x.shape[-2], x.shape[-1])
                x, idx = F.max_pool2d(x, 2, 2, return_indices=True)
                switches.append((idx, size))
                if switches_only and len(switches) == pools:
                    break
                continue
            name = layer[0]
            x = F.relu(_conv(x, getattr(self, name)))
            level = f"relu{name[4]}_1"
            if name.endswith("_1") and (level in taps or level == self.level):
                feats[level] = x
        return feats, switches


class UnpoolDecoder(nn.Module):
    """One upstream decoder ``d_k``: ``relu{k}_1`` features and the switches -> the unclamped image."""

    def __init__(self, level: str) -> None:
        super().__init__()
        self.level = level
        self.layers = _decoder_layers(level)
        for layer in self.layers:
            if not isinstance(layer, str):
                self.add_module(layer[0], nn.Conv2d(layer[1], layer[2], 3))

    def forward(self, x: torch.Tensor, switches: list[Switch]) -> torch.Tensor:
        pending = list(switches)
        if len(pending) != LEVELS.index(self.level):
            raise ValueError(f"UnpoolDecoder({self.level}): expected {LEVELS.index(self.level)} switches, "
                             f"got {len(pending)}")
        for layer in self.layers:
            if layer == "unpool":
                x = unpool(x, pending.pop())
            else:
                x = _conv(x, getattr(self, layer[0]))
                if layer[0] != "conv1_1":
                    x = F.relu(x)
        return x


class PhotoWCT19Pipeline(nn.Module):
    """The upstream PhotoWCT (``e1``–``e4``, ``d1``–``d4``) as one ``photowct``-contract module.

    Load the upstream state dict with ``load_state_dict`` (keys as in ``photo_wct.pth``).
    Settings as :class:`impasto.models.photowct.StylePipeline`. ``forward(content, style,
    content_mask, style_mask, alpha)`` returns ``(stylized, unsmoothed)``, both in ``[0, 1]``.
    """

    kind = "photo"
    levels: tuple[str, ...] = tuple(reversed(LEVELS))  # coarse to fine

    def __init__(self, *, eps: float = wct_mod.DEFAULT_EPS, ns_iters: int = wct_mod.DEFAULT_NS_ITERS,
                 min_pixels: float = wct_mod.DEFAULT_MIN_PIXELS, smooth_radius: int = gf.DEFAULT_RADIUS,
                 smooth_eps: float = gf.DEFAULT_EPS) -> None:
        super().__init__()
        for k, level in enumerate(LEVELS, start=1):
            self.add_module(f"e{k}", VGG19Encoder(level))
            self.add_module(f"d{k}", UnpoolDecoder(level))
        self.eps, self.ns_iters, self.min_pixels = float(eps), int(ns_iters), float(min_pixels)
        self.smooth_radius, self.smooth_eps = int(smooth_radius), float(smooth_eps)
        self.requires_grad_(False)
        self.eval()

    def forward(self, content: torch.Tensor, style: torch.Tensor, content_mask: torch.Tensor,
                style_mask: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s_feats = self.e4.run(style, taps=LEVELS)[0]
        c_masks, s_masks = {LEVELS[0]: content_mask}, {LEVELS[0]: style_mask}
        for a, b in zip(LEVELS[:-1], LEVELS[1:]):
            c_masks[b], s_masks[b] = wct_mod.pool_mask(c_masks[a]), wct_mod.pool_mask(s_masks[a])
        x = content
        for i, level in enumerate(self.levels):
            k = LEVELS.index(level) + 1
            encoder = getattr(self, f"e{k}")
            if i == 0:  # x is the content: one pass gives the features and the switches
                feats, switches = encoder.run(content)
            else:  # the content photo's switches (see the module docstring)
                feats, switches = encoder.run(x)[0], encoder.switches(content)
            t = wct_mod.wct(feats[level], s_feats[level], c_masks[level], s_masks[level], alpha, eps=self.eps,
                            iters=self.ns_iters, min_pixels=self.min_pixels)
            x = getattr(self, f"d{k}")(t, switches)
        x = x.clamp(0.0, 1.0)
        smoothed = gf.guided_filter(content, x, self.smooth_radius, self.smooth_eps).clamp(0.0, 1.0)
        return smoothed, x

    def describe(self) -> dict:
        return {"kind": self.kind, "levels": list(self.levels), "eps": self.eps, "ns_iters": self.ns_iters,
                "min_pixels": self.min_pixels, "smooth_radius": self.smooth_radius, "smooth_eps": self.smooth_eps,
                "encoder": "vgg19-per-level (FastPhotoStyle e1-e4)"}
