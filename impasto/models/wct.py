"""Whitening and colouring transform (WCT) with export-friendly matrix square roots.

ONNX has no SVD or eigendecomposition, so the whitening matrix ``Σc^{-1/2}`` and the
colouring matrix ``Σs^{1/2}`` come from the coupled Newton–Schulz iteration (Higham,
"Functions of Matrices", §6.7): matrix products only, a fixed number of steps, float32,
so the whole transform exports as plain ``MatMul`` / ``Add`` / ``Mul`` nodes.

Convention:
    Feature maps are ``(1, C, h, w)``; label masks are ``(1, L, h, w)`` soft one-hot
    weights in ``[0, 1]`` that sum to 1 at every pixel (:func:`pool_mask` keeps this
    true when a mask is brought down to a coarser level). Covariances are the
    weighted population covariances ``Σ_l = Σ_n w_ln (f_n − μ_l)(f_n − μ_l)ᵀ / Σ_n w_ln``,
    regularised as ``Σ_l + (eps · (tr Σ_l + tr Σ)/(2C) + EPS_FLOOR) · I`` with ``Σ`` the
    whole image's covariance (so without masks, ``eps · tr(Σ)/C``): the relative ``eps``
    keeps the same meaning at every VGG level and for any weight file's activation scale,
    and the whole image's share stops a nearly flat region (a clear sky, a clamped
    highlight) from having its faint noise whitened up to the style's full contrast.

Masks:
    Content label ``l`` takes the mean and covariance of the style pixels with label
    ``l``; when the style has fewer than ``min_pixels`` (weighted) pixels of it at this
    level — the label has no counterpart — it takes the statistics of the whole style
    image instead. A pixel's output is the weight-averaged result of its labels.

:func:`wct_eigh` computes the same transform in float64 with ``torch.linalg.eigh``: the
reference the Newton–Schulz version is checked against.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Default relative regularisation ``eps`` (times the mean eigenvalue ``tr(Σ)/C``).
DEFAULT_EPS = 1e-3
#: Default Newton–Schulz steps: enough for eigenvalues down to ``eps / C`` of the
#: Frobenius norm (C = 512) to converge (the small ones grow ~2.25x per step, then
#: converge quadratically).
DEFAULT_NS_ITERS = 25
#: Absolute floor added to the regularisation: a constant region (Σ = 0) stays invertible.
EPS_FLOOR = 1e-5
#: A style label with fewer weighted pixels than this at a level falls back to global statistics.
DEFAULT_MIN_PIXELS = 10.0


def eye_like(a: torch.Tensor) -> torch.Tensor:
    """The ``(C, C)`` identity for ``a`` of shape ``(..., C, C)``, computed from ``a`` at run time.

    ``torch.eye`` would be folded into a ``C x C`` constant of the exported graph (1 MB
    per 512-channel level); this costs a cumulative sum and a comparison instead.
    """
    col = a.reshape(-1, a.shape[-1])[:1].transpose(0, 1) * 0.0 + 1.0  # (C, 1) ones, data-dependent
    r = torch.cumsum(col, dim=0)
    return (r == r.transpose(0, 1)).to(a.dtype)


def newton_schulz_sqrt(a: torch.Tensor, iters: int = DEFAULT_NS_ITERS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A^{1/2}, A^{-1/2})`` of symmetric positive definite matrices by coupled Newton–Schulz.

    ``A`` is first divided by its Frobenius norm ``n`` (all eigenvalues then lie in
    ``(0, 1]``, inside the iteration's region of convergence); with ``Y0 = A/n``,
    ``Z0 = I``::

        T = (3 I − Z Y) / 2;   Y ← Y T;   Z ← T Z

    ``Y → (A/n)^{1/2}`` and ``Z → (A/n)^{-1/2}``; the results are rescaled by ``√n``.

    Args:
        a: ``(..., C, C)`` symmetric positive definite (regularise first).
        iters: fixed number of steps (unrolled in an exported graph).

    Returns:
        ``(sqrt, inv_sqrt)``, each shaped like ``a``.
    """
    norm = torch.sqrt((a * a).sum(dim=(-2, -1), keepdim=True))
    eye = eye_like(a)
    y = a / norm
    z = eye.expand_as(a)
    for _ in range(iters):
        t = 1.5 * eye - 0.5 * (z @ y)
        y = y @ t
        z = t @ z
    root = torch.sqrt(norm)
    return y * root, z / root


def _stats(f: torch.Tensor, w: torch.Tensor, eps: float):
    """:func:`weighted_stats` plus what :func:`_apply` reuses: ``w ⊙ (f − μ_l)`` for every label."""
    c = f.shape[0]
    g = f.mean(dim=1, keepdim=True)
    f0 = f - g  # centred on the whole image
    total = (f0 * f0).mean(dim=1).sum()  # trace of the whole image's covariance
    count = w.sum(dim=1)
    denom = count.clamp_min(1e-6)
    m0 = (w @ f0.transpose(0, 1)) / denom[:, None]  # (L, C)
    d = f0.unsqueeze(0) - m0.unsqueeze(2)  # (L, C, N), centred per label
    dw = d * w.unsqueeze(1)
    cov = dw @ d.transpose(1, 2) / denom[:, None, None]
    trace = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)
    reg = eps * (trace + total) / (2 * c) + EPS_FLOOR
    cov = cov + reg[:, None, None] * eye_like(cov)
    return m0 + g.transpose(0, 1), cov, count, dw


def weighted_stats(f: torch.Tensor, w: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted means and regularised covariances of features, one per label.

    The covariance is summed from features centred on each label's own mean (two passes):
    the one-pass form ``E[ffᵀ] − μμᵀ`` cancels catastrophically in float32 (on relu1_1
    features of a 700x394 photo its error exceeded the regulariser, leaving a negative
    eigenvalue on which Newton–Schulz diverges).

    Args:
        f: ``(C, N)`` features.
        w: ``(L, N)`` non-negative weights.
        eps: relative regularisation (see the module docstring).

    Returns:
        ``(mean (L, C), cov (L, C, C), count (L,))``; ``count`` is the weight sum.
    """
    mean, cov, count, _ = _stats(f, w, eps)
    return mean, cov, count


def _select_style(mean: torch.Tensor, cov: torch.Tensor, count: torch.Tensor,
                  min_pixels: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per content label: the style label's statistics, or the global ones (last row) without a counterpart."""
    n = mean.shape[0] - 1
    ok = count[:n] >= min_pixels
    m = torch.where(ok[:, None], mean[:n], mean[n:])
    s = torch.where(ok[:, None, None], cov[:n], cov[n:])
    return m, s


def _flatten(fc: torch.Tensor, fs: torch.Tensor, wc: torch.Tensor, ws: torch.Tensor):
    f = fc.flatten(2)[0]
    g = fs.flatten(2)[0]
    w = wc.flatten(2)[0]
    v = ws.flatten(2)[0]
    v = torch.cat([v, torch.ones_like(v[:1])], dim=0)  # the last row: the whole style image
    return f, g, w, v


def _apply(dw: torch.Tensor, w: torch.Tensor, t: torch.Tensor, ms: torch.Tensor) -> torch.Tensor:
    """``Σ_l w_l (T_l (f − μc_l) + μs_l) / Σ_l w_l`` for every pixel, as two matrix products.

    With ``dw_l = w_l ⊙ (f − μc_l)`` (from :func:`_stats`):
    ``Σ_l T_l dw_l = [T_1 … T_L] · stack_l(dw_l)`` and the style means enter as ``μsᵀ w``.
    """
    n_labels, c, n = dw.shape
    t_cat = t.permute(1, 0, 2).reshape(c, n_labels * c)  # [T_1 … T_L]
    out = t_cat @ dw.reshape(n_labels * c, n) + ms.transpose(0, 1) @ w
    return out / w.sum(dim=0).clamp_min(1e-6)


def wct(fc: torch.Tensor, fs: torch.Tensor, wc: torch.Tensor, ws: torch.Tensor, alpha: torch.Tensor, *,
        eps: float = DEFAULT_EPS, iters: int = DEFAULT_NS_ITERS,
        min_pixels: float = DEFAULT_MIN_PIXELS) -> torch.Tensor:
    """Mask-restricted WCT of content features towards style features, blended by ``alpha``.

    Args:
        fc: ``(1, C, h, w)`` content features.
        fs: ``(1, C, hs, ws)`` style features.
        wc: ``(1, L, h, w)`` content label weights (a single all-ones channel: no masks).
        ws: ``(1, L, hs, ws)`` style label weights, the same labels in the same order.
        alpha: ``()`` or ``(1,)``: 0 keeps the content features, 1 is the full transform.
        eps: relative covariance regularisation.
        iters: Newton–Schulz steps.
        min_pixels: weighted style pixels a label needs at this level to be used.

    Returns:
        ``(1, C, h, w)``: ``alpha * WCT(fc) + (1 - alpha) * fc``.
    """
    f, g, w, v = _flatten(fc, fs, wc, ws)
    n_labels = w.shape[0]
    _, cc, _, dw = _stats(f, w, eps)
    ms_all, cs_all, count_s = weighted_stats(g, v, eps)
    ms, cs = _select_style(ms_all, cs_all, count_s, min_pixels)
    sqrt, inv_sqrt = newton_schulz_sqrt(torch.cat([cc, cs], dim=0), iters)
    t = sqrt[n_labels:] @ inv_sqrt[:n_labels]
    out = _apply(dw, w, t, ms).reshape(fc.shape)
    a = alpha.reshape(-1)[0]
    return a * out + (1.0 - a) * fc


def eigh_sqrt(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A^{1/2}, A^{-1/2})`` through ``torch.linalg.eigh`` in float64 (the reference)."""
    vals, vecs = torch.linalg.eigh(a.double())
    vals = vals.clamp_min(torch.finfo(torch.float64).tiny)
    sqrt = (vecs * vals.sqrt().unsqueeze(-2)) @ vecs.transpose(-2, -1)
    inv_sqrt = (vecs * vals.rsqrt().unsqueeze(-2)) @ vecs.transpose(-2, -1)
    return sqrt, inv_sqrt


def wct_eigh(fc: torch.Tensor, fs: torch.Tensor, wc: torch.Tensor, ws: torch.Tensor, alpha: float, *,
             eps: float = DEFAULT_EPS, min_pixels: float = DEFAULT_MIN_PIXELS) -> torch.Tensor:
    """:func:`wct` computed in float64 with ``eigh`` instead of Newton–Schulz (a reference, not exportable)."""
    f, g, w, v = _flatten(fc.double(), fs.double(), wc.double(), ws.double())
    _, cc, _, dw = _stats(f, w, eps)
    ms_all, cs_all, count_s = weighted_stats(g, v, eps)
    ms, cs = _select_style(ms_all, cs_all, count_s, min_pixels)
    t = eigh_sqrt(cs)[0] @ eigh_sqrt(cc)[1]
    out = _apply(dw, w, t, ms).reshape(fc.shape)
    return alpha * out + (1.0 - alpha) * fc.double()


def mask_pyramid(mask: torch.Tensor, levels: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """``{level: mask}``: ``mask`` at the first of ``levels`` (fine to coarse), pooled once per level after."""
    out = {levels[0]: mask}
    for a, b in zip(levels[:-1], levels[1:]):
        out[b] = pool_mask(out[a])
    return out


def pool_mask(mask: torch.Tensor) -> torch.Tensor:
    """Bring label weights down one VGG level: 2x2 average pooling (the encoder's max-pooling grid).

    Averages of weights that sum to 1 still sum to 1, and the floor-divided size
    matches the encoder's pooled feature maps, odd sizes included.
    """
    return F.avg_pool2d(mask, 2, 2)
