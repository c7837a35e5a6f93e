"""Train a feed-forward style network (Johnson et al. 2016 perceptual losses).

Loss = content_weight * relMSE(relu2_2) + style_weight * sum_l relMSE(Gram_l) + tv_weight * TV,
(relative errors: see :mod:`impasto.models.losses`)
with style layers relu1_2, relu2_2, relu3_3, relu4_3 of VGG16 and Adam.
"""

from __future__ import annotations

import csv
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from impasto import __version__
from impasto.errors import UserError
from impasto.models.checkpoint import load_checkpoint, save_checkpoint
from impasto.models.imaging import to_image, to_tensor
from impasto.models.losses import content_loss, gram, style_loss, tv_loss
from impasto.models.transformer import PRESETS, TransformerConfig, TransformerNet
from impasto.models.vgg import VGG16Features
from impasto.runtime.io.images import read_image, write_image
from impasto.training.checkpoint import open_loss_log, resume_run, training_device
from impasto.training.data import AugmentedImages, list_images
from impasto.utils.progress import Progress

CONTENT_LAYER = "relu2_2"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
LOG_COLUMNS = ("iteration", "content", "style", "tv", "total", "seconds")


@dataclass(frozen=True)
class FeedForwardConfig:
    """Everything that defines a feed-forward training run (stored in the checkpoint)."""

    style: str
    data: str
    iters: int = 2000
    size: int = 256
    batch: int = 4
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 0.1
    style_size: int | None = None  # longest side of the style image; default 1.5 * size
    preset: str = "johnson"
    width: int | None = None
    n_residual: int | None = None
    device: str = "cpu"
    amp: bool = True  # bf16 autocast, CUDA only
    seed: int = 0
    checkpoint_every: int = 200
    preview_every: int = 500
    style_name: str | None = None

    def __post_init__(self) -> None:
        if self.iters < 1 or self.batch < 1 or self.size < 16:
            raise UserError(f"train: expected iters >= 1, batch >= 1, size >= 16, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if self.preset not in PRESETS:
            raise UserError(f"--preset: expected one of {sorted(PRESETS)}, got {self.preset!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise UserError(f"--device: expected cpu or cuda, got {self.device!r}")

    @property
    def model_config(self) -> TransformerConfig:
        base = PRESETS[self.preset]
        return TransformerConfig(width=self.width or base.width,
                                 n_residual=base.n_residual if self.n_residual is None else self.n_residual)

    @property
    def resolved_style_name(self) -> str:
        return self.style_name or Path(self.style).stem


def hardware_summary(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.machine()} x{os.cpu_count()} ({torch.get_num_threads()} torch threads)"


def _style_targets(vgg: VGG16Features, cfg: FeedForwardConfig, device: torch.device) -> dict[str, torch.Tensor]:
    import cv2

    img = read_image(cfg.style)
    side = cfg.style_size or int(cfg.size * 1.5)
    s = side / max(img.shape[:2])
    img = cv2.resize(img, (max(16, round(img.shape[1] * s)), max(16, round(img.shape[0] * s))),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    with torch.no_grad():
        feats = vgg(to_tensor(img)[None].to(device), STYLE_LAYERS)
        return {k: gram(v.float()) for k, v in feats.items()}


def _preview_batch(data_dir: str, size: int, n: int = 4) -> torch.Tensor:
    import cv2

    files = list_images(data_dir)
    step = max(1, len(files) // n)
    out = []
    for f in files[::step][:n]:
        img = read_image(f)
        s = size / min(img.shape[:2])
        img = cv2.resize(img, (max(size, round(img.shape[1] * s)), max(size, round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        out.append(to_tensor(img[y:y + size, x:x + size]))
    return torch.stack(out)


def write_preview(net: TransformerNet, batch: torch.Tensor, path: Path) -> None:
    """A 2-row grid: content crops on top, their stylisations below."""
    import numpy as np

    dev = next(net.parameters()).device
    was_training = net.training
    net.eval()
    y = net.stylize(batch.to(dev)).cpu()
    net.train(was_training)
    top = np.concatenate([to_image(t) for t in batch], axis=1)
    bottom = np.concatenate([to_image(t) for t in y], axis=1)
    write_image(path, np.concatenate([top, bottom], axis=0))


def plot_losses(csv_path: Path, png_path: Path) -> None:
    """Loss curves (log scale) from the CSV log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    if not rows:
        return
    it = [int(r["iteration"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for k in ("content", "style", "tv", "total"):
        ax.plot(it, [float(r[k]) for r in rows], label=k, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("weighted loss")
    ax.set_title(f"{png_path.stem.split('.')[0]} — feed-forward training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)


def side_paths(ckpt: Path) -> dict[str, Path]:
    """Files written next to a checkpoint ``x.pt``: ``x.losses.csv``, ``x.losses.png``, ``x.preview.jpg``."""
    stem = ckpt.with_suffix("")
    return {"csv": Path(f"{stem}.losses.csv"), "plot": Path(f"{stem}.losses.png"),
            "preview": Path(f"{stem}.preview.jpg")}


def train_feedforward(cfg: FeedForwardConfig, out: str | os.PathLike, *, resume: bool = False,
                      progress: bool = True, command: str | None = None,
                      vgg_weights: str | None = None) -> dict[str, Any]:
    """Train (or resume) and write the checkpoint, loss log, loss plot and preview.

    Args:
        cfg: the run's configuration.
        out: checkpoint path (``.pt``).
        resume: continue from ``out`` if it exists; its configuration must match ``cfg``
            except for ``iters`` (which may grow).
        progress: draw a progress bar on stderr.
        command: the command line, recorded in the model card.
        vgg_weights: explicit VGG16 weights path.

    Returns:
        A summary with the final (smoothed) losses, seconds and paths.
    """
    out = Path(out)
    paths = side_paths(out)
    device = training_device(cfg.device)
    torch.manual_seed(cfg.seed)
    net = TransformerNet(cfg.model_config).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ckpt, start_it, seconds_before = resume_run(out, cfg, resume, net, opt)
    if ckpt is not None:
        torch.set_rng_state(ckpt["rng"]["torch"])

    vgg = VGG16Features(vgg_weights).to(device)
    data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start_it)
    targets = _style_targets(vgg, cfg, device)
    preview = _preview_batch(cfg.data, min(cfg.size, 256))
    use_amp = cfg.amp and device.type == "cuda"

    # Loss log: keep rows up to the resumed iteration, drop anything after it.
    out.parent.mkdir(parents=True, exist_ok=True)
    log_f, log = open_loss_log(paths["csv"], LOG_COLUMNS, resume_at=start_it if resume else None)

    def card(it: int, secs: float, last: dict[str, float]) -> dict[str, Any]:
        return {"command": command or " ".join(sys.argv), "style_image": Path(cfg.style).name,
                "style_name": cfg.resolved_style_name,
                "data": f"{Path(cfg.data).name}/ ({len(data)} images), random {cfg.size}px crops, scale 1-1.5x, flips",
                "iterations": it, "batch": cfg.batch, "hardware": hardware_summary(device), "seconds": round(secs, 1),
                "final_losses": last, "torch": str(torch.__version__), "impasto": __version__}

    def checkpoint(it: int, secs: float, last: dict[str, float]) -> None:
        save_checkpoint(out, {"method": "feedforward",
                              "model": {"arch": "TransformerNet", "config": cfg.model_config.to_dict()},
                              "state_dict": net.state_dict(), "optimizer": opt.state_dict(), "iteration": it,
                              "train_config": asdict(cfg), "card": card(it, secs, last),
                              "rng": {"torch": torch.get_rng_state()}})

    net.train()
    t0 = time.perf_counter()
    ema: dict[str, float] = {}
    bar = Progress(cfg.iters, "train", enabled=progress, log_every=0.02)
    bar.n = start_it
    it = start_it
    try:
        for it in range(start_it + 1, cfg.iters + 1):
            x = data.batch(cfg.batch).to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                y = net(x)
                fy = vgg(y, STYLE_LAYERS)
                with torch.no_grad():
                    fx = vgg(x, (CONTENT_LAYER,))
            lc = cfg.content_weight * content_loss(fy[CONTENT_LAYER].float(), fx[CONTENT_LAYER].float())
            ls = cfg.style_weight * style_loss({k: v.float() for k, v in fy.items()}, targets)
            lt = cfg.tv_weight * tv_loss(y.float())
            loss = lc + ls + lt
            if not torch.isfinite(loss):
                raise RuntimeError(f"training diverged at iteration {it}: loss={loss.item()}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            vals = {"content": lc.item(), "style": ls.item(), "tv": lt.item(), "total": loss.item()}
            ema = {k: v if k not in ema else 0.9 * ema[k] + 0.1 * v for k, v in vals.items()}
            secs = seconds_before + time.perf_counter() - t0
            log.writerow([it, *(f"{vals[k]:.6g}" for k in ("content", "style", "tv", "total")), f"{secs:.1f}"])
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
    secs = seconds_before + time.perf_counter() - t0
    return {"checkpoint": str(out), "iterations": it, "seconds": round(secs, 1),
            "final_losses": {k: round(v, 4) for k, v in ema.items()},
            "images_per_second": round((it - start_it) * cfg.batch / max(1e-9, time.perf_counter() - t0), 2),
            "log": str(paths["csv"]), "plot": str(paths["plot"]), "preview": str(paths["preview"])}


def config_from_checkpoint(path: str | os.PathLike, **overrides: Any) -> FeedForwardConfig:
    """The configuration a checkpoint was trained with, with ``overrides`` applied."""
    return replace(FeedForwardConfig(**load_checkpoint(path)["train_config"]), **overrides)
