"""Train an MT-Net (:mod:`impasto.models.multimodal`) with the hierarchical stylisation loss.

Loss (Wang et al. 2017): ``L = sum_k lambda_k * L_k`` over the three outputs ``y_k`` (1/4,
1/2 and full size of the training image), with

    ``L_k = content_weight * relMSE(relu2_2(y_k), relu2_2(x_k))
           + style_weight * sum_l relMSE(Gram_l(y_k), Gram_l(S_k)) + tv_weight * TV(y_k)``

(the feed-forward trainer's losses, :mod:`impasto.models.losses`), where ``x_k`` is the
content photo at that output's size (the network's own reduced input) and ``S_k`` the
style image resized so its longest side is ``style_scale`` times the output's side.
Because ``L_k`` depends only on the subnets up to ``k``, back-propagating ``L`` trains
each subnet on the losses of its own and every later output, as the paper describes.

Feasibility on a CPU (a documented deviation): the VGG16 terms of ``L_k`` are computed on
one random ``loss_crop``-pixel window of ``y_k`` and the same window of ``x_k`` (the whole
output when it is smaller), while the network itself runs on the full training image. The
style targets are Gram matrices of the *whole* style image at that scale; Gram statistics
are averages over positions, so a crop estimates the same quantity. TV uses the full output.

Convention:
    Training samples are random ``size x size`` crops (RGB in ``[0, 1]``) of the photos,
    scaled so their shorter side is ``size * U(1, max_scale)``, flipped at random.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from impasto import __version__
from impasto.errors import UserError
from impasto.models.checkpoint import save_checkpoint
from impasto.models.imaging import to_image, to_tensor
from impasto.models.losses import content_loss, gram, style_loss, tv_loss
from impasto.models.multimodal import PRESETS, SCALES, MultimodalConfig, MultimodalNet, half_size
from impasto.models.vgg import VGG16Features
from impasto.runtime.io.images import read_image, write_image
from impasto.training.checkpoint import open_loss_log, resume_run
from impasto.training.data import AugmentedImages, list_images
from impasto.training.feedforward import CONTENT_LAYER, STYLE_LAYERS, hardware_summary, plot_losses, side_paths
from impasto.utils.progress import Progress

METHOD = "multimodal"
ARCH = "MultimodalNet"
LOG_COLUMNS = ("iteration", "content", "style", "tv", "total", "style_256", "style_512", "style_1024", "seconds")


@dataclass(frozen=True)
class MultimodalTrainConfig:
    """Everything that defines an MT-Net training run (stored in the checkpoint).

    Attributes:
        size: side of the training crops = the finest output's side (paper: 1024).
        loss_crop: side of the window the VGG16 losses see at each scale (0: whole outputs).
        scale_weights: ``lambda_k`` for the outputs, coarse to fine (paper: 1, 0.5, 0.25).
        style_scale: the style image's longest side, as a multiple of each output's side.
        max_scale: upper bound of the random zoom of the photos.
    """

    style: str
    data: str
    iters: int = 1000
    size: int = 1024
    loss_crop: int = 256
    batch: int = 1
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 0.1
    scale_weights: tuple[float, float, float] = (1.0, 0.5, 0.25)
    style_scale: float = 1.0
    max_scale: float = 1.25
    preset: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 50
    preview_every: int = 100
    style_name: str | None = None

    def __post_init__(self) -> None:
        if self.iters < 1 or self.batch < 1 or self.size < 64 or self.size % 4:
            raise UserError(f"train multimodal: expected iters >= 1, batch >= 1 and size >= 64 divisible by 4, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if self.loss_crop < 0 or 0 < self.loss_crop < 32:
            raise UserError(f"--loss-crop: expected 0 (whole outputs) or >= 32 pixels, got {self.loss_crop}")
        if len(self.scale_weights) != 3 or min(self.scale_weights) < 0:
            raise UserError(f"--scale-weights: expected three non-negative numbers, got {self.scale_weights}")
        if self.style_scale <= 0 or self.max_scale < 1:
            raise UserError(f"train multimodal: expected style_scale > 0 and max_scale >= 1, got "
                            f"style_scale={self.style_scale}, max_scale={self.max_scale}")
        if self.preset not in PRESETS:
            raise UserError(f"--preset: expected one of {sorted(PRESETS)}, got {self.preset!r}")

    @property
    def model_config(self) -> MultimodalConfig:
        return PRESETS[self.preset]

    @property
    def output_sides(self) -> tuple[int, int, int]:
        return self.size // 4, self.size // 2, self.size

    @property
    def resolved_style_name(self) -> str:
        return self.style_name or Path(self.style).stem


def style_targets(vgg: VGG16Features, style_path: str, sides: tuple[int, ...],
                  style_scale: float) -> list[dict[str, torch.Tensor]]:
    """Gram matrices of the style image resized to longest side ``style_scale * side``, one dict per side."""
    import cv2

    img = read_image(style_path)
    out = []
    for side in sides:
        s = style_scale * side / max(img.shape[:2])
        resized = cv2.resize(img, (max(16, round(img.shape[1] * s)), max(16, round(img.shape[0] * s))),
                             interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        with torch.no_grad():
            out.append({k: gram(v) for k, v in vgg(to_tensor(resized)[None], STYLE_LAYERS).items()})
    return out


def aligned_crop(y: torch.Tensor, x: torch.Tensor, crop: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random ``crop x crop`` window of ``y`` and ``x`` (both whole when smaller or ``crop == 0``)."""
    h, w = y.shape[-2:]
    if crop == 0 or (h <= crop and w <= crop):
        return y, x
    ch, cw = min(crop, h), min(crop, w)
    i, j = rng.randrange(h - ch + 1), rng.randrange(w - cw + 1)
    return y[..., i:i + ch, j:j + cw], x[..., i:i + ch, j:j + cw]


def hierarchical_loss(vgg: VGG16Features, outputs: tuple[torch.Tensor, ...], contents: tuple[torch.Tensor, ...],
                      targets: list[dict[str, torch.Tensor]], cfg: MultimodalTrainConfig,
                      rng: random.Random) -> tuple[torch.Tensor, dict[str, float]]:
    """``sum_k lambda_k L_k`` (see the module docstring) and its logged parts (weighted)."""
    taps = tuple(dict.fromkeys((*STYLE_LAYERS, CONTENT_LAYER)))
    total = outputs[0].new_zeros(())
    parts = {"content": 0.0, "style": 0.0, "tv": 0.0}
    for k, (y, x, tg, lam) in enumerate(zip(outputs, contents, targets, cfg.scale_weights)):
        yc, xc = aligned_crop(y, x, cfg.loss_crop, rng)
        fy = vgg(yc, taps)
        with torch.no_grad():
            fx = vgg(xc, (CONTENT_LAYER,))[CONTENT_LAYER]
        lc = lam * cfg.content_weight * content_loss(fy[CONTENT_LAYER], fx)
        ls = lam * cfg.style_weight * style_loss(fy, tg)
        lt = lam * cfg.tv_weight * tv_loss(y)
        total = total + lc + ls + lt
        parts["content"] += lc.item()
        parts["style"] += ls.item()
        parts["tv"] += lt.item()
        parts[f"style_{SCALES[k]}"] = ls.item()
    parts["total"] = total.item()
    return total, parts


def preview_images(data_dir: str, size: int, n: int = 2) -> torch.Tensor:
    """``n`` centre crops of ``size`` px (shorter side scaled to ``size``), spread over the folder."""
    import cv2

    files = list_images(data_dir)
    out = []
    for f in files[:: max(1, len(files) // n)][:n]:
        img = read_image(f)
        s = size / min(img.shape[:2])
        img = cv2.resize(img, (max(size, round(img.shape[1] * s)), max(size, round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        out.append(to_tensor(img[y:y + size, x:x + size]))
    return torch.stack(out)


def write_preview(net: MultimodalNet, batch: torch.Tensor, path: Path) -> None:
    """One row per image: the content, then the three outputs (nearest-upsampled to the content's size)."""
    import numpy as np
    from torch.nn import functional as F

    was_training = net.training
    net.eval()
    rows = []
    for x in batch:
        ys = net.stylize(x[None])
        tiles = [x] + [F.interpolate(y, size=x.shape[-2:], mode="nearest")[0] for y in ys]
        rows.append(np.concatenate([to_image(t) for t in tiles], axis=1))
    net.train(was_training)
    write_image(path, np.concatenate(rows, axis=0), quality=90)


def train_multimodal(cfg: MultimodalTrainConfig, out: str | os.PathLike, *, resume: bool = False,
                     progress: bool = True, command: str | None = None,
                     vgg_weights: str | None = None) -> dict[str, Any]:
    """Train (or resume) an MT-Net; write the checkpoint, loss log, loss plot and preview.

    Args:
        cfg: the run's configuration.
        out: checkpoint path (``.pt``).
        resume: continue from ``out``; its configuration must match ``cfg`` except ``iters``
            and the checkpoint/preview intervals.
        progress: draw a progress bar on stderr.
        command: the command line, recorded in the model card.
        vgg_weights: explicit VGG16 weights path.

    Returns:
        A summary: checkpoint, iterations, seconds, final (smoothed) losses, paths.
    """
    out = Path(out)
    paths = side_paths(out)
    torch.manual_seed(cfg.seed)
    net = MultimodalNet(cfg.model_config)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ckpt, start_it, seconds_before = resume_run(out, cfg, resume, net, opt)
    if ckpt is not None:
        torch.set_rng_state(ckpt["rng"]["torch"])

    vgg = VGG16Features(vgg_weights)
    data = AugmentedImages(cfg.data, cfg.size, max_scale=cfg.max_scale, seed=cfg.seed + start_it)
    rng = random.Random(cfg.seed + 7919 * start_it)
    targets = style_targets(vgg, cfg.style, cfg.output_sides, cfg.style_scale)
    preview = preview_images(cfg.data, cfg.size)

    out.parent.mkdir(parents=True, exist_ok=True)
    log_f, log = open_loss_log(paths["csv"], LOG_COLUMNS, resume_at=start_it if resume else None)

    def card(it: int, secs: float, last: dict[str, float]) -> dict[str, Any]:
        return {"command": command or " ".join(sys.argv), "style_image": Path(cfg.style).name,
                "style_name": cfg.resolved_style_name,
                "data": f"{Path(cfg.data).name}/ ({len(data)} images), random {cfg.size}px crops, "
                        f"scale 1-{cfg.max_scale}x, flips; VGG losses on {cfg.loss_crop or 'whole'}px windows",
                "iterations": it, "batch": cfg.batch, "hardware": hardware_summary(torch.device("cpu")),
                "seconds": round(secs, 1), "final_losses": last, "torch": str(torch.__version__),
                "impasto": __version__}

    def checkpoint(it: int, secs: float, last: dict[str, float]) -> None:
        save_checkpoint(out, {"method": METHOD, "model": {"arch": ARCH, "config": cfg.model_config.to_dict()},
                              "state_dict": net.state_dict(), "optimizer": opt.state_dict(), "iteration": it,
                              "train_config": asdict(cfg), "card": card(it, secs, last),
                              "rng": {"torch": torch.get_rng_state()}})

    net.train()
    t0 = time.perf_counter()
    ema: dict[str, float] = {}
    bar = Progress(cfg.iters, "train multimodal", enabled=progress, log_every=0.01)
    bar.n = start_it
    it = start_it
    try:
        for it in range(start_it + 1, cfg.iters + 1):
            x3 = data.batch(cfg.batch)
            x2 = half_size(x3)
            contents = (half_size(x2), x2, x3)
            loss, vals = hierarchical_loss(vgg, net(x3), contents, targets, cfg, rng)
            if not torch.isfinite(loss):
                raise RuntimeError(f"training diverged at iteration {it}: loss={loss.item()}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema = {k: v if k not in ema else 0.9 * ema[k] + 0.1 * v for k, v in vals.items()}
            secs = seconds_before + time.perf_counter() - t0
            log.writerow([it, *(f"{vals[k]:.6g}" for k in LOG_COLUMNS[1:-1]), f"{secs:.1f}"])
            bar.update(1, content=ema["content"], style=ema["style"])
            if it % cfg.checkpoint_every == 0 or it == cfg.iters:
                log_f.flush()
                checkpoint(it, secs, {k: round(v, 4) for k, v in ema.items()})
            if it % cfg.preview_every == 0 or it == cfg.iters:
                write_preview(net, preview, paths["preview"])
                log_f.flush()
                plot_losses(paths["csv"], paths["plot"])
    finally:
        log_f.close()
        bar.close()
    return {"checkpoint": str(out), "iterations": it, "seconds": round(seconds_before + time.perf_counter() - t0, 1),
            "final_losses": {k: round(v, 4) for k, v in ema.items()}, "log": str(paths["csv"]),
            "plot": str(paths["plot"]), "preview": str(paths["preview"])}
