"""The working resolution of photorealistic transfer, and what a run costs in memory (torch-free).

PhotoWCT's graph needs about 4 GB of memory per megapixel on the CPU (VGG16 features at
full resolution, four encode/decode levels), so ``impasto photoreal`` runs it — and its
smoothing — at a *working size* and carries the result to the photo's own size with the
guided upsampling of :mod:`impasto.runtime.pipelines.guided_upsample`.

``--work-size`` is a **pixel count**: ``700000``, ``700K``, ``0.7M`` (decimal: 1M = 10^6
pixels), or ``full`` (the graph at the photo's own size, as before the working size
existed). A photo with more pixels is downscaled (area interpolation, aspect ratio kept)
to at most that many pixels; a photo that fits is run as it is, with no resampling.

Convention:
    Sizes are ``(height, width)`` in pixels. :func:`estimate_peak_bytes` returns bytes of
    peak resident memory of a whole ``impasto photoreal`` run (process, ONNX Runtime
    session, images, output encoding) on the CPU backend, fitted to measurements (see
    :data:`PEAK_BASE_BYTES`).
"""

from __future__ import annotations

import math
import re

from impasto.errors import UserError

#: Default working size: keeps a 12 MP photo under 4 GB with any style photo (measured; see the README).
DEFAULT_WORK_PIXELS = 600_000
#: The style photo is never shrunk below this longest side (as in :mod:`impasto.runtime.pipelines.photoreal`).
STYLE_MIN_LONG_SIDE = 512
#: Smallest working size accepted.
MIN_WORK_PIXELS = 16_384
#: A side is never shrunk below this (or its own length, if shorter): very elongated photos keep a usable side.
MIN_WORK_SIDE = 64
#: Peak memory model, ``base + per_work_pixel * work + per_style_pixel * style + per_full_pixel * full`` (full
#: counted only when the working size is smaller): least squares over five runs of ``impasto photoreal``
#: (``tools/measure_photoreal_memory.py``: 4000x3000 at 0.25M and 0.7M, with a 700x393 and a 966x966 style,
#: 8000x6000 at 0.25M, 700x437 at full size; fit: 120 MiB + 3794 B/work px + 1682 B/style px + 13.4 B/full px,
#: within 5 % of each), rounded up: the estimate is 4-13 % above every measured peak.
PEAK_BASE_BYTES = 256 * 2 ** 20
PEAK_PER_WORK_PIXEL = 3800.0
PEAK_PER_STYLE_PIXEL = 1700.0
PEAK_PER_FULL_PIXEL = 14.0

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*$")


def parse_work_size(text: str | int | None) -> int | None:
    """``--work-size``: a pixel count (``700000``, ``700K``, ``0.7M``), or None for ``full``.

    Raises:
        UserError: anything else, or fewer than :data:`MIN_WORK_PIXELS` pixels (one line).
    """
    if text is None or (isinstance(text, str) and text.strip().lower() == "full"):
        return None
    if isinstance(text, bool):
        raise UserError(f"work size: expected a pixel count (e.g. 700000, 700K, 0.7M) or 'full', got {text!r}")
    if isinstance(text, int):
        pixels = text
    else:
        m = _PATTERN.match(str(text))
        if m is None:
            raise UserError(f"work size: expected a pixel count (e.g. 700000, 700K, 0.7M) or 'full', got {text!r}")
        pixels = math.floor(float(m.group(1)) * _SUFFIX[m.group(2).lower()])
    if pixels < MIN_WORK_PIXELS:
        raise UserError(f"work size: expected at least {MIN_WORK_PIXELS} pixels (e.g. 128x128) or 'full', "
                        f"got {text!r}")
    return pixels


def working_shape(height: int, width: int, work_pixels: int | None) -> tuple[int, int]:
    """The ``(height, width)`` the graph runs at: the photo's own if it fits in ``work_pixels`` (or None)."""
    if work_pixels is None or height * width <= work_pixels:
        return height, width
    s = math.sqrt(work_pixels / (height * width))
    h = max(min(height, MIN_WORK_SIDE), math.floor(height * s))
    w = max(min(width, MIN_WORK_SIDE), math.floor(width * s))
    return h, w


def estimate_peak_bytes(full: tuple[int, int], work: tuple[int, int], style: tuple[int, int] | None = None) -> int:
    """Estimated peak resident bytes of an ``impasto photoreal`` run on the CPU (see :data:`PEAK_BASE_BYTES`).

    Args:
        full: the photo's ``(height, width)``.
        work: the working ``(height, width)`` (:func:`working_shape`).
        style: the style photo's ``(height, width)`` after fitting to the working size; by
            default the worst case the fitting allows (a square of the working size's
            longest side, 512 at least; at a reduced working size, at most its pixel count).
    """
    work_px = work[0] * work[1]
    reduced = tuple(full) != tuple(work)
    if style is not None:
        style_px = style[0] * style[1]
    else:
        style_px = max(max(work), STYLE_MIN_LONG_SIDE) ** 2
        if reduced:
            style_px = min(style_px, max(work_px, STYLE_MIN_LONG_SIDE ** 2))
    upsampled = full[0] * full[1] if reduced else 0
    return int(PEAK_BASE_BYTES + PEAK_PER_WORK_PIXEL * work_px + PEAK_PER_STYLE_PIXEL * style_px
               + PEAK_PER_FULL_PIXEL * upsampled)
