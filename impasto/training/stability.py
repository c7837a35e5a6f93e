"""A stability term for feed-forward stylisation networks (video without flicker at the source).

Gupta et al. 2017 ("Characterizing and Improving Stability in Neural Style Transfer") and
Huang et al. 2017 ("Real-Time Neural Style Transfer for Videos") train the network so that
a slightly changed input changes the output only as much as the input changed. Here the
change is what consecutive video frames differ by: a small random sub-pixel motion ``T``
(shift, rotation, zoom) plus sensor noise ``n``. With ``y = f(x)``:

    L_stab = mean_interior((f(T(x) + n) - T(y))^2) / mean(n^2)

i.e. the output's change after undoing the motion, relative to the input's (the noise
power). 1 means the network passes noise through unamplified; an unstable network scores
tens. Both ``f`` calls carry gradients. A margin at the border (where reflection padding
and the warp's edge handling disagree) is left out.

Convention:
    Images ``(B, 3, H, W)`` RGB in ``[0, 1]``; the motion is in pixels of that image
    (``max_shift``), radians (``max_rotation``) and a relative zoom (``max_zoom``); one
    motion per batch element, drawn from ``torch``'s generator passed in.
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
        max_shift: largest shift, pixels, each axis (uniform in ``[-max_shift, max_shift]``).
        max_rotation: largest rotation, radians.
        max_zoom: largest relative zoom (``0.02`` = up to 2 % larger or smaller).
        noise: standard deviation of the Gaussian noise added after the motion (``[0, 1]`` units).
        margin: border pixels left out of the loss.
    """

    max_shift: float = 1.5
    max_rotation: float = 0.01
    max_zoom: float = 0.02
    noise: float = 0.02
    margin: int = 8

    def __post_init__(self) -> None:
        if min(self.max_shift, self.max_rotation, self.max_zoom) < 0 or self.noise <= 0 or self.margin < 0:
            raise ValueError(f"StabilityConfig: expected non-negative motion, noise > 0 and margin >= 0, got {self}")


def random_motion(batch: int, height: int, width: int, cfg: StabilityConfig,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, 2, 3)`` affine matrices (``F.affine_grid``'s normalised convention) of small random motions."""
    u = torch.rand(batch, 4, generator=generator) * 2 - 1
    angle = u[:, 0] * cfg.max_rotation
    zoom = 1 + u[:, 1] * cfg.max_zoom
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(batch, 2, 3)
    # affine_grid works in [-1, 1] coordinates: a rotation there must respect the aspect ratio.
    aspect = width / height
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin / aspect
    theta[:, 1, 0], theta[:, 1, 1] = sin * aspect, cos
    theta[:, 0, 2] = u[:, 2] * cfg.max_shift * 2 / width
    theta[:, 1, 2] = u[:, 3] * cfg.max_shift * 2 / height
    return theta


def apply_motion(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``images`` resampled (bilinear, border-replicated) by the motions ``theta``."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


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
    theta = random_motion(b, h, w, cfg, generator).to(x.device)
    noise = torch.randn(x.shape, generator=generator).to(x) * cfg.noise
    moved = net(apply_motion(x, theta) + noise)
    diff = moved - apply_motion(y, theta)
    return diff[..., m:h - m, m:w - m].square().mean() / noise.square().mean()
