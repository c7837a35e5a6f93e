"""The pure-PyTorch references checked against brute-force loops and known warps (the oracle's own tests)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from impasto.ops import reference

F64 = torch.float64


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / math.sqrt(float((v * v).sum()) + reference.EPS)


def test_correlation4d_matches_brute_force_loop():
    g = torch.Generator().manual_seed(0)
    fc = torch.randn(2, 3, 2, 3, generator=g, dtype=F64)
    fg = torch.randn(2, 3, 3, 2, generator=g, dtype=F64)
    got = reference.correlation4d(fc, fg)
    want = torch.zeros(2, 2, 3, 3, 2, dtype=F64)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                s = torch.zeros(3, 2, dtype=F64)
                for k in range(3):
                    for m in range(2):
                        s[k, m] = float(_unit(fc[b, :, i, j]) @ _unit(fg[b, :, k, m]))
                want[b, i, j] = s / math.sqrt(float((s * s).sum()) + reference.EPS)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_local_correlation_matches_brute_force_loop(radius):
    g = torch.Generator().manual_seed(1)
    fc = torch.randn(1, 4, 3, 4, generator=g, dtype=F64)
    fg = torch.randn(1, 4, 3, 4, generator=g, dtype=F64)
    got = reference.local_correlation(fc, fg, radius)
    side = 2 * radius + 1
    want = torch.zeros(1, side * side, 3, 4, dtype=F64)
    for i in range(3):
        for j in range(4):
            s = torch.zeros(side * side, dtype=F64)
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    y, x = i + dy, j + dx
                    if 0 <= y < 3 and 0 <= x < 4:
                        s[(dy + radius) * side + dx + radius] = float(_unit(fc[0, :, i, j]) @ _unit(fg[0, :, y, x]))
            want[0, :, i, j] = s / math.sqrt(float((s * s).sum()) + reference.EPS)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_local_correlation_at_full_radius_is_the_dense_correlation():
    g = torch.Generator().manual_seed(2)
    fc = torch.randn(1, 3, 3, 3, generator=g, dtype=F64)
    fg = torch.randn(1, 3, 3, 3, generator=g, dtype=F64)
    dense = reference.correlation4d(fc, fg)  # 1x3x3x3x3
    local = reference.local_correlation(fc, fg, 2)  # 1x25x3x3, window covers the image from every position
    for i in range(3):
        for j in range(3):
            win = local[0, :, i, j].reshape(5, 5)[2 - i:5 - i, 2 - j:5 - j]
            torch.testing.assert_close(win, dense[0, i, j], rtol=1e-12, atol=1e-12)


def test_tps_identity_returns_the_image():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(2, 3, 9, 11, generator=g, dtype=F64)
    pts = torch.rand(2, 6, 2, generator=g, dtype=F64) * 2 - 1
    torch.testing.assert_close(reference.tps_warp(img, pts, pts), img, rtol=0, atol=1e-12)


def test_tps_affine_points_give_the_affine_grid():
    g = torch.Generator().manual_seed(4)
    dst = torch.rand(1, 7, 2, generator=g, dtype=F64) * 2 - 1
    a = torch.tensor([[0.9, -0.2], [0.15, 1.1]], dtype=F64)
    t = torch.tensor([0.05, -0.1], dtype=F64)
    src = dst @ a.T + t  # T(p) = A p + t maps dst to src
    grid = reference.tps_grid(src, dst, 6, 5)
    centres = reference.pixel_centres(6, 5, dst)
    torch.testing.assert_close(grid[0], centres @ a.T + t, rtol=0, atol=1e-10)
    theta = torch.cat([a, t[:, None]], dim=1)[None]
    want = F.affine_grid(theta, [1, 1, 6, 5], align_corners=False)
    torch.testing.assert_close(grid, want, rtol=0, atol=1e-10)


def test_tps_interpolates_the_control_points():
    g = torch.Generator().manual_seed(5)
    dst = torch.rand(2, 9, 2, generator=g, dtype=F64) * 2 - 1
    src = dst + 0.1 * torch.randn(2, 9, 2, generator=g, dtype=F64)
    coeffs = reference.tps_coefficients(src, dst, 0.0)
    torch.testing.assert_close(reference.tps_evaluate(coeffs, dst, dst), src, rtol=0, atol=1e-10)


def test_tps_moves_content_from_src_to_dst():
    img = torch.zeros(1, 1, 32, 32, dtype=F64)
    img[0, 0, 8, 8] = 1.0  # pixel centre (x, y) = (17/32 - 1, 17/32 - 1)
    c = 17 / 32 - 1
    src = torch.tensor([[[c, c], [-0.9, 0.9], [0.9, -0.9], [0.9, 0.9]]], dtype=F64)
    dst = src.clone()
    dst[0, 0] = torch.tensor([c + 16 / 32, c + 16 / 32])  # 8 pixels right and down
    out = reference.tps_warp(img, src, dst)
    assert out[0, 0].argmax().item() == 16 * 32 + 16


def test_tps_grid_matches_a_brute_force_solve_and_evaluation():
    g = torch.Generator().manual_seed(6)
    dst = torch.rand(1, 5, 2, generator=g, dtype=F64) * 2 - 1
    src = dst + 0.2 * torch.randn(1, 5, 2, generator=g, dtype=F64)
    lam, k, h, w = 0.05, 5, 3, 4

    def u(p, q):
        d2 = (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2
        return d2 * math.log(d2) if d2 > 0 else 0.0

    d, s = dst[0].tolist(), src[0].tolist()
    a = torch.zeros(k + 3, k + 3, dtype=F64)
    for i in range(k):
        for j in range(k):
            a[i, j] = u(d[i], d[j]) + (lam if i == j else 0.0)
        for j, v in enumerate((1.0, d[i][0], d[i][1])):
            a[i, k + j] = a[k + j, i] = v
    rhs = torch.tensor(s + [[0.0, 0.0]] * 3, dtype=F64)
    coef = torch.linalg.solve(a, rhs).tolist()
    grid = reference.tps_grid(src, dst, h, w, lam)
    for i in range(h):
        for j in range(w):
            p = ((2 * j + 1) / w - 1, (2 * i + 1) / h - 1)
            for c in range(2):
                want = coef[k][c] + coef[k + 1][c] * p[0] + coef[k + 2][c] * p[1]
                want += sum(coef[m][c] * u(p, d[m]) for m in range(k))
                assert abs(grid[0, i, j, c].item() - want) < 1e-10
