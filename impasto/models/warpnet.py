"""Learning to Warp (Liu, Yang & Hall, CVPR 2021): a network that warps a content image towards a guide's geometry.

Pipeline (``K = steps`` refinement steps, ``w_0 = 0``)::

    F_g = pool4(guide)                                  # VGG16, L2-normalised inside the correlation
    for k in 0 .. K-1:
        F_c = pool4(warp(content, w_k))                 # features re-extracted from the warped content
        M   = correlation4d(F_g, F_c)                   # normalised 4D correlation (impasto.ops)
        w_{k+1} = w_k + f(M)                            # f: a small CNN on the correlation volume
    field = upsample(w_K) to the content's resolution;  warped = warp(content, field)

``f`` sees the correlation volume as an image over the guide grid whose channels are
the content positions, plus four extra channels: the normalised coordinates of each
guide cell and a local soft-argmax displacement ``h`` of its correlation row (the
expected matched content position minus its own position, under a softmax of
``scale * M`` times a Gaussian prior of ``prior_sigma`` cells around the cell itself, so
one step moves a cell by about a cell or two and far-away outliers cannot win). Its
output is ``g * h + cnn(...)`` with a learned scalar gate ``g`` starting at 1 and a last
convolution starting at zero: the untrained network is this local matcher, and
training learns corrections (smoothing, outlier rejection, sub-cell offsets).

Convention:
    Images are ``(B, 3, H, W)`` float RGB in ``[0, 1]``; content and guide may differ in
    size and aspect ratio: both are resized (bilinear, antialiased) to the working square
    ``size x size`` for the features, so the guide's geometry is stretched to the
    content's frame. The warp field is ``(B, 2, H, W)`` at the content's resolution:
    channel 0 is the x offset and channel 1 the y offset, in normalised coordinates
    ``[-1, 1]`` with ``align_corners=False`` (``grid_sample``'s convention: 2/W per pixel
    in x). The warped image at pixel p shows the content at ``p + field(p)`` (bilinear,
    zeros outside): ``warped = grid_sample(content, identity + field)``. Correlation
    volumes are laid out ``(B, Hc*Wc, Hg, Wg)``: channel ``i*Wc + j`` holds the
    correlation of every guide cell with content cell ``(i, j)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from impasto.errors import UserError

#: Layers of ``VGG16Features.features`` up to and including ``pool4`` (conv + ReLU pairs and pools).
POOL4_END = 24
#: Layers of ``VGG16Features.features`` up to and including ``relu4_1``.
RELU4_1_END = 19
#: The encoders a warp network can use (:attr:`WarpNetConfig.encoder`), both ``(B, 512, H/16, W/16)``:
#: ``relu4_1``: VGG16 to relu4_1, then a 2x2 max-pool (the depth the WCT graphs use, so the
#: built-in graphs share one encoder); ``pool4``: VGG16 to pool4 (conv4_2 and conv4_3 more).
ENCODERS = ("relu4_1", "pool4")
#: pool4 downsamples by this factor.
STRIDE = 16
#: The hint's gate is ``GATE_SCALE * gate``, so a unit-step optimiser can open it within tens of steps.
GATE_SCALE = 20.0


@dataclass(frozen=True)
class WarpNetConfig:
    """Architecture of a :class:`WarpNet` (stored in checkpoints and the ONNX metadata).

    Attributes:
        size: the working square side in pixels (a multiple of 16); the correlation
            volume has ``(size / 16)^2`` channels, so a trained network keeps its size.
        steps: refinement steps ``K``.
        hidden: width of the CNN ``f``.
        softmax_scale: initial scale of the soft-argmax hint (learned).
        prior_sigma: width of the hint's Gaussian prior, in pool4 cells.
        encoder: the feature extractor, one of :data:`ENCODERS`.
    """

    size: int = 192
    steps: int = 3
    hidden: int = 128
    softmax_scale: float = 50.0
    prior_sigma: float = 1.0
    encoder: str = "relu4_1"

    def __post_init__(self) -> None:
        if self.size < 32 or self.size % STRIDE:
            raise UserError(f"warpnet size: expected a multiple of {STRIDE} >= 32, got {self.size}")
        if self.steps < 1 or self.hidden < 4 or not self.softmax_scale > 0 or not self.prior_sigma > 0:
            raise UserError(f"warpnet: expected steps >= 1, hidden >= 4, softmax_scale > 0, got steps={self.steps}, "
                            f"hidden={self.hidden}, softmax_scale={self.softmax_scale}, prior_sigma={self.prior_sigma}")
        if self.encoder not in ENCODERS:
            raise UserError(f"warpnet encoder: expected one of {ENCODERS}, got {self.encoder!r}")

    @property
    def grid(self) -> int:
        """Side of the pool4 grid (and of the coarse field)."""
        return self.size // STRIDE

    def to_dict(self) -> dict:
        return asdict(self)


def identity_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """``(1, 2, H, W)`` normalised pixel-centre coordinates (x, y), ``align_corners=False``."""
    xs = (torch.arange(width, dtype=like.dtype, device=like.device) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=like.dtype, device=like.device) * 2 + 1) / height - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy])[None]


def warp_image(image: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``identity + field`` (bilinear, zeros outside); ``field`` is resized to the image first.

    Args:
        image: ``(B, C, H, W)``.
        field: ``(B, 2, h, w)`` offsets in normalised coordinates (see the module convention).
    """
    h, w = image.shape[-2:]
    if field.shape[-2:] != (h, w):
        field = F.interpolate(field, size=(h, w), mode="bilinear", align_corners=False)
    grid = (identity_grid(h, w, field) + field).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Pool4Encoder(nn.Module):
    """VGG16 (frozen, ImageNet-normalising) to stride 16: ``(B, 3, H, W)`` -> ``(B, 512, H/16, W/16)``.

    Args:
        weights: a VGG16 weights file (see :mod:`impasto.models.vgg`).
        depth: ``"pool4"`` (VGG16 up to pool4) or ``"relu4_1"`` (up to relu4_1, then a 2x2
            max-pool: the same stride and width from the layers the WCT graphs use).
    """

    def __init__(self, weights: str | os.PathLike | None = None, depth: str = "pool4") -> None:
        super().__init__()
        from impasto.models.vgg import VGG16Features

        if depth not in ENCODERS:
            raise ValueError(f"Pool4Encoder: depth expected one of {ENCODERS}, got {depth!r}")
        vgg = VGG16Features(weights)
        self.weights_path = vgg.weights_path
        self.depth = depth
        self.layers = (vgg.features[:POOL4_END] if depth == "pool4"
                       else nn.Sequential(*vgg.features[:RELU4_1_END], nn.MaxPool2d(2, 2)))
        self.register_buffer("mean", vgg.mean.clone(), persistent=False)
        self.register_buffer("std", vgg.std.clone(), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Pool4Encoder:  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.std)


class FieldHead(nn.Module):
    """The CNN ``f``: a correlation volume ``(B, g*g, g, g)`` -> a field increment ``(B, 2, g, g)``."""

    def __init__(self, grid: int, hidden: int, softmax_scale: float, prior_sigma: float) -> None:
        super().__init__()
        self.grid = grid
        self.prior_sigma = prior_sigma
        self.log_scale = nn.Parameter(torch.tensor(math.log(softmax_scale)))
        # used as GATE_SCALE * gate (Adam moves it ~lr * GATE_SCALE a step), starting at 1
        self.gate = nn.Parameter(torch.tensor(1.0 / GATE_SCALE))
        c = grid * grid + 4
        self.net = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden // 2, 2, 3, padding=1),
        )
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        b, n, g, _ = volume.shape
        coords = identity_grid(g, g, volume)  # (1, 2, g, g), guide cells; content cells share the grid
        flat = coords.reshape(1, 2, n)
        d2 = (flat[:, :, :, None] - flat[:, :, None, :]).square().sum(1)  # (1, content, guide)
        prior = d2 * (-0.5 / (self.prior_sigma * 2.0 / g) ** 2)
        logits = volume.reshape(b, n, n) * self.log_scale.exp() + prior
        prob = torch.softmax(logits, dim=1)  # over content positions
        expected = torch.matmul(flat, prob).reshape(b, 2, g, g)
        hint = expected - coords
        x = torch.cat([volume, hint, coords.expand(b, -1, -1, -1)], dim=1)
        return GATE_SCALE * self.gate * hint + self.net(x)


class WarpNet(nn.Module):
    """Content + guide -> a dense warp field and the warped content (see the module docstring).

    Args:
        config: the architecture.
        encoder: a :class:`Pool4Encoder` (or any module with the same signature; tests pass small ones).
    """

    def __init__(self, config: WarpNetConfig, encoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.head = FieldHead(config.grid, config.hidden, config.softmax_scale, config.prior_sigma)

    def _working(self, image: torch.Tensor) -> torch.Tensor:
        s = self.config.size
        return F.interpolate(image, size=(s, s), mode="bilinear", align_corners=False, antialias=True)

    def volume(self, guide_features: torch.Tensor, content_features: torch.Tensor) -> torch.Tensor:
        """The normalised correlation laid out ``(B, Hc*Wc, Hg, Wg)`` (see the module convention)."""
        from impasto.ops import correlation4d

        corr = correlation4d(guide_features, content_features)  # (B, Hg, Wg, Hc, Wc)
        b, hg, wg, hc, wc = corr.shape
        return corr.reshape(b, hg * wg, hc * wc).transpose(1, 2).reshape(b, hc * wc, hg, wg)

    def coarse_fields(self, content: torch.Tensor, guide: torch.Tensor,
                      features: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The coarse fields ``w_1 .. w_K`` (each ``(B, 2, g, g)``) for working-size inputs.

        Args:
            content, guide: ``(B, 3, size, size)``.
            features: ``(F_g, F_c)``, the pool4 features of ``guide`` and ``content`` when
                the caller has them already (training reuses them for its loss).

        Features of the warped content are re-extracted without gradient (the frozen
        encoder), so gradients reach ``f`` through every step's increment.
        """
        fg, fc0 = features if features is not None else (self.encoder(guide), None)
        w = content.new_zeros(content.shape[0], 2, self.config.grid, self.config.grid)
        fields = []
        for k in range(self.config.steps):
            if k == 0:
                fc = fc0 if fc0 is not None else self.encoder(content)
            else:
                with torch.no_grad():
                    fc = self.encoder(warp_image(content, w.detach()))
            w = w + self.head(self.volume(fg, fc))
            fields.append(w)
        return fields

    def forward(self, content: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Warp ``content`` towards ``guide``'s geometry.

        Args:
            content: ``(B, 3, H, W)`` in ``[0, 1]``.
            guide: ``(B, 3, Hg, Wg)`` in ``[0, 1]``.

        Returns:
            ``(field, warped)``: ``(B, 2, H, W)`` and ``(B, 3, H, W)`` (see the module convention).
        """
        coarse = self.coarse_fields(self._working(content), self._working(guide))[-1]
        h, w = content.shape[-2:]
        field = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
        return field, warp_image(content, field)


def build_warpnet(config: WarpNetConfig, vgg_weights: str | os.PathLike | None = None) -> WarpNet:
    """A :class:`WarpNet` with the VGG16 encoder its ``config`` names."""
    return WarpNet(config, Pool4Encoder(vgg_weights, config.encoder))
