"""The compiled kernels (CPU, and CUDA where present) against the pure-PyTorch reference.

float64 forward and backward vs the reference, gradcheck of the kernel path, float32
tolerances, non-contiguous and empty inputs, and the kernels' own argument checks.
"""

from __future__ import annotations

import pytest
import torch

from impasto import ops
from impasto.ops import reference

F64 = torch.float64
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-10}, torch.float32: {"rtol": 1e-4, "atol": 2e-5}}


def _randn(*shape, device, dtype=F64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device)


def _points(b, k, device, dtype=F64, seed=0, jitter=0.15):
    g = torch.Generator().manual_seed(seed)
    dst = torch.rand(b, k, 2, generator=g, dtype=dtype) * 1.8 - 0.9
    src = dst + jitter * torch.randn(b, k, 2, generator=g, dtype=dtype)
    return src.to(device), dst.to(device)


def _compare_with_grads(kernel_fn, ref_fn, inputs, dtype=F64, grad_tol=None):
    """Forward and the gradients of a random upstream gradient agree between kernel and reference.

    ``grad_tol`` overrides the gradients' tolerance (see the float32 TPS case).
    """
    a = [t.detach().clone().requires_grad_() for t in inputs]
    b = [t.detach().clone().requires_grad_() for t in inputs]
    out_k, out_r = kernel_fn(*a), ref_fn(*b)
    torch.testing.assert_close(out_k, out_r, **TOL[dtype])
    up = _randn(*out_r.shape, device=out_r.device, dtype=dtype, seed=99)
    (out_k * up).sum().backward()
    (out_r * up).sum().backward()
    for ta, tb in zip(a, b):
        torch.testing.assert_close(ta.grad, tb.grad, **(grad_tol or TOL[dtype]))


@pytest.mark.parametrize("shape", [(1, 3, 4, 5, 4, 5), (2, 7, 3, 2, 5, 3), (1, 1, 1, 1, 1, 1), (2, 16, 5, 7, 3, 9)])
def test_correlation4d_kernel_matches_reference(device, shape):
    b, c, h, w, hg, wg = shape
    fc, fg = _randn(b, c, h, w, device=device), _randn(b, c, hg, wg, device=device, seed=1)
    _compare_with_grads(torch.ops.impasto.correlation4d, reference.correlation4d, [fc, fg])


@pytest.mark.parametrize("radius", [0, 1, 4])
@pytest.mark.parametrize("shape", [(1, 3, 5, 6), (2, 8, 7, 3), (1, 2, 1, 9)])
def test_local_correlation_kernel_matches_reference(device, shape, radius):
    fc, fg = _randn(*shape, device=device), _randn(*shape, device=device, seed=1)
    _compare_with_grads(lambda a, b: torch.ops.impasto.local_correlation(a, b, radius),
                        lambda a, b: reference.local_correlation(a, b, radius), [fc, fg])


@pytest.mark.parametrize("k", [3, 4, 7, 16])
@pytest.mark.parametrize("shape", [(1, 3, 9, 11), (2, 1, 6, 5), (2, 4, 1, 7)])
def test_tps_warp_kernel_matches_reference(device, shape, k):
    img = _randn(*shape, device=device, seed=2)
    src, dst = _points(shape[0], k, device, seed=k)
    _compare_with_grads(ops.tps_warp, reference.tps_warp, [img, src, dst])


def test_tps_warp_kernel_with_regularization_and_far_points(device):
    img = _randn(2, 3, 8, 9, device=device, seed=3)
    src, dst = _points(2, 6, device, seed=3, jitter=1.5)  # samples far outside the image too
    _compare_with_grads(lambda i, s, d: ops.tps_warp(i, s, d, regularization=0.1),
                        lambda i, s, d: reference.tps_warp(i, s, d, 0.1), [img, src, dst])


def test_float32_kernels_match_reference_within_float32_tolerance(device):
    f32 = torch.float32
    fc, fg = _randn(2, 16, 6, 7, device=device, dtype=f32), _randn(2, 16, 6, 7, device=device, dtype=f32, seed=1)
    _compare_with_grads(torch.ops.impasto.correlation4d, reference.correlation4d, [fc, fg], dtype=f32)
    _compare_with_grads(lambda a, b: torch.ops.impasto.local_correlation(a, b, 2),
                        lambda a, b: reference.local_correlation(a, b, 2), [fc, fg], dtype=f32)
    img = _randn(2, 3, 12, 10, device=device, dtype=f32)
    src, dst = _points(2, 8, device, dtype=f32)
    # The bilinear gradient w.r.t. the sample position jumps at pixel boundaries, so float32 rounding
    # of T(p) (1e-7) can move a sample across one: the point gradients get a looser (measured 7e-4) bound.
    _compare_with_grads(ops.tps_warp, reference.tps_warp, [img, src, dst], dtype=f32,
                        grad_tol={"rtol": 2e-3, "atol": 2e-3})


def test_gradcheck_kernel_paths(device):
    # nondet_tol: the CUDA TPS backward sums with atomics, so repeated backwards differ in the last bits.
    nd = {"nondet_tol": 1e-12}
    fc = _randn(1, 3, 3, 4, device=device).requires_grad_()
    fg = _randn(1, 3, 2, 3, device=device, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(torch.ops.impasto.correlation4d, (fc, fg), **nd)
    fg2 = _randn(1, 3, 3, 4, device=device, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: torch.ops.impasto.local_correlation(a, b, 1), (fc, fg2), **nd)
    img = _randn(1, 2, 5, 6, device=device).requires_grad_()
    src, dst = _points(1, 5, device)
    # linalg.solve returns column-major coefficients; the raw op wants contiguous inputs.
    coeffs = reference.tps_coefficients(src, dst, 0.0).detach().contiguous().requires_grad_()
    assert torch.autograd.gradcheck(torch.ops.impasto.tps_sample, (img, coeffs, dst.clone().requires_grad_()), **nd)
    assert torch.autograd.gradcheck(ops.tps_warp, (img, src.requires_grad_(), dst.requires_grad_()), **nd)


def test_gradcheck_reference_paths():
    fc = _randn(1, 3, 3, 4, device="cpu").requires_grad_()
    fg = _randn(1, 3, 3, 4, device="cpu", seed=1).requires_grad_()
    assert torch.autograd.gradcheck(reference.correlation4d, (fc, fg))
    assert torch.autograd.gradcheck(lambda a, b: reference.local_correlation(a, b, 1), (fc, fg))
    img = _randn(1, 2, 5, 6, device="cpu").requires_grad_()
    src, dst = _points(1, 4, "cpu")
    assert torch.autograd.gradcheck(reference.tps_warp, (img, src.requires_grad_(), dst.requires_grad_()))


def test_public_face_runs_the_kernel(device):
    """impasto.ops dispatches to torch.ops.impasto.* when built (the autograd node says so)."""
    fc = _randn(1, 2, 3, 3, device=device).requires_grad_()
    assert ops.correlation4d(fc, fc).grad_fn.name().endswith("::Correlation4dFunction>")
    assert ops.local_correlation(fc, fc, 1).grad_fn.name().endswith("::LocalCorrelationFunction>")
    src, dst = _points(1, 4, device)
    assert ops.tps_warp(fc, src, dst).grad_fn.name().endswith("::TpsSampleFunction>")


def test_non_contiguous_inputs_are_made_contiguous_by_the_face(device):
    fc = _randn(1, 6, 4, 5, device=device).transpose(2, 3)  # 1x6x5x4
    fg = _randn(1, 12, 5, 4, device=device, seed=1)[:, ::2]  # 1x6x5x4, every other channel
    assert not fc.is_contiguous() and not fg.is_contiguous()
    torch.testing.assert_close(ops.correlation4d(fc, fg), reference.correlation4d(fc.contiguous(), fg.contiguous()))
    torch.testing.assert_close(ops.local_correlation(fc, fg, 1), reference.local_correlation(fc, fg, 1))
    img = _randn(1, 5, 3, 8, device=device).permute(0, 2, 1, 3)  # 1x3x5x8
    src, dst = _points(1, 5, device)
    src_nc = torch.stack([src[..., 0], src[..., 1]], dim=1).transpose(1, 2)  # 1x5x2 with strides (10, 1, 5)
    assert not img.is_contiguous() and not src_nc.is_contiguous()
    torch.testing.assert_close(ops.tps_warp(img, src_nc, dst), reference.tps_warp(img.contiguous(), src, dst))


def test_kernels_reject_non_contiguous_inputs_with_a_clear_message(device):
    fc = _randn(1, 3, 4, 5, device=device).transpose(2, 3)
    with pytest.raises(RuntimeError, match=r"correlation4d: expected fc contiguous \(call .contiguous\(\)\)"):
        torch.ops.impasto.correlation4d(fc, fc.contiguous())
    img = _randn(1, 2, 4, 4, device=device).transpose(2, 3)
    src, dst = _points(1, 4, device)
    with pytest.raises(RuntimeError, match="tps_sample: expected image contiguous"):
        torch.ops.impasto.tps_sample(img, reference.tps_coefficients(src, dst, 0.0), dst)


@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0), (2, 0, 4, 5)])
def test_empty_inputs_give_empty_outputs(device, shape):
    fc = torch.zeros(shape, dtype=F64, device=device, requires_grad=True)
    out = ops.correlation4d(fc, fc)
    assert out.shape == (shape[0], shape[2], shape[3], shape[2], shape[3])
    out.sum().backward()
    assert fc.grad.shape == fc.shape
    local = ops.local_correlation(fc, fc, 2)
    assert local.shape == (shape[0], 25, shape[2], shape[3])
    src, dst = _points(shape[0], 4, device)
    warped = ops.tps_warp(fc, src, dst)
    assert warped.shape == fc.shape
    assert ops.tps_grid(src, dst, shape[2], shape[3]).shape == (shape[0], shape[2], shape[3], 2)


def test_kernel_argument_checks_name_expected_and_got(ext):
    x = torch.zeros(1, 2, 3, 3)
    with pytest.raises(RuntimeError, match="correlation4d: expected fg with the dtype of fc"):
        torch.ops.impasto.correlation4d(x, x.double())
    with pytest.raises(RuntimeError, match=r"expected fc as float32 or float64, got Half"):
        torch.ops.impasto.correlation4d(x.half(), x.half())
    with pytest.raises(RuntimeError, match=r"expected fc of rank 4 \(BxCxHxW\), got shape \[2, 3, 3\]"):
        torch.ops.impasto.local_correlation(x[0], x[0], 1)
    with pytest.raises(RuntimeError, match="local_correlation: expected radius >= 0, got -1"):
        torch.ops.impasto.local_correlation(x, x, -1)
    with pytest.raises(RuntimeError, match=r"expected coeffs of shape 1x6x2, got \[1, 5, 2\]"):
        torch.ops.impasto.tps_sample(x, torch.zeros(1, 5, 2), torch.zeros(1, 3, 2))
    with pytest.raises(RuntimeError, match=r"expected dst_points of shape 1xKx2 with K >= 3, got \[1, 2, 2\]"):
        torch.ops.impasto.tps_sample(x, torch.zeros(1, 5, 2), torch.zeros(1, 2, 2))


def test_double_backward_through_a_kernel_is_refused(ext):
    fc = _randn(1, 2, 3, 3, device="cpu").requires_grad_()
    img = _randn(1, 2, 4, 4, device="cpu").requires_grad_()
    src, dst = _points(1, 4, "cpu")
    for out in (ops.correlation4d(fc, fc), ops.local_correlation(fc, fc, 1), ops.tps_warp(img, src, dst)):
        with pytest.raises(RuntimeError, match=r"double backward \(create_graph=True\) is not implemented"):
            torch.autograd.grad(out.sum(), [fc, img], create_graph=True, allow_unused=True)
