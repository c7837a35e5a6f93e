"""Contact sheets: every built-in style on one photo, labelled tiles in one image (torch-free).

Convention:
    Images are ``HxWx3`` uint8 RGB. Tiles keep the photo's aspect ratio (longest side
    ``tile`` pixels) and are laid out row-major, the untouched photo first, each with
    its label in a white strip underneath; the sheet's background is white.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from impasto.errors import UserError
from impasto.runtime.builtins import BuiltinStyle, builtin_styles
from impasto.runtime.io.images import fit_max_size, to_rgb8
from impasto.runtime.pipelines.tensors import MIN_SIDE

#: Height of the label strip under each tile, in pixels.
LABEL_HEIGHT = 26
#: White space between and around tiles, in pixels.
GAP = 6


def stylize_builtins(photo: np.ndarray, styles: Iterable[BuiltinStyle] | None = None, *,
                     backend: str = "auto") -> list[tuple[str, np.ndarray]]:
    """Render ``photo`` in every built-in style (or ``styles``), opening each model file once.

    Returns:
        ``[(style name, HxWx3 uint8)]`` in the styles' order.
    """
    from impasto.runtime.pipelines.stylizer import Stylizer

    chosen = list(builtin_styles().values() if styles is None else styles)
    by_file: dict[Path, list[BuiltinStyle]] = {}
    for s in chosen:
        by_file.setdefault(s.path, []).append(s)
    rendered: dict[str, np.ndarray] = {}
    for path, group in by_file.items():
        with Stylizer.load(str(path), backend=backend) as stylizer:
            for s in group:
                rendered[s.name] = stylizer(photo, style=s.name) if s.bank else stylizer(photo)
    return [(s.name, rendered[s.name]) for s in chosen]


def contact_sheet(tiles: Sequence[tuple[str, np.ndarray]], *, columns: int | None = None) -> np.ndarray:
    """Lay labelled tiles out on a white sheet.

    Args:
        tiles: ``[(label, image)]``, all images of one size.
        columns: tiles per row; default ``ceil(sqrt(len(tiles)))``.

    Raises:
        UserError: no tiles, tiles of different sizes, or columns < 1.
    """
    import cv2

    if not tiles:
        raise UserError("contact sheet: expected at least one tile, got none")
    h, w = tiles[0][1].shape[:2]
    sizes = {t.shape[:2] for _, t in tiles}
    if len(sizes) != 1:
        raise UserError(f"contact sheet: expected tiles of one size, got {sorted(sizes)}")
    cols = columns or math.ceil(math.sqrt(len(tiles)))
    if cols < 1:
        raise UserError(f"--columns: expected a positive integer, got {cols}")
    rows = math.ceil(len(tiles) / cols)
    cell_h, cell_w = h + LABEL_HEIGHT, w
    sheet = np.full((GAP + rows * (cell_h + GAP), GAP + cols * (cell_w + GAP), 3), 255, np.uint8)
    scale = 0.5 if w >= 200 else 0.35
    for i, (label, img) in enumerate(tiles):
        y = GAP + (i // cols) * (cell_h + GAP)
        x = GAP + (i % cols) * (cell_w + GAP)
        sheet[y:y + h, x:x + w] = img
        text = label if len(label) <= 40 else label[:39] + "…"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        tx = x + max(0, (w - tw) // 2)
        cv2.putText(sheet, text, (tx, y + h + (LABEL_HEIGHT + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (20, 20, 20), 1, cv2.LINE_AA)
    return sheet


def builtin_sheet(photo: np.ndarray, *, tile: int = 320, columns: int | None = None,
                  backend: str = "auto") -> tuple[np.ndarray, list[str]]:
    """The photo (scaled to ``tile``) and every built-in style of it, as one labelled sheet.

    Returns:
        ``(sheet, style names in sheet order)``.

    Raises:
        UserError: ``tile`` below :data:`~impasto.runtime.pipelines.tensors.MIN_SIDE`.
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < MIN_SIDE:
        raise UserError(f"tile: expected an integer of at least {MIN_SIDE} (the smallest side the style networks "
                        f"take), got {tile!r}")
    small = fit_max_size(to_rgb8(photo), tile)
    tiles = [("original", small), *stylize_builtins(small, backend=backend)]
    return contact_sheet(tiles, columns=columns), [name for name, _ in tiles[1:]]
