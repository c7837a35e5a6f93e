"""Deformable Style Transfer (Kim, Kolkin, Salavon & Shakhnarovich, ECCV 2020) on the project's Gatys losses.

Keypoint pairs ``(P_c, P_s)`` between the content and the geometry guide come from
Neural Best Buddies (:mod:`impasto.optim.nbb`); crowded, outlying and folding pairs
are pruned first (:mod:`impasto.optim.keypoint_pruning`), as DST cleans its NBB points.
The stylised image ``X`` and the displacements ``theta`` of the content keypoints are
optimised jointly::

    L = alpha * L_content(X, C) + L_style(X, S) + L_style(W(X, theta), S)
        + beta * L_warp(theta) + gamma * R_TV(f_theta)

- ``W(X, theta) = tps_warp(X, P_c, P_c + theta)`` (:func:`impasto.ops.tps_warp`): the
  content at ``P_c`` moves to ``P_c + theta``. Eight border anchors (corners and edge
  midpoints) are added with zero displacement so the frame stays put.
- ``L_warp = mean_k |P_c,k + theta_k - P_s,k|^2`` pulls the warped points to the guide's.
- ``R_TV`` is the total variation (:func:`impasto.models.losses.tv_loss`) of the dense
  displacement field ``f_theta`` (``tps_grid`` minus the identity) on a 64x64 grid.
- ``L_content`` and ``L_style`` are the project's scale-free relative losses
  (:func:`impasto.models.losses.content_loss` on ``relu4_2``, :func:`style_loss` on
  the Gram matrices of ``relu1_1 … relu5_1``), weighted ``style_weight`` each.

The result is ``W(X, theta)``. The style statistics come from ``texture`` when given,
else from the guide itself.

Convention:
    Images in and out are ``HxWx3`` uint8 RGB; the result has the content's aspect ratio
    and longest side ``size``. Keypoints are normalised ``(x, y)`` in ``[-1, 1]``
    (``align_corners=False``) of their own image, so the guide's layout is stretched
    onto the content's frame. Pixels of ``X`` are float in ``[0, 1]``, clamped after
    every step.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from impasto.errors import UserError
from impasto.models.imaging import resize_longest
from impasto.optim.gatys import CONTENT_LAYERS, STYLE_LAYERS

#: Resolution of the dense displacement field that R_TV sees.
TV_GRID = 64
#: Fixed anchors (normalised x, y): the corners and edge midpoints, just inside the frame.
ANCHORS = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))
ANCHOR_INSET = 0.98


@dataclass(frozen=True)
class DSTConfig:
    """Settings of one DST optimisation (weights as in the module docstring).

    Attributes:
        size: longest side of the result, pixels.
        iters: Adam steps.
        k: NBB keypoint pairs.
        content_weight: ``alpha``.
        style_weight: weight of each of the two style terms.
        warp_weight: ``beta``.
        tv_weight: ``gamma``.
        lr: Adam step of the pixels (``[0, 1]`` units).
        lr_points: Adam step of the displacements (normalised units).
        regularization: TPS smoothing (0 interpolates the points exactly).
        nbb_size: longest side of the images for the keypoint search.
        prune: drop crowded, outlying and folding pairs first
            (:func:`impasto.optim.keypoint_pruning.prune_keypoints`).
        seed: keypoint clustering seed.
    """

    size: int = 256
    iters: int = 200
    k: int = 16
    content_weight: float = 3.0
    style_weight: float = 5.0
    warp_weight: float = 1000.0
    tv_weight: float = 200.0
    lr: float = 0.02
    lr_points: float = 0.01
    regularization: float = 1e-3
    nbb_size: int = 224
    prune: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 32 or self.iters < 1 or self.k < 3 or self.nbb_size < 64:
            raise UserError(f"dst: expected size >= 32, iters >= 1, k >= 3, nbb_size >= 64, got size={self.size}, "
                            f"iters={self.iters}, k={self.k}, nbb_size={self.nbb_size}")
        for name in ("content_weight", "style_weight", "warp_weight", "tv_weight", "lr", "lr_points",
                     "regularization"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise UserError(f"dst {name}: expected a finite number >= 0, got {v!r}")


def to_normalised(points: np.ndarray, width: int, height: int) -> torch.Tensor:
    """Pixel ``(x, y)`` (NBB convention) -> normalised ``[-1, 1]`` (``align_corners=False``), ``(1, K, 2)``."""
    p = np.asarray(points, dtype=np.float64) / np.array([width, height]) * 2 - 1
    return torch.from_numpy(p).float()[None]


def displacement_field(src: torch.Tensor, dst: torch.Tensor, size: int, regularization: float) -> torch.Tensor:
    """The TPS displacement ``T(p) - p`` on a ``size x size`` grid, ``(1, 2, size, size)``."""
    from impasto.models.warpnet import identity_grid
    from impasto.ops import tps_grid

    grid = tps_grid(src, dst, size, size, regularization).permute(0, 3, 1, 2)
    return grid - identity_grid(size, size, grid)


def run_dst(content: np.ndarray, guide: np.ndarray, cfg: DSTConfig, *, texture: np.ndarray | None = None,
            keypoints: tuple[np.ndarray, np.ndarray] | None = None, vgg: Any = None,
            vgg_weights: str | None = None, progress: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Deformable style transfer of ``content`` towards ``guide``'s geometry (and style, or ``texture``'s).

    Args:
        content: ``HxWx3`` uint8 RGB.
        guide: ``HxWx3`` uint8 RGB, the geometry guide.
        cfg: the optimisation settings.
        texture: ``HxWx3`` uint8 RGB whose style is used instead of the guide's.
        keypoints: ``(points_content, points_guide)`` in pixels (NBB convention) to skip the search
            (pruned too, unless ``cfg.prune`` is off).
        vgg: a :class:`~impasto.models.vgg.VGG16Features` (max pooling) to reuse.
        vgg_weights: weights path when ``vgg`` is None.
        progress: draw a progress bar on stderr.

    Returns:
        ``(image, summary)``: ``W(X, theta)`` as uint8 RGB and a JSON-ready dict with the
        kept keypoints, the pruning report (``None`` when off), the initial and final
        losses, the mean distance of the warped points to their targets before and after
        (normalised units), ``seconds`` (keypoints and optimisation separately) and the config.
    """
    from impasto.models.imaging import to_image, to_tensor
    from impasto.models.vgg import VGG16Features
    from impasto.ops import tps_warp
    from impasto.runtime.io.images import to_rgb8
    from impasto.utils.progress import Progress

    content, guide = to_rgb8(content, name="content"), to_rgb8(guide, name="geometry guide")
    style_src = guide if texture is None else to_rgb8(texture, name="texture")
    vgg = vgg if vgg is not None else VGG16Features(vgg_weights)
    t0 = time.perf_counter()
    pairs = _keypoint_pairs(content, guide, cfg, keypoints, vgg)
    t_kp = time.perf_counter() - t0
    c_t = to_tensor(resize_longest(content, cfg.size))[None]
    objective = _Objective(vgg, cfg, pairs, c_t, to_tensor(resize_longest(style_src, cfg.size))[None])
    x = c_t.clone().requires_grad_(True)
    theta = torch.zeros(1, pairs.pc.shape[1], 2, requires_grad=True)
    opt = torch.optim.Adam([{"params": [x], "lr": cfg.lr}, {"params": [theta], "lr": cfg.lr_points}])
    bar = Progress(cfg.iters, "dst", enabled=progress)
    initial: dict[str, float] = {}
    t1 = time.perf_counter()
    for it in range(cfg.iters):
        out = objective(x, theta)
        if it == 0:
            initial = {k: float(v.detach()) for k, v in out.items()}
        opt.zero_grad(set_to_none=True)
        out["total"].backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        bar.update(1, total=float(out["total"].detach()), warp=float(out["warp"].detach()))
    bar.close()
    with torch.no_grad():
        final = {k: float(v) for k, v in objective(x, theta).items()}
        result = tps_warp(x, pairs.src, pairs.moved(theta), cfg.regularization)
    pc, ps = pairs.pc, pairs.ps
    summary = {"keypoints_content": np.asarray(pairs.points[0]).round(2).tolist(),
               "keypoints_guide": np.asarray(pairs.points[1]).round(2).tolist(),
               "displacements": theta.detach()[0].numpy().round(4).tolist(),
               "pruning": pairs.pruning,
               "initial_losses": initial, "final_losses": final,
               "point_distance_before": round(float((pc - ps).norm(dim=-1).mean()), 4),
               "point_distance_after": round(float((pc + theta.detach() - ps).norm(dim=-1).mean()), 4),
               "seconds_keypoints": round(t_kp, 2), "seconds_optimisation": round(time.perf_counter() - t1, 2),
               "seconds": round(time.perf_counter() - t0, 2), "size": list(c_t.shape[2:]),
               "content_size": [content.shape[1], content.shape[0]],
               "config": asdict(cfg)}
    return to_image(result), summary


@dataclass(frozen=True)
class _Pairs:
    """The kept keypoint pairs of a DST run.

    Convention:
        ``points`` in pixels (NBB's ``(x, y)``); ``pc``/``ps`` the content/guide points
        normalised to ``[-1, 1]``, ``(1, K, 2)``; ``anchors`` the fixed frame points,
        ``(1, 8, 2)``; ``src`` = ``pc`` followed by ``anchors``.
    """

    points: tuple[np.ndarray, np.ndarray]
    pc: torch.Tensor
    ps: torch.Tensor
    anchors: torch.Tensor
    pruning: dict[str, Any] | None

    @property
    def src(self) -> torch.Tensor:
        return torch.cat([self.pc, self.anchors], dim=1)

    def moved(self, theta: torch.Tensor) -> torch.Tensor:
        """The TPS targets: the content points displaced by ``theta``, the anchors fixed."""
        return torch.cat([self.pc + theta, self.anchors], dim=1)


def _keypoint_pairs(content: np.ndarray, guide: np.ndarray, cfg: DSTConfig,
                    keypoints: tuple[np.ndarray, np.ndarray] | None, vgg: Any) -> _Pairs:
    """Neural Best Buddies pairs (unless given), normalised and pruned (unless ``cfg.prune`` is off)."""
    from impasto.optim.keypoint_pruning import PruneConfig, prune_keypoints
    from impasto.optim.nbb import NBBConfig, best_buddies

    scores = None
    if keypoints is None:
        res = best_buddies(content, guide, NBBConfig(k=cfg.k, size=cfg.nbb_size, seed=cfg.seed), vgg=vgg)
        keypoints, scores = (res["points_a"], res["points_b"]), res["scores"]
    pc = to_normalised(keypoints[0], content.shape[1], content.shape[0])
    ps = to_normalised(keypoints[1], guide.shape[1], guide.shape[0])
    if pc.shape != ps.shape or pc.shape[1] < 1:
        raise UserError(f"dst: expected matching keypoint lists, got {tuple(pc.shape)} and {tuple(ps.shape)}")
    anchors = torch.tensor(ANCHORS, dtype=torch.float32)[None] * ANCHOR_INSET
    pruning = None
    if cfg.prune:
        pruning = prune_keypoints(pc[0].numpy(), ps[0].numpy(), scores, anchors[0].numpy(),
                                  PruneConfig(regularization=cfg.regularization))
        keep = pruning["keep"]
        keypoints = (np.asarray(keypoints[0])[keep], np.asarray(keypoints[1])[keep])
        pc, ps = pc[:, keep], ps[:, keep]
    return _Pairs(keypoints, pc, ps, anchors, pruning)


class _Objective:
    """DST's loss for the image ``x`` and the displacements ``theta`` (see the module docstring)."""

    def __init__(self, vgg: Any, cfg: DSTConfig, pairs: _Pairs, c_t: torch.Tensor, s_t: torch.Tensor) -> None:
        from impasto.models.losses import gram

        self.vgg, self.cfg, self.pairs = vgg, cfg, pairs
        self.taps = list(dict.fromkeys(CONTENT_LAYERS + STYLE_LAYERS))
        with torch.no_grad():
            self.target_c = vgg(c_t, CONTENT_LAYERS)
            self.target_g = {k: gram(v) for k, v in vgg(s_t, STYLE_LAYERS).items()}

    def __call__(self, x: torch.Tensor, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        from impasto.models.losses import content_loss, style_loss, tv_loss
        from impasto.ops import tps_warp

        cfg, pairs = self.cfg, self.pairs
        dst = pairs.moved(theta)
        warped = tps_warp(x, pairs.src, dst, cfg.regularization)
        fx, fw = self.vgg(x, self.taps), self.vgg(warped, STYLE_LAYERS)
        out = {"content": sum(content_loss(fx[k], self.target_c[k]) for k in CONTENT_LAYERS),
               "style": style_loss(fx, self.target_g), "style_warped": style_loss(fw, self.target_g),
               "warp": ((pairs.pc + theta - pairs.ps) ** 2).sum(-1).mean(),
               "tv": tv_loss(displacement_field(pairs.src, dst, TV_GRID, cfg.regularization))}
        out["total"] = (cfg.content_weight * out["content"] + cfg.style_weight * (out["style"] + out["style_warped"])
                        + cfg.warp_weight * out["warp"] + cfg.tv_weight * out["tv"])
        return out


def apply_displacements(image: np.ndarray, summary: dict[str, Any]) -> np.ndarray:
    """Warp a content image with the keypoint displacements a :func:`run_dst` summary found (geometry only).

    Args:
        image: ``HxWx3`` uint8 RGB, the content at any size (keypoints are rescaled to it).
        summary: the summary returned by :func:`run_dst`.
    """
    from impasto.models.imaging import to_image, to_tensor
    from impasto.ops import tps_warp

    w0, h0 = summary["content_size"]
    pc = to_normalised(np.array(summary["keypoints_content"]), w0, h0)
    theta = torch.tensor(summary["displacements"], dtype=torch.float32)[None]
    anchors = torch.tensor(ANCHORS, dtype=torch.float32)[None] * ANCHOR_INSET
    src = torch.cat([pc, anchors], dim=1)
    dst = torch.cat([pc + theta, anchors], dim=1)
    with torch.no_grad():
        return to_image(tps_warp(to_tensor(image)[None], src, dst, summary["config"]["regularization"]))
