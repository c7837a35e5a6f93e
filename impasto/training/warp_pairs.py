"""Self-supervised training pairs for the warp network: a photo and a smoothly warped copy with its known field.

Each guide is ``photo(A(T(p)))``: a random thin-plate spline ``T`` (a jittered 4x4 grid of
control points, :func:`impasto.ops.tps_grid`) followed by a random affine map ``A``
(rotation, anisotropic scale, shear, translation), plus a mild photometric change so
the network cannot match raw colours. The known field is ``A(T(p)) - p``.

Convention:
    Fields follow :mod:`impasto.models.warpnet`: ``(B, 2, H, W)``, (x, y) offsets in
    normalised coordinates (``align_corners=False``); the guide at pixel ``p`` shows the
    photo at ``p + field(p)``. ``valid`` marks the pixels whose source lies inside the
    photo (``|p + field(p)| <= 1`` in both coordinates); elsewhere the guide is black.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from impasto.errors import UserError


@dataclass(frozen=True)
class WarpSampler:
    """Strength of the random warps.

    Attributes:
        tps_jitter: standard deviation of the control-point displacements (normalised units).
        max_rotation_deg: rotations are uniform in ``[-max, max]`` degrees.
        scale_range: isotropic scale range ``(lo, hi)``.
        aniso: anisotropic scale factors are uniform in ``[1 - aniso, 1 + aniso]``.
        shear: shear coefficient, uniform in ``[-shear, shear]``.
        max_shift: translations are uniform in ``[-max_shift, max_shift]`` (normalised units).
        photometric: strength of the brightness / contrast / saturation change of the guide.
    """

    tps_jitter: float = 0.07
    max_rotation_deg: float = 15.0
    scale_range: tuple[float, float] = (0.85, 1.15)
    aniso: float = 0.1
    shear: float = 0.1
    max_shift: float = 0.1
    photometric: float = 0.15

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi or min(self.tps_jitter, self.max_rotation_deg, self.aniso, self.shear, self.max_shift,
                                   self.photometric) < 0:
            raise UserError(f"warp sampler: expected non-negative strengths and 0 < scale lo <= hi, got {self}")

    def source_grid(self, batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        """A random ``(B, H, W, 2)`` sampling grid ``A(T(p))`` (see the module docstring)."""
        from impasto.ops import tps_grid

        g = torch.linspace(-0.75, 0.75, 4)
        yy, xx = torch.meshgrid(g, g, indexing="ij")
        ctrl = torch.stack([xx.flatten(), yy.flatten()], dim=-1).expand(batch, -1, -1)
        moved = ctrl + self.tps_jitter * torch.randn(ctrl.shape, generator=generator)
        grid = tps_grid(ctrl.contiguous(), moved, height, width)  # content at ctrl appears at moved
        u = torch.rand(batch, 6, generator=generator) * 2 - 1
        angle = math.radians(self.max_rotation_deg) * u[:, 0]
        lo, hi = self.scale_range
        scale = lo + (hi - lo) * (u[:, 1] + 1) / 2
        sx, sy = scale * (1 + self.aniso * u[:, 2]), scale * (1 - self.aniso * u[:, 2])
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # B x 2 x 2
        shear = torch.eye(2).repeat(batch, 1, 1)
        shear[:, 0, 1] = self.shear * u[:, 3]
        mat = rot @ shear @ torch.diag_embed(torch.stack([sx, sy], -1))
        shift = self.max_shift * u[:, 4:6]
        return torch.einsum("bhwj,bij->bhwi", grid, mat) + shift[:, None, None, :]

    def jitter_colors(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random brightness, contrast and saturation per image; stays in ``[0, 1]``."""
        b = images.shape[0]
        u = (torch.rand(b, 3, 1, 1, 1, generator=generator) * 2 - 1) * self.photometric
        gray = images.mean(dim=1, keepdim=True)
        x = gray + (images - gray) * (1 + u[:, 2])  # saturation
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * (1 + u[:, 1])  # contrast
        return (x + u[:, 0]).clamp(0.0, 1.0)  # brightness

    def pairs(self, photos: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Warp a batch of photos.

        Args:
            photos: ``(B, 3, H, W)`` in ``[0, 1]``.
            generator: the random source (reproducible runs).

        Returns:
            ``(guide, field, valid)``: ``(B, 3, H, W)``, ``(B, 2, H, W)`` and a ``(B, 1, H, W)`` float mask.
        """
        from impasto.models.warpnet import identity_grid

        b, _, h, w = photos.shape
        grid = self.source_grid(b, h, w, generator)
        guide = F.grid_sample(photos, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        guide = self.jitter_colors(guide, generator)
        field = grid.permute(0, 3, 1, 2) - identity_grid(h, w, photos)
        valid = (grid.abs() <= 1).all(dim=-1)[:, None].to(photos.dtype)
        return guide * valid, field, valid


def field_at(field: torch.Tensor, size: int) -> torch.Tensor:
    """A dense field averaged down to ``size x size`` cells (area interpolation: each cell's mean offset)."""
    return F.adaptive_avg_pool2d(field, size)
