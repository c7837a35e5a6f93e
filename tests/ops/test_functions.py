"""The public faces: input validation, the not-built fallback, window_softmax, the export-safe solve."""

from __future__ import annotations

import logging

import pytest
import torch

from impasto import ops
from impasto.errors import BackendUnavailableError, UserError
from impasto.ops import extension, reference
from impasto.ops.validate import OpInputError

F64 = torch.float64


def _feat(*shape, dtype=F64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _pts(b, k, dtype=F64):
    return torch.rand(b, k, 2, generator=torch.Generator().manual_seed(k), dtype=dtype) * 2 - 1


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ops.correlation4d(_feat(2, 3, 4), _feat(2, 3, 4, 4)), r"expected fc of rank 4 \(BxCxHxW\), got shape"),
    (lambda: ops.correlation4d(_feat(1, 3, 4, 4), _feat(1, 3, 4, 4, dtype=torch.float32)),
     r"expected fg with the dtype of fc \(torch.float64\), got torch.float32"),
    (lambda: ops.correlation4d(_feat(1, 3, 4, 4), _feat(1, 2, 4, 4)), r"expected fg of shape \(1, 3\) x Hg x Wg"),
    (lambda: ops.correlation4d(_feat(1, 3, 4, 4).half(), _feat(1, 3, 4, 4).half()),
     "expected fc as float32 or float64, got torch.float16"),
    (lambda: ops.correlation4d(_feat(1, 3, 4, 4), torch.zeros(1, 3, 4, 4, dtype=F64, device="meta")),
     r"expected fg on the device of fc \(cpu\), got meta"),
    (lambda: ops.local_correlation(_feat(1, 3, 4, 4), _feat(1, 3, 4, 5), 1), "expected fg of the shape of fc"),
    (lambda: ops.local_correlation(_feat(1, 3, 4, 4), _feat(1, 3, 4, 4), -1),
     "expected radius as an integer >= 0, got -1"),
    (lambda: ops.local_correlation(_feat(1, 3, 4, 4), _feat(1, 3, 4, 4), 1.5), "got 1.5"),
    (lambda: ops.tps_warp(_feat(1, 3, 4, 4), _pts(1, 2), _pts(1, 2)),
     r"expected src_points of shape BxKx2 with B=1 and K >= 3, got \(1, 2, 2\)"),
    (lambda: ops.tps_warp(_feat(2, 3, 4, 4), _pts(1, 4), _pts(1, 4)), "with B=2"),
    (lambda: ops.tps_warp(_feat(1, 3, 4, 4), _pts(1, 4), _pts(1, 5)),
     r"expected dst_points of the shape of src_points \(1, 4, 2\), got \(1, 5, 2\)"),
    (lambda: ops.tps_warp(_feat(1, 3, 4, 4), _pts(1, 4, torch.float32), _pts(1, 4, torch.float32)),
     "expected src_points as torch.float64 on cpu like image, got torch.float32 on cpu"),
    (lambda: ops.tps_warp(_feat(1, 3, 4, 4), _pts(1, 4), _pts(1, 4), regularization=-1.0),
     "expected regularization as a finite number >= 0, got -1.0"),
    (lambda: ops.tps_grid(_pts(1, 4), _pts(1, 4), 0.5, 4), "expected height as an integer >= 0, got 0.5"),
    (lambda: ops.window_softmax(_feat(1, 8, 3, 3)), r"expected \(2r\+1\)\^2 window channels in dim 1, got 8"),
    (lambda: ops.window_softmax(_feat(1, 9, 3, 3), temperature=0.0), "expected temperature as a finite number > 0"),
    (lambda: ops.correlation4d("features", _feat(1, 3, 4, 4)), "expected fc as a BxCxHxW tensor, got str"),
])
def test_bad_inputs_raise_one_typed_error_naming_expected_and_got(call, message):
    with pytest.raises(OpInputError, match=message) as info:
        call()
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)


def test_window_softmax_is_a_softmax_over_the_window():
    corr = reference.local_correlation(_feat(2, 4, 5, 5), _feat(2, 4, 5, 5), 1)
    p = ops.window_softmax(corr, temperature=0.2)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(2, 5, 5, dtype=F64))
    torch.testing.assert_close(p, torch.softmax(corr / 0.2, dim=1))
    assert torch.equal(p.argmax(dim=1), corr.argmax(dim=1))


def test_grid_sample_of_tps_grid_equals_tps_warp():
    img = _feat(2, 3, 10, 12)
    src, dst = _pts(2, 6), _pts(2, 6) * 0.9
    grid = ops.tps_grid(src, dst, 10, 12, regularization=0.05)
    want = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    torch.testing.assert_close(ops.tps_warp(img, src, dst, regularization=0.05), want)


@pytest.mark.parametrize("k", [3, 8, 16])
def test_unrolled_solve_matches_linalg_solve_on_tps_systems(k):
    dst = _pts(3, k)
    a = reference.tps_system(dst, 0.0)  # zero diagonal block: needs the pivoting
    b = _feat(3, k + 3, 2)
    torch.testing.assert_close(reference.solve_unrolled(a, b), torch.linalg.solve(a, b), rtol=1e-10, atol=1e-10)


def test_without_the_extension_the_reference_runs_and_it_is_logged_once(monkeypatch, caplog):
    monkeypatch.setattr(extension, "_load", lambda: (False, "impasto._C is not built (test)"))
    monkeypatch.delenv(extension.REQUIRE_ENV, raising=False)
    extension._log_fallback_once.cache_clear()
    fc = _feat(1, 3, 4, 4).requires_grad_()
    with caplog.at_level(logging.WARNING, logger="impasto.ops"):
        out = ops.correlation4d(fc, fc)
        ops.local_correlation(fc, fc, 1)
    assert out.grad_fn.name() == "ViewBackward0"  # reference autograd, not the kernel's node
    torch.testing.assert_close(out, reference.correlation4d(fc, fc))
    assert [r.getMessage() for r in caplog.records].count(
        "impasto.ops: using the pure-PyTorch reference ops: impasto._C is not built (test)") == 1
    extension._log_fallback_once.cache_clear()


def test_require_ext_turns_a_missing_extension_into_an_error(monkeypatch):
    monkeypatch.setattr(extension, "_load", lambda: (False, "impasto._C is not built (test)"))
    monkeypatch.setenv(extension.REQUIRE_ENV, "1")
    with pytest.raises(BackendUnavailableError, match="expected the compiled ops extension, got none"):
        ops.correlation4d(_feat(1, 3, 4, 4), _feat(1, 3, 4, 4))
