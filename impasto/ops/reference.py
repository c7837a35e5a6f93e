"""Pure-PyTorch references of impasto's custom ops: the test oracle, the fallback and the ONNX path.

Every function here is plain differentiable PyTorch (no checks: the public faces in
:mod:`impasto.ops` validate first). The C++/CUDA kernels in ``cpp_ext/`` compute the same
formulas and are tested against these functions in float64.

Convention:
    Features are ``BxCxHxW``. A feature vector is L2-normalised over C as
    ``f / sqrt(sum_c f^2 + EPS)`` (a zero feature stays zero). Correlations are then
    normalised per source position: ``M = s / sqrt(sum s^2 + EPS)`` where the sum runs
    over all target positions (``correlation4d``) or over the search window
    (``local_correlation``). Points are ``(x, y)`` in normalised coordinates ``[-1, 1]``
    with ``align_corners=False``: the centre of pixel column ``j`` of a ``W``-wide image
    is ``x = (2j + 1) / W - 1`` (rows likewise), exactly as
    :func:`torch.nn.functional.grid_sample`. The TPS map ``T`` satisfies
    ``T(dst_k) = src_k`` and the warped image samples the input at ``T(p)``: content at
    ``src_k`` moves to ``dst_k``.

Export:
    ONNX has no linear solver, so while a graph is being exported (ONNX, ``torch.export``,
    tracing) the TPS system is solved by :func:`solve_unrolled`, Gauss-Jordan elimination
    with partial pivoting unrolled over the ``K+3`` columns into plain tensor ops (ArgMax,
    GatherElements, Where, arithmetic); eagerly it is ``torch.linalg.solve``. Both are exact
    solves in the input dtype and agree to rounding (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Added under both square roots of the normalisations (features, correlations).
EPS = 1e-10
#: Floor of the squared distance inside the TPS kernel's logarithm (``U(0) = 0`` exactly).
TPS_LOG_FLOOR = 1e-30


def normalize_features(f: torch.Tensor) -> torch.Tensor:
    """L2-normalise ``BxCx...`` features over C: ``f / sqrt(sum_c f^2 + EPS)``."""
    return f * torch.rsqrt((f * f).sum(dim=1, keepdim=True) + EPS)


def correlation4d(fc: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
    """Normalised dense 4D correlation (Learning to Warp).

    Args:
        fc: ``BxCxHxW`` content features.
        fg: ``BxCxHgxWg`` guidance (style) features.

    Returns:
        ``BxHxWxHgxWg``: ``M[b,i,j,k,l] = s / sqrt(sum_{p,q} s[b,i,j,p,q]^2 + EPS)`` with
        ``s = <f^c(i,j), f^g(k,l)>`` of the normalised features. One batched MatMul.
    """
    b, _, h, w = fc.shape
    hg, wg = fg.shape[2], fg.shape[3]
    a = normalize_features(fc).flatten(2).transpose(1, 2)  # B x HW x C
    g = normalize_features(fg).flatten(2)  # B x C x HgWg
    s = torch.matmul(a, g)  # B x HW x HgWg
    m = s * torch.rsqrt((s * s).sum(dim=2, keepdim=True) + EPS)
    return m.reshape(b, h, w, hg, wg)


def local_correlation(fc: torch.Tensor, fg: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised correlation over a ``(2r+1)^2`` search window.

    Args:
        fc: ``BxCxHxW`` content features.
        fg: ``BxCxHxW`` guidance features (same shape).
        radius: the window radius ``r >= 0``.

    Returns:
        ``Bx(2r+1)^2xHxW``; channel ``(dy+r)*(2r+1) + (dx+r)`` holds the correlation of
        ``fc(i, j)`` with ``fg(i+dy, j+dx)`` (zero feature outside the image), normalised
        over the window. Memory ``B*H*W*(2r+1)^2`` (plus one ``BxCxHxW`` product at a time).
    """
    _, _, h, w = fc.shape
    a = normalize_features(fc)
    g = F.pad(normalize_features(fg), (radius, radius, radius, radius))
    side = 2 * radius + 1
    s = torch.stack([(a * g[:, :, dy:dy + h, dx:dx + w]).sum(dim=1)
                     for dy in range(side) for dx in range(side)], dim=1)
    return s * torch.rsqrt((s * s).sum(dim=1, keepdim=True) + EPS)


def window_softmax(local_corr: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax over the window (dim 1) of ``local_corr / temperature``."""
    return torch.softmax(local_corr / temperature, dim=1)


def pixel_centres(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """``HxWx2`` normalised ``(x, y)`` pixel centres (``align_corners=False``) with ``like``'s dtype/device."""
    ys = (2 * torch.arange(height, dtype=like.dtype, device=like.device) + 1) / height - 1
    xs = (2 * torch.arange(width, dtype=like.dtype, device=like.device) + 1) / width - 1
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)


def tps_kernel(d2: torch.Tensor) -> torch.Tensor:
    """The TPS radial basis on squared distances: ``U = d2 * log(d2)``, ``U(0) = 0`` (gradient finite)."""
    return d2 * torch.log(d2.clamp_min(TPS_LOG_FLOOR))


def _pairwise_d2(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Squared distances ``BxNxM`` between ``BxNx2`` and ``BxMx2`` points (by differences, exact at 0)."""
    diff = p.unsqueeze(2) - q.unsqueeze(1)
    return (diff * diff).sum(dim=-1)


def tps_system(dst_points: torch.Tensor, regularization: float) -> torch.Tensor:
    """The ``Bx(K+3)x(K+3)`` TPS matrix ``[[U(|d_i - d_j|) + lambda*I, P], [P^T, 0]]`` with ``P = [1, x, y]``."""
    b, k, _ = dst_points.shape
    kmat = tps_kernel(_pairwise_d2(dst_points, dst_points))
    if regularization:
        kmat = kmat + regularization * torch.eye(k, dtype=kmat.dtype, device=kmat.device)
    p = torch.cat([torch.ones_like(dst_points[..., :1]), dst_points], dim=2)  # B x K x 3
    zeros = p.new_zeros(b, 3, 3)
    return torch.cat([torch.cat([kmat, p], dim=2), torch.cat([p.transpose(1, 2), zeros], dim=2)], dim=1)


def exporting() -> bool:
    """Whether the current call is being traced into a graph (ONNX export, ``torch.export``, JIT tracing)."""
    return bool(torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting() or torch.jit.is_tracing())


def solve_unrolled(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve ``a x = b`` by Gauss-Jordan elimination with partial pivoting, unrolled over the columns.

    Args:
        a: ``Bxnxn`` (``n`` fixed when traced), non-singular.
        b: ``Bxnxm``.

    Returns:
        ``Bxnxm``. Every step is an exportable tensor op, so the solve survives ONNX export.
    """
    n = a.shape[-1]
    aug = torch.cat([a, b], dim=2)
    rows = torch.arange(n, device=a.device)
    for col in range(n):
        piv = aug[:, col:, col].abs().argmax(dim=1, keepdim=True) + col  # B x 1: the largest pivot below
        perm = torch.where(rows == col, piv, torch.where(rows == piv, torch.full_like(piv, col), rows))
        aug = torch.gather(aug, 1, perm.unsqueeze(2).expand(-1, -1, aug.shape[2]))  # swap rows col and piv
        pivot_row = aug[:, col:col + 1, :] / aug[:, col:col + 1, col:col + 1]
        aug = torch.where((rows == col).view(1, n, 1), pivot_row, aug - aug[:, :, col:col + 1] * pivot_row)
    return aug[:, :, n:]


def tps_coefficients(src_points: torch.Tensor, dst_points: torch.Tensor, regularization: float) -> torch.Tensor:
    """Solve the TPS system for ``T(dst_k) = src_k``.

    Returns:
        ``Bx(K+3)x2``: rows ``0..K-1`` the radial weights ``w_k``, rows ``K..K+2`` the
        affine part ``(a_1, a_x, a_y)``, so ``T(p) = a_1 + a_x x + a_y y + sum_k w_k U(|p - dst_k|^2)``.
    """
    rhs = torch.cat([src_points, src_points.new_zeros(src_points.shape[0], 3, 2)], dim=1)
    solve = solve_unrolled if exporting() else torch.linalg.solve
    return solve(tps_system(dst_points, regularization), rhs)


def tps_evaluate(coeffs: torch.Tensor, dst_points: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Evaluate the TPS map with ``coeffs`` (from :func:`tps_coefficients`) at ``BxNx2`` points -> ``BxNx2``."""
    k = dst_points.shape[1]
    u = tps_kernel(_pairwise_d2(points, dst_points))  # B x N x K
    p = torch.cat([torch.ones_like(points[..., :1]), points], dim=2)  # B x N x 3
    return torch.matmul(u, coeffs[:, :k]) + torch.matmul(p, coeffs[:, k:])


def tps_grid(src_points: torch.Tensor, dst_points: torch.Tensor, height: int, width: int,
             regularization: float = 0.0) -> torch.Tensor:
    """The ``BxHxWx2`` ``grid_sample`` grid of the TPS warp (``T`` at every pixel centre)."""
    b = src_points.shape[0]
    coeffs = tps_coefficients(src_points, dst_points, regularization)
    centres = pixel_centres(height, width, src_points).reshape(1, height * width, 2).expand(b, -1, -1)
    return tps_evaluate(coeffs, dst_points, centres).reshape(b, height, width, 2)


def tps_warp(image: torch.Tensor, src_points: torch.Tensor, dst_points: torch.Tensor,
             regularization: float = 0.0) -> torch.Tensor:
    """Warp ``BxCxHxW`` ``image`` so the content at ``src_k`` lands at ``dst_k`` (bilinear, zero padding)."""
    grid = tps_grid(src_points, dst_points, image.shape[2], image.shape[3], regularization)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
