"""Image-level quality measures on VGG16 features: how far an image is from a style and a content.

Both measures are the feed-forward training losses (:mod:`impasto.models.losses`)
evaluated on whole images, so they are scale-free and comparable across models:

- :func:`style_distance`: sum over relu1_2, relu2_2, relu3_3, relu4_3 of the relative
  squared error between ``chw``-normalised Gram matrices of the image and of the style
  image (0 = identical texture statistics).
- :func:`content_distance`: relative squared error of relu2_2 features against the
  content photo (0 = identical features; ~1 = no more alike than a blank image).

Convention:
    Images are ``HxWx3`` uint8 RGB arrays. The style image is resized so its longest
    side equals the longest side of the image it is compared with (Gram statistics
    depend on the scale of the brush strokes relative to the VGG receptive fields).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from impasto.training.feedforward import CONTENT_LAYER, STYLE_LAYERS


def _tensor(image: np.ndarray, device: Any) -> Any:
    from impasto.models.imaging import to_tensor

    return to_tensor(image)[None].to(device)


def _resize_longest(image: np.ndarray, longest: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = longest / max(h, w)
    size = (max(16, round(w * s)), max(16, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def style_distance(image: np.ndarray, style: np.ndarray, vgg: Any) -> float:
    """Relative Gram distance of ``image`` to ``style`` (see the module docstring)."""
    import torch

    from impasto.models.losses import gram, style_loss

    dev = next(vgg.buffers()).device
    style = _resize_longest(style, max(image.shape[:2]))
    with torch.no_grad():
        targets = {k: gram(v) for k, v in vgg(_tensor(style, dev), STYLE_LAYERS).items()}
        return float(style_loss(vgg(_tensor(image, dev), STYLE_LAYERS), targets))


def content_distance(image: np.ndarray, content: np.ndarray, vgg: Any) -> float:
    """Relative relu2_2 feature error of ``image`` against ``content`` (same size)."""
    import torch

    from impasto.models.losses import content_loss

    if image.shape != content.shape:
        raise ValueError(f"content_distance: expected equal shapes, got {image.shape} and {content.shape}")
    dev = next(vgg.buffers()).device
    with torch.no_grad():
        a = vgg(_tensor(image, dev), (CONTENT_LAYER,))[CONTENT_LAYER]
        b = vgg(_tensor(content, dev), (CONTENT_LAYER,))[CONTENT_LAYER]
        return float(content_loss(a, b))


def edge_correlation(image: np.ndarray, content: np.ndarray, *, blur: float = 2.0) -> float:
    """Pearson correlation of Sobel edge magnitudes of the two images' luminance.

    A structure measure that needs no network: ~1 for the same photo, ~0 for unrelated
    pictures. Both are blurred first (``blur`` sigma in pixels) so painted texture does
    not count as structure. An image without edges (a constant colour: a collapsed
    output) shares no structure and scores 0, not NaN.
    """
    import cv2

    def edges(rgb: np.ndarray) -> np.ndarray:
        y = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), blur)
        return np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1)).ravel()

    a, b = edges(image), edges(content)
    if not (a.std() > 0 and b.std() > 0):
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
