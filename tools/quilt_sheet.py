"""Make the images of docs/quilting.md: random placement | overlap-only (blended) | quilting, and a transfer.

For each of four texture crops (from ../shared/data/style) it quilts a 256x256 texture
three ways with the same seed and patch size, and prints the seam error of each
(:func:`impasto.runtime.quilting.seams.seam_error`, mean of 6 seeds). Then it renders a
photo from ../shared/data/content in a texture. Output: docs/images/quilting_sheet.jpg and
docs/images/quilting_transfer.jpg (each well under 300 KB).

    IMPASTO_SHARED=../shared python tools/quilt_sheet.py
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.io.images import fit_max_size, read_image, write_image
from impasto.runtime.quilting import QuiltConfig, TransferConfig, quilt_texture, transfer_texture
from impasto.runtime.quilting.seams import seam_error

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
STYLE = SHARED / "data" / "style"
#: name -> (file, top, left) of a 160-pixel crop after shrinking the painting to 400 px (as the tests).
CROPS = {"brushstrokes": ("adain_brushstrokes.jpg", 0, 0), "mosaic": ("msgnet_mosaic_ducks_massimo.jpg", 0, 0),
         "swirls": ("artflow_blue_swirls.jpg", 0, 0), "stars": ("msgnet_stars2.jpg", 0, 0)}
SIZE, PATCH = 256, 32
JOINS = ("random", "blend", "cut")


def crop(name: str) -> np.ndarray:
    file, top, left = CROPS[name]
    return np.ascontiguousarray(fit_max_size(read_image(STYLE / file), 400)[top:top + 160, left:left + 160])


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def sheet() -> None:
    rows = []
    for name in CROPS:
        tex = crop(name)
        cells = [label(np.pad(tex, ((0, SIZE - 160), (0, SIZE - 160), (0, 0)), constant_values=255), name)]
        errs = {}
        for join in JOINS:
            cells.append(label(quilt_texture(tex, (SIZE, SIZE), QuiltConfig(patch=PATCH, join=join), seed=0).image,
                               {"random": "random placement", "blend": "overlap + blend", "cut": "quilting"}[join]))
            errs[join] = np.mean([seam_error(quilt_texture(tex, (192, 192), QuiltConfig(patch=PATCH, join=join),
                                                           seed=s).image, PATCH, 5) for s in range(6)])
        print(name, "seam error (mean of 6 seeds):", {k: round(float(v), 3) for k, v in errs.items()})
        rows.append(np.hstack([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cells]))
    write_image(ROOT / "docs" / "images" / "quilting_sheet.jpg", np.vstack(rows), quality=70)


def transfer() -> None:
    tex = fit_max_size(read_image(STYLE / "msgnet_mosaic_ducks_massimo.jpg"), 400)[:300, :300]
    photo = fit_max_size(read_image(SHARED / "data" / "content" / "adain_golden_gate.jpg"), 384)
    res = transfer_texture(tex, photo, TransferConfig(), seed=0)
    print(f"transfer {photo.shape[1]}x{photo.shape[0]}: {res.seconds:.1f} s, patches {res.patches}")
    h = photo.shape[0]
    small = cv2.resize(tex, (h * tex.shape[1] // tex.shape[0], h), interpolation=cv2.INTER_AREA)
    write_image(ROOT / "docs" / "images" / "quilting_transfer.jpg",
                np.hstack([label(photo, "target"), label(small, "texture"), label(res.image, "transfer")]),
                quality=85)


if __name__ == "__main__":
    sheet()
    transfer()
