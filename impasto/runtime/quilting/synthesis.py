"""Texture synthesis by image quilting (Efros & Freeman, SIGGRAPH 2001), torch-free.

Example:
    >>> from impasto.runtime import quilt_texture, read_image, write_image
    >>> result = quilt_texture(read_image("weave.jpg"), (512, 512), QuiltConfig(patch=32), seed=7)
    >>> write_image("weave_512.png", result.image)

Convention:
    Images in and out are ``HxWx3`` uint8 RGB; sizes are ``(height, width)`` in pixels.
    Work is done in float64 ``[0, 1]``; errors are sums of squared differences in those
    units. The same texture, size, config and seed give the same bytes.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field

import numpy as np

from impasto.errors import UserError
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.quilting.blocks import JOINS, Grid, Seam, join_block, overlap_mask
from impasto.runtime.quilting.matching import Term, WindowMatcher, pick_within_tolerance
from impasto.utils.progress import Progress

#: Smallest block side, and the largest output side, in pixels.
MIN_PATCH = 4
MAX_SIDE = 8192


@dataclass(frozen=True)
class QuiltConfig:
    """How blocks are sized, chosen and joined.

    Attributes:
        patch: block side in pixels (at least 4, at most the texture's shorter side).
        overlap: pixels shared with each neighbour (``1 <= overlap < patch``); None: the
            paper's sixth of the block, at least 2.
        tolerance: blocks are drawn among those whose overlap error is within
            ``(1 + tolerance)`` times the best (the paper's 0.1).
        join: ``cut`` (the minimum-error boundary cut), ``blend`` (overlap-constrained
            choice, linear cross-fade) or ``random`` (random blocks, straight seams).
    """

    patch: int = 32
    overlap: int | None = None
    tolerance: float = 0.1
    join: str = "cut"

    @property
    def overlap_px(self) -> int:
        return self.overlap if self.overlap is not None else default_overlap(self.patch)

    def check(self, texture_shape: tuple[int, ...], what: str = "texture") -> None:
        """Raise a one-line :class:`UserError` unless this config fits a texture of ``texture_shape``."""
        check_patch(self.patch, self.overlap_px, texture_shape, what)
        if not (isinstance(self.tolerance, (int, float)) and math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise UserError(f"tolerance: expected a finite number >= 0, got {self.tolerance!r}")
        if self.join not in JOINS:
            raise UserError(f"join: expected one of {', '.join(JOINS)}, got {self.join!r}")


def default_overlap(patch: int) -> int:
    """The paper's overlap, a sixth of the block, at least 2 pixels (and less than the block)."""
    return min(max(2, round(patch / 6)), patch - 1)


def check_patch(patch: int, overlap: int, texture_shape: tuple[int, ...], what: str = "texture") -> None:
    """Raise a one-line :class:`UserError` for a block size or overlap that cannot work on this texture."""
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < MIN_PATCH:
        raise UserError(f"patch: expected an integer >= {MIN_PATCH} pixels, got {patch!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 1 <= overlap < patch:
        raise UserError(f"overlap: expected an integer from 1 to patch - 1 = {patch - 1} pixels, got {overlap!r}")
    h, w = texture_shape[:2]
    if min(h, w) < patch:
        raise UserError(f"{what}: {w}x{h} is smaller than one {patch}x{patch} block; use a smaller patch "
                        f"or a bigger {what}")


def check_size(size: tuple[int, int], patch: int) -> None:
    """Raise a one-line :class:`UserError` unless ``(height, width)`` is at least one block and at most ``MAX_SIDE``."""
    h, w = size
    if min(h, w) < patch or max(h, w) > MAX_SIDE:
        raise UserError(f"size: expected each side from the patch size ({patch}) to {MAX_SIDE} pixels, got {w}x{h}")


@dataclass(frozen=True)
class QuiltResult:
    """A quilted image and how it was made.

    Attributes:
        image: ``HxWx3`` uint8 RGB.
        seed: the seed used (drawn at random when none was given).
        patches: block side of each pass (one for synthesis).
        overlaps: overlap of each pass.
        mean_boundary_error: mean squared colour difference (summed over RGB, in
            ``[0, 1]`` units) along the cut paths of the last pass; 0 for non-cut joins.
        seconds: wall time.
        blocks: number of blocks placed, over all passes.
    """

    image: np.ndarray
    seed: int
    patches: list[int]
    overlaps: list[int]
    mean_boundary_error: float
    seconds: float
    blocks: int
    extra: dict = field(default_factory=dict)


def as_float(image: np.ndarray, name: str) -> np.ndarray:
    """``HxWx3`` uint8 (checked by :func:`to_rgb8`) as float64 in ``[0, 1]``."""
    return to_rgb8(image, name=name).astype(np.float64) / 255.0


def to_uint8(canvas: np.ndarray, height: int, width: int) -> np.ndarray:
    """The top-left ``height x width`` of a float ``[0, 1]`` canvas as uint8 RGB."""
    return np.clip(np.rint(canvas[:height, :width] * 255.0), 0, 255).astype(np.uint8)


def draw_seed(seed: int | None) -> int:
    """``seed`` itself, or a fresh random one (reported so the run can be repeated)."""
    if seed is None:
        return secrets.randbits(32)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def quilt_texture(texture: np.ndarray, size: tuple[int, int], config: QuiltConfig = QuiltConfig(), *,
                  seed: int | None = None, progress: bool = False) -> QuiltResult:
    """Synthesise a ``size = (height, width)`` texture from a sample by image quilting.

    Blocks go down in raster order; each is drawn among the texture's windows whose
    error on the overlap with the blocks already placed is within the tolerance of the
    best (uniformly, from ``np.random.default_rng(seed)``), then joined by ``config.join``.

    Raises:
        UserError: a texture smaller than one block, an overlap >= the block, a size
            below one block or above ``MAX_SIDE``, a negative tolerance, an unknown join.
        ImageError: a texture that is not an image array.
    """
    t0 = time.perf_counter()
    sample = as_float(texture, "texture")
    config.check(sample.shape)
    size = (int(size[0]), int(size[1]))
    check_size(size, config.patch)
    seed = draw_seed(seed)
    rng = np.random.default_rng(seed)
    patch, overlap = config.patch, config.overlap_px
    grid = Grid.covering(*size, patch, overlap)
    canvas = np.zeros((*grid.canvas_shape, 3))
    matcher = WindowMatcher(sample) if config.join != "random" else None
    n_y, n_x = sample.shape[0] - patch + 1, sample.shape[1] - patch + 1
    cost, length = 0.0, 0
    with Progress(grid.n_blocks, "quilt", enabled=progress) as bar:
        for y, x, left, top in grid.positions():
            if matcher is None or not (left or top):
                sy, sx = int(rng.integers(n_y)), int(rng.integers(n_x))
            else:
                mask = overlap_mask(patch, overlap, left=left, top=top).astype(np.float32)
                error = matcher.ssd([Term(canvas[y:y + patch, x:x + patch], mask)])
                sy, sx = pick_within_tolerance(error, config.tolerance, rng)
            seam: Seam = join_block(canvas, sample[sy:sy + patch, sx:sx + patch], y, x, overlap,
                                    left=left, top=top, join=config.join)
            cost, length = cost + seam.cost, length + seam.length
            bar.update(1)
    return QuiltResult(to_uint8(canvas, *size), seed, [patch], [overlap], cost / length if length else 0.0,
                       time.perf_counter() - t0, grid.n_blocks)
