"""The block grid of image quilting and the three ways to join a block to the canvas (torch-free).

Convention:
    Blocks are ``patch x patch`` squares placed in raster order (rows top to bottom, each
    row left to right) with top-left corners every ``patch - overlap`` pixels, so each
    block shares ``overlap`` columns with its left neighbour and ``overlap`` rows with the
    one above. A canvas of ``n`` blocks along a side is ``n * (patch - overlap) + overlap``
    pixels long; it is made just long enough to cover the requested size and cropped.
    Canvases and blocks are float ``HxWxC`` arrays in ``[0, 1]``.

Joins:
    ``cut`` keeps the new block past the minimum-error boundary cut (:mod:`.cut`);
    ``blend`` cross-fades linearly across the overlaps (the paper's "overlap-only"
    constraint without the cut); ``random`` pastes the whole block over the overlap (a
    straight seam). Only ``cut`` and ``blend`` choose blocks by their overlap error; the
    caller draws ``random`` blocks without looking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impasto.runtime.quilting.cut import cut_mask

JOINS = ("cut", "blend", "random")


@dataclass(frozen=True)
class Grid:
    """Block positions along both sides of a canvas.

    Attributes:
        patch: block side in pixels.
        overlap: overlap in pixels.
        rows: top edges of the block rows.
        cols: left edges of the block columns.
    """

    patch: int
    overlap: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @classmethod
    def covering(cls, height: int, width: int, patch: int, overlap: int) -> Grid:
        """The smallest grid whose canvas covers ``height x width`` (each side at least ``patch``)."""
        step = patch - overlap

        def starts(length: int) -> tuple[int, ...]:
            n = max(1, -(-(length - overlap) // step))  # ceil((length - overlap) / step)
            return tuple(i * step for i in range(n))

        return cls(patch, overlap, starts(height), starts(width))

    @property
    def canvas_shape(self) -> tuple[int, int]:
        return self.rows[-1] + self.patch, self.cols[-1] + self.patch

    @property
    def n_blocks(self) -> int:
        return len(self.rows) * len(self.cols)

    def positions(self) -> list[tuple[int, int, bool, bool]]:
        """``(y, x, left, top)`` of every block in raster order; ``left`` / ``top``: it has that neighbour."""
        return [(y, x, j > 0, i > 0) for i, y in enumerate(self.rows) for j, x in enumerate(self.cols)]


def overlap_mask(patch: int, overlap: int, *, left: bool, top: bool) -> np.ndarray:
    """``patch x patch`` bool: the pixels a block shares with the canvas already filled."""
    mask = np.zeros((patch, patch), bool)
    if left:
        mask[:, :overlap] = True
    if top:
        mask[:overlap, :] = True
    return mask


def blend_weights(patch: int, overlap: int, *, left: bool, top: bool) -> np.ndarray:
    """``patch x patch`` weight of the new block for ``blend``: a linear ramp per overlap, multiplied at the corner."""
    ramp = (np.arange(overlap) + 0.5) / overlap
    w = np.ones((patch, patch))
    if left:
        w[:, :overlap] *= ramp[None, :]
    if top:
        w[:overlap, :] *= ramp[:, None]
    return w


@dataclass(frozen=True)
class Seam:
    """The seam cost of one joined block (zero length for the first block and for non-cut joins)."""

    cost: float = 0.0
    length: int = 0


def join_block(canvas: np.ndarray, block: np.ndarray, y: int, x: int, overlap: int, *,
               left: bool, top: bool, join: str) -> Seam:
    """Write ``block`` into ``canvas`` at ``(y, x)`` (in place), joined to its left / top neighbours by ``join``."""
    patch = block.shape[0]
    region = canvas[y:y + patch, x:x + patch]
    if join == "random" or not (left or top):
        region[...] = block
        return Seam()
    if join == "blend":
        w = blend_weights(patch, overlap, left=left, top=top)[..., None]
        region[...] = w * block + (1.0 - w) * region
        return Seam()
    cut = cut_mask(((region - block) ** 2).sum(axis=2), overlap, left=left, top=top)
    region[cut.mask] = block[cut.mask]
    return Seam(cut.cost, cut.length)
