"""Train the Learning-to-Warp network self-supervised on photos (``impasto train warpnet``).

Every batch is a set of random crops of the photo folder and smoothly warped copies of
them with known fields (:mod:`impasto.training.warp_pairs`). Only the CNN ``f`` (and its
soft-argmax scale) learns; VGG16 is frozen. The loss sums over the ``K`` refinement
steps, weighted ``gamma^(K-1-k)``:

- ``window``: the paper's matching loss. The content's pool4 features are warped with the
  step's field; at every guide cell the window-softmax probability
  (:func:`impasto.ops.local_correlation` + :func:`impasto.ops.window_softmax`, radius 4 =
  a 9x9 window) that the guide feature matches the warped content feature at the *same*
  cell rather than a neighbour is maximised: ``-log p(centre)``.
- ``field``: the known-field loss, the L1 distance between the step's coarse field and the
  true field averaged over each cell, in pool4 cells (1 = 16 working pixels).
- ``smooth``: total variation of the step's coarse field (mean absolute difference of
  neighbouring cells, in cells): photos and paintings deform smoothly, and a field that
  jumps between neighbouring cells tears the warped image apart.

Cells whose true source leaves the photo are left out of both.

Convention:
    Checkpoints follow :mod:`impasto.training.loop` with ``method: "warpnet"``,
    ``model: {"arch": "WarpNet", "config": WarpNetConfig}`` and ``state_dict`` = the
    head ``f`` only (the encoder is VGG16, loaded from its weights file). Next to ``x.pt``
    the run writes ``x.losses.csv``, ``x.losses.png`` and ``x.preview.jpg`` (held-out rows: content, guide,
    warped by the network, warped by the true field). EPE (end-point error) is the mean
    Euclidean distance between predicted and true dense fields over valid pixels, in
    pixels of the working size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from impasto.models.warpnet import WarpNet, warp_image
from impasto.training.configs import WarpNetTrainConfig
from impasto.training.data import AugmentedImages, list_images, load_eval_images, split_holdout, write_grid
from impasto.training.loop import Method, train
from impasto.training.warp_pairs import WarpSampler, field_at

CENTRE_EPS = 1e-8


def warp_losses(net: WarpNet, content: torch.Tensor, guide: torch.Tensor, true_field: torch.Tensor,
                valid: torch.Tensor, cfg: WarpNetTrainConfig) -> dict[str, torch.Tensor]:
    """The weighted training losses of one batch (see the module docstring).

    Args:
        net: the network; inputs are already at its working size.
        content, guide: ``(B, 3, S, S)``.
        true_field, valid: ``(B, 2, S, S)`` and ``(B, 1, S, S)`` from :meth:`WarpSampler.pairs`.

    Returns:
        ``{"field", "window", "smooth", "total"}`` (weighted) and ``"epe_px"`` (final step, no gradient).
    """
    from impasto.ops import local_correlation, window_softmax

    g, k = net.config.grid, net.config.steps
    with torch.no_grad():
        fg, fc0 = net.encoder(guide), net.encoder(content)
    fields_k = net.coarse_fields(content, guide, features=(fg, fc0))
    target = field_at(true_field, g)
    mask = (field_at(valid, g) > 0.999).to(content.dtype)  # cells entirely inside the photo
    denom = mask.sum().clamp_min(1.0)
    centre = (2 * cfg.window_radius + 1) ** 2 // 2
    lf = content.new_zeros(())
    lw = content.new_zeros(())
    ls = content.new_zeros(())
    for i, w in enumerate(fields_k):
        weight = cfg.gamma ** (k - 1 - i)
        lf = lf + weight * ((w - target).abs().sum(1, keepdim=True) * g / 2 * mask).sum() / denom
        ls = ls + weight * field_tv(w)
        prob = window_softmax(local_correlation(fg, warp_image(fc0, w), cfg.window_radius), cfg.temperature)
        lw = lw + weight * (-torch.log(prob[:, centre:centre + 1] + CENTRE_EPS) * mask).sum() / denom
    with torch.no_grad():
        epe = dense_epe(fields_k[-1], true_field, valid)
    lf, lw, ls = cfg.field_weight * lf, cfg.window_weight * lw, cfg.smooth_weight * ls
    return {"field": lf, "window": lw, "smooth": ls, "total": lf + lw + ls, "epe_px": epe}


def field_tv(coarse: torch.Tensor) -> torch.Tensor:
    """Total variation of a ``(B, 2, g, g)`` normalised field, in cells per cell (mean over both directions)."""
    g = coarse.shape[-1]
    dx = (coarse[..., :, 1:] - coarse[..., :, :-1]).abs().mean()
    dy = (coarse[..., 1:, :] - coarse[..., :-1, :]).abs().mean()
    return (dx + dy) * g / 2


def dense_epe(coarse: torch.Tensor, true_field: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean end-point error in pixels of the field's resolution, over valid pixels (see the module convention)."""
    h, w = true_field.shape[-2:]
    up = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    scale = torch.tensor([w / 2, h / 2], dtype=up.dtype, device=up.device).view(1, 2, 1, 1)
    err = ((up - true_field) * scale).square().sum(1, keepdim=True).sqrt()
    return (err * valid).sum() / valid.sum().clamp_min(1.0)


def heldout_pairs(images: list[torch.Tensor], size: int, sampler: WarpSampler,
                  seed: int = 1234) -> tuple[torch.Tensor, ...]:
    """Fixed evaluation pairs: centre squares of held-out photos resized to ``size``, warped with a fixed seed."""
    crops = []
    for x in images:
        h, w = x.shape[-2:]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        crops.append(F.interpolate(x[..., y0:y0 + s, x0:x0 + s], size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=True))
    photos = torch.cat(crops).clamp(0, 1)
    guide, field, valid = sampler.pairs(photos, torch.Generator().manual_seed(seed))
    return photos, guide, field, valid


@torch.no_grad()
def evaluate(net: WarpNet, pairs: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Held-out EPE (working pixels) of the network and of the identity (no warp) on fixed pairs."""
    photos, guide, field, valid = pairs
    if photos.shape[0] == 0:
        return {}
    coarse = net.coarse_fields(photos, guide)[-1]
    zero = torch.zeros_like(coarse)
    return {"heldout_epe_px": round(float(dense_epe(coarse, field, valid)), 3),
            "identity_epe_px": round(float(dense_epe(zero, field, valid)), 3)}


@torch.no_grad()
def write_preview(net: WarpNet, pairs: tuple[torch.Tensor, ...], path: Path, n: int = 4) -> None:
    """Rows of held-out pairs: content, guide, warped by the network, warped by the true field."""
    photos, guide, field, _ = (t[:n] for t in pairs)
    if photos.shape[0] == 0:
        return
    coarse = net.coarse_fields(photos, guide)[-1]
    write_grid(path, list(zip(photos, guide, warp_image(photos, coarse), warp_image(photos, field))))


class WarpNetMethod(Method):
    """The warp-network trainer's hooks."""

    name = "warpnet"
    columns = ("field", "window", "smooth", "total", "epe_px")
    plot_columns = ("field", "window", "smooth", "total")
    progress_keys = {"field": "field", "window": "window", "epe": "epe_px"}
    label = "warpnet"
    digits = 5

    def __init__(self, cfg: WarpNetTrainConfig) -> None:
        super().__init__(cfg)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def check(self) -> None:
        _, self.held_files = split_holdout(list_images(self.cfg.data), self.cfg.holdout)

    def setup(self, net: torch.nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        cfg = self.cfg
        self.net, self.device = net, device
        self.sampler = WarpSampler()
        self.data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start)
        self.data.exclude(self.held_files)
        held = heldout_pairs(load_eval_images(self.held_files), cfg.size, self.sampler)
        self.held = tuple(t.to(device) for t in held)

    def step(self, it: int) -> dict[str, Any]:
        photos = self.data.batch(self.cfg.batch)
        guide, field, valid = self.sampler.pairs(photos, self.gen)
        dev = self.device
        return warp_losses(self.net, photos.to(dev), guide.to(dev), field.to(dev), valid.to(dev), self.cfg)

    def preview(self, path: Path) -> None:
        write_preview(self.net, self.held, path)

    def evaluate(self) -> dict[str, Any]:
        return evaluate(self.net, self.held)

    def card(self) -> dict[str, Any]:
        return {"method": "warpnet", "data": f"{self.data.describe(len(self.held_files))}, random TPS + affine warps",
                "holdout": [f.name for f in self.held_files],
                "vgg16_weights": Path(self.net.encoder.weights_path).name}

    def summary(self) -> dict[str, Any]:
        return {"heldout_images": len(self.held_files)}

    def rng_state(self) -> dict[str, Any]:
        return {"warps": self.gen.get_state()}

    def restore(self, ckpt: dict[str, Any]) -> None:
        self.gen.set_state(ckpt["rng"]["warps"])


def train_warpnet(cfg: WarpNetTrainConfig, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train (or resume) the warp network's head: :func:`impasto.training.loop.train` (its ``options`` and summary)."""
    return train(WarpNetMethod(cfg), out, **options)
