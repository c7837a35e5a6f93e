"""Image <-> graph tensor conversions shared by the pipelines (torch-free).

Convention:
    Images are ``HxWx3`` uint8 RGB. Graph tensors are float32 NCHW RGB with ``N = 1`` and
    values in ``[0, value_range]`` (``value_range`` 1 unless a model's ``impasto.input``
    metadata says otherwise, e.g. 255); pixel ``v`` maps to ``v * value_range / 255``.
    The feed-forward style graphs take sides of at least :data:`MIN_SIDE` pixels (their
    reflection padding needs more than 4); :func:`pad_to_min_side` brings smaller images
    up to it.
"""

from __future__ import annotations

import numpy as np

from impasto.runtime.tensorrt.profile import MIN_SIDE

__all__ = ["MIN_SIDE", "image_to_nchw", "nchw_to_image", "pad_to_min_side"]


def image_to_nchw(rgb: np.ndarray, value_range: float = 1.0) -> np.ndarray:
    """``HxWx3`` uint8 RGB -> contiguous float32 ``1x3xHxW`` in ``[0, value_range]``."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(value_range / 255.0)


def nchw_to_image(tensor: np.ndarray, value_range: float = 1.0) -> np.ndarray:
    """The first image of an NCHW tensor in ``[0, value_range]`` (any float dtype) -> ``HxWx3`` uint8 RGB.

    Values are rounded to the nearest integer and clipped to ``[0, 255]``.
    """
    y = tensor[0].astype(np.float32, copy=False).transpose(1, 2, 0)
    if value_range != 1.0:
        y = y / np.float32(value_range)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def pad_to_min_side(rgb: np.ndarray, min_side: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pad an image whose height or width is below ``min_side`` up to it, repeating its edge pixels, centred.

    Returns:
        ``(padded, crop)``: ``padded[crop]`` is ``rgb`` again, and the same ``crop`` cuts a
        result of the padded size back to the image's size. An image large enough is
        returned as it is.
    """
    h, w = rgb.shape[:2]
    dh, dw = max(0, min_side - h), max(0, min_side - w)
    crop = (slice(dh // 2, dh // 2 + h), slice(dw // 2, dw // 2 + w))
    if dh == 0 and dw == 0:
        return rgb, crop
    pad = ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)) + ((0, 0),) * (rgb.ndim - 2)
    return np.pad(rgb, pad, mode="edge"), crop
