"""Train MUNIT (Huang et al. 2018): two style/content auto-encoders and two multi-scale LSGAN discriminators.

Each iteration (the shared loop, :mod:`impasto.training.loop`, owns the generators' Adam):

1. draw a batch from each domain and prior style codes ``s_a``, ``s_b ~ N(0, I)``;
2. one forward pass of both auto-encoders and both translations
   (:func:`impasto.training.munit_losses.translate_both`);
3. update the discriminators on the detached translations (their own Adam, kept in the
   checkpoint as ``discriminator`` and ``dis_optimizer``);
4. return the generators' losses (:func:`impasto.training.munit_losses.generator_losses`)
   against the updated discriminators; the loop back-propagates ``total`` and steps.

The official code runs a separate generator forward for the discriminator step (with other
random styles); reusing one forward for both saves a third of the work on a CPU and keeps
the same alternating updates (a documented deviation). Both optimisers are Adam with the
paper's betas (0.5, 0.999) and weight decay 1e-4; the learning rate is constant.

Convention:
    Training crops are ``size x size``, RGB mapped to ``[-1, 1]`` (the generators' tanh
    range); each domain is sampled with random zoom (``1..max_scale``), crop and flip. The
    preview (``x.preview.jpg``) has one row per input: the input, its reconstruction, then
    its translations with ``preview_styles`` fixed random style codes (the same codes in
    every preview of a run); A rows first, then B rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from impasto.errors import UserError
from impasto.models.munit_discriminator import MsImageDis, init_gaussian
from impasto.runtime.io.images import IMAGE_SUFFIXES
from impasto.training.configs import MunitTrainConfig
from impasto.training.data import AugmentedImages, centre_crops, write_grid
from impasto.training.loop import Method, train
from impasto.training.munit_losses import discriminator_loss, generator_losses, translate_both

#: Inputs per domain in the preview sheet.
PREVIEW_INPUTS = 3


def check_domain(flag: str, folder: str) -> None:
    """Refuse a domain folder that does not exist or holds no images (one line naming the flag)."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"{flag}: expected a folder of images, got {folder!r} (no such folder)")
    if not any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in root.rglob("*")):
        raise UserError(f"{flag}: expected a folder of images ({', '.join(sorted(IMAGE_SUFFIXES))}), got "
                        f"{folder!r} with none")


def generators(net: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The domain-A and domain-B auto-encoders of the generator pair."""
    return net.gen_a, net.gen_b


def to_signed(x: torch.Tensor) -> torch.Tensor:
    return x * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


class Munit(Method):
    """The MUNIT trainer's hooks."""

    name = "munit"
    columns = ("adv", "recon_x", "recon_c", "recon_s", "cycle", "vgg", "dis", "total")
    plot_columns = ("adv", "recon_x", "recon_c", "recon_s", "dis", "total")
    progress_keys = {"recon_x": "recon_x", "adv": "adv", "dis": "dis"}
    label = "train munit"
    log_every = 0.01

    def __init__(self, cfg: MunitTrainConfig) -> None:
        super().__init__(cfg)
        self._restored: dict[str, Any] | None = None

    def check(self) -> None:
        check_domain("--domain-a", self.cfg.domain_a)
        check_domain("--domain-b", self.cfg.domain_b)

    def optimizer(self, params: Any) -> torch.optim.Optimizer:
        cfg = self.cfg
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)

    def setup(self, net: nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        cfg = self.cfg
        self.net, self.device = net, device
        self.gen_a, self.gen_b = generators(net)
        # Built under their own seed so that a resumed run's global random state stays the uninterrupted one's.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            self.dis_a = MsImageDis(cfg.discriminator_config).to(device)
            self.dis_b = MsImageDis(cfg.discriminator_config).to(device)
            init_gaussian(self.dis_a)
            init_gaussian(self.dis_b)
            self.vgg = None
            if cfg.vgg_weight > 0:
                from impasto.models.vgg import VGG16Features

                self.vgg = VGG16Features(vgg_weights).to(device)
        self.dis_opt = self.optimizer([*self.dis_a.parameters(), *self.dis_b.parameters()])
        self.data_a = AugmentedImages(cfg.domain_a, cfg.size, max_scale=cfg.max_scale, seed=cfg.seed)
        self.data_b = AugmentedImages(cfg.domain_b, cfg.size, max_scale=cfg.max_scale, seed=cfg.seed + 1)
        if self._restored is not None:
            r = self._restored
            self.dis_a.load_state_dict(r["discriminator"]["a"])
            self.dis_b.load_state_dict(r["discriminator"]["b"])
            self.dis_opt.load_state_dict(r["dis_optimizer"])
            self.data_a.rng.setstate(_python_state(r["rng"]["data_a"]))
            self.data_b.rng.setstate(_python_state(r["rng"]["data_b"]))
        preview_side = min(cfg.size, 128)
        self.preview_a = to_signed(centre_crops(cfg.domain_a, preview_side, PREVIEW_INPUTS))
        self.preview_b = to_signed(centre_crops(cfg.domain_b, preview_side, PREVIEW_INPUTS))
        style_dim = self.model_config.style_dim
        g = torch.Generator().manual_seed(cfg.seed + 2)
        self.preview_styles = torch.randn(cfg.preview_styles, style_dim, 1, 1, generator=g)

    def step(self, it: int) -> dict[str, Any]:
        cfg, dev = self.cfg, self.device
        x_a = to_signed(self.data_a.batch(cfg.batch)).to(dev)
        x_b = to_signed(self.data_b.batch(cfg.batch)).to(dev)
        style_dim = self.model_config.style_dim
        s_a = torch.randn(cfg.batch, style_dim, 1, 1).to(dev)
        s_b = torch.randn(cfg.batch, style_dim, 1, 1).to(dev)
        t = translate_both(self.gen_a, self.gen_b, x_a, x_b, s_a, s_b)

        dis_loss = discriminator_loss(self.dis_a, self.dis_b, t, cfg.gan_weight)
        if not torch.isfinite(dis_loss):
            return {"total": dis_loss, "dis": dis_loss}  # the loop reports the divergence
        self.dis_opt.zero_grad(set_to_none=True)
        dis_loss.backward()
        self.dis_opt.step()

        for d in (self.dis_a, self.dis_b):
            d.requires_grad_(False)
        try:
            losses = generator_losses(self.gen_a, self.gen_b, self.dis_a, self.dis_b, t, cfg, self.vgg)
        finally:
            for d in (self.dis_a, self.dis_b):
                d.requires_grad_(True)
        return {**losses, "dis": dis_loss.detach()}

    def preview(self, path: Path) -> None:
        write_munit_preview(self.gen_a, self.gen_b, self.preview_a, self.preview_b, self.preview_styles, path)

    def card(self) -> dict[str, Any]:
        cfg = self.cfg
        dim, mlp_dim, n_res = cfg.generator_sizes
        return {"data": {"a": self.data_a.describe(), "b": self.data_b.describe()},
                "domains": {cfg.name_a: str(cfg.domain_a), cfg.name_b: str(cfg.domain_b)},
                "generator": {"dim": dim, "mlp_dim": mlp_dim, "n_res": n_res, "style_dim": cfg.style_dim},
                "discriminator": cfg.discriminator_config.to_dict(),
                "adam": {"betas": [cfg.beta1, cfg.beta2], "weight_decay": cfg.weight_decay}}

    def summary(self) -> dict[str, Any]:
        return {"domains": [self.cfg.name_a, self.cfg.name_b]}

    def state(self) -> dict[str, Any]:
        return {"discriminator": {"a": self.dis_a.state_dict(), "b": self.dis_b.state_dict()},
                "dis_optimizer": self.dis_opt.state_dict()}

    def rng_state(self) -> dict[str, Any]:
        return {"data_a": self.data_a.rng.getstate(), "data_b": self.data_b.rng.getstate()}

    def restore(self, ckpt: dict[str, Any]) -> None:
        missing = [k for k in ("discriminator", "dis_optimizer") if k not in ckpt]
        if missing:
            raise UserError(f"--resume: expected a full MUNIT training checkpoint, got one without {missing} "
                            "(a slimmed checkpoint continues with --init, not --resume)")
        self._restored = ckpt


def _python_state(state: Any) -> tuple:
    """A stored ``random.Random`` state (lists after a round trip) as the tuple ``setstate`` takes."""
    version, internal, gauss = state
    return version, tuple(internal), gauss


@torch.no_grad()
def write_munit_preview(gen_a: nn.Module, gen_b: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor,
                        styles: torch.Tensor, path: Path) -> None:
    """The preview sheet: per input, the input, its reconstruction and its translations with ``styles``.

    Args:
        gen_a, gen_b: the auto-encoders (in eval mode).
        x_a, x_b: ``(N, 3, S, S)`` inputs of each domain in ``[-1, 1]``.
        styles: ``(K, style_dim, 1, 1)`` style codes of the target domain.
        path: the image to write.
    """
    dev = next(gen_a.parameters()).device
    rows = []
    for x, src, dst in [*((x, gen_a, gen_b) for x in x_a), *((x, gen_b, gen_a) for x in x_b)]:
        x = x[None].to(dev)
        c, s = src.encode(x)
        row = [x, src.decode(c, s), *(dst.decode(c, styles[k:k + 1].to(dev)) for k in range(len(styles)))]
        rows.append([to_unit(y) for y in row])
    write_grid(path, rows, quality=92)


def train_munit(cfg: MunitTrainConfig, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train (or resume) MUNIT: :func:`impasto.training.loop.train` (its ``options`` and summary)."""
    return train(Munit(cfg), out, **options)
