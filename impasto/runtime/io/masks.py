"""Semantic label masks, colour-coded or label-index: decode, match content to style, one-hot (torch-free).

Two kinds of mask are read:

- **label-index** masks (FastPhotoStyle's and ADE20K-style segmentations): one channel,
  8 or 16 bits (a single-channel PNG), each integer value a label. Style pixels take the
  content label of the same value; other values belong to no label.
- **colour-coded** masks: an image of flat colours, one per region ("same colour = same
  region"), described below.

Both masks of a pair must be of one kind (a single-channel PNG read with
``keep_single_channel=True`` is an index mask). :func:`label_maps` reports the labels found in
each and warns when one mask yields a single label while the other yields several (a
mask read as the wrong kind, or the wrong file: such a pair cannot match regions).

Colour-coded masks are like the Deep Photo Style Transfer segmentations. Real ones are
rarely clean (JPEG damage, anti-aliased edges: the DPST masks hold thousands of distinct
colours), so:

1. the **label colours** are the colours that cover at least :data:`MIN_SHARE` of the
   pixels *inside flat areas* (pixels equal to their four neighbours: edge blends and
   compression ringing never form flat areas), taken from the most frequent down,
   skipping any within :data:`MERGE_DIST` (Euclidean, 8-bit RGB) of a label colour
   already taken;
2. every pixel gets the label of the nearest label colour.

The content mask defines the labels. A style pixel of a colour-coded mask takes the
content label whose colour is nearest to its own, when that is within :data:`MATCH_DIST`;
other style pixels belong to no label (they still count in the style's global statistics). A content label
with no style pixels is transferred with the whole style image's statistics (inside the
graph, :mod:`impasto.models.wct`).

Convention:
    A label-index mask is an ``HxW`` (or ``HxWx1``) array of non-negative integers (any
    integer dtype, e.g. uint8 or uint16 as read from a single-channel PNG with
    :func:`impasto.runtime.io.images.read_image` ``(keep_single_channel=True)``). Anything
    else is read as a colour-coded image (``HxWx3`` uint8 RGB after
    :func:`impasto.runtime.io.images.to_rgb8`). A mask must have exactly the size of the
    image it labels. One-hot masks are float32 ``(1, L, H, W)`` as the exported graphs
    take them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impasto.errors import ImageError
from impasto.runtime.io.images import to_rgb8

#: Smallest share of the pixels a colour needs to be a label colour.
MIN_SHARE = 0.001
#: Colours closer than this (8-bit RGB, Euclidean) to a more frequent label colour merge into it.
MERGE_DIST = 80.0
#: A style pixel joins the nearest content label only within this distance.
MATCH_DIST = 80.0
#: The kinds of mask, as ``info["kind"]`` of :func:`label_maps` names them.
INDEX, COLOUR = "index", "colour"
#: How messages name each kind.
KIND_NAMES = {INDEX: "label-index", COLOUR: "colour-coded"}


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


def as_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """A mask as :func:`label_maps` takes it: label-index masks as ``HxW`` integers, others as ``HxWx3`` uint8 RGB.

    Raises:
        ImageError: negative label values, or an array no image reader accepts.
    """
    if isinstance(mask, np.ndarray) and mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if not is_index_mask(mask):
        return to_rgb8(mask, name=name)
    if mask.size == 0:
        raise ImageError(f"{name}: expected a non-empty mask, got shape {mask.shape}")
    if mask.dtype != bool and int(mask.min()) < 0:
        raise ImageError(f"{name}: expected label values >= 0 in a label-index mask, got {int(mask.min())}")
    return mask


def is_index_mask(mask: object) -> bool:
    """Whether ``mask`` is a label-index mask: a 2-D array of integers (or booleans)."""
    return (isinstance(mask, np.ndarray) and mask.ndim == 2
            and (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool))


def decode_index_mask(mask: np.ndarray, *, name: str = "mask", max_labels: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A label-index mask's labels: ``(HxW int32 index into values, the label values in increasing order)``.

    Raises:
        ImageError: more distinct values than ``max_labels``.
    """
    values, inverse = np.unique(mask, return_inverse=True)
    if len(values) > max_labels:
        shown = ", ".join(str(int(v)) for v in values[: max_labels + 1])
        raise ImageError(f"{name}: expected at most {max_labels} labels, got {len(values)} distinct values in a "
                         f"label-index mask ({shown}, ...): one integer per region (save a colour-coded mask "
                         "with blended edges as RGB)")
    return inverse.reshape(mask.shape).astype(np.int32), values


def _index_pair(content_mask: np.ndarray, style_mask: np.ndarray, max_labels: int,
                names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, list[dict], int]:
    """Label-index masks: ``(content labels, style labels (-1: a value not in the content), keys, style count)``."""
    labels, values = decode_index_mask(content_mask, name=names[0], max_labels=max_labels)
    at = np.searchsorted(values, style_mask).clip(0, len(values) - 1)
    style = np.where(values[at] == style_mask, at, -1).astype(np.int32)
    return labels, style, [{"value": int(v)} for v in values], len(np.unique(style_mask))


def _colour_pair(content_mask: np.ndarray, style_mask: np.ndarray, max_labels: int,
                 names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, list[dict], int]:
    """Colour-coded masks: ``(content labels, style labels (-1: no label near), label keys, style count)``."""
    content = decode_mask(content_mask, name=names[0], max_labels=max_labels)
    own = decode_mask(style_mask, name=names[1], max_labels=int(1 / MIN_SHARE))  # its own labels, to count them
    keys = [{"color": hex_color(c)} for c in content.colors]
    return content.labels, match_style(style_mask, content), keys, own.count


def _pairing_warnings(counts: tuple[int, int], names: tuple[str, str]) -> list[str]:
    """A warning when one mask yields a single label while the other yields several."""
    if (counts[0] == 1) == (counts[1] == 1):
        return []
    one, other, n = (names[0], names[1], counts[1]) if counts[0] == 1 else (names[1], names[0], counts[0])
    return [f"{one} yields 1 label while {other} yields {n}: the masks cannot pair up regions; check both files "
            "(colour-coded: flat colours, one per region; label-index: a single-channel PNG, one integer per region)"]


def label_maps(content_mask: np.ndarray, style_mask: np.ndarray, *, max_labels: int = 16,
               names: tuple[str, str] = ("content mask", "style mask")) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode a content/style mask pair (both label-index or both colour-coded) into maps of the content's labels.

    Returns:
        ``(content labels HxW, style labels HsxWs (-1: no label), info)``, int32; ``info``
        gives the ``kind`` (``"index"`` or ``"colour"``), ``count`` (the content's labels,
        the graph's mask channels), ``content_labels`` and ``style_labels`` (found in each
        mask), every label's ``value`` or ``color`` with its pixel counts, which labels the
        style lacks (those take the style's global statistics) and ``warnings``.

    Raises:
        ImageError: masks of different kinds, too many labels, or a colour-coded mask
            without flat colours (a photo).
    """
    content_mask, style_mask = as_mask(content_mask, names[0]), as_mask(style_mask, names[1])
    kinds = [INDEX if is_index_mask(m) else COLOUR for m in (content_mask, style_mask)]
    if kinds[0] != kinds[1]:
        raise ImageError(f"masks: expected two of one kind, got a {KIND_NAMES[kinds[0]]} {names[0]} and a "
                         f"{KIND_NAMES[kinds[1]]} {names[1]} (label-index masks have one channel, colour-coded ones "
                         "three)")
    pair = _index_pair if kinds[0] == INDEX else _colour_pair
    content, style, keys, style_count = pair(content_mask, style_mask, max_labels, names)
    n = len(keys)
    c_counts = np.bincount(content.ravel(), minlength=n)
    s_counts = np.bincount(style[style >= 0].ravel(), minlength=n)
    key = "value" if kinds[0] == INDEX else "color"
    info = {"kind": kinds[0], "count": n, "content_labels": n, "style_labels": style_count,
            "labels": [{**keys[i], "content_pixels": int(c_counts[i]), "style_pixels": int(s_counts[i])}
                       for i in range(n)],
            "style_unmatched_pixels": int((style < 0).sum()),
            "global_fallback": [keys[i][key] for i in range(n) if s_counts[i] == 0],
            "warnings": _pairing_warnings((n, style_count), names)}
    return content, style, info


def label_masks(content_mask: np.ndarray, style_mask: np.ndarray, *, max_labels: int = 16,
                names: tuple[str, str] = ("content mask", "style mask")) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`label_maps` as the graph's one-hot masks: ``(content (1, L, H, W), style (1, L, Hs, Ws), info)``."""
    c, s, info = label_maps(content_mask, style_mask, max_labels=max_labels, names=names)
    return one_hot(c, info["count"]), one_hot(s, info["count"]), info
