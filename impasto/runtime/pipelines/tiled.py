"""Tiled inference of a feed-forward style graph with thumbnail instance normalisation (torch-free).

An image too large to run whole is cut into overlapping tiles. The stats form of the
graph (:mod:`impasto.models.norm_stats`, ``X.tiled.onnx`` beside ``X.onnx``) runs once on
a thumbnail of the whole image (longest side :data:`THUMBNAIL`) to record every instance
norm's mean and deviation, then on each tile with those statistics (Chen et al., AAAI
2022), so every tile is normalised alike and the tiles agree. Neighbouring tiles overlap
by ``overlap`` pixels; across the overlap each tile's weight rises from 0 to 1 along a
raised cosine after a ``margin`` where it is 0 (the tile's own border, where its
reflection padding stands in for the neighbour's pixels). The weights are separable and
normalised per axis, so they sum to 1 everywhere.

Memory: the tiles of one row are blended into a band ``tile`` rows high; rows no later
tile touches are final and written to the ``uint8`` output, so the float buffers are one
band, never the whole image.

Convention:
    Images are ``HxWx3`` uint8 RGB. The image is padded to sides divisible by
    :data:`ALIGN` (4: the networks downsample twice by 2; :func:`pad_to_align`), and tile
    sides and starts are multiples of it, so each tile sees the whole image's sampling
    grid. A tile spans ``[start, start + tile)`` on each axis (the last one ends at the
    image's edge and may be longer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from impasto.errors import UserError
from impasto.runtime.memory import IMAGE_BYTES_PER_PIXEL, Budget, MemoryCost, Plan, check_whole

#: Default tile side and overlap, pixels.
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128
#: Pixels at each inner tile edge that get no weight.
MARGIN = 32
#: Longest side of the thumbnail the statistics come from (an image no larger gives its own).
THUMBNAIL = 1024
ALIGN = 4

#: ``(image NCHW float32 in [0, 1], norm_stats, stats_from_image) -> (stylized NCHW, used_norm_stats)``.
RunStats = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Span:
    """One tile's extent on one axis and its (normalised) blending weights."""

    start: int
    end: int
    weights: np.ndarray  # float32, end - start


def spans(n: int, tile: int, overlap: int = DEFAULT_OVERLAP, margin: int = MARGIN) -> list[Span]:
    """The tiles along an axis of ``n`` pixels, with weights that sum to 1 at every pixel.

    Raises:
        ValueError: ``overlap`` not above ``2 * margin``, or ``tile`` not above ``overlap``.
    """
    if overlap <= 2 * margin or tile <= overlap:
        raise ValueError(f"tiling: expected tile > overlap > 2 * margin, got {tile}, {overlap}, {margin}")
    if n <= tile:
        return [Span(0, n, np.ones(n, np.float32))]
    stride = (tile - overlap) // ALIGN * ALIGN
    if stride <= 0:
        raise ValueError(f"tiling: expected tile - overlap of at least {ALIGN}, got {tile} - {overlap}")
    starts = list(range(0, n - tile, stride))
    last = (n - tile) // ALIGN * ALIGN
    if last > starts[-1]:
        starts.append(last)
    raw = []
    for i, s in enumerate(starts):
        e = n if i == len(starts) - 1 else s + tile
        w = np.ones(e - s, np.float64)
        if i > 0:  # ramp up across the overlap with the previous tile
            w *= _ramp(e - s, starts[i - 1] + tile - s, margin)
        if i < len(starts) - 1:  # ramp down across the overlap with the next tile
            w *= _ramp(e - s, e - starts[i + 1], margin)[::-1]
        raw.append((s, e, w))
    total = np.zeros(n, np.float64)
    for s, e, w in raw:
        total[s:e] += w
    return [Span(s, e, (w / total[s:e]).astype(np.float32)) for s, e, w in raw]


def _ramp(length: int, overlap: int, margin: int) -> np.ndarray:
    """0 over ``margin``, a raised cosine up to 1 by ``overlap - margin``, then 1."""
    x = np.arange(length, dtype=np.float64) + 0.5
    t = np.clip((x - margin) / max(1, overlap - 2 * margin), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def tile_count(height: int, width: int, tile: int, overlap: int = DEFAULT_OVERLAP) -> int:
    return len(spans(height, tile, overlap)) * len(spans(width, tile, overlap))


def thumbnail_size(height: int, width: int, side: int | None = None) -> tuple[int, int]:
    """``(h, w)``: the longest side at most ``side`` (default :data:`THUMBNAIL`), or the image's size if smaller."""
    s = min(1.0, (side or THUMBNAIL) / max(height, width))
    return max(1, round(height * s)), max(1, round(width * s))


def to_nchw(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def thumbnail_stats(rgb: np.ndarray, run: RunStats, n_channels: int, side: int | None = None) -> np.ndarray:
    """The ``(1, 2, T)`` statistics the stats form uses on a thumbnail of ``rgb``."""
    import cv2

    h, w = thumbnail_size(*rgb.shape[:2], side)
    small = rgb if (h, w) == rgb.shape[:2] else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    _, used = run(to_nchw(small), np.zeros((1, 2, n_channels), np.float32), np.ones(1, np.float32))
    return np.ascontiguousarray(used[:1], dtype=np.float32)


def pad_to_align(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` padded at the bottom and right (mirrored) to multiples of :data:`ALIGN` and at least ``2 * ALIGN``.

    Every tile then has sides divisible by 4, so the networks' two stride-2 stages and
    their 2x upsampling map exactly onto the whole image's grid: a side of ``4k + 2`` makes
    the upsampling stretch by ``(2k + 1) / (2k + 2)`` instead, which shifts the painted
    texture (measured: up to 176 levels between a 390- and a 392-row run of the same
    rows), and a tile of another size than its neighbours would show that as a seam.
    """
    import cv2

    h, w = rgb.shape[:2]
    ph, pw = max(-h % ALIGN, 2 * ALIGN - h), max(-w % ALIGN, 2 * ALIGN - w)
    if ph == 0 and pw == 0:
        return rgb
    return cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE)


def run_tiled(rgb: np.ndarray, run: RunStats, stats: np.ndarray, tile: int, overlap: int = DEFAULT_OVERLAP,
              finish: Callable[[np.ndarray, slice], np.ndarray] | None = None,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Stylise ``rgb`` tile by tile with the given statistics; the ``HxWx3`` uint8 result.

    Args:
        rgb: the image.
        run: the stats form's run.
        stats: ``(1, 2, T)`` from :func:`thumbnail_stats`.
        tile, overlap: see the module docstring.
        finish: applied to each final band of rows (``uint8`` band, its row slice), e.g. a
            blend with the content; returns the band to write.
        progress: called with 1 after each tile.
    """
    h, w = rgb.shape[:2]
    rows, cols = spans(h, tile, overlap), spans(w, tile, overlap)
    out = np.empty_like(rgb)
    carry: np.ndarray | None = None  # rows of the band that the next tile row still adds to
    flag = np.zeros(1, np.float32)
    for i, r in enumerate(rows):
        band = np.zeros((r.end - r.start, w, 3), np.float32)
        if carry is not None:
            band[:len(carry)] += carry
        for c in cols:
            y, _ = run(to_nchw(rgb[r.start:r.end, c.start:c.end]), stats, flag)
            band[:, c.start:c.end] += y[0].transpose(1, 2, 0) * (r.weights[:, None, None] * c.weights[None, :, None])
            if progress is not None:
                progress(1)
        done = rows[i + 1].start - r.start if i + 1 < len(rows) else len(band)
        final = np.clip(np.rint(band[:done] * 255.0), 0, 255).astype(np.uint8)
        where = slice(r.start, r.start + done)
        out[where] = final if finish is None else finish(final, where)
        carry = band[done:].copy() if i + 1 < len(rows) else None
    return out


def band_bytes(width: int, tile: int) -> int:
    """Bytes of the float band and its carry (the tiled path's buffers besides the images)."""
    return 2 * tile * width * 3 * 4


#: Where a stats form exists, an image whose whole run is estimated above this runs tiled even when the budget
#: would allow the whole run: tiled output matches it (see docs/tiling.md) in far less memory.
PREFER_TILED_BYTES = 2 << 30
#: What the stats form's session adds to a process that holds the plain graph's already.
SECOND_SESSION_BYTES = 64 << 20
#: Tile sides tried, largest first, when the plan picks one.
TILE_SIDES = (DEFAULT_TILE, 768, 512, 384, 256)


def tiled_peak(cost: MemoryCost, height: int, width: int, tile: int) -> int:
    """Estimated peak of a tiled run: the graph on the larger of a tile and the thumbnail, the images, the band."""
    th, tw = thumbnail_size(height, width)
    graph_pixels = max(min(tile + ALIGN, height) * min(tile + ALIGN, width), th * tw)
    return cost.peak(graph_pixels) + IMAGE_BYTES_PER_PIXEL * height * width + band_bytes(width, tile)


def plan_image(whole: MemoryCost, tiled: MemoryCost | None, budget: Budget, height: int, width: int,
               tile: int | None = None, overlap: int = DEFAULT_OVERLAP) -> Plan:
    """How an image runs: whole if it fits (and no ``tile`` is forced), else tiled where ``tiled`` (the stats
    form's cost) is given and some tile side fits, else refused. With a stats form, a whole run estimated
    above :data:`PREFER_TILED_BYTES` is tiled too.

    Raises:
        UserError: ``tile`` forced without a stats form, or not above ``overlap``.
    """
    if tiled is not None:  # the plain graph's session stays open beside the stats form's
        tiled = MemoryCost(max(whole.fixed, tiled.fixed) + SECOND_SESSION_BYTES, tiled.per_pixel, tiled.source)
    if tile is not None:
        if tiled is None:
            raise UserError("--tile: this model has no stats form (X.tiled.onnx beside it; "
                            "'impasto export CKPT --norm-stats' makes one)")
        if tile < overlap + 2 * ALIGN:
            raise UserError(f"--tile: expected at least {overlap + 2 * ALIGN} (the {overlap} px overlap and some), "
                            f"got {tile}")
        tile = -(-tile // ALIGN) * ALIGN  # sides divisible by 4 (see pad_to_align); the plan reports the side used
        return _tiled_plan(tiled, budget, height, width, tile, overlap)
    plan = check_whole(whole, budget, height, width)
    if tiled is None or (plan.mode == "whole" and plan.estimated_peak <= PREFER_TILED_BYTES):
        return plan
    limit = min(budget.nbytes, PREFER_TILED_BYTES) if plan.mode == "whole" else budget.nbytes
    for side in TILE_SIDES:
        if tiled_peak(tiled, height, width, side) <= limit:
            return _tiled_plan(tiled, budget, height, width, side, overlap)
    if plan.mode == "whole":  # fits whole, but not tiled under the preference: whole it is
        return plan
    plan.estimated_peak = tiled_peak(tiled, height, width, TILE_SIDES[-1])
    per_pixel = IMAGE_BYTES_PER_PIXEL + 2 * 3 * 4 * TILE_SIDES[-1] / max(1, height)
    pixels = max(0, (budget.nbytes - tiled.peak((TILE_SIDES[-1] + ALIGN) ** 2)) / per_pixel)
    s = min(1.0, math.sqrt(pixels / (height * width)))
    plan.largest_fitting = f"{math.floor(width * s)}x{math.floor(height * s)}"
    return plan


def _tiled_plan(cost: MemoryCost, budget: Budget, height: int, width: int, tile: int, overlap: int) -> Plan:
    th, tw = thumbnail_size(height, width)
    return Plan("tiled", height, width, tiled_peak(cost, height, width, tile), budget.nbytes, budget.source,
                cost.source, tile=tile, overlap=overlap, tiles=tile_count(height, width, tile, overlap),
                thumbnail=max(th, tw))


# --- the seam metric (tools/measure_seams.py, tests) ---

def border_lines(n: int, tile: int, overlap: int = DEFAULT_OVERLAP) -> list[int]:
    """The centre of each overlap between neighbouring tiles along an axis of ``n`` pixels."""
    s = spans(n, tile, overlap)
    return [(a.end + b.start) // 2 for a, b in zip(s, s[1:])]


def border_energy_ratio(image: np.ndarray, rows: list[int], cols: list[int]) -> float:
    """Mean squared gradient across the border lines over the mean elsewhere (luminance, 0-255)."""
    y = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.diff(y, axis=0) ** 2, np.diff(y, axis=1) ** 2  # gy[i] is between rows i and i+1
    on = [gy[r - 1:r + 1].ravel() for r in rows] + [gx[:, c - 1:c + 1].ravel() for c in cols]
    mask_y, mask_x = np.ones(gy.shape[0], bool), np.ones(gx.shape[1], bool)
    for r in rows:
        mask_y[max(0, r - 8):r + 8] = False
    for c in cols:
        mask_x[max(0, c - 8):c + 8] = False
    off = np.concatenate([gy[mask_y].ravel(), gx[:, mask_x].ravel()])
    if not on:
        return float("nan")
    return float(np.concatenate(on).mean() / max(off.mean(), 1e-12))
