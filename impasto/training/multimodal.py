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
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from impasto.models.losses import content_loss, style_loss, tv_loss
from impasto.models.multimodal import SCALES, MultimodalNet, half_size
from impasto.models.vgg import VGG16Features
from impasto.runtime.io.images import read_image
from impasto.training.configs import MultimodalTrainConfig
from impasto.training.data import AugmentedImages, centre_crops, write_grid
from impasto.training.feedforward import CONTENT_LAYER, STYLE_LAYERS, style_grams
from impasto.training.loop import Method, train


def style_targets(vgg: VGG16Features, style_path: str, sides: tuple[int, ...],
                  style_scale: float) -> list[dict[str, torch.Tensor]]:
    """Gram matrices of the style image resized to longest side ``style_scale * side``, one dict per side."""
    img = read_image(style_path)
    return [style_grams(vgg, img, style_scale * side) for side in sides]


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


def write_preview(net: MultimodalNet, batch: torch.Tensor, path: Path) -> None:
    """One row per image: the content, then the three outputs (nearest-upsampled to the content's size)."""
    dev = next(net.parameters()).device
    write_grid(path, [[x, *(F.interpolate(y, size=x.shape[-2:], mode="nearest") for y in net.stylize(x[None].to(dev)))]
                      for x in batch], quality=90)


class Multimodal(Method):
    """The MT-Net trainer's hooks."""

    name = "multimodal"
    columns = ("content", "style", "tv", "total", "style_256", "style_512", "style_1024")
    plot_columns = ("content", "style", "tv", "total")
    label = "train multimodal"
    log_every = 0.01

    def setup(self, net: torch.nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        cfg = self.cfg
        self.net, self.device = net, device
        self.vgg = VGG16Features(vgg_weights).to(device)
        self.data = AugmentedImages(cfg.data, cfg.size, max_scale=cfg.max_scale, seed=cfg.seed + start)
        self.rng = random.Random(cfg.seed + 7919 * start)
        self.targets = style_targets(self.vgg, cfg.style, cfg.output_sides, cfg.style_scale)
        self.preview_batch = centre_crops(cfg.data, cfg.size, 2)

    def step(self, it: int) -> dict[str, Any]:
        x3 = self.data.batch(self.cfg.batch).to(self.device)
        x2 = half_size(x3)
        loss, parts = hierarchical_loss(self.vgg, self.net(x3), (half_size(x2), x2, x3), self.targets, self.cfg,
                                        self.rng)
        return {**parts, "total": loss}

    def preview(self, path: Path) -> None:
        write_preview(self.net, self.preview_batch, path)

    def card(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"style_image": Path(cfg.style).name, "style_name": cfg.resolved_style_name,
                "data": f"{self.data.describe()}; VGG losses on {cfg.loss_crop or 'whole'}px windows"}


def train_multimodal(cfg: MultimodalTrainConfig, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train (or resume) an MT-Net: :func:`impasto.training.loop.train` (its ``options`` and summary)."""
    return train(Multimodal(cfg), out, **options)
