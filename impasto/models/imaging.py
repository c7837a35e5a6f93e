"""Images as tensors: uint8 ``HxWx3`` RGB arrays to and from float ``(3, H, W)`` tensors.

Convention:
    Arrays are ``HxWx3`` uint8 RGB; tensors ``(3, H, W)`` (or ``(1, 3, H, W)`` for
    :func:`to_image`) float in ``[0, 1]``.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``HxWx3`` uint8 RGB -> ``(3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def to_image(t: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(1, 3, H, W)`` float in ``[0, 1]`` -> ``HxWx3`` uint8 RGB."""
    if t.ndim == 4:
        t = t[0]
    return (t.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


def resize_longest(img: np.ndarray, longest: int) -> np.ndarray:
    """``HxWxC`` array resized so its longest side is ``longest`` (area when shrinking, cubic when enlarging)."""
    import cv2

    h, w = img.shape[:2]
    s = longest / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
