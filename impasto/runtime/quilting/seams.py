"""How visible the joins of a quilted image are: the seam error (torch-free).

A join shows as a small neighbourhood that does not occur in the texture: an edge cut in
two (random placement), two blocks seen through each other (blending), a step in colour.
The seam error measures exactly that, the same way for every join: for small windows
centred around the overlap bands, the mean squared difference (per value, ``[0, 1]``
units) to the *closest* window anywhere in the texture, averaged over the windows.
Windows copied intact from the texture score 0.

Convention:
    ``image`` and ``texture`` are ``HxWx3`` uint8 RGB; the bands are those of
    :class:`~impasto.runtime.quilting.blocks.Grid` for ``patch`` and ``overlap``,
    widened by the window's radius on both sides so every window straddling a seam
    counts; window centres are taken every ``stride`` pixels inside them.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from impasto.runtime.quilting.blocks import Grid


def seam_band_mask(height: int, width: int, patch: int, overlap: int, radius: int) -> np.ndarray:
    """``height x width`` bool: pixels within ``radius`` of an overlap band between blocks."""
    grid = Grid.covering(height, width, patch, overlap)
    mask = np.zeros((height, width), bool)
    for y in grid.rows[1:]:
        mask[max(0, y - radius):y + overlap + radius, :] = True
    for x in grid.cols[1:]:
        mask[:, max(0, x - radius):x + overlap + radius] = True
    return mask


def gradient_energy(image: np.ndarray) -> np.ndarray:
    """``HxW`` squared colour gradient (forward differences summed over RGB, ``[0, 1]`` units); last row, column 0."""
    f = image.astype(np.float64) / 255.0
    g = np.zeros(f.shape[:2])
    g[:, :-1] += ((f[:, 1:] - f[:, :-1]) ** 2).sum(axis=2)
    g[:-1, :] += ((f[1:, :] - f[:-1, :]) ** 2).sum(axis=2)
    return g


def seam_error(image: np.ndarray, patch: int, overlap: int) -> float:
    """How far the joins' gradient energy departs from the rest of the image: ``|log(E_joins / E_inside)|``.

    ``E_joins`` is the mean squared gradient in the overlap bands (widened by one pixel),
    ``E_inside`` the mean over the rest, the block interiors copied intact from the
    texture. A visible seam adds edges that the texture does not have (ratio above 1:
    random placement); blending two blocks lowers the contrast and blurs detail (ratio
    below 1). 0 means the joins are as busy as the texture around them.
    """
    h, w = image.shape[:2]
    bands = seam_band_mask(h, w, patch, overlap, 1)
    bands[-1, :] = bands[:, -1] = False
    inside = ~seam_band_mask(h, w, patch, overlap, 1)
    inside[-1, :] = inside[:, -1] = False
    g = gradient_energy(image)
    joins, rest = g[bands].mean(), g[inside].mean()
    return float(abs(np.log(max(joins, 1e-12) / max(rest, 1e-12))))


def seam_discontinuity(image: np.ndarray, texture: np.ndarray, patch: int, overlap: int, *,
               window: int = 7, stride: int = 3) -> float:
    """Mean, over windows around the seams, of the squared difference to the nearest texture window (L2).

    Blur is cheap in L2, so this measure ranks blending well; :func:`seam_error` does not.

    Args:
        image: the quilted image.
        texture: the sample it was quilted from.
        patch: block side used.
        overlap: overlap used.
        window: odd window side in pixels.
        stride: spacing of the window centres.

    Returns:
        The mean per-value squared difference in ``[0, 1]`` units (0: no visible seam).
    """
    radius = window // 2
    h, w = image.shape[:2]
    bands = seam_band_mask(h, w, patch, overlap, radius)
    inside = np.zeros_like(bands)
    inside[radius:h - radius:stride, radius:w - radius:stride] = True
    img = image.astype(np.float32) / 255.0
    tex = texture.astype(np.float32) / 255.0
    ys, xs = np.nonzero(bands & inside)
    if len(ys) == 0:
        return 0.0
    queries = sliding_window_view(img, (window, window), axis=(0, 1))[ys - radius, xs - radius].reshape(len(ys), -1)
    pool = sliding_window_view(tex, (window, window), axis=(0, 1)).reshape(-1, queries.shape[1])
    # all distances at once: |q - t|^2 = |q|^2 - 2 q.t + |t|^2 (one matrix product, no loop over positions)
    dist = (queries ** 2).sum(1)[:, None] - 2.0 * queries @ pool.T + (pool ** 2).sum(1)[None, :]
    return float(np.maximum(dist.min(axis=1), 0.0).mean()) / queries.shape[1]
