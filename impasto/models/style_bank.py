"""Adjustable style bank: one CPU-oriented network, N styles, per-layer loss weights as inputs.

Two ideas in one network:

- **Style bank** (Dumoulin et al. 2017, conditional instance normalisation): every
  normalisation layer's scale γ and shift β are a convex combination over styles,
  ``γ = Σ_s w_s γ_s``, so a one-hot ``w`` selects a style and any other ``w`` mixes them.
- **Adjustable losses** (Babaeizadeh & Ghiasi 2018): γ and β also depend on the loss
  weights ``α = (α_c, α_s)`` the network was trained to honour (one per VGG16 content
  layer, one per style layer) through a small MLP ``h = Λ(α)``; per style,
  ``(γ, β)_s = A_s h + b_s``. Both together: ``(γ, β) = Σ_s w_s (A_s h + b_s)``, which is
  linear in ``w`` (mixing interpolates the normalisation parameters) and smooth in ``α``.

The trunk is built for ONNX Runtime on a CPU: the first convolution already has stride 2,
the residual blocks run at 1/4 resolution, upsampling is a bilinear (or, in the first
shipped bank, nearest-neighbour) resize + 3x3 convolution (no checkerboards), and the
only full-resolution convolution is the thin last one (``widths[0] -> 3`` channels).

Convention:
    Image input ``(B, 3, H, W)`` RGB in ``[0, 1]``, any ``H, W`` >= 5 (odd sizes
    included); the output has exactly the input's size, raw (unbounded) in training,
    clamped to ``[0, 1]`` by :class:`ClampedBank` (the exported graph).
    ``style_weights`` is ``(N,)``: non-negative, summing to 1 (the caller normalises);
    ``content_layer_weights`` is ``(len(content_layers),)`` and ``style_layer_weights``
    ``(len(style_layers),)``, non-negative, 1 = the training default. One set of weights
    applies to the whole image batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from impasto.models.norm_stats import StatsExchange

#: VGG16 layers of the losses (the feed-forward trainer's choice): α_c has one entry per
#: content layer, α_s one per style layer.
CONTENT_LAYERS: tuple[str, ...] = ("relu2_2",)
STYLE_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
UPSAMPLE_MODES: tuple[str, ...] = ("bilinear", "nearest")


@dataclass(frozen=True)
class StyleBankConfig:
    """Shape of a :class:`StyleBankNet`.

    Attributes:
        n_styles: number of styles in the bank.
        widths: channels at 1/2, 1/4 (the residual blocks) resolution.
        n_residual: residual blocks at 1/4 resolution.
        hidden: width of the α MLP.
        upsample: ``"bilinear"`` (smooth; the default for new banks) or ``"nearest"``
            (the first shipped bank; its 2x2 blocks show as stair-stepped diagonals).
        content_layers: VGG16 taps α_c refers to (one weight each).
        style_layers: VGG16 taps α_s refers to (one weight each).
    """

    n_styles: int
    widths: tuple[int, int] = (24, 64)
    n_residual: int = 3
    hidden: int = 16
    upsample: str = "nearest"
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS

    def __post_init__(self) -> None:
        if self.n_styles < 1 or min(self.widths) < 1 or self.n_residual < 0 or self.hidden < 1:
            raise ValueError(f"StyleBankConfig: expected n_styles, widths, hidden >= 1 and n_residual >= 0, got {self}")
        if len(self.widths) != 2:
            raise ValueError(f"StyleBankConfig: expected 2 widths, got {self.widths}")
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"StyleBankConfig: expected upsample in {UPSAMPLE_MODES}, got {self.upsample!r}")
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "content_layers", tuple(self.content_layers))
        object.__setattr__(self, "style_layers", tuple(self.style_layers))

    @property
    def n_alpha(self) -> int:
        return len(self.content_layers) + len(self.style_layers)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


class CondInstanceNorm(nn.Module):
    """Instance normalisation whose γ, β are given per call (a slice of the conditioning vector)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        #: Set by :class:`~impasto.models.norm_stats.StatsForm`: statistics given from outside.
        self.exchange: StatsExchange | None = None

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5) if self.exchange is None else self.exchange.normalize(x, 1e-5)
        return x * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)


class Conditioning(nn.Module):
    """``(w, α) -> concatenated (γ, β)`` of every normalisation layer, linear in ``w``.

    ``h = Λ(α)`` (two-layer ReLU MLP); per style ``A_s h + b_s``; the result is
    ``Σ_s w_s (A_s h + b_s)``. ``b_s`` starts at γ = 1, β = 0 and ``A_s`` near 0.
    """

    def __init__(self, n_styles: int, n_alpha: int, hidden: int, channels: list[int]) -> None:
        super().__init__()
        self.channels = channels
        total = sum(channels)
        self.mlp = nn.Sequential(nn.Linear(n_alpha, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.A = nn.Parameter(torch.randn(n_styles, 2 * total, hidden) * 0.01)
        self.b = nn.Parameter(torch.cat([torch.ones(n_styles, total), torch.zeros(n_styles, total)], dim=1))

    def forward(self, style_weights: torch.Tensor, alpha: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        h = self.mlp(alpha)  # (hidden,)
        # A_s h for every style as one h @ A^T with the constant on the right, which ONNX Runtime
        # pre-packs: the batched A @ h form cost 1.5 ms a call on the CPU (7 % of a 320x180 frame).
        n, rows, hidden = self.A.shape
        per_style = torch.matmul(h, self.A.reshape(n * rows, hidden).t()).reshape(n, rows) + self.b  # (N, 2T)
        gb = torch.matmul(style_weights, per_style)  # (2T,)
        total = sum(self.channels)
        gamma, beta = gb[:total], gb[total:]
        out, start = [], 0
        for c in self.channels:
            out.append((gamma[start:start + c], beta[start:start + c]))
            start += c
        return out


class _Conv(nn.Module):
    """Reflection pad + conv; ``cin`` / ``cout`` / stride as given."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.pad = k // 2
        self.conv = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        return self.conv(x)


class StyleBankNet(nn.Module):
    """The bank's image network; see the module docstring for the convention."""

    def __init__(self, config: StyleBankConfig) -> None:
        super().__init__()
        self.config = config
        w1, w2 = config.widths
        self.down1 = _Conv(3, w1, 3, stride=2)
        self.down2 = _Conv(w1, w2, 3, stride=2)
        self.res = nn.ModuleList(_Conv(w2, w2) for _ in range(2 * config.n_residual))
        self.up1 = _Conv(w2, w1)
        self.out = _Conv(w1, 3)
        norm_channels = [w1, w2] + [w2] * (2 * config.n_residual) + [w1]
        self.norms = nn.ModuleList(CondInstanceNorm(c) for c in norm_channels)
        self.cond = Conditioning(config.n_styles, config.n_alpha, config.hidden, norm_channels)

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor, content_layer_weights: torch.Tensor,
                style_layer_weights: torch.Tensor) -> torch.Tensor:
        gb = self.cond(style_weights, torch.cat([content_layer_weights, style_layer_weights]))
        norms = iter(zip(self.norms, gb, strict=True))

        def norm(t: torch.Tensor) -> torch.Tensor:
            layer, (g, b) = next(norms)
            return layer(t, g, b)

        e1 = F.relu(norm(self.down1(x)))  # 1/2
        y = F.relu(norm(self.down2(e1)))  # 1/4
        for i in range(0, len(self.res), 2):
            r = F.relu(norm(self.res[i](y)))
            y = y + norm(self.res[i + 1](r))
        y = self._up(y, e1.shape[-2:])
        y = F.relu(norm(self.up1(y)))
        y = self._up(y, x.shape[-2:])
        return self.out(y)

    def _up(self, y: torch.Tensor, size: torch.Size) -> torch.Tensor:
        if self.config.upsample == "nearest":
            return F.interpolate(y, size=size, mode="nearest")
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class ClampedBank(nn.Module):
    """The exported graph: :class:`StyleBankNet` with its output clamped to ``[0, 1]``."""

    def __init__(self, net: StyleBankNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor, content_layer_weights: torch.Tensor,
                style_layer_weights: torch.Tensor) -> torch.Tensor:
        return self.net(image, style_weights, content_layer_weights, style_layer_weights).clamp(0.0, 1.0)
