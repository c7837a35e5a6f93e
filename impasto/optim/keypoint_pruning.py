"""Prune keypoint pairs before a thin-plate-spline warp: crowded pairs, outliers, folds.

Neural Best Buddies (:mod:`impasto.optim.nbb`) returns pairs that match in appearance,
not necessarily in geometry: two content points a few pixels apart whose guide points
lie far apart, a pair on the wrong object, or two pairs that cross. Fed to a TPS, each
of these tears or folds the image. Four passes, in this order, remove them:

0. **border**: a pair with either point within ``border`` of its image's frame (NBB
   matches frame corners to frame corners; the warp pins the frame with fixed anchors,
   so such a pair can only fight them).
1. **crowded**: in score order, a pair is dropped when its content point or its guide
   point lies closer than ``min_separation`` to one of a better pair.
2. **outlier**: every pair is predicted by the least-squares affine map fitted to the
   *other* pairs (leave one out); a pair is dropped when its residual exceeds both
   ``outlier_floor`` and ``median + outlier_mads * 1.4826 * MAD`` of all residuals. The
   floor keeps the genuine non-affine deformations a geometric style is made of.
3. **fold**: while the TPS through the remaining pairs (and the fixed anchors) folds
   over (its Jacobian determinant is <= 0 somewhere on a ``grid x grid`` lattice), the
   pair whose removal leaves the smallest folded area is dropped (ties: lower score).

At least ``min_keep`` pairs always remain; the passes stop dropping there.

Convention:
    Points are normalised ``(x, y)`` in ``[-1, 1]`` of their own image
    (``align_corners=False``, as :mod:`impasto.ops`), arrays of shape ``(K, 2)``;
    ``anchors`` ``(A, 2)`` are fixed points mapped to themselves. Distances are in the
    same normalised units (the image width is 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from impasto.errors import UserError


@dataclass(frozen=True)
class PruneConfig:
    """Thresholds of :func:`prune_keypoints` (normalised units; see the module docstring)."""

    border: float = 0.05
    min_separation: float = 0.08
    outlier_mads: float = 3.0
    outlier_floor: float = 0.35
    grid: int = 32
    regularization: float = 1e-3
    min_keep: int = 3

    def __post_init__(self) -> None:
        if min(self.border, self.min_separation, self.outlier_mads, self.outlier_floor, self.regularization) < 0:
            raise UserError(f"keypoint pruning: expected non-negative thresholds, got {self}")
        if self.grid < 4 or self.min_keep < 1:
            raise UserError(f"keypoint pruning: expected grid >= 4 and min_keep >= 1, got {self.grid}, {self.min_keep}")


def _check(name: str, p: Any) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise UserError(f"keypoint pruning: expected {name} as Kx2, got {a.shape}")
    return a


def affine_residuals(pc: np.ndarray, ps: np.ndarray) -> np.ndarray:
    """Leave-one-out residuals ``(K,)``: distance of each ``ps[i]`` to the affine fit of the other pairs.

    Needs ``K >= 4`` (3 pairs determine an affine map); with fewer, all residuals are 0.
    """
    k = len(pc)
    if k < 4:
        return np.zeros(k)
    design = np.concatenate([pc, np.ones((k, 1))], axis=1)  # (K, 3)
    out = np.empty(k)
    for i in range(k):
        rest = np.arange(k) != i
        coef, *_ = np.linalg.lstsq(design[rest], ps[rest], rcond=None)
        out[i] = np.linalg.norm(design[i] @ coef - ps[i])
    return out


def folded_fraction(pc: np.ndarray, ps: np.ndarray, anchors: np.ndarray, grid: int, regularization: float) -> float:
    """Fraction of a ``grid x grid`` lattice where the TPS moving ``pc`` to ``ps`` folds over (det J <= 0)."""
    from impasto.ops import reference

    src = torch.from_numpy(np.concatenate([pc, anchors]))[None]
    dst = torch.from_numpy(np.concatenate([ps, anchors]))[None]
    with torch.no_grad():
        g = reference.tps_grid(src, dst, grid, grid, regularization)[0]  # (H, W, 2): output cell -> source
    dx = g[:-1, 1:] - g[:-1, :-1]
    dy = g[1:, :-1] - g[:-1, :-1]
    det = dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0]
    return float((det <= 0).double().mean())


def prune_keypoints(points_content: Any, points_guide: Any, scores: Any | None = None,
                    anchors: Any | None = None, cfg: PruneConfig | None = None) -> dict[str, Any]:
    """Drop the pairs that would tear or fold a TPS warp.

    Args:
        points_content, points_guide: ``(K, 2)`` normalised points, pair ``i`` = row ``i``.
        scores: ``(K,)`` pair quality, higher is better (default: the given order).
        anchors: ``(A, 2)`` fixed points included in the fold test (default none).
        cfg: thresholds.

    Returns:
        ``{"keep": sorted indices of the kept pairs, "dropped": [{"index", "reason", ...}],
        "folded_before": fraction, "folded_after": fraction}``.

    Raises:
        UserError: mismatched or malformed point arrays.
    """
    cfg = cfg or PruneConfig()
    pc, ps = _check("content points", points_content), _check("guide points", points_guide)
    if len(pc) != len(ps):
        raise UserError(f"keypoint pruning: expected as many guide points as content points ({len(pc)}), got {len(ps)}")
    k = len(pc)
    sc = np.arange(k, 0, -1, dtype=np.float64) if scores is None else np.asarray(scores, dtype=np.float64)
    if sc.shape != (k,):
        raise UserError(f"keypoint pruning: expected {k} scores, got shape {sc.shape}")
    anc = np.zeros((0, 2)) if anchors is None else _check("anchors", anchors)
    keep = list(np.argsort(-sc, kind="stable"))
    dropped: list[dict[str, Any]] = []

    def drop(i: int, reason: str, **extra: float) -> None:
        keep.remove(i)
        dropped.append({"index": int(i), "reason": reason, **{n: round(float(v), 4) for n, v in extra.items()}})

    for i in list(keep):
        if len(keep) > cfg.min_keep and max(np.abs(pc[i]).max(), np.abs(ps[i]).max()) > 1 - cfg.border:
            drop(i, "border")
    kept: list[int] = []
    for i in list(keep):
        if len(keep) <= cfg.min_keep:
            break
        near = [np.linalg.norm(pc[i] - pc[j]) < cfg.min_separation or np.linalg.norm(ps[i] - ps[j]) < cfg.min_separation
                for j in kept]
        if any(near):
            drop(i, "crowded")
        else:
            kept.append(i)

    idx = np.array(keep)
    res = affine_residuals(pc[idx], ps[idx])
    if len(idx) >= 4:
        med = np.median(res)
        limit = max(cfg.outlier_floor, med + cfg.outlier_mads * 1.4826 * np.median(np.abs(res - med)))
        for j in np.argsort(-res):
            if res[j] > limit and len(keep) > cfg.min_keep:
                drop(int(idx[j]), "outlier", residual=res[j], limit=limit)

    def folds(ids: list[int]) -> float:
        return folded_fraction(pc[ids], ps[ids], anc, cfg.grid, cfg.regularization)

    before = folds(list(range(k))) if k else 0.0
    now = folds(keep) if keep else 0.0
    while now > 0 and len(keep) > cfg.min_keep:
        trials = [(folds([j for j in keep if j != i]), sc[i], i) for i in keep]
        now, _, worst = min(trials)
        drop(worst, "fold", folded_after=now)
    return {"keep": sorted(int(i) for i in keep), "dropped": dropped, "folded_before": round(before, 4),
            "folded_after": round(now, 4)}
