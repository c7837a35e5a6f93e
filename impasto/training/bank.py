"""Train an adjustable style bank (:class:`impasto.models.style_bank.StyleBankNet`).

Each iteration picks one style (a shuffled round-robin over the bank, so every style gets
the same number of batches) and samples the loss weights ``α`` once for the batch:
with probability ``p_default`` all ones (the default the runtime uses), otherwise each
``α_i ~ U(0, alpha_max)`` independently. The loss is

    content_weight * Σ_l α_c,l * L_c,l / EMA(L_c,l)
  + style_weight   * Σ_l α_s,l * L_s,l / EMA(L_s,l)  +  tv_weight * TV

where ``L_c,l`` is the relative relu-feature error (:func:`impasto.models.losses.content_loss`),
``L_s,l`` the relative Gram error at one layer (with ``style_scales``, its mean over the
output and the painting both resized by each scale, so the coarse scales ask for the
painting's large structure), ``L_stab`` the stability term
(:func:`impasto.training.stability.stability_loss`, off at weight 0), and each EMA (kept per style and per
layer, decay ``ema_decay``, stored in the checkpoint as ``loss_ema``) normalises its
layer's loss so that a unit of ``α`` means the same on every layer (Babaeizadeh & Ghiasi
2018). The learning rate follows ``lr_schedule``: cosine from ``lr`` to ``lr / 20`` over
``iters`` (the default), or constant.

Convention:
    Images are ``(B, 3, S, S)`` RGB in ``[0, 1]``; style ``s`` is the one-hot vector
    ``e_s`` of length ``N`` (mixtures are not trained: the conditioning is linear in the
    style weights, so mixing interpolates γ and β). The loss log's ``style`` column is the
    style's name; its ``content`` and ``style_loss`` are the unweighted sums of ``L``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from impasto.errors import UserError
from impasto.models.losses import content_loss, gram, tv_loss
from impasto.models.style_bank import StyleBankNet
from impasto.models.vgg import VGG16Features
from impasto.runtime.io.images import read_image
from impasto.training.configs import BankTrainConfig
from impasto.training.data import AugmentedImages, centre_crops, list_images, write_grid
from impasto.training.distributed import mean_across
from impasto.training.feedforward import style_grams
from impasto.training.loop import Method, train
from impasto.training.stability import StabilityConfig, stability_loss


def sample_alpha(rng: random.Random, n: int, alpha_max: float, p_default: float) -> list[float]:
    """One loss-weight vector for a batch: all ones with probability ``p_default``, else U(0, alpha_max) each."""
    if rng.random() < p_default:
        return [1.0] * n
    return [rng.uniform(0.0, alpha_max) for _ in range(n)]


def write_bank_preview(net: StyleBankNet, batch: torch.Tensor, path: Path) -> None:
    """A grid: content crops in the first row, then one row per style (default α)."""
    cfg, dev = net.config, next(net.parameters()).device
    ones_c, ones_s = torch.ones(len(cfg.content_layers), device=dev), torch.ones(len(cfg.style_layers), device=dev)
    styles = torch.eye(cfg.n_styles, device=dev)
    write_grid(path, [batch, *(net(batch.to(dev), styles[s], ones_c, ones_s) for s in range(cfg.n_styles))])


class Bank(Method):
    """The style-bank trainer's hooks."""

    name = "bank"
    columns = ("style", "content", "style_loss", "tv", "stability", "total")
    plot_columns = ("content", "style_loss", "tv", "stability", "total")
    label = "train bank"
    smoothing = 0.05

    def __init__(self, cfg: BankTrainConfig) -> None:
        super().__init__(cfg)
        self.mcfg = cfg.model_config
        self.n_c, self.n_s = len(self.mcfg.content_layers), len(self.mcfg.style_layers)
        self.ema = torch.zeros(self.mcfg.n_styles, self.n_c + self.n_s)  # 0 = not seen yet
        self.rng = random.Random(cfg.seed)
        self.names = cfg.resolved_style_names
        self.order: list[int] = []
        self.style = 0

    def check(self) -> None:
        list_images(self.cfg.data)
        for s in self.cfg.styles:
            if not Path(s).is_file():
                raise UserError(f"--styles: expected an image file, got {s!r} (no such file)")

    def setup(self, net: torch.nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        cfg = self.cfg
        self.net, self.device, self.ema = net, device, self.ema.to(device)
        self.vgg = VGG16Features(vgg_weights).to(device)
        self.data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start)
        side = cfg.style_size or int(cfg.size * 1.5)
        paintings = [read_image(s) for s in cfg.styles]
        #: targets[s][scale index][layer]: the painting's Gram matrices at each loss scale.
        self.targets = [[style_grams(self.vgg, p, side * k) for k in cfg.style_scales] for p in paintings]
        self.stability = StabilityConfig(max_shift=cfg.stability_shift, noise=cfg.stability_noise,
                                         subpixel=cfg.stability_subpixel)
        self.generator = torch.Generator().manual_seed(cfg.seed + start)
        self.preview_batch = centre_crops(cfg.data, min(cfg.size, 160), 3)
        self.layers = tuple(dict.fromkeys(self.mcfg.content_layers + self.mcfg.style_layers))

    def step(self, it: int) -> dict[str, Any]:
        cfg, mcfg, n_c = self.cfg, self.mcfg, self.n_c
        if not self.order:
            self.order = list(range(mcfg.n_styles))
            self.rng.shuffle(self.order)
        s = self.style = self.order.pop()
        alpha = torch.tensor(sample_alpha(self.rng, n_c + self.n_s, cfg.alpha_max, cfg.p_default), device=self.device)
        x = self.data.batch(cfg.batch).to(self.device)
        y = self.net(x, F.one_hot(torch.tensor(s, device=self.device), mcfg.n_styles).float(), alpha[:n_c], alpha[n_c:])
        fy = self.vgg(y, self.layers)
        with torch.no_grad():
            fx = self.vgg(x, mcfg.content_layers)
        per_layer = [content_loss(fy[k], fx[k]) for k in mcfg.content_layers]
        per_scale = [self._style_errors(fy, self.targets[s][0])]
        for scale, targets in zip(cfg.style_scales[1:], self.targets[s][1:], strict=True):
            small = F.interpolate(y, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
            per_scale.append(self._style_errors(self.vgg(small, mcfg.style_layers), targets))
        per_layer += [torch.stack(errs).mean() for errs in zip(*per_scale, strict=True)]
        raw = torch.stack(per_layer)
        with torch.no_grad():  # under torchrun the EMA follows the ranks' mean, so every rank holds the same one
            ema, seen = self.ema[s], mean_across(raw)
            self.ema[s] = torch.where(ema > 0, cfg.ema_decay * ema + (1 - cfg.ema_decay) * seen, seen)
        normed = alpha * raw / self.ema[s]
        lc = cfg.content_weight * normed[:n_c].sum()
        ls = cfg.style_weight * normed[n_c:].sum()
        lt = cfg.tv_weight * tv_loss(y)
        lstab = y.new_zeros(())
        if cfg.stability_weight > 0:
            onehot = F.one_hot(torch.tensor(s, device=self.device), mcfg.n_styles).float()
            lstab = stability_loss(lambda t: self.net(t, onehot, alpha[:n_c], alpha[n_c:]), x, y, self.stability,
                                   self.generator)
        total = lc + ls + lt + cfg.stability_weight * lstab
        return {"content": raw[:n_c].sum(), "style": raw[n_c:].sum(), "tv": lt, "stability": lstab, "total": total}

    def _style_errors(self, feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The relative Gram error at each style layer against one scale's targets."""
        errs = []
        for k in self.mcfg.style_layers:
            g, tg = gram(feats[k]), targets[k]
            errs.append(F.mse_loss(g, tg.expand_as(g)) / tg.square().mean().clamp_min(1e-30))
        return errs

    def log_row(self, values: dict[str, float]) -> list[str]:
        return [self.names[self.style], *(f"{values[k]:.6g}" for k in ("content", "style", "tv", "stability", "total"))]

    def lr_at(self, it: int) -> float:
        return self.cfg.lr_at(it)

    def preview(self, path: Path) -> None:
        write_bank_preview(self.net, self.preview_batch, path)

    def card(self) -> dict[str, Any]:
        return {"styles": dict(zip(self.names, (Path(s).name for s in self.cfg.styles), strict=True)),
                "data": self.data.describe()}

    def summary(self) -> dict[str, Any]:
        return {"styles": list(self.names)}

    def state(self) -> dict[str, Any]:
        return {"style_names": list(self.names), "style_files": [Path(s).name for s in self.cfg.styles],
                "loss_ema": self.ema.cpu().clone()}

    def rng_state(self) -> dict[str, Any]:
        return {"python": self.rng.getstate()}

    def restore(self, ckpt: dict[str, Any]) -> None:
        self.ema = ckpt["loss_ema"]
        self.rng.setstate(ckpt["rng"]["python"])


def train_bank(cfg: BankTrainConfig, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train (or resume) a style bank: :func:`impasto.training.loop.train` (its ``options`` and summary)."""
    return train(Bank(cfg), out, **options)
