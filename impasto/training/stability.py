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

The shifts are whole pixels, so ``T`` is exact: a sub-pixel ``T`` resamples ``y``, which
blurs its finest texture, and the term would then penalise a sharp but perfectly
equivariant output (a first version with sub-pixel shifts, small rotations and zooms
did, and washed the styles out). A stride-2 network is not shift-equivariant for shifts
that are not multiples of its stride, which is where moving scenes make the texture swim.

Convention:
    Images ``(B, 3, H, W)`` RGB in ``[0, 1]``; each batch element gets its own shift
    ``(dy, dx)``, whole pixels in ``[-max_shift, max_shift]`` (edges replicated), drawn
    from the ``torch`` generator passed in, as is the noise. A margin at the border (where
    the replicated edge and reflection padding make shifted outputs differ) is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class StabilityConfig:
    """How the input is perturbed for :func:`stability_loss`.

    Attributes:
        max_shift: largest shift, whole pixels, each axis.
        noise: standard deviation of the Gaussian noise added after the shift (``[0, 1]`` units).
        margin: border pixels left out of the loss (at least ``max_shift``).
    """

    max_shift: int = 3
    noise: float = 0.02
    margin: int = 8

    def __post_init__(self) -> None:
        if self.max_shift < 0 or self.noise <= 0 or self.margin < self.max_shift:
            raise ValueError(f"StabilityConfig: expected max_shift >= 0, noise > 0 and margin >= max_shift, "
                             f"got {self}")


def random_shifts(batch: int, cfg: StabilityConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, 2)`` integer shifts ``(dy, dx)`` in ``[-max_shift, max_shift]``."""
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
    moved = net(shift_images(x, shifts) + noise)
    diff = moved - shift_images(y, shifts)
    return diff[..., m:h - m, m:w - m].square().mean() / noise.square().mean()
