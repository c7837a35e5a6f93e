"""The reference path exported to ONNX (opset 18) and run under ONNX Runtime against PyTorch.

The public faces are exported: while tracing they take the reference (correlation as MatMul,
tps_grid + grid_sample, the TPS solve unrolled into Gauss-Jordan steps).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from impasto import ops
from impasto.ops import reference

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

OPSET = 18


class _Correlations(torch.nn.Module):
    def forward(self, fc: torch.Tensor, fg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ops.correlation4d(fc, fg), ops.window_softmax(ops.local_correlation(fc, fg, 2), temperature=0.1)


class _Warp(torch.nn.Module):
    def forward(self, image: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = ops.tps_grid(src, dst, image.shape[2], image.shape[3], regularization=0.01)
        return ops.tps_warp(image, src, dst), grid


def _run_onnx(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, args, dynamo=True, opset_version=OPSET, verbose=False)
    proto = program.model_proto
    assert proto.opset_import[0].version == OPSET
    ops_used = {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)}
    return ops_used, sess.run(None, feeds)


def test_correlations_export_to_onnx_and_match_torch():
    g = torch.Generator().manual_seed(0)
    fc, fg = torch.randn(2, 8, 5, 6, generator=g), torch.randn(2, 8, 5, 6, generator=g)
    ops_used, (dense, prob) = _run_onnx(_Correlations(), (fc, fg))
    assert "MatMul" in ops_used
    np.testing.assert_allclose(dense, reference.correlation4d(fc, fg).numpy(), rtol=1e-5, atol=1e-5)
    want = reference.window_softmax(reference.local_correlation(fc, fg, 2), 0.1).numpy()
    np.testing.assert_allclose(prob, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)


def test_tps_warp_exports_to_onnx_and_matches_torch():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 24, 20, generator=g)
    dst = torch.rand(2, 6, 2, generator=g) * 1.8 - 0.9
    src = dst + 0.1 * torch.randn(2, 6, 2, generator=g)
    ops_used, (warped, grid) = _run_onnx(_Warp(), (image, src, dst))
    assert "GridSample" in ops_used and "ArgMax" in ops_used  # the unrolled, pivoted solve
    np.testing.assert_allclose(grid, reference.tps_grid(src, dst, 24, 20, 0.01).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(warped, ops.tps_warp(image, src, dst).numpy(), rtol=1e-4, atol=1e-4)
