"""Texture crops from ../shared/data/style for the quilting tests (CI has them; a bare machine skips)."""

from __future__ import annotations

import numpy as np
import pytest

#: name -> (file under data/style, top, left): 160-pixel crops of fairly stationary paintings,
#: taken after shrinking each painting to a longest side of 400 pixels.
CROPS = {"brushstrokes": ("adain_brushstrokes.jpg", 0, 0), "mosaic": ("msgnet_mosaic_ducks_massimo.jpg", 0, 0),
         "swirls": ("artflow_blue_swirls.jpg", 0, 0), "stars": ("msgnet_stars2.jpg", 0, 0)}
CROP = 160


@pytest.fixture(scope="session")
def textures(shared) -> dict[str, np.ndarray]:
    from impasto.runtime.io.images import fit_max_size, read_image

    out = {}
    for name, (file, top, left) in CROPS.items():
        image = fit_max_size(read_image(shared / "data" / "style" / file), 400)
        out[name] = np.ascontiguousarray(image[top:top + CROP, left:left + CROP])
    return out
