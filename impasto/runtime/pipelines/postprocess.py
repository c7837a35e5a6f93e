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


def unit_number(value: object, name: str) -> float:
    """``value`` as a float, which must be a real number in ``[0, 1]``.

    Raises:
        UserError: naming ``name``: a string, a bool, None or another type, or a number
            outside ``[0, 1]`` (NaN included).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"{name}: expected a number in [0, 1], got {value!r} ({type(value).__name__})")
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


def blend(stylized: np.ndarray, content: np.ndarray, strength: float) -> np.ndarray:
    """``strength * stylized + (1 - strength) * content``; strength in ``[0, 1]``."""
    strength = unit_number(strength, "strength")
    if strength == 1.0:
        return stylized
    if strength == 0.0:
        return content.copy()
    out = stylized.astype(np.float32) * strength + content.astype(np.float32) * (1.0 - strength)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
