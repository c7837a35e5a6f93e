"""Train a feed-forward style network (Johnson et al. 2016 perceptual losses).

Loss = content_weight * relMSE(relu2_2) + style_weight * sum_l relMSE(Gram_l) + tv_weight * TV
+ stability_weight * L_stab (relative errors: see :mod:`impasto.models.losses`; ``L_stab``, off
at weight 0, is :func:`impasto.training.stability.stability_loss`)
with style layers relu1_2, relu2_2, relu3_3, relu4_3 of VGG16 and Adam; the run itself
(resume, checkpoints, logs) is :func:`impasto.training.loop.train`'s.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from impasto.models.checkpoint import load_checkpoint
from impasto.models.imaging import to_tensor
from impasto.models.losses import content_loss, gram, style_loss, tv_loss
from impasto.models.vgg import VGG16Features
from impasto.runtime.io.images import read_image
from impasto.training.configs import FeedForwardConfig
from impasto.training.data import AugmentedImages, centre_crops, write_grid
from impasto.training.loop import Method, train
from impasto.training.stability import StabilityConfig, stability_loss

CONTENT_LAYER = "relu2_2"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def style_grams(vgg: VGG16Features, image: np.ndarray, longest_side: float) -> dict[str, torch.Tensor]:
    """Gram matrices at :data:`STYLE_LAYERS` of ``image`` resized to ``longest_side`` (at least 16 px a side)."""
    import cv2

    s = longest_side / max(image.shape[:2])
    img = cv2.resize(image, (max(16, round(image.shape[1] * s)), max(16, round(image.shape[0] * s))),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    with torch.no_grad():
        feats = vgg(to_tensor(img)[None].to(next(vgg.parameters()).device), STYLE_LAYERS)
        return {k: gram(v.float()) for k, v in feats.items()}


def write_preview(net: torch.nn.Module, batch: torch.Tensor, path: Path) -> None:
    """A 2-row grid: content crops on top, their stylisations below."""
    write_grid(path, [batch, net.stylize(batch.to(next(net.parameters()).device))])


class FeedForward(Method):
    """The feed-forward trainer's hooks."""

    name = "feedforward"
    columns = ("content", "style", "tv", "stability", "total")
    plot_columns = columns

    def setup(self, net: torch.nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        cfg = self.cfg
        self.net, self.device = net, device
        self.vgg = VGG16Features(vgg_weights).to(device)
        self.data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start)
        self.targets = style_grams(self.vgg, read_image(cfg.style), cfg.style_size or int(cfg.size * 1.5))
        self.preview_batch = centre_crops(cfg.data, min(cfg.size, 256), 4)
        self.amp = cfg.amp and device.type == "cuda"
        self.stability = StabilityConfig(max_shift=cfg.stability_shift, noise=cfg.stability_noise,
                                         subpixel=cfg.stability_subpixel)
        self.generator = torch.Generator().manual_seed(cfg.seed + start)

    def step(self, it: int) -> dict[str, Any]:
        cfg = self.cfg
        x = self.data.batch(cfg.batch).to(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            y = self.net(x)
            fy = self.vgg(y, STYLE_LAYERS)
            with torch.no_grad():
                fx = self.vgg(x, (CONTENT_LAYER,))
        lc = cfg.content_weight * content_loss(fy[CONTENT_LAYER].float(), fx[CONTENT_LAYER].float())
        ls = cfg.style_weight * style_loss({k: v.float() for k, v in fy.items()}, self.targets)
        lt = cfg.tv_weight * tv_loss(y.float())
        lstab = y.new_zeros((), dtype=torch.float32)
        if cfg.stability_weight > 0:
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                lstab = stability_loss(self.net, x, y, self.stability, self.generator).float()
        total = lc + ls + lt + cfg.stability_weight * lstab
        return {"content": lc, "style": ls, "tv": lt, "stability": lstab, "total": total}

    def preview(self, path: Path) -> None:
        write_preview(self.net, self.preview_batch, path)

    def card(self) -> dict[str, Any]:
        return {"style_image": Path(self.cfg.style).name, "style_name": self.cfg.resolved_style_name,
                "data": self.data.describe()}


def train_feedforward(cfg: FeedForwardConfig, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train (or resume) a feed-forward network: :func:`impasto.training.loop.train` (its ``options`` and summary)."""
    return train(FeedForward(cfg), out, **options)


def config_from_checkpoint(path: str | os.PathLike, **overrides: Any) -> FeedForwardConfig:
    """The configuration a checkpoint was trained with, with ``overrides`` applied."""
    return replace(FeedForwardConfig(**load_checkpoint(path)["train_config"]), **overrides)
