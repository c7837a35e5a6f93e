"""Train a WCT / PhotoWCT decoder: invert the VGG16 encoder at one level.

Loss = ``pixel_weight * MSE(D(E(x)), x) + feature_weight * relMSE(E(D(E(x))), E(x))`` at the
decoder's level (the relative feature error of :func:`impasto.models.losses.content_loss`,
so it does not depend on the weight file's activation scale), Adam, random crops with
scale and flip augmentation (:class:`impasto.training.data.AugmentedImages`).

A fixed, evenly spaced subset of ``holdout`` images of the data folder is never trained
on; the held-out PSNR (dB, whole images, peak 1.0) is measured on it at every checkpoint
and recorded in the model card.

Convention:
    Checkpoints follow :mod:`impasto.training.checkpoint` with ``method: "decoder"`` and
    ``model: {"arch": "Decoder", "config": {"level", "kind"}}``; next to ``x.pt`` the run
    writes ``x.losses.csv``, ``x.losses.png`` and ``x.preview.jpg`` (held-out images above
    their reconstructions), like ``impasto train feedforward``.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from impasto import __version__
from impasto.errors import UserError
from impasto.models.checkpoint import load_checkpoint, save_checkpoint
from impasto.models.imaging import to_image, to_tensor
from impasto.models.losses import content_loss
from impasto.models.photowct import KINDS, LEVELS, Decoder, DecoderConfig, Encoder
from impasto.runtime.io.images import read_image, write_image
from impasto.training.checkpoint import open_loss_log, resume_run, training_device
from impasto.training.data import AugmentedImages, list_images
from impasto.training.feedforward import hardware_summary, side_paths
from impasto.utils.progress import Progress

LOG_COLUMNS = ("iteration", "pixel", "feature", "total", "seconds")
#: Longest side of the held-out images used for PSNR (train512 images are at most 512 px).
EVAL_MAX_SIDE = 512


@dataclass(frozen=True)
class DecoderTrainConfig:
    """Everything that defines a decoder training run (stored in the checkpoint)."""

    level: str
    data: str
    kind: str = "photo"
    iters: int = 1500
    size: int = 192
    batch: int = 4
    lr: float = 1e-3
    pixel_weight: float = 1.0
    feature_weight: float = 0.02
    holdout: int = 10
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 100
    preview_every: int = 100

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise UserError(f"--level: expected one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.kind not in KINDS:
            raise UserError(f"--kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.iters < 1 or self.batch < 1 or self.size < 32:
            raise UserError(f"train decoder: expected iters >= 1, batch >= 1, size >= 32, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if self.holdout < 0:
            raise UserError(f"--holdout: expected a count >= 0, got {self.holdout}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise UserError(f"--device: expected cpu or cuda, got {self.device!r}")

    @property
    def decoder_config(self) -> DecoderConfig:
        return DecoderConfig(level=self.level, kind=self.kind)


def split_holdout(files: list[Path], n: int) -> tuple[list[Path], list[Path]]:
    """``(train, held out)``: ``n`` evenly spaced files of the sorted list are held out."""
    if n <= 0:
        return list(files), []
    if n >= len(files):
        raise UserError(f"--holdout {n}: expected fewer than the {len(files)} images in --data")
    step = len(files) / n
    held = {files[int(i * step + step / 2)] for i in range(n)}
    return [f for f in files if f not in held], [f for f in files if f in held]


def load_eval_images(files: list[Path], max_side: int = EVAL_MAX_SIDE) -> list[torch.Tensor]:
    """Held-out images as ``(1, 3, H, W)`` tensors, downscaled to ``max_side`` at most."""
    import cv2

    out = []
    for f in files:
        img = read_image(f)
        s = max_side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        out.append(to_tensor(img)[None])
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in ``[0, 1]`` (peak 1.0)."""
    mse = float(F.mse_loss(a.double(), b.double()))
    return 200.0 if mse <= 1e-20 else 10.0 * math.log10(1.0 / mse)


@torch.no_grad()
def reconstruct(encoder: Encoder, decoder: Decoder, x: torch.Tensor) -> torch.Tensor:
    """``clamp(D(E(x)), 0, 1)`` (the decoder's reconstruction)."""
    f, switches = encoder.encode(x, decoder.config.level)
    return decoder(f, switches).clamp(0.0, 1.0)


def heldout_psnr(encoder: Encoder, decoder: Decoder, images: list[torch.Tensor]) -> float | None:
    """Mean PSNR (dB) of the decoder's reconstructions of ``images``; None without images."""
    if not images:
        return None
    dev = next(decoder.parameters()).device
    was = decoder.training
    decoder.eval()
    vals = [psnr(reconstruct(encoder, decoder, x.to(dev)).cpu(), x) for x in images]
    decoder.train(was)
    return round(float(np.mean(vals)), 2)


def write_preview(encoder: Encoder, decoder: Decoder, images: list[torch.Tensor], path: Path, size: int = 192) -> None:
    """Held-out centre crops on top, their reconstructions below."""
    dev = next(decoder.parameters()).device
    crops = []
    for x in images[:4]:
        h, w = x.shape[-2:]
        s = min(size, h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        crops.append(x[..., y0:y0 + s, x0:x0 + s])
    if not crops:
        return
    s = min(c.shape[-1] for c in crops)
    crops = [c[..., :s, :s] for c in crops]
    was = decoder.training
    decoder.eval()
    rec = [reconstruct(encoder, decoder, c.to(dev)).cpu() for c in crops]
    decoder.train(was)
    top = np.concatenate([to_image(c) for c in crops], axis=1)
    bottom = np.concatenate([to_image(r) for r in rec], axis=1)
    write_image(path, np.concatenate([top, bottom], axis=0))


def plot_losses(csv_path: Path, png_path: Path, title: str) -> None:
    """Loss curves (log scale) from the CSV log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    if not rows:
        return
    it = [int(r["iteration"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for k in ("pixel", "feature", "total"):
        ax.plot(it, [max(1e-12, float(r[k])) for r in rows], label=k, lw=1.0)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("weighted loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)


def train_decoder(cfg: DecoderTrainConfig, out: str | os.PathLike, *, resume: bool = False, progress: bool = True,
                  command: str | None = None, vgg_weights: str | None = None) -> dict[str, Any]:
    """Train (or resume) a decoder; write the checkpoint, loss log, plot and preview.

    Args:
        cfg: the run's configuration.
        out: checkpoint path (``.pt``).
        resume: continue from ``out``; its configuration must match ``cfg`` except for
            ``iters`` (which may grow) and the checkpoint/preview intervals.
        progress: draw a progress bar on stderr.
        command: the command line, recorded in the model card.
        vgg_weights: explicit VGG16 weights path.

    Returns:
        A summary: checkpoint, iterations, seconds, final losses, held-out PSNR, paths.
    """
    out = Path(out)
    paths = side_paths(out)
    device = training_device(cfg.device)
    files = list_images(cfg.data)
    train_files, held_files = split_holdout(files, cfg.holdout)
    torch.manual_seed(cfg.seed)
    net = Decoder(cfg.decoder_config).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ckpt, start_it, seconds_before = resume_run(out, cfg, resume, net, opt)
    if ckpt is not None:
        torch.set_rng_state(ckpt["rng"]["torch"])

    encoder = Encoder(vgg_weights).to(device)
    data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start_it)
    keep = [i for i, f in enumerate(data.files) if f not in set(held_files)]
    data.files = [data.files[i] for i in keep]
    data.images = [data.images[i] for i in keep]
    held = load_eval_images(held_files)

    out.parent.mkdir(parents=True, exist_ok=True)
    log_f, log = open_loss_log(paths["csv"], LOG_COLUMNS, resume_at=start_it if resume else None)
    title = f"{out.stem} — {cfg.kind} decoder {cfg.level}"

    def card(it: int, secs: float, last: dict[str, float], score: float | None) -> dict[str, Any]:
        return {"command": command or " ".join(sys.argv), "level": cfg.level, "kind": cfg.kind,
                "data": (f"{Path(cfg.data).name}/ ({len(train_files)} images; {len(held_files)} held out), "
                         f"random {cfg.size}px crops, scale 1-1.5x, flips"),
                "holdout": [f.name for f in held_files], "heldout_psnr_db": score,
                "iterations": it, "batch": cfg.batch, "hardware": hardware_summary(device),
                "seconds": round(secs, 1), "final_losses": last, "vgg16_weights": Path(encoder.weights_path).name,
                "torch": str(torch.__version__), "impasto": __version__}

    def checkpoint(it: int, secs: float, last: dict[str, float]) -> float | None:
        score = heldout_psnr(encoder, net, held)
        save_checkpoint(out, {"method": "decoder", "model": {"arch": "Decoder", "config": cfg.decoder_config.to_dict()},
                              "state_dict": net.state_dict(), "optimizer": opt.state_dict(), "iteration": it,
                              "train_config": asdict(cfg), "card": card(it, secs, last, score),
                              "rng": {"torch": torch.get_rng_state()}})
        return score

    if start_it == 0:  # normalise the decoder's input once (see Decoder); saved with the weights
        with torch.no_grad():
            f0, _ = encoder.encode(data.batch(max(8, cfg.batch)).to(device), cfg.level)
            std = f0.std(dim=(0, 2, 3), keepdim=True)
            net.input_scale.copy_(1.0 / std.clamp_min(1e-3 * float(std.mean()) + 1e-12))
    net.train()
    t0 = time.perf_counter()
    ema: dict[str, float] = {}
    score: float | None = None
    bar = Progress(cfg.iters, f"decoder {cfg.level}", enabled=progress, log_every=0.02)
    bar.n = start_it
    it = start_it
    try:
        for it in range(start_it + 1, cfg.iters + 1):
            x = data.batch(cfg.batch).to(device)
            with torch.no_grad():
                f, switches = encoder.encode(x, cfg.level)
            y = net(f, switches)
            lp = cfg.pixel_weight * F.mse_loss(y, x)
            if cfg.feature_weight > 0:
                fy, _ = encoder.encode(y, cfg.level)
                lf = cfg.feature_weight * content_loss(fy, f)
            else:
                lf = lp.new_zeros(())
            loss = lp + lf
            if not torch.isfinite(loss):
                raise RuntimeError(f"training diverged at iteration {it}: loss={loss.item()}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            vals = {"pixel": lp.item(), "feature": lf.item(), "total": loss.item()}
            ema = {k: v if k not in ema else 0.9 * ema[k] + 0.1 * v for k, v in vals.items()}
            secs = seconds_before + time.perf_counter() - t0
            log.writerow([it, *(f"{vals[k]:.6g}" for k in ("pixel", "feature", "total")), f"{secs:.1f}"])
            bar.update(1, pixel=ema["pixel"], feature=ema["feature"])
            if it % cfg.checkpoint_every == 0 or it == cfg.iters:
                log_f.flush()
                score = checkpoint(it, secs, {k: round(v, 6) for k, v in ema.items()})
            if it % cfg.preview_every == 0 or it == cfg.iters:
                write_preview(encoder, net, held, paths["preview"])
                log_f.flush()
                plot_losses(paths["csv"], paths["plot"], title)
    finally:
        log_f.close()
        bar.close()
    secs = seconds_before + time.perf_counter() - t0
    return {"checkpoint": str(out), "level": cfg.level, "kind": cfg.kind, "iterations": it, "seconds": round(secs, 1),
            "final_losses": {k: round(v, 6) for k, v in ema.items()}, "heldout_psnr_db": score,
            "heldout_images": len(held_files),
            "images_per_second": round((it - start_it) * cfg.batch / max(1e-9, time.perf_counter() - t0), 2),
            "log": str(paths["csv"]), "plot": str(paths["plot"]), "preview": str(paths["preview"])}


def config_from_checkpoint(path: str | os.PathLike, **overrides: Any) -> DecoderTrainConfig:
    """The configuration a decoder checkpoint was trained with, with ``overrides`` applied."""
    return replace(DecoderTrainConfig(**load_checkpoint(path)["train_config"]), **overrides)
