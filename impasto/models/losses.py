"""Perceptual losses: content, Gram style, total variation.

Convention:
    Feature maps are ``(B, C, H, W)``. Gram matrices are ``(B, C, C)``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gram(features: torch.Tensor, *, normalize: str = "chw") -> torch.Tensor:
    """Gram matrix of a feature map.

    Args:
        features: ``(B, C, H, W)``.
        normalize: ``"chw"`` divides by ``C*H*W`` (Johnson et al.); ``"none"`` keeps the
            raw sum of products, as Gatys et al. define ``G^l``.

    Returns:
        ``(B, C, C)``.
    """
    if features.ndim != 4:
        raise ValueError(f"gram: expected BxCxHxW, got {tuple(features.shape)}")
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    g = torch.bmm(f, f.transpose(1, 2))
    if normalize == "chw":
        return g / (c * h * w)
    if normalize == "none":
        return g
    raise ValueError(f"gram: normalize expected 'chw' or 'none', got {normalize!r}")


def gatys_style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Gatys et al. (2016) eq. 4: ``E_l = 1/(4 N_l^2 M_l^2) * sum (G - A)^2``.

    ``N_l`` is the number of channels and ``M_l = H*W``; ``target_gram`` is the raw
    (``normalize="none"``) Gram of the style image at the same layer, rescaled to this
    layer's ``M_l`` by the caller when sizes differ.
    """
    _, c, h, w = features.shape
    g = gram(features, normalize="none")
    return ((g - target_gram) ** 2).sum(dim=(1, 2)).mean() / (4.0 * c * c * (h * w) ** 2)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error ``mean((F - P)^2) / mean(P^2)``.

    Dividing by the target's energy makes the loss independent of the loss network's
    activation scale (Caffe-converted VGG weights have activations ~100x larger than
    torchvision's), so one set of loss weights works with either weight file.
    """
    return F.mse_loss(features, target) / target.detach().square().mean().clamp_min(1e-12)


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the relative error between ``chw``-normalised Gram matrices.

    Each layer contributes ``mean((G - A)^2) / mean(A^2)`` (scale-free; see
    :func:`content_loss`). ``target_grams`` are ``(1, C, C)`` or ``(B, C, C)`` and
    broadcast over the batch.
    """
    total = features[next(iter(target_grams))].new_zeros(())
    for name, tg in target_grams.items():
        g = gram(features[name])
        total = total + F.mse_loss(g, tg.expand_as(g)) / tg.square().mean().clamp_min(1e-30)
    return total


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
