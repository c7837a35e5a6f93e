"""Train an adjustable style bank (:class:`impasto.models.style_bank.StyleBankNet`).

Each iteration picks one style (a shuffled round-robin over the bank, so every style gets
the same number of batches) and samples the loss weights ``α`` once for the batch:
with probability ``p_default`` all ones (the default the runtime uses), otherwise each
``α_i ~ U(0, alpha_max)`` independently. The loss is

    content_weight * Σ_l α_c,l * L_c,l / EMA(L_c,l)
  + style_weight   * Σ_l α_s,l * L_s,l / EMA(L_s,l)  +  tv_weight * TV

where ``L_c,l`` is the relative relu-feature error (:func:`impasto.models.losses.content_loss`),
``L_s,l`` the relative Gram error at one layer, and each EMA (kept per style and per
layer, decay ``ema_decay``) normalises its layer's loss so that a unit of ``α`` means
the same on every layer (Babaeizadeh & Ghiasi 2018). The learning rate follows
``lr_schedule``: cosine from ``lr`` to ``lr / 20`` over ``iters`` (the default), or constant.

Convention:
    Images are ``(B, 3, S, S)`` RGB in ``[0, 1]``; style ``s`` is the one-hot vector
    ``e_s`` of length ``N`` (mixtures are not trained: the conditioning is linear in the
    style weights, so mixing interpolates γ and β).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from impasto import __version__
from impasto.errors import UserError
from impasto.models.checkpoint import save_checkpoint
from impasto.models.losses import content_loss, gram, tv_loss
from impasto.models.style_bank import UPSAMPLE_MODES, StyleBankConfig, StyleBankNet
from impasto.models.vgg import VGG16Features
from impasto.training.checkpoint import init_from_checkpoint, open_loss_log, resume_run
from impasto.training.data import AugmentedImages, list_images
from impasto.training.feedforward import (
    FeedForwardConfig,
    _preview_batch,
    _style_targets,
    hardware_summary,
    side_paths,
)
from impasto.utils.progress import Progress

LR_SCHEDULES = ("cosine", "constant")
#: The cosine schedule ends at this fraction of ``lr``.
LR_FINAL_FRACTION = 0.05
LOG_COLUMNS = ("iteration", "style", "content", "style_loss", "tv", "total", "seconds")


@dataclass(frozen=True)
class BankTrainConfig:
    """Everything that defines a bank training run (stored in the checkpoint)."""

    styles: tuple[str, ...]
    data: str
    style_names: tuple[str, ...] | None = None
    iters: int = 4000
    size: int = 160
    batch: int = 2
    lr: float = 2e-3
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.1
    alpha_max: float = 2.0
    p_default: float = 0.25
    ema_decay: float = 0.98
    style_size: int | None = None  # longest side of each style image; default 1.5 * size
    widths: tuple[int, int] = (16, 48)
    n_residual: int = 3
    hidden: int = 16
    upsample: str = "bilinear"
    lr_schedule: str = "cosine"
    seed: int = 0
    checkpoint_every: int = 200
    preview_every: int = 200

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(str(s) for s in self.styles))
        object.__setattr__(self, "widths", tuple(self.widths))
        if self.style_names is not None:
            object.__setattr__(self, "style_names", tuple(self.style_names))
        if len(self.styles) < 1:
            raise UserError("--styles: expected at least one style image, got none")
        if self.iters < 1 or self.batch < 1 or self.size < 16:
            raise UserError(f"train bank: expected iters >= 1, batch >= 1, size >= 16, got "
                            f"iters={self.iters}, batch={self.batch}, size={self.size}")
        if not 0.0 <= self.p_default <= 1.0 or self.alpha_max <= 0 or not 0.0 < self.ema_decay < 1.0:
            raise UserError(f"train bank: expected p_default in [0, 1], alpha_max > 0, ema_decay in (0, 1), got "
                            f"{self.p_default}, {self.alpha_max}, {self.ema_decay}")
        if self.upsample not in UPSAMPLE_MODES:
            raise UserError(f"--upsample: expected one of {', '.join(UPSAMPLE_MODES)}, got {self.upsample!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"--lr-schedule: expected one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        names = self.resolved_style_names
        if len(names) != len(self.styles):
            raise UserError(f"--style-names: expected {len(self.styles)} names, got {len(names)}")
        bad = [n for n in names if not n or any(c in n for c in ",:= ")]
        if bad or len(set(names)) != len(names):
            raise UserError(f"--style-names: expected unique names without ',', ':', '=' or spaces, got {list(names)}")

    @property
    def resolved_style_names(self) -> tuple[str, ...]:
        if self.style_names is not None:
            return self.style_names
        return tuple(Path(s).stem for s in self.styles)

    @property
    def model_config(self) -> StyleBankConfig:
        return StyleBankConfig(n_styles=len(self.styles), widths=self.widths, n_residual=self.n_residual,
                               hidden=self.hidden, upsample=self.upsample)

    def lr_at(self, it: int) -> float:
        """Learning rate of iteration ``it`` (1-based): constant, or cosine from ``lr`` down to ``lr / 20``."""
        if self.lr_schedule == "constant":
            return self.lr
        t = min(max(it - 1, 0) / max(self.iters - 1, 1), 1.0)
        return self.lr * (LR_FINAL_FRACTION + (1 - LR_FINAL_FRACTION) * 0.5 * (1 + math.cos(math.pi * t)))


def sample_alpha(rng: random.Random, n: int, alpha_max: float, p_default: float) -> list[float]:
    """One loss-weight vector for a batch: all ones with probability ``p_default``, else U(0, alpha_max) each."""
    if rng.random() < p_default:
        return [1.0] * n
    return [rng.uniform(0.0, alpha_max) for _ in range(n)]


def write_bank_preview(net: StyleBankNet, batch: torch.Tensor, path: Path) -> None:
    """A grid: content crops in the first row, then one row per style (default α)."""
    import numpy as np

    from impasto.models.imaging import to_image
    from impasto.runtime.io.images import write_image

    cfg = net.config
    was_training = net.training
    net.eval()
    rows = [np.concatenate([to_image(t) for t in batch], axis=1)]
    ones_c, ones_s = torch.ones(len(cfg.content_layers)), torch.ones(len(cfg.style_layers))
    with torch.no_grad():
        for s in range(cfg.n_styles):
            y = net(batch, F.one_hot(torch.tensor(s), cfg.n_styles).float(), ones_c, ones_s).clamp(0, 1)
            rows.append(np.concatenate([to_image(t) for t in y], axis=1))
    net.train(was_training)
    write_image(path, np.concatenate(rows, axis=0))


def _style_grams(vgg: VGG16Features, cfg: BankTrainConfig, device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Gram targets of every style image, through the feed-forward trainer's own resize rule."""
    out = []
    for s in cfg.styles:
        if not Path(s).is_file():
            raise UserError(f"--styles: expected an image file, got {s!r} (no such file)")
        ff = FeedForwardConfig(style=s, data=cfg.data, size=cfg.size, style_size=cfg.style_size)
        out.append(_style_targets(vgg, ff, device))
    return out


def train_bank(cfg: BankTrainConfig, out: str | os.PathLike, *, resume: bool = False, progress: bool = True,
               command: str | None = None, vgg_weights: str | None = None,
               init: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train (or resume) a style bank and write checkpoint, loss log and preview grid.

    Args:
        cfg: the run's configuration.
        out: checkpoint path (``.pt``); ``x.losses.csv`` and ``x.preview.jpg`` go next to it.
        resume: continue from ``out``; its configuration must match except ``iters`` and the cadences.
        progress: draw a progress bar on stderr.
        command: the command line, recorded in the model card.
        vgg_weights: explicit VGG16 weights path.
        init: start a new run from another bank checkpoint's network weights (same
            architecture and style count; optimizer and loss EMAs start afresh). Recorded
            in the model card.

    Returns:
        A summary with iterations, seconds, smoothed losses and paths.
    """
    out = Path(out)
    paths = side_paths(out)
    device = torch.device("cpu")
    list_images(cfg.data)  # fail early on a bad --data
    torch.manual_seed(cfg.seed)
    net = StyleBankNet(cfg.model_config)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    mcfg = net.config
    n_c, n_s = len(mcfg.content_layers), len(mcfg.style_layers)
    ema = torch.zeros(mcfg.n_styles, n_c + n_s)  # 0 = not seen yet
    rng = random.Random(cfg.seed)
    init_card: dict[str, Any] | None = None
    ckpt, start_it, seconds_before = resume_run(out, cfg, resume, net, opt)
    if ckpt is not None:
        ema = ckpt["loss_ema"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        rng.setstate(ckpt["rng"]["python"])
        init_card = ckpt["card"].get("init_from")
    if init is not None and start_it == 0:
        init_card = init_from_checkpoint(init, "bank", mcfg.to_dict(), net)

    vgg = VGG16Features(vgg_weights).to(device)
    data = AugmentedImages(cfg.data, cfg.size, seed=cfg.seed + start_it)
    targets = _style_grams(vgg, cfg, device)
    preview = _preview_batch(cfg.data, min(cfg.size, 160), n=3)
    layers = tuple(dict.fromkeys(mcfg.content_layers + mcfg.style_layers))
    names = cfg.resolved_style_names

    out.parent.mkdir(parents=True, exist_ok=True)
    log_f, log = open_loss_log(paths["csv"], LOG_COLUMNS, resume_at=start_it if resume else None)

    def card(it: int, secs: float, last: dict[str, float]) -> dict[str, Any]:
        return {"command": command or " ".join(sys.argv), "styles": dict(zip(names, (Path(s).name for s in cfg.styles),
                                                                                  strict=True)),
                "data": f"{Path(cfg.data).name}/ ({len(data)} images), random {cfg.size}px crops, scale 1-1.5x, flips",
                "iterations": it, "batch": cfg.batch, "hardware": hardware_summary(device), "seconds": round(secs, 1),
                "final_losses": last, "torch": str(torch.__version__), "impasto": __version__,
                **({"init_from": init_card} if init_card else {})}

    def checkpoint(it: int, secs: float, last: dict[str, float]) -> None:
        save_checkpoint(out, {"method": "bank", "model": {"arch": "StyleBankNet", "config": mcfg.to_dict()},
                              "style_names": list(names), "style_files": [Path(s).name for s in cfg.styles],
                              "state_dict": net.state_dict(), "optimizer": opt.state_dict(), "iteration": it,
                              "loss_ema": ema.clone(), "train_config": asdict(cfg), "card": card(it, secs, last),
                              "rng": {"torch": torch.get_rng_state(), "python": rng.getstate()}})

    net.train()
    t0 = time.perf_counter()
    smooth: dict[str, float] = {}
    order: list[int] = []
    bar = Progress(cfg.iters, "train bank", enabled=progress, log_every=0.02)
    bar.n = start_it
    it = start_it
    try:
        for it in range(start_it + 1, cfg.iters + 1):
            if not order:
                order = list(range(mcfg.n_styles))
                rng.shuffle(order)
            s = order.pop()
            alpha = torch.tensor(sample_alpha(rng, n_c + n_s, cfg.alpha_max, cfg.p_default))
            x = data.batch(cfg.batch)
            y = net(x, F.one_hot(torch.tensor(s), mcfg.n_styles).float(), alpha[:n_c], alpha[n_c:])
            fy = vgg(y, layers)
            with torch.no_grad():
                fx = vgg(x, mcfg.content_layers)
            per_layer = [content_loss(fy[k], fx[k]) for k in mcfg.content_layers]
            for k in mcfg.style_layers:
                g, tg = gram(fy[k]), targets[s][k]
                per_layer.append(F.mse_loss(g, tg.expand_as(g)) / tg.square().mean().clamp_min(1e-30))
            raw = torch.stack(per_layer)
            with torch.no_grad():
                seen = ema[s] > 0
                ema[s] = torch.where(seen, cfg.ema_decay * ema[s] + (1 - cfg.ema_decay) * raw, raw)
            normed = alpha * raw / ema[s]
            lc = cfg.content_weight * normed[:n_c].sum()
            ls = cfg.style_weight * normed[n_c:].sum()
            lt = cfg.tv_weight * tv_loss(y)
            loss = lc + ls + lt
            if not torch.isfinite(loss):
                raise RuntimeError(f"training diverged at iteration {it}: loss={loss.item()}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(it)
            opt.step()
            vals = {"content": raw[:n_c].sum().item(), "style": raw[n_c:].sum().item(), "tv": lt.item(),
                    "total": loss.item()}
            smooth = {k: v if k not in smooth else 0.95 * smooth[k] + 0.05 * v for k, v in vals.items()}
            secs = seconds_before + time.perf_counter() - t0
            log.writerow([it, names[s], *(f"{vals[k]:.6g}" for k in ("content", "style", "tv", "total")),
                          f"{secs:.1f}"])
            bar.update(1, content=smooth["content"], style=smooth["style"])
            if it % cfg.checkpoint_every == 0 or it == cfg.iters:
                log_f.flush()
                checkpoint(it, secs, {k: round(v, 4) for k, v in smooth.items()})
            if it % cfg.preview_every == 0 or it == cfg.iters:
                write_bank_preview(net, preview, paths["preview"])
    finally:
        log_f.close()
        bar.close()
    secs = seconds_before + time.perf_counter() - t0
    return {"checkpoint": str(out), "iterations": it, "seconds": round(secs, 1), "styles": list(names),
            "final_losses": {k: round(v, 4) for k, v in smooth.items()},
            "log": str(paths["csv"]), "preview": str(paths["preview"])}
