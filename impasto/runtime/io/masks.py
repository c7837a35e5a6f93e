"""Colour-coded semantic label masks: decode, match content to style, one-hot (torch-free).

A label mask is an image of flat colours, one per region ("same colour = same region"),
like the Deep Photo Style Transfer segmentations. Real masks are rarely clean (JPEG
damage, anti-aliased edges: the DPST masks hold thousands of distinct colours), so:

1. the **label colours** are the colours that cover at least :data:`MIN_SHARE` of the
   pixels *inside flat areas* (pixels equal to their four neighbours: edge blends and
   compression ringing never form flat areas), taken from the most frequent down,
   skipping any within :data:`MERGE_DIST` (Euclidean, 8-bit RGB) of a label colour
   already taken;
2. every pixel gets the label of the nearest label colour.

The content mask defines the labels. A style pixel takes the content label whose colour
is nearest to its own, when that is within :data:`MATCH_DIST`; other style pixels
belong to no label (they still count in the style's global statistics). A content label
with no style pixels is transferred with the whole style image's statistics (inside the
graph, :mod:`impasto.models.wct`).

Convention:
    Masks are read like images (``HxWx3`` uint8 RGB; see :mod:`impasto.runtime.io.images`)
    and must have exactly the size of the image they label. One-hot masks are float32
    ``(1, L, H, W)`` as the exported graphs take them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impasto.errors import ImageError

#: Smallest share of the pixels a colour needs to be a label colour.
MIN_SHARE = 0.001
#: Colours closer than this (8-bit RGB, Euclidean) to a more frequent label colour merge into it.
MERGE_DIST = 80.0
#: A style pixel joins the nearest content label only within this distance.
MATCH_DIST = 80.0


@dataclass(frozen=True)
class LabelMap:
    """A decoded mask: ``labels`` (HxW int32, index into ``colors``) and the label ``colors`` (Lx3 uint8)."""

    labels: np.ndarray
    colors: np.ndarray

    @property
    def count(self) -> int:
        return len(self.colors)


def hex_color(rgb: np.ndarray) -> str:
    """``#rrggbb`` of an RGB triple."""
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _pack(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2].astype(np.int32)


def _unpack(codes: np.ndarray) -> np.ndarray:
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=-1).astype(np.float32)


def decode_mask(mask: np.ndarray, *, name: str = "mask", max_labels: int = 16) -> LabelMap:
    """Decode a colour-coded mask into labels (see the module docstring).

    Args:
        mask: ``HxWx3`` uint8 RGB.
        name: how to refer to the mask in errors (a path, ``"--content-mask"``).
        max_labels: most label colours allowed (the graph's limit).

    Raises:
        ImageError: no colour is frequent enough (not a colour-coded mask, e.g. a photo),
            or more label colours than ``max_labels``.
    """
    packed = _pack(mask)
    codes, inverse = np.unique(packed.ravel(), return_inverse=True)
    n = mask.shape[0] * mask.shape[1]
    colors = _unpack(codes)
    c = packed[1:-1, 1:-1]
    flat = (c == packed[:-2, 1:-1]) & (c == packed[2:, 1:-1]) & (c == packed[1:-1, :-2]) & (c == packed[1:-1, 2:])
    counts = np.bincount(inverse.reshape(packed.shape)[1:-1, 1:-1][flat], minlength=len(codes))
    palette: list[np.ndarray] = []
    for i in np.argsort(-counts, kind="stable"):
        if counts[i] < max(1, MIN_SHARE * n):
            break
        if all(np.linalg.norm(colors[i] - p) >= MERGE_DIST for p in palette):
            palette.append(colors[i])
    if not palette:
        raise ImageError(f"{name}: not a colour-coded label mask: no colour fills flat areas of {MIN_SHARE:.1%} "
                         f"of the pixels (got {len(codes)} distinct colours)")
    if len(palette) > max_labels:
        shown = ", ".join(hex_color(p) for p in palette[: max_labels + 1])
        raise ImageError(f"{name}: expected at most {max_labels} label colours, got {len(palette)} ({shown}, ...): "
                         "label masks need flat colours, one per region")
    pal = np.stack(palette)
    nearest = np.argmin(((colors[:, None, :] - pal[None]) ** 2).sum(-1), axis=1).astype(np.int32)
    return LabelMap(nearest[inverse].reshape(mask.shape[:2]), pal.astype(np.uint8))


def match_style(style_mask: np.ndarray, content: LabelMap) -> np.ndarray:
    """Style mask pixels -> content label index, or -1 where no content label colour is within :data:`MATCH_DIST`."""
    codes, inverse = np.unique(_pack(style_mask).ravel(), return_inverse=True)
    colors = _unpack(codes)
    d2 = ((colors[:, None, :] - content.colors.astype(np.float32)[None]) ** 2).sum(-1)
    nearest = np.argmin(d2, axis=1).astype(np.int32)
    nearest[d2[np.arange(len(codes)), nearest] > MATCH_DIST ** 2] = -1
    return nearest[inverse].reshape(style_mask.shape[:2])


def one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    """``HxW`` label indices (``-1``: no label) -> float32 ``(1, n, H, W)``."""
    out = np.zeros((1, n, *labels.shape), np.float32)
    for i in range(n):
        out[0, i] = labels == i
    return out


def check_mask_size(mask: np.ndarray, image: np.ndarray, what: str) -> None:
    """Raise :class:`ImageError` unless the mask has the image's size."""
    if mask.shape[:2] != image.shape[:2]:
        raise ImageError(f"{what}: expected the size of its image, {image.shape[1]}x{image.shape[0]}, "
                         f"got {mask.shape[1]}x{mask.shape[0]}")


def label_maps(content_mask: np.ndarray, style_mask: np.ndarray, *, max_labels: int = 16,
               names: tuple[str, str] = ("content mask", "style mask")) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode a content/style mask pair into label maps over the content's labels.

    Returns:
        ``(content labels HxW, style labels HsxWs (-1: no label), info)``, int32; ``info``
        lists every label's colour and pixel counts and which labels the style lacks
        (those take the style's global statistics).
    """
    content = decode_mask(content_mask, name=names[0], max_labels=max_labels)
    style = match_style(style_mask, content)
    n = content.count
    c_counts = np.bincount(content.labels.ravel(), minlength=n)
    s_counts = np.bincount(style[style >= 0].ravel(), minlength=n)

    def hexc(i: int) -> str:
        return hex_color(content.colors[i])

    info = {"count": n,
            "labels": [{"color": hexc(i), "content_pixels": int(c_counts[i]), "style_pixels": int(s_counts[i])}
                       for i in range(n)],
            "style_unmatched_pixels": int((style < 0).sum()),
            "global_fallback": [hexc(i) for i in range(n) if s_counts[i] == 0]}
    return content.labels, style, info


def label_masks(content_mask: np.ndarray, style_mask: np.ndarray, *, max_labels: int = 16,
                names: tuple[str, str] = ("content mask", "style mask")) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`label_maps` as the graph's one-hot masks: ``(content (1, L, H, W), style (1, L, Hs, Ws), info)``."""
    c, s, info = label_maps(content_mask, style_mask, max_labels=max_labels, names=names)
    return one_hot(c, info["count"]), one_hot(s, info["count"]), info
