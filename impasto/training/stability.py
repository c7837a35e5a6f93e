"""A stability term for feed-forward stylisation networks (video without flicker at the source).

Gupta et al. 2017 ("Characterizing and Improving Stability in Neural Style Transfer") and
Huang et al. 2017 ("Real-Time Neural Style Transfer for Videos") train the network so that
a slightly changed input changes the output only as much as the input changed. Here the
change is what consecutive video frames differ by: a small random shift ``T`` plus sensor
noise ``n``. With ``y = f(x)``:

    L_stab = mean_interior((f(T(x) + n) - T(y))^2) / mean(n^2)

i.e. the output's change after undoing the motion, relative to the input's (the noise
power). 1 means the network passes noise through unamplified and moves its texture with
the scene; an unstable network scores tens. Both ``f`` calls carry gradients.

By default the shifts are whole pixels, so ``T`` is exact. A bilinear sub-pixel ``T``
resamples ``y``, which blurs its finest texture, and the term would then penalise a sharp
but perfectly equivariant output (a first version with bilinear sub-pixel shifts, small
rotations and zooms did, and washed the styles out). With ``subpixel=True`` the shifts are
real numbers and ``T`` is a Fourier (phase-ramp) shift, which moves every frequency without
attenuating any: white noise shifted by half a pixel keeps its power. Each image is
extended by mirroring it into a ``2H x 2W`` tile before the transform, so the tile's
periodic extension has no jump at its seams and the shift does not ring there. Real video
moves by fractions of a pixel per frame; a stride-2 network is not shift-equivariant for
shifts that are not multiples of its stride, which is where moving scenes make the
texture swim.

Convention:
    Images ``(B, 3, H, W)`` RGB in ``[0, 1]``; each batch element gets its own shift
    ``(dy, dx)`` in ``[-max_shift, max_shift]``: whole pixels (edges replicated) or, with
    ``subpixel``, uniform real numbers (edges mirrored), drawn from the ``torch`` generator
    passed in, as is the noise. Positive shifts move the content down and right. A margin at the border (where
    the replicated edge and reflection padding make shifted outputs differ) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class StabilityConfig:
    """How the input is perturbed for :func:`stability_loss`.

    Attributes:
        max_shift: largest shift, pixels, each axis.
        noise: standard deviation of the Gaussian noise added after the shift (``[0, 1]`` units).
        margin: border pixels left out of the loss (at least ``max_shift``).
        subpixel: real-valued shifts applied in the Fourier domain instead of whole pixels.
    """

    max_shift: int = 3
    noise: float = 0.02
    margin: int = 8
    subpixel: bool = False

    def __post_init__(self) -> None:
        if self.max_shift < 0 or self.noise <= 0 or self.margin < self.max_shift:
            raise ValueError(f"StabilityConfig: expected max_shift >= 0, noise > 0 and margin >= max_shift, "
                             f"got {self}")


def random_shifts(batch: int, cfg: StabilityConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, 2)`` shifts ``(dy, dx)`` in ``[-max_shift, max_shift]``: integers, or float64 with ``subpixel``."""
    if cfg.subpixel:
        return (torch.rand(batch, 2, generator=generator, dtype=torch.float64) * 2 - 1) * cfg.max_shift
    return torch.randint(-cfg.max_shift, cfg.max_shift + 1, (batch, 2), generator=generator)


def shift_images(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each image moved by its ``(dy, dx)`` whole pixels (content moves down/right for positive values).

    Exact: pixel ``(i, j)`` of the result is pixel ``(i - dy, j - dx)`` of the input, with
    the edge rows and columns replicated where that falls outside.
    """
    _, _, h, w = images.shape
    pad = int(shifts.abs().max())
    padded = F.pad(images, (pad,) * 4, mode="replicate") if pad else images
    out = [padded[i:i + 1, :, pad - int(dy):pad - int(dy) + h, pad - int(dx):pad - int(dx) + w]
           for i, (dy, dx) in enumerate(shifts.tolist())]
    return torch.cat(out, dim=0)


def fourier_shift_images(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each image moved by its real-valued ``(dy, dx)`` pixels with a phase ramp (no blur).

    The image is mirrored into a ``2H x 2W`` tile (whose periodic extension is continuous),
    shifted as a periodic signal, and cropped back. An integer shift equals
    :func:`shift_images` away from the edges, where mirrored rather than replicated pixels
    come in. Differentiable; computed in float32 or wider, returned in the input's dtype.

    Raises:
        ValueError: if ``shifts`` is not ``(B, 2)`` for ``B`` images.
    """
    b, _, h, w = images.shape
    if shifts.shape != (b, 2):
        raise ValueError(f"fourier_shift_images: expected shifts of shape ({b}, 2), got {tuple(shifts.shape)}")
    x = images.float() if images.dtype in (torch.float16, torch.bfloat16) else images
    tile = torch.cat([x, x.flip(-1)], dim=-1)
    tile = torch.cat([tile, tile.flip(-2)], dim=-2)
    fy = torch.fft.fftfreq(2 * h, device=x.device, dtype=torch.float64).view(1, 1, -1, 1)
    fx = torch.fft.rfftfreq(2 * w, device=x.device, dtype=torch.float64).view(1, 1, 1, -1)
    d = shifts.to(device=x.device, dtype=torch.float64)
    angle = -2 * math.pi * (fy * d[:, 0].view(-1, 1, 1, 1) + fx * d[:, 1].view(-1, 1, 1, 1))
    ramp = torch.polar(torch.ones_like(angle), angle).to(torch.complex64 if x.dtype == torch.float32
                                                         else torch.complex128)
    moved = torch.fft.irfft2(torch.fft.rfft2(tile) * ramp, s=(2 * h, 2 * w))
    return moved[..., :h, :w].to(images.dtype)


def stability_loss(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   cfg: StabilityConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """``L_stab`` of the module docstring for ``y = net(x)``; a scalar tensor with gradients through both calls.

    Raises:
        ValueError: if ``x`` and ``y`` differ in shape, or the image is not larger than twice the margin.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"stability_loss: expected x and y of one (B, C, H, W) shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    b, _, h, w = x.shape
    m = cfg.margin
    if min(h, w) <= 2 * m:
        raise ValueError(f"stability_loss: expected images larger than 2 x margin ({2 * m} px), got {h}x{w}")
    shifts = random_shifts(b, cfg, generator)
    noise = torch.randn(x.shape, generator=generator).to(x) * cfg.noise
    move = fourier_shift_images if cfg.subpixel else shift_images
    moved = net(move(x, shifts) + noise)
    diff = moved - move(y, shifts)
    return diff[..., m:h - m, m:w - m].square().mean() / noise.square().mean()
