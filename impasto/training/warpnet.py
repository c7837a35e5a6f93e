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
    Checkpoints follow :mod:`impasto.training.checkpoint` with ``method: "warpnet"``,
    ``model: {"arch": "WarpNet", "config": WarpNetConfig}`` and ``state_dict`` = the
    head ``f`` only (the encoder is VGG16, loaded from its weights file). Next to ``x.pt``
    the run writes ``x.losses.csv`` and ``x.preview.jpg`` (held-out rows: content, guide,
    warped by the network, warped by the true field). EPE (end-point error) is the mean
    Euclidean distance between predicted and true dense fields over valid pixels, in
    pixels of the working size.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from impasto import __version__
from impasto.errors import UserError
from impasto.models.checkpoint import save_checkpoint
from impasto.models.imaging import to_image
from impasto.models.warpnet import WarpNet, WarpNetConfig, build_warpnet, warp_image
from impasto.runtime.io.images import write_image
from impasto.training.checkpoint import init_from_checkpoint, open_loss_log, resume_run, training_device
from impasto.training.data import AugmentedImages, list_images
from impasto.training.decoder import load_eval_images, split_holdout
from impasto.training.feedforward import hardware_summary, side_paths
from impasto.training.warp_pairs import WarpSampler, field_at
from impasto.utils.progress import Progress

LOG_COLUMNS = ("iteration", "field", "window", "smooth", "total", "epe_px", "seconds")
CENTRE_EPS = 1e-8


@dataclass(frozen=True)
class WarpNetTrainConfig:
    """Everything that defines a warp-network training run (stored in the checkpoint)."""

    data: str
    iters: int = 600
    size: int = 192
    steps: int = 3
    hidden: int = 128
    batch: int = 4
    lr: float = 5e-4
    field_weight: float = 1.0
    window_weight: float = 0.1
    smooth_weight: float = 0.2
    window_radius: int = 4
    temperature: float = 0.05
    gamma: float = 0.8
    holdout: int = 8
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 50
    preview_every: int = 100

    def __post_init__(self) -> None:
        if self.iters < 1 or self.batch < 1:
            raise UserError(f"train warpnet: expected iters >= 1 and batch >= 1, got iters={self.iters}, "
                            f"batch={self.batch}")
        self.model_config  # noqa: B018  (validates size, steps, hidden)
        if (min(self.field_weight, self.window_weight, self.smooth_weight) < 0
                or self.field_weight + self.window_weight == 0):
            raise UserError(f"train warpnet: expected non-negative loss weights, field and window not both 0, got "
                            f"field={self.field_weight}, window={self.window_weight}, smooth={self.smooth_weight}")
        if self.window_radius < 1 or not self.temperature > 0 or not 0 < self.gamma <= 1:
            raise UserError(f"train warpnet: expected window radius >= 1, temperature > 0, 0 < gamma <= 1, got "
                            f"{self.window_radius}, {self.temperature}, {self.gamma}")
        if self.holdout < 0:
            raise UserError(f"--holdout: expected a count >= 0, got {self.holdout}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise UserError(f"--device: expected cpu or cuda, got {self.device!r}")

    @property
    def model_config(self) -> WarpNetConfig:
        return WarpNetConfig(size=self.size, steps=self.steps, hidden=self.hidden)


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
    rows = [np.concatenate([to_image(a), to_image(b), to_image(c), to_image(d)], axis=1)
            for a, b, c, d in zip(photos, guide, warp_image(photos, coarse), warp_image(photos, field))]
    write_image(path, np.concatenate(rows, axis=0))


def train_warpnet(cfg: WarpNetTrainConfig, out: str | os.PathLike, *, resume: bool = False, progress: bool = True,
                  command: str | None = None, vgg_weights: str | None = None,
                  init: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train (or resume) the warp network; write the checkpoint, loss log and preview.

    Args:
        cfg: the run's configuration.
        out: checkpoint path (``.pt``).
        resume: continue from ``out``; its configuration must match ``cfg`` except for
            ``iters`` and the checkpoint/preview intervals.
        progress: draw a progress bar on stderr.
        command: the command line, recorded in the model card.
        vgg_weights: explicit VGG16 weights path.
        init: start a new run from another warp-network checkpoint's head (same model
            configuration; the optimizer starts afresh). Recorded in the model card.

    Returns:
        A summary: checkpoint, iterations, seconds, final losses, held-out EPE, paths.
    """
    out = Path(out)
    paths = side_paths(out)
    device = training_device(cfg.device)
    files = list_images(cfg.data)
    train_files, held_files = split_holdout(files, cfg.holdout)
    torch.manual_seed(cfg.seed)
    net = build_warpnet(cfg.model_config, vgg_weights).to(device)
    opt = torch.optim.Adam(net.head.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt, start_it, seconds_before = resume_run(out, cfg, resume, net.head, opt)
    init_card = ckpt["card"].get("init_from") if ckpt is not None else None
    if ckpt is not None:
        gen.set_state(ckpt["rng"]["warps"])
    if init is not None and start_it == 0:
        init_card = init_from_checkpoint(init, "warpnet", cfg.model_config.to_dict(), net.head, what="model")

    sampler = WarpSampler()
    data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start_it)
    held_set = set(held_files)
    keep = [i for i, f in enumerate(data.files) if f not in held_set]
    data.files, data.images = [data.files[i] for i in keep], [data.images[i] for i in keep]
    held = heldout_pairs(load_eval_images(held_files), cfg.size, sampler)
    held = tuple(t.to(device) for t in held)

    out.parent.mkdir(parents=True, exist_ok=True)
    log_f, log = open_loss_log(paths["csv"], LOG_COLUMNS, resume_at=start_it if resume else None)

    def card(it: int, secs: float, last: dict[str, float], scores: dict[str, float]) -> dict[str, Any]:
        return {"command": command or " ".join(sys.argv), "method": "warpnet",
                "data": (f"{Path(cfg.data).name}/ ({len(train_files)} images; {len(held_files)} held out), "
                         f"random {cfg.size}px crops, scale 1-1.5x, flips, random TPS + affine warps"),
                "holdout": [f.name for f in held_files], **scores, "iterations": it, "batch": cfg.batch,
                "hardware": hardware_summary(device), "seconds": round(secs, 1), "final_losses": last,
                "vgg16_weights": Path(net.encoder.weights_path).name, "torch": str(torch.__version__),
                "impasto": __version__, **({"init_from": init_card} if init_card else {})}

    def checkpoint(it: int, secs: float, last: dict[str, float]) -> dict[str, float]:
        scores = evaluate(net, held)
        save_checkpoint(out, {"method": "warpnet", "model": {"arch": "WarpNet", "config": cfg.model_config.to_dict()},
                              "state_dict": net.head.state_dict(), "optimizer": opt.state_dict(), "iteration": it,
                              "train_config": asdict(cfg), "card": card(it, secs, last, scores),
                              "rng": {"warps": gen.get_state()}})
        return scores

    net.train()
    t0 = time.perf_counter()
    ema: dict[str, float] = {}
    scores: dict[str, float] = {}
    bar = Progress(cfg.iters, "warpnet", enabled=progress, log_every=0.02)
    bar.n = start_it
    it = start_it
    try:
        for it in range(start_it + 1, cfg.iters + 1):
            photos = data.batch(cfg.batch)
            guide, field, valid = sampler.pairs(photos, gen)
            losses = warp_losses(net, photos.to(device), guide.to(device), field.to(device), valid.to(device), cfg)
            if not torch.isfinite(losses["total"]):
                raise RuntimeError(f"training diverged at iteration {it}: loss={losses['total'].item()}")
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            vals = {k: float(v.detach()) for k, v in losses.items()}
            ema = {k: v if k not in ema else 0.9 * ema[k] + 0.1 * v for k, v in vals.items()}
            secs = seconds_before + time.perf_counter() - t0
            log.writerow([it, *(f"{vals[k]:.6g}" for k in ("field", "window", "smooth", "total", "epe_px")),
                          f"{secs:.1f}"])
            bar.update(1, field=ema["field"], window=ema["window"], epe=ema["epe_px"])
            if it % cfg.checkpoint_every == 0 or it == cfg.iters:
                log_f.flush()
                scores = checkpoint(it, secs, {k: round(v, 5) for k, v in ema.items()})
            if it % cfg.preview_every == 0 or it == cfg.iters:
                write_preview(net, held, paths["preview"])
    finally:
        log_f.close()
        bar.close()
    secs = seconds_before + time.perf_counter() - t0
    return {"checkpoint": str(out), "iterations": it, "seconds": round(secs, 1),
            "final_losses": {k: round(v, 5) for k, v in ema.items()}, **scores,
            "heldout_images": len(held_files),
            "seconds_per_iteration": round((time.perf_counter() - t0) / max(1, it - start_it), 3),
            "log": str(paths["csv"]), "preview": str(paths["preview"])}
