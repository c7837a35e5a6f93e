"""MUNIT's losses (Huang et al. 2018, sec. 3.2): reconstruction, latent reconstruction, adversarial, optional terms.

For images ``x_a``, ``x_b`` and style codes ``s_a``, ``s_b ~ N(0, I)`` drawn from the prior,
with ``(c_a, s_a') = E_a(x_a)``, ``(c_b, s_b') = E_b(x_b)``, ``x_ba = G_a(c_b, s_a)`` and
``x_ab = G_b(c_a, s_b)``, the generators minimise (both directions summed)

    gan       * LSGAN(D_b(x_ab)) + LSGAN(D_a(x_ba))                 (adversarial)
  + recon_x   * |G_a(c_a, s_a') - x_a|_1 + ...                      (image reconstruction)
  + recon_c   * |E_b^c(x_ab) - c_a|_1 + ...                         (content reconstruction)
  + recon_s   * |E_b^s(x_ab) - s_b|_1 + ...                         (style reconstruction)
  + recon_x_cyc * |G_a(E_b^c(x_ab), s_a') - x_a|_1 + ...            (explicit style-augmented cycle, optional)
  + vgg       * mean((IN(phi(x_ab)) - IN(phi(x_a)))^2) + ...        (domain-invariant perceptual, optional)

where every ``|.|_1`` is a mean absolute error, ``phi`` VGG16 relu5_3 and ``IN`` instance
normalisation without affine parameters (the official ``compute_vgg_loss``).

Convention:
    Images are ``(B, 3, H, W)`` in ``[-1, 1]``; style codes ``(B, style_dim, 1, 1)``; content
    codes ``(B, C, H/4, W/4)``. A generator ``g`` offers ``g.encode(x) -> (content, style)``
    and ``g.decode(content, style) -> image`` (the official ``AdaINGen`` interface).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from impasto.models.munit_discriminator import MsImageDis

#: The VGG16 layer of the domain-invariant perceptual loss (the official code's relu5_3).
PERCEPTUAL_TAP = "relu5_3"


@dataclass
class Translation:
    """One forward pass of both auto-encoders and both cross-domain translations (tensors keep their graphs)."""

    x_a: torch.Tensor
    x_b: torch.Tensor
    c_a: torch.Tensor
    c_b: torch.Tensor
    s_a_prime: torch.Tensor
    s_b_prime: torch.Tensor
    s_a: torch.Tensor
    s_b: torch.Tensor
    x_a_recon: torch.Tensor
    x_b_recon: torch.Tensor
    x_ba: torch.Tensor
    x_ab: torch.Tensor


def translate_both(gen_a: nn.Module, gen_b: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor,
                   s_a: torch.Tensor, s_b: torch.Tensor) -> Translation:
    """Encode both images, reconstruct each within its domain and translate each with the prior styles."""
    c_a, s_a_prime = gen_a.encode(x_a)
    c_b, s_b_prime = gen_b.encode(x_b)
    return Translation(x_a, x_b, c_a, c_b, s_a_prime, s_b_prime, s_a, s_b,
                       x_a_recon=gen_a.decode(c_a, s_a_prime), x_b_recon=gen_b.decode(c_b, s_b_prime),
                       x_ba=gen_a.decode(c_b, s_a), x_ab=gen_b.decode(c_a, s_b))


def discriminator_loss(dis_a: MsImageDis, dis_b: MsImageDis, t: Translation, gan_weight: float) -> torch.Tensor:
    """``gan * (LSGAN_D(D_a; x_ba, x_a) + LSGAN_D(D_b; x_ab, x_b))``; the fakes are detached."""
    return gan_weight * (dis_a.dis_loss(t.x_ba, t.x_a) + dis_b.dis_loss(t.x_ab, t.x_b))


def instance_normalised(f: torch.Tensor) -> torch.Tensor:
    return F.instance_norm(f, eps=1e-5)


def perceptual_loss(vgg: nn.Module, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((IN(phi(image)) - IN(phi(target)))^2)`` at :data:`PERCEPTUAL_TAP` (images in ``[-1, 1]``)."""
    fi = vgg((image + 1) / 2, (PERCEPTUAL_TAP,))[PERCEPTUAL_TAP]
    with torch.no_grad():
        ft = vgg((target + 1) / 2, (PERCEPTUAL_TAP,))[PERCEPTUAL_TAP]
    return F.mse_loss(instance_normalised(fi), instance_normalised(ft))


def generator_losses(gen_a: nn.Module, gen_b: nn.Module, dis_a: MsImageDis, dis_b: MsImageDis, t: Translation,
                     cfg, vgg: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The generators' weighted losses (see the module docstring) and their unweighted parts.

    Args:
        gen_a, gen_b: the two auto-encoders.
        dis_a, dis_b: the discriminators (their parameters should not require gradients here).
        t: :func:`translate_both` of this iteration.
        cfg: the weights ``gan_weight``, ``recon_x_weight``, ``recon_c_weight``,
            ``recon_s_weight``, ``recon_x_cyc_weight`` and ``vgg_weight``
            (:class:`impasto.training.configs.MunitTrainConfig`).
        vgg: :class:`impasto.models.vgg.VGG16Features`, needed when ``vgg_weight > 0``.

    Returns:
        ``{"adv", "recon_x", "recon_c", "recon_s", "cycle", "vgg"}`` (unweighted sums over both
        directions, 0 for a term that is off) and ``"total"`` (weighted, to back-propagate).
    """
    c_b_recon, s_a_recon = gen_a.encode(t.x_ba)
    c_a_recon, s_b_recon = gen_b.encode(t.x_ab)
    zero = t.x_a.new_zeros(())
    parts = {
        "adv": dis_a.gen_loss(t.x_ba) + dis_b.gen_loss(t.x_ab),
        "recon_x": F.l1_loss(t.x_a_recon, t.x_a) + F.l1_loss(t.x_b_recon, t.x_b),
        "recon_c": F.l1_loss(c_a_recon, t.c_a) + F.l1_loss(c_b_recon, t.c_b),
        "recon_s": F.l1_loss(s_a_recon, t.s_a) + F.l1_loss(s_b_recon, t.s_b),
        "cycle": zero,
        "vgg": zero,
    }
    if cfg.recon_x_cyc_weight > 0:
        parts["cycle"] = (F.l1_loss(gen_a.decode(c_a_recon, t.s_a_prime), t.x_a)
                          + F.l1_loss(gen_b.decode(c_b_recon, t.s_b_prime), t.x_b))
    if cfg.vgg_weight > 0:
        if vgg is None:
            raise ValueError("generator_losses: vgg_weight > 0 needs the VGG16 network")
        parts["vgg"] = perceptual_loss(vgg, t.x_ba, t.x_b) + perceptual_loss(vgg, t.x_ab, t.x_a)
    weights = {"adv": cfg.gan_weight, "recon_x": cfg.recon_x_weight, "recon_c": cfg.recon_c_weight,
               "recon_s": cfg.recon_s_weight, "cycle": cfg.recon_x_cyc_weight, "vgg": cfg.vgg_weight}
    parts["total"] = sum((weights[k] * v for k, v in parts.items() if weights[k] > 0), zero)
    return parts
