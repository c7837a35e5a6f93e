"""Image-level quality measures on VGG16 features: how far an image is from a style and a content.

Both measures are the feed-forward training losses (:mod:`impasto.models.losses`)
evaluated on whole images, so they are scale-free and comparable across models:

- :func:`style_distance`: sum over relu1_2, relu2_2, relu3_3, relu4_3 of the relative
  squared error between ``chw``-normalised Gram matrices of the image and of the style
  image (0 = identical texture statistics).
- :func:`content_distance`: relative squared error of relu2_2 features against the
  content photo (0 = identical features; ~1 = no more alike than a blank image).

``impasto eval``'s measures (the benchmark definitions; :class:`Judge` computes them with
cached painting and content statistics):

- **style ratio**: Gram distance(output, painting) / Gram distance(content, painting),
  the Gram distance being :func:`style_distance`'s, everything at :data:`EVAL_SIDE` px
  longest side: 1 = no nearer the painting than the photo was, 0 = the painting's
  statistics exactly.
- **multi-scale style ratio**: the same with output, content and painting all at
  :data:`SMALL_SIDE` px, where a 512-px output's large strokes become VGG-sized texture.
- **content distance** (:func:`feature_distance`): ``||relu3_3(out) - relu3_3(content)|| /
  ||relu3_3(content)||`` at :data:`EVAL_SIDE` px.
- **edge SSIM** (:func:`edge_ssim`): SSIM of the Sobel edge maps (torch-free).

Convention:
    Images are ``HxWx3`` uint8 RGB arrays. The style image is resized so its longest
    side equals the longest side of the image it is compared with (Gram statistics
    depend on the scale of the brush strokes relative to the VGG receptive fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from impasto.training.feedforward import CONTENT_LAYER, STYLE_LAYERS

#: Longest side at which ``impasto eval`` measures style ratio and content distance.
EVAL_SIDE = 512
#: Longest side of the multi-scale style ratio.
SMALL_SIDE = 256
#: The layer of ``impasto eval``'s content distance.
EVAL_CONTENT_LAYER = "relu3_3"


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


def _layer_pair(image: np.ndarray, content: np.ndarray, vgg: Any, layer: str, what: str) -> tuple[Any, Any]:
    """VGG16 ``layer`` of ``image`` and of ``content`` (same size required; ``what`` names the caller in errors)."""
    import torch

    if image.shape != content.shape:
        raise ValueError(f"{what}: expected equal shapes, got {image.shape} and {content.shape}")
    dev = next(vgg.buffers()).device
    with torch.no_grad():
        return vgg(_tensor(image, dev), (layer,))[layer], vgg(_tensor(content, dev), (layer,))[layer]


def content_distance(image: np.ndarray, content: np.ndarray, vgg: Any) -> float:
    """Relative relu2_2 feature error of ``image`` against ``content`` (same size)."""
    from impasto.models.losses import content_loss

    a, b = _layer_pair(image, content, vgg, CONTENT_LAYER, "content_distance")
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


def edge_map(rgb: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the luminance, ``HxW`` float64 in ``[0, 1]`` (divided by 4, clipped)."""
    import cv2

    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    g = np.hypot(cv2.Sobel(y, cv2.CV_64F, 1, 0, ksize=3), cv2.Sobel(y, cv2.CV_64F, 0, 1, ksize=3))
    return np.clip(g / 4.0, 0.0, 1.0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two single-channel images in ``[0, 1]`` (Gaussian window 11, σ 1.5, K1 0.01, K2 0.03)."""
    import cv2

    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    va = blur(a * a) - mu_a ** 2
    vb = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return float(s.mean())


def edge_ssim(image: np.ndarray, content: np.ndarray) -> float:
    """SSIM of the two images' :func:`edge_map` (1 = the content's edges exactly; same size required)."""
    if image.shape != content.shape:
        raise ValueError(f"edge_ssim: expected equal shapes, got {image.shape} and {content.shape}")
    return ssim(edge_map(image), edge_map(content))


def gram_distance(features: dict[str, Any], target_grams: dict[str, Any]) -> float:
    """:func:`impasto.models.losses.style_loss` of features against target Grams, as a float."""
    from impasto.models.losses import style_loss

    return float(style_loss(features, target_grams))


def feature_distance(image: np.ndarray, content: np.ndarray, vgg: Any, layer: str = EVAL_CONTENT_LAYER) -> float:
    """``||F(image) - F(content)|| / ||F(content)||`` at VGG16 ``layer`` (same size required)."""
    a, b = _layer_pair(image, content, vgg, layer, "feature_distance")
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


@dataclass(frozen=True)
class Scores:
    """One output's ``impasto eval`` measures (see the module docstring)."""

    style_ratio: float
    multiscale_style_ratio: float
    content_distance: float
    edge_ssim: float


class Judge:
    """``impasto eval``'s measures with each painting's and each content photo's statistics computed once.

    Convention:
        Images are ``HxWx3`` uint8 RGB. Contents and paintings are registered under a key
        (their path) and resized to :data:`EVAL_SIDE` / :data:`SMALL_SIDE` longest side; an
        output is resized to the content's :data:`EVAL_SIDE` size before it is measured.
    """

    def __init__(self, vgg: Any, *, side: int = EVAL_SIDE, small_side: int = SMALL_SIDE) -> None:
        self.vgg, self.side, self.small_side = vgg, side, small_side
        self._paintings: dict[str, tuple[dict, dict]] = {}
        self._contents: dict[str, dict[str, Any]] = {}
        self._baseline: dict[tuple[str, str], tuple[float, float]] = {}

    def _features(self, image: np.ndarray) -> dict[str, Any]:
        import torch

        with torch.no_grad():
            return self.vgg(_tensor(image, next(self.vgg.buffers()).device), (*STYLE_LAYERS, EVAL_CONTENT_LAYER))

    def _grams(self, feats: dict[str, Any]) -> dict[str, Any]:
        from impasto.models.losses import gram

        return {k: gram(feats[k]) for k in STYLE_LAYERS}

    def add_painting(self, key: str, painting: np.ndarray) -> None:
        """Register a painting's Gram matrices at both sides (once per key)."""
        if key not in self._paintings:
            self._paintings[key] = (self._grams(self._features(_resize_longest(painting, self.side))),
                                    self._grams(self._features(_resize_longest(painting, self.small_side))))

    def add_content(self, key: str, content: np.ndarray) -> np.ndarray:
        """Register a content photo (once per key); returns it at :data:`EVAL_SIDE` px (outputs are judged so)."""
        if key not in self._contents:
            image = _resize_longest(content, self.side)
            small = _resize_longest(content, self.small_side)
            self._contents[key] = {"image": image, "feats": self._features(image), "small_feats": self._features(small)}
        return self._contents[key]["image"]

    def has_content(self, key: str) -> bool:
        return key in self._contents

    def content_image(self, key: str) -> np.ndarray:
        return self._contents[key]["image"]

    def baseline(self, content_key: str, painting_key: str) -> tuple[float, float]:
        """Gram distances (at side, at small side) of the unstyled content to the painting."""
        pair = (content_key, painting_key)
        if pair not in self._baseline:
            c, (grams, small_grams) = self._contents[content_key], self._paintings[painting_key]
            self._baseline[pair] = (gram_distance(c["feats"], grams), gram_distance(c["small_feats"], small_grams))
        return self._baseline[pair]

    def score(self, output: np.ndarray, content_key: str, painting_key: str) -> Scores:
        """The measures of ``output`` (any size; resized to the content's) against a registered pair."""
        import cv2

        content = self._contents[content_key]
        image = content["image"]
        h, w = image.shape[:2]
        if output.shape[:2] != (h, w):
            output = cv2.resize(output, (w, h), interpolation=cv2.INTER_AREA)
        feats = self._features(output)
        small = self._features(_resize_longest(output, self.small_side))
        grams, small_grams = self._paintings[painting_key]
        base, small_base = self.baseline(content_key, painting_key)
        ref = content["feats"][EVAL_CONTENT_LAYER]
        content_d = float((feats[EVAL_CONTENT_LAYER] - ref).norm() / ref.norm().clamp_min(1e-12))
        return Scores(style_ratio=gram_distance(feats, grams) / max(base, 1e-12),
                      multiscale_style_ratio=gram_distance(small, small_grams) / max(small_base, 1e-12),
                      content_distance=content_d, edge_ssim=edge_ssim(output, image))
