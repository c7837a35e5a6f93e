"""Model-independent post-processing: strength blending and colour preservation.

Convention:
    All functions take and return ``HxWx3`` uint8 RGB arrays of equal size.
"""

from __future__ import annotations

import numpy as np

from impasto.errors import UserError


def _cv2():
    import cv2

    return cv2


def preserve_color(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance-only transfer: the stylised image's luma with the content's chroma.

    Uses YCrCb (BT.601): ``Y`` from ``stylized``, ``Cr, Cb`` from ``content``
    (Gatys et al. 2016, "Preserving color in neural artistic style transfer").
    """
    cv2 = _cv2()
    ys = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    yc = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    yc[..., 0] = ys[..., 0]
    return cv2.cvtColor(yc, cv2.COLOR_YCrCb2RGB)


def blend(stylized: np.ndarray, content: np.ndarray, strength: float) -> np.ndarray:
    """``strength * stylized + (1 - strength) * content``; strength in ``[0, 1]``."""
    if not 0.0 <= strength <= 1.0:
        raise UserError(f"strength: expected a number in [0, 1], got {strength}")
    if strength == 1.0:
        return stylized
    if strength == 0.0:
        return content.copy()
    out = stylized.astype(np.float32) * strength + content.astype(np.float32) * (1.0 - strength)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
