"""Train a WCT / PhotoWCT decoder: invert the VGG16 encoder at one level.

Loss = ``pixel_weight * MSE(D(E(x)), x) + feature_weight * relMSE(E(D(E(x))), E(x))`` at the
decoder's level (the relative feature error of :func:`impasto.models.losses.content_loss`,
so it does not depend on the weight file's activation scale), Adam, random crops with
scale and flip augmentation (:class:`impasto.training.data.AugmentedImages`).

A fixed, evenly spaced subset of ``holdout`` images of the data folder is never trained
on; the held-out PSNR (dB, whole images, peak 1.0) is measured on it at every checkpoint
and recorded in the model card.

Convention:
    Checkpoints follow :mod:`impasto.training.loop` with ``method: "decoder"`` and
    ``model: {"arch": "Decoder", "config": {"level", "kind"}}``; next to ``x.pt`` the run
    writes ``x.losses.csv``, ``x.losses.png`` and ``x.preview.jpg`` (held-out images above
    their reconstructions), like ``impasto train feedforward``.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from impasto.models.checkpoint import load_checkpoint
from impasto.models.losses import content_loss
from impasto.models.photowct import Decoder, Encoder
from impasto.training.configs import DecoderTrainConfig
from impasto.training.data import AugmentedImages, list_images, load_eval_images, split_holdout, write_grid
from impasto.training.loop import Method, train


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
    write_grid(path, [crops, [reconstruct(encoder, decoder, c.to(dev)) for c in crops]])


class DecoderMethod(Method):
    """The decoder trainer's hooks."""

    name = "decoder"
    columns = ("pixel", "feature", "total")
    plot_columns = columns
    progress_keys = {"pixel": "pixel", "feature": "feature"}
    digits = 6

    @property
    def label(self) -> str:
        return f"decoder {self.cfg.level}"

    @property
    def plot_title(self) -> str:
        return f"{self.cfg.kind} decoder {self.cfg.level}"

    def check(self) -> None:
        _, self.held_files = split_holdout(list_images(self.cfg.data), self.cfg.holdout)

    def setup(self, net: torch.nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        cfg = self.cfg
        self.net, self.device = net, device
        self.encoder = Encoder(vgg_weights).to(device)
        self.data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start)
        self.data.exclude(self.held_files)
        self.held = load_eval_images(self.held_files)
        if start == 0:  # normalise the decoder's input once (see Decoder); saved with the weights
            with torch.no_grad():
                f0, _ = self.encoder.encode(self.data.batch(max(8, cfg.batch)).to(device), cfg.level)
                std = f0.std(dim=(0, 2, 3), keepdim=True)
                net.input_scale.copy_(1.0 / std.clamp_min(1e-3 * float(std.mean()) + 1e-12))

    def step(self, it: int) -> dict[str, Any]:
        cfg = self.cfg
        x = self.data.batch(cfg.batch).to(self.device)
        with torch.no_grad():
            f, switches = self.encoder.encode(x, cfg.level)
        y = self.net(f, switches)
        lp = cfg.pixel_weight * F.mse_loss(y, x)
        if cfg.feature_weight > 0:
            fy, _ = self.encoder.encode(y, cfg.level)
            lf = cfg.feature_weight * content_loss(fy, f)
        else:
            lf = lp.new_zeros(())
        return {"pixel": lp, "feature": lf, "total": lp + lf}

    def preview(self, path: Path) -> None:
        write_preview(self.encoder, self.net, self.held, path)

    def evaluate(self) -> dict[str, Any]:
        return {"heldout_psnr_db": heldout_psnr(self.encoder, self.net, self.held)}

    def card(self) -> dict[str, Any]:
        return {"level": self.cfg.level, "kind": self.cfg.kind, "data": self.data.describe(len(self.held_files)),
                "holdout": [f.name for f in self.held_files], "vgg16_weights": Path(self.encoder.weights_path).name}

    def summary(self) -> dict[str, Any]:
        return {"level": self.cfg.level, "kind": self.cfg.kind, "heldout_images": len(self.held_files)}


def train_decoder(cfg: DecoderTrainConfig, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train (or resume) a WCT / PhotoWCT decoder: :func:`impasto.training.loop.train` (its ``options`` and summary)."""
    return train(DecoderMethod(cfg), out, **options)


def config_from_checkpoint(path: str | os.PathLike, **overrides: Any) -> DecoderTrainConfig:
    """The configuration a decoder checkpoint was trained with, with ``overrides`` applied."""
    return replace(DecoderTrainConfig(**load_checkpoint(path)["train_config"]), **overrides)
