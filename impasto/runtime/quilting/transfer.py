"""Texture transfer by image quilting: render a target image in a texture (Efros & Freeman 2001), torch-free.

Example:
    >>> result = transfer_texture(read_image("rice.jpg"), read_image("face.jpg"), TransferConfig(passes=3), seed=1)

Each pass quilts a whole new image over the target's grid. A block is drawn (within the
tolerance of the best) by ``alpha * (overlap error + previous-pass error) + (1 - alpha) *
correspondence error``, each a mean squared difference per value: the overlap error on
the blocks already placed in this pass (RGB), the previous-pass error against the
previous pass's result at that place (RGB, from the second pass on), the correspondence
error between the block's and the target's blurred luminance. The block side shrinks by a
third each pass, and ``alpha`` rises linearly from 0.1 (follow the target) to
``config.alpha`` (0.9 by default: keep the texture coherent), as in the paper.

Convention:
    Images in and out are ``HxWx3`` uint8 RGB; the result has the target's size. The
    luminance is ``0.299 R + 0.587 G + 0.114 B`` in ``[0, 1]``, blurred by a Gaussian of
    ``config.blur`` pixels; the target's is shifted and scaled to the texture's mean and
    standard deviation first, so a dark texture can still follow a bright photo.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from impasto.errors import UserError
from impasto.runtime.quilting.blocks import Grid, join_block, overlap_mask
from impasto.runtime.quilting.matching import Term, WindowMatcher, opencv, pick_within_tolerance
from impasto.runtime.quilting.synthesis import (
    MAX_SIDE,
    QuiltResult,
    as_float,
    check_patch,
    default_overlap,
    draw_seed,
    to_uint8,
)
from impasto.utils.progress import Progress

#: The paper's first-pass alpha.
FIRST_ALPHA = 0.1
MAX_PASSES = 5


@dataclass(frozen=True)
class TransferConfig:
    """Passes, block sizes and weights of a texture transfer.

    Attributes:
        patch: block side of the first pass; each later pass uses two thirds of the one before.
        passes: number of passes, 1 to 5 (the paper uses 3 to 5).
        alpha: weight of the texture terms in the last pass, in ``[0, 1]``; passes go
            linearly from ``min(0.1, alpha)`` up to it.
        tolerance: blocks are drawn among those within ``(1 + tolerance)`` of the best error.
        blur: sigma in pixels of the Gaussian applied to both luminances (0: none).
    """

    patch: int = 36
    passes: int = 3
    alpha: float = 0.9
    tolerance: float = 0.1
    blur: float = 2.0

    def schedule(self) -> list[tuple[int, int, float]]:
        """``(patch, overlap, alpha)`` of each pass."""
        first = min(FIRST_ALPHA, self.alpha)
        out = []
        for i in range(self.passes):
            patch = round(self.patch * (2 / 3) ** i)
            alpha = self.alpha if self.passes == 1 else first + (self.alpha - first) * i / (self.passes - 1)
            out.append((patch, default_overlap(patch) if patch > 1 else 1, alpha))
        return out

    def check(self, texture_shape: tuple[int, ...]) -> None:
        """Raise a one-line :class:`UserError` unless every pass fits a texture of ``texture_shape``."""
        if isinstance(self.passes, bool) or not isinstance(self.passes, int) or not 1 <= self.passes <= MAX_PASSES:
            raise UserError(f"passes: expected an integer from 1 to {MAX_PASSES}, got {self.passes!r}")
        for name, value in (("alpha", self.alpha), ("tolerance", self.tolerance), ("blur", self.blur)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UserError(f"{name}: expected a finite number >= 0, got {value!r}")
        if self.alpha > 1:
            raise UserError(f"alpha: expected a number in [0, 1], got {self.alpha!r}")
        check_patch(self.patch, default_overlap(self.patch) if self.patch > 1 else 1, texture_shape)
        last = self.schedule()[-1][0]
        if last < 4:
            raise UserError(f"passes: {self.passes} passes from a {self.patch}-pixel patch end at {last} pixels "
                            f"(at least 4); use fewer passes or a bigger patch")


def luminance(image: np.ndarray, blur: float) -> np.ndarray:
    """``HxW`` luminance of a float ``[0, 1]`` RGB image, blurred by a Gaussian of sigma ``blur`` pixels."""
    y = image @ np.array([0.299, 0.587, 0.114])
    return opencv().GaussianBlur(y, (0, 0), blur) if blur > 0 else y


def match_statistics(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` shifted and scaled to the mean and standard deviation of ``reference``."""
    spread = values.std()
    scaled = (values - values.mean()) * (reference.std() / spread if spread > 1e-6 else 1.0)
    return scaled + reference.mean()


def _pad_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` extended by reflection at the bottom and right to ``shape``."""
    cv2 = opencv()
    return cv2.copyMakeBorder(image, 0, shape[0] - image.shape[0], 0, shape[1] - image.shape[1],
                              cv2.BORDER_REFLECT_101)


def _terms(block: np.ndarray, before: np.ndarray | None, overlap: int, alpha: float, *,
           left: bool, top: bool) -> list[Term]:
    """The error terms of one block: correspondence, overlap and previous pass, each a mean per value.

    ``block`` is the canvas there (``PxPx4``: RGB placed so far, the target's luminance);
    ``before`` the previous pass's RGB there, or None in the first pass.
    """
    patch = block.shape[0]
    rgb, lum = np.array([1, 1, 1, 0], np.float32), np.array([0, 0, 0, 1], np.float32)
    terms = [Term(block, np.full((patch, patch, 1), (1.0 - alpha) / patch ** 2, np.float32) * lum)]
    if left or top:
        mask = overlap_mask(patch, overlap, left=left, top=top)
        terms.append(Term(block, (mask * (alpha / (3 * mask.sum())))[..., None].astype(np.float32) * rgb))
    if before is not None:
        terms.append(Term(np.dstack([before, np.zeros((patch, patch))]),
                          np.full((patch, patch, 1), alpha / (3 * patch ** 2), np.float32) * rgb))
    return terms


def transfer_texture(texture: np.ndarray, target: np.ndarray, config: TransferConfig = TransferConfig(), *,
                     seed: int | None = None, progress: bool = False) -> QuiltResult:
    """Render ``target`` in ``texture`` by iterated image quilting (see the module docstring).

    Raises:
        UserError: a texture smaller than the first block, a target smaller than the first
            block or larger than ``MAX_SIDE``, passes outside 1-5 or ending below 4-pixel
            blocks, an alpha outside ``[0, 1]``, a negative tolerance or blur.
        ImageError: a texture or target that is not an image array.
    """
    t0 = time.perf_counter()
    sample, goal = as_float(texture, "texture"), as_float(target, "target")
    config.check(sample.shape)
    h, w = goal.shape[:2]
    if min(h, w) < config.patch or max(h, w) > MAX_SIDE:
        raise UserError(f"target: expected each side from the patch size ({config.patch}) to {MAX_SIDE} pixels, "
                        f"got {w}x{h}")
    seed = draw_seed(seed)
    rng = np.random.default_rng(seed)
    sample_lum = luminance(sample, config.blur)
    goal_lum = match_statistics(luminance(goal, config.blur), sample_lum)
    matcher = WindowMatcher(np.dstack([sample, sample_lum]))  # R, G, B, luminance
    schedule = config.schedule()
    grids = [Grid.covering(h, w, patch, overlap) for patch, overlap, _ in schedule]
    previous: np.ndarray | None = None
    blocks, cost, length = 0, 0.0, 0
    with Progress(sum(g.n_blocks for g in grids), "transfer", enabled=progress) as bar:
        for (patch, overlap, alpha), grid in zip(schedule, grids, strict=True):
            canvas = np.zeros((*grid.canvas_shape, 4))
            canvas[..., 3] = _pad_to(goal_lum, grid.canvas_shape)  # the target's luminance rides in channel 3
            before = _pad_to(previous, grid.canvas_shape) if previous is not None else None
            cost, length = 0.0, 0
            for y, x, left, top in grid.positions():
                terms = _terms(canvas[y:y + patch, x:x + patch], None if before is None else
                               before[y:y + patch, x:x + patch], overlap, alpha, left=left, top=top)
                sy, sx = pick_within_tolerance(matcher.ssd(terms), config.tolerance, rng)
                seam = join_block(canvas[..., :3], sample[sy:sy + patch, sx:sx + patch], y, x, overlap,
                                  left=left, top=top, join="cut")
                cost, length = cost + seam.cost, length + seam.length
                bar.update(1)
            blocks += grid.n_blocks
            previous = canvas[:h, :w, :3]
    return QuiltResult(to_uint8(previous, h, w), seed, [s[0] for s in schedule], [s[1] for s in schedule],
                       cost / length if length else 0.0, time.perf_counter() - t0, blocks,
                       {"alphas": [round(s[2], 4) for s in schedule]})
