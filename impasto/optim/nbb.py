"""Neural Best Buddies (Aberman et al., SIGGRAPH 2018): sparse cross-domain correspondences on VGG16 features.

Coarse to fine over ``relu5_1, relu4_1, relu3_1, relu2_1, relu1_1`` (the paper used VGG19;
these are the same taps of VGG16):

1. At every level both images' features are brought to a common appearance (each
   channel's mean and standard deviation replaced by the average of the two images')
   and described by L2-normalised 3x3 patches of features.
2. At the deepest level, best buddies are the mutual nearest neighbours over the whole
   images (cosine similarity).
3. Each pair is refined one level down: inside the two receptive regions it maps to (its
   cell doubled, plus a margin), the mutual nearest neighbours between the two regions
   become the pairs of that level.
4. At every level a pair survives only if both of its positions are active: the feature
   norm, min-max normalised over the image, is above ``activation_threshold``.
5. The final pairs are clustered with k-means (on their positions in both images) into
   ``k`` groups; each group gives its most active pair, judged by the mean activation of
   the pair and its ancestors over all levels (deep, semantic activations count as much
   as the fine ones, so edges in flat backgrounds rank low).

Convention:
    Images are ``HxWx3`` uint8 RGB of any sizes (each is resized so its longest side is
    ``size`` for the features). Keypoints are ``(x, y)`` in **pixels of each original
    image**, origin at the image's top-left corner, x to the right, y down; the centre of
    pixel (row i, column j) is ``(j + 0.5, i + 0.5)``. So ``x_norm = 2 x / W - 1`` is the
    ``grid_sample`` (``align_corners=False``) / :mod:`impasto.ops` coordinate.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from impasto.errors import UserError
from impasto.models.imaging import resize_longest

LEVELS: tuple[str, ...] = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
STRIDES: dict[str, int] = {"relu5_1": 16, "relu4_1": 8, "relu3_1": 4, "relu2_1": 2, "relu1_1": 1}
#: Pairs per chunk when refining (bounds the memory of the gathered patch features).
CHUNK = 512


@dataclass(frozen=True)
class NBBConfig:
    """Settings of a best-buddies search.

    Attributes:
        k: keypoint pairs to return (fewer when fewer best buddies survive).
        size: longest side of each image for the features, pixels (>= 64).
        finest: the last level refined to (``relu1_1`` = pixel precision at ``size``).
        margin: region margin in cells of the finer level (regions are ``2 + 2*margin`` wide).
        activation_threshold: minimum normalised activation of both positions of a pair.
        seed: k-means initialisation seed.
    """

    k: int = 8
    size: int = 224
    finest: str = "relu1_1"
    margin: int = 1
    activation_threshold: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise UserError(f"--k: expected a positive number of keypoints, got {self.k}")
        if self.size < 64:
            raise UserError(f"nbb size: expected >= 64 px, got {self.size}")
        if self.finest not in LEVELS:
            raise UserError(f"nbb finest level: expected one of {', '.join(LEVELS)}, got {self.finest!r}")
        if self.margin < 0 or not 0 <= self.activation_threshold < 1:
            raise UserError(f"nbb: expected margin >= 0 and 0 <= activation_threshold < 1, got {self.margin}, "
                            f"{self.activation_threshold}")

    @property
    def levels(self) -> tuple[str, ...]:
        return LEVELS[:LEVELS.index(self.finest) + 1]


def _describe(fa: torch.Tensor, fb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Common-appearance, L2-normalised 3x3 patch descriptors ``(h*w, 9C)`` and activations ``(h*w,)`` in [0, 1]."""
    out = []
    mean = [f.mean(dim=(2, 3), keepdim=True) for f in (fa, fb)]
    std = [f.std(dim=(2, 3), keepdim=True).clamp_min(1e-6) if f[0, 0].numel() > 1 else torch.ones_like(m)
           for f, m in zip((fa, fb), mean)]
    common_mean, common_std = (mean[0] + mean[1]) / 2, (std[0] + std[1]) / 2
    for f, m, s in zip((fa, fb), mean, std):
        g = (f - m) / s * common_std + common_mean
        patches = F.unfold(g, kernel_size=3, padding=1)[0].t()  # (h*w, 9C)
        out.append(F.normalize(patches, dim=1))
    acts = []
    for f in (fa, fb):
        a = f[0].norm(dim=0).flatten()
        acts.append((a - a.min()) / (a.max() - a.min()).clamp_min(1e-12))
    return out[0], out[1], acts[0], acts[1]


def _mutual(sim: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mutual nearest neighbours of ``(n, Ra, Rb)`` similarities: ``(batch, a, b)`` indices."""
    a2b = sim.argmax(dim=2)  # (n, Ra)
    b2a = sim.argmax(dim=1)  # (n, Rb)
    back = torch.gather(b2a, 1, a2b)
    n_idx, a_idx = torch.nonzero(back == torch.arange(sim.shape[1]).expand_as(back), as_tuple=True)
    return n_idx, a_idx, a2b[n_idx, a_idx]


def _regions(cells: torch.Tensor, hw: tuple[int, int], margin: int) -> torch.Tensor:
    """Flat indices ``(n, R*R)`` of the finer-level regions of ``(n, 2)`` (row, col) cells; clamped to the image."""
    r = 2 + 2 * margin
    offs = torch.arange(r) - margin
    rows = (2 * cells[:, :1] + offs).clamp(0, hw[0] - 1)  # (n, R)
    cols = (2 * cells[:, 1:] + offs).clamp(0, hw[1] - 1)
    return (rows[:, :, None] * hw[1] + cols[:, None, :]).reshape(len(cells), r * r)


def best_buddies(image_a: np.ndarray, image_b: np.ndarray, cfg: NBBConfig, *, vgg: Any = None,
                 vgg_weights: str | os.PathLike | None = None) -> dict[str, Any]:
    """Find best-buddy keypoint pairs between two images.

    Args:
        image_a, image_b: ``HxWx3`` uint8 RGB.
        cfg: the search settings.
        vgg: a :class:`~impasto.models.vgg.VGG16Features` to reuse (max pooling).
        vgg_weights: weights path when ``vgg`` is None.

    Returns:
        ``{"points_a": (k, 2) float array, "points_b": (k, 2), "scores": (k,), "pairs_per_level":
        {level: count}, "size_a": [w, h], "size_b": [w, h], "config": {...}}``; points follow the
        module convention, sorted by score (the mean activation of the pair and its ancestors
        over all levels, in [0, 1]).

    Raises:
        UserError: bad images, or no best buddies at the deepest level.
    """
    from impasto.models.imaging import to_tensor
    from impasto.models.vgg import VGG16Features
    from impasto.runtime.io.images import to_rgb8

    image_a, image_b = to_rgb8(image_a, name="image A"), to_rgb8(image_b, name="image B")
    if vgg is None:
        vgg = VGG16Features(vgg_weights)
    work = [resize_longest(im, cfg.size) for im in (image_a, image_b)]
    with torch.no_grad():
        feats = [vgg(to_tensor(w)[None], list(cfg.levels)) for w in work]
        counts: dict[str, int] = {}
        pairs_a = pairs_b = None  # (n, 2) cells (row, col) at the current level
        score = None  # (n,) accumulated mean activation of each pair and its ancestors
        for li, level in enumerate(cfg.levels):
            fa, fb = feats[0][level], feats[1][level]
            hwa, hwb = tuple(fa.shape[2:]), tuple(fb.shape[2:])
            da, db, act_a, act_b = _describe(fa, fb)
            if li == 0:
                _, flat_a, flat_b = _mutual((da @ db.t())[None])
                inherited = torch.zeros(len(flat_a))
            else:
                ra, rb = _regions(pairs_a, hwa, cfg.margin), _regions(pairs_b, hwb, cfg.margin)
                found_a, found_b, parents = [], [], []
                for s in range(0, len(ra), CHUNK):
                    ca, cb = ra[s:s + CHUNK], rb[s:s + CHUNK]
                    n_i, ia, ib = _mutual(torch.bmm(da[ca], db[cb].transpose(1, 2)))
                    found_a.append(ca[n_i, ia])
                    found_b.append(cb[n_i, ib])
                    parents.append(n_i + s)
                flat_a, flat_b = torch.cat(found_a), torch.cat(found_b)
                inherited = score[torch.cat(parents)]
            keep = (act_a[flat_a] > cfg.activation_threshold) & (act_b[flat_b] > cfg.activation_threshold)
            flat_a, flat_b, inherited = flat_a[keep], flat_b[keep], inherited[keep]
            n_b = hwb[0] * hwb[1]
            uniq, inverse = torch.unique(flat_a * n_b + flat_b, return_inverse=True)
            own = (act_a[flat_a] + act_b[flat_b]) / 2 + inherited
            score = torch.full((len(uniq),), -1.0).scatter_reduce(0, inverse, own, "amax")
            flat_a, flat_b = uniq // n_b, uniq % n_b
            counts[level] = len(flat_a)
            if len(flat_a) == 0:
                raise UserError(f"keypoints: no best buddies survive at {level} (expected at least one); "
                                "the images share no recognisable content")
            pairs_a = torch.stack([flat_a // hwa[1], flat_a % hwa[1]], dim=1)
            pairs_b = torch.stack([flat_b // hwb[1], flat_b % hwb[1]], dim=1)
        scores = (score / len(cfg.levels)).numpy()
    stride = STRIDES[cfg.levels[-1]]
    pts = []
    for cells, w, im in ((pairs_a, work[0], image_a), (pairs_b, work[1], image_b)):
        xy = (cells.flip(1).numpy().astype(np.float64) + 0.5) * stride  # working pixels, (x, y)
        scale = np.array([im.shape[1] / w.shape[1], im.shape[0] / w.shape[0]])
        pts.append(xy * scale)
    chosen = _cluster(pts[0], pts[1], scores, image_a.shape, image_b.shape, cfg.k, cfg.seed)
    return {"points_a": pts[0][chosen], "points_b": pts[1][chosen], "scores": scores[chosen],
            "pairs_per_level": counts, "size_a": [image_a.shape[1], image_a.shape[0]],
            "size_b": [image_b.shape[1], image_b.shape[0]], "config": asdict(cfg)}


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Cluster labels of ``(n, d)`` points: k-means with k-means++ initialisation (``k <= n``)."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        centres.append(x[rng.choice(len(x), p=d2 / total)] if total > 0 else x[rng.integers(len(x))])
    c = np.array(centres)
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(iters):
        labels = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.array([x[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return labels


def _cluster(pa: np.ndarray, pb: np.ndarray, scores: np.ndarray, shape_a: tuple[int, ...],
             shape_b: tuple[int, ...], k: int, seed: int) -> np.ndarray:
    """Indices of the most active pair of each k-means cluster, best score first."""
    if len(pa) <= k:
        return np.argsort(-scores, kind="stable")
    na = pa / np.array([shape_a[1], shape_a[0]])
    nb = pb / np.array([shape_b[1], shape_b[0]])
    labels = kmeans(np.concatenate([na, nb], axis=1), k, seed)
    best = [np.flatnonzero(labels == j)[np.argmax(scores[labels == j])] for j in range(k) if np.any(labels == j)]
    return np.array(sorted(best, key=lambda i: -scores[i]), dtype=np.int64)


def draw_matches(image_a: np.ndarray, image_b: np.ndarray, points_a: np.ndarray, points_b: np.ndarray,
                 height: int = 480) -> np.ndarray:
    """Both images side by side (scaled to ``height``), each pair as two numbered dots of one colour and a line.

    Args:
        image_a, image_b: ``HxWx3`` uint8 RGB.
        points_a, points_b: ``(k, 2)`` pixel coordinates (module convention) in each image.

    Returns:
        ``height x (Wa' + Wb') x 3`` uint8 RGB.
    """
    import cv2

    tiles, scales = [], []
    for im in (image_a, image_b):
        s = height / im.shape[0]
        tiles.append(cv2.resize(im, (max(1, round(im.shape[1] * s)), height), interpolation=cv2.INTER_AREA))
        scales.append(s)
    canvas = np.ascontiguousarray(np.concatenate(tiles, axis=1))
    offset = tiles[0].shape[1]
    for i, (pa, pb) in enumerate(zip(points_a, points_b)):
        hue = int(180 * i / max(1, len(points_a)))
        color = cv2.cvtColor(np.uint8([[[hue, 230, 255]]]), cv2.COLOR_HSV2RGB)[0, 0].tolist()
        a = (round(pa[0] * scales[0]), round(pa[1] * scales[0]))
        b = (round(pb[0] * scales[1]) + offset, round(pb[1] * scales[1]))
        cv2.line(canvas, a, b, color, 1, cv2.LINE_AA)
        for p in (a, b):
            cv2.circle(canvas, p, 7, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(canvas, p, 5, color, -1, cv2.LINE_AA)
            cv2.putText(canvas, str(i), (p[0] + 8, p[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(canvas, str(i), (p[0] + 8, p[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return canvas
