"""The colour guided filter (He, Sun & Tang, "Guided Image Filtering", TPAMI 2013) in exportable ops.

Used as the fast photorealistic smoothing step: the stylised image ``p`` is filtered
with the content photo ``I`` as the guide, so that in every ``(2r+1)²`` window the
result is an affine function of the content's colours (``q = a·I + b``): the content's
edges come back, the style's colours stay.

Box filters are two 1-D running sums (rows, then columns), each the difference of a
cumulative sum at the window's two ends, divided by the number of pixels the window
covers: a window clipped at the border is averaged over the pixels it covers, and since
a clipped rectangle's pixel count is the product of its row and column counts, the
separable result is the 2-D normalised box mean. The cost per pixel does not depend on
the radius (an ``AveragePool`` of width ``2r+1`` adds ``2r+1`` values per pixel: at the
default ``r = 32`` the guided filter was ~10 % of the photowct graph's time). The
per-pixel 3x3 inverse is written out with cofactors. Everything exports to ONNX
``CumSum`` / ``Gather`` / ``Sub`` / ``Mul`` / ``Add`` / ``Div``.

Convention:
    ``guide`` and ``src`` are ``(B, 3, H, W)`` float tensors in ``[0, 1]`` of one size;
    ``eps`` is in the guide's squared units (variance of ``[0, 1]`` values).
"""

from __future__ import annotations

import torch

DEFAULT_RADIUS = 32
DEFAULT_EPS = 1e-3


def _box_mean_1d(x: torch.Tensor, r: int, dim: int) -> torch.Tensor:
    """Mean over ``[i - r, i + r]`` clipped to ``[0, n)`` along ``dim``: cumulative sums at the window's ends.

    With ``s = [0, cumsum(x)]`` the window's sum is ``s[hi] - s[lo]``, ``hi = min(i + r + 1, n)``,
    ``lo = max(i - r, 0)``, and it covers ``hi - lo`` pixels. The indices are computed from
    the run-time size, so any ``r`` (also ``r >= n``) and any size export alike.
    """
    n = x.shape[dim]
    pos = torch.arange(1, n + 1, device=x.device, dtype=x.dtype)  # 1 … n (a Range node for a dynamic size)
    hi = torch.clamp(pos + r, max=n)  # = min(i + r + 1, n) for i = pos - 1
    lo = torch.clamp(pos - 1 - r, min=0)
    zero = torch.zeros_like(x.narrow(dim, 0, 1))
    s = torch.cat([zero, torch.cumsum(x, dim)], dim)
    total = s.index_select(dim, hi.long()) - s.index_select(dim, lo.long())
    shape = [1] * x.dim()
    shape[dim] = n
    return total / (hi - lo).reshape(shape)


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the ``(2r+1) x (2r+1)`` window clipped to the image, at every pixel."""
    return _box_mean_1d(_box_mean_1d(x, r, 3), r, 2)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int = DEFAULT_RADIUS,
                  eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Colour guided filter of every channel of ``src`` with the RGB ``guide``.

    Args:
        guide: ``(B, 3, H, W)`` guide image (the content photo).
        src: ``(B, K, H, W)`` image to filter (the stylised result).
        r: window radius in pixels, any ``r >= 0`` (windows are clipped at the borders).
        eps: regularisation of the guide's local covariance.

    Returns:
        ``(B, K, H, W)``.
    """
    b, k, h, w = src.shape
    mean_i = box_mean(guide, r)  # (B, 3, H, W)
    mean_p = box_mean(src, r)  # (B, K, H, W)
    i0, i1, i2 = guide[:, 0:1], guide[:, 1:2], guide[:, 2:3]
    # guide covariance: six unique entries
    prods = torch.cat([i0 * i0, i0 * i1, i0 * i2, i1 * i1, i1 * i2, i2 * i2], dim=1)
    m = box_mean(prods, r)
    mi0, mi1, mi2 = mean_i[:, 0:1], mean_i[:, 1:2], mean_i[:, 2:3]
    s00 = m[:, 0:1] - mi0 * mi0 + eps
    s01 = m[:, 1:2] - mi0 * mi1
    s02 = m[:, 2:3] - mi0 * mi2
    s11 = m[:, 3:4] - mi1 * mi1 + eps
    s12 = m[:, 4:5] - mi1 * mi2
    s22 = m[:, 5:6] - mi2 * mi2 + eps
    # inverse of the symmetric 3x3 through its adjugate
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    # covariance of guide and source: (B, 3, K, H, W) as three (B, K, H, W) tensors
    cov0 = box_mean(i0 * src, r) - mi0 * mean_p
    cov1 = box_mean(i1 * src, r) - mi1 * mean_p
    cov2 = box_mean(i2 * src, r) - mi2 * mean_p
    a0 = (c00 * cov0 + c01 * cov1 + c02 * cov2) / det
    a1 = (c01 * cov0 + c11 * cov1 + c12 * cov2) / det
    a2 = (c02 * cov0 + c12 * cov1 + c22 * cov2) / det
    bb = mean_p - a0 * mi0 - a1 * mi1 - a2 * mi2
    coeffs = box_mean(torch.cat([a0, a1, a2, bb], dim=1), r)
    ma0, ma1, ma2, mb = coeffs.split(k, dim=1)
    return ma0 * i0 + ma1 * i1 + ma2 * i2 + mb
