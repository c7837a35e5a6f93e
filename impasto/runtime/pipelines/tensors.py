"""Image <-> graph tensor conversions shared by the pipelines (torch-free).

Convention:
    Images are ``HxWx3`` uint8 RGB. Graph tensors are float32 NCHW RGB with ``N = 1`` and
    values in ``[0, value_range]`` (``value_range`` 1 unless a model's ``impasto.input``
    metadata says otherwise, e.g. 255); pixel ``v`` maps to ``v * value_range / 255``.
"""

from __future__ import annotations

import numpy as np


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
