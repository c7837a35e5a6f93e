"""Warp-network export: one ONNX graph (MatMul correlation, GridSample warps), parity with PyTorch, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from support import small_warpnet

from impasto.errors import ExportError, ModelError, UserError
from impasto.export import export_checkpoint, export_plan
from impasto.export.methods.warpnet import network_plan
from impasto.export.parity import smooth_image
from impasto.models.warpnet import WarpNet, WarpNetConfig


def small_net() -> WarpNet:
    return small_warpnet()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("wn") / "warpnet.onnx"
    report = export_plan(network_plan(small_net(), [{"file": "x.pt", "sha256": "0" * 64}], {"iterations": 3}), out)
    return out, report


def test_export_passes_parity_at_two_sizes(exported):
    out, report = exported
    assert out.is_file() and report["opset"] == 18
    sizes = {tuple(r["size"]) for r in report["parity"]}
    assert sizes == {(96, 128), (75, 53)}
    assert {r["output"] for r in report["parity"]} == {"field", "warped"}  # errors: see test_runs_at_a_new_size_*
    assert any(r["guide_size"] != r["size"] for r in report["parity"])


def test_graph_has_matmul_correlation_gridsample_and_metadata(exported):
    out, report = exported
    model = onnx.load(out)
    ops = {n.op_type for n in model.graph.node}
    assert {"MatMul", "GridSample"} <= ops
    assert not any(n.domain not in ("", "ai.onnx") for n in model.graph.node)  # no custom ops
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["impasto.method"] == "warpnet"
    settings = json.loads(meta["impasto.warpnet"])
    assert settings["size"] == 64 and settings["steps"] == 3
    assert json.loads(meta["impasto.parity"])["results"] == report["parity"]
    assert [i.name for i in model.graph.input] == ["content", "guide"]
    assert [o.name for o in model.graph.output] == ["field", "warped"]


def test_runs_at_a_new_size_like_pytorch(exported):
    import onnxruntime as ort

    out, _ = exported
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)  # smooth images: warped-image error = field error x image gradient
    c, g = smooth_image(rng, 41, 67), smooth_image(rng, 64, 64)
    field, warped = sess.run(None, {"content": c, "guide": g})
    with torch.no_grad():
        ref_f, ref_w = small_net()(torch.from_numpy(c), torch.from_numpy(g))
    assert np.abs(field - ref_f.numpy()).max() <= 1e-3 and np.abs(warped - ref_w.numpy()).max() <= 1e-3
    assert np.abs(field).max() > 1e-3  # the warp is not the identity


def test_failed_parity_writes_nothing(tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="parity"):
        export_plan(network_plan(small_net()), out, atol=0.0)
    assert list(tmp_path.iterdir()) == []


def test_refusals(tmp_path):
    with pytest.raises(UserError, match="opset"):
        export_plan(network_plan(small_net()), tmp_path / "x.onnx", opset=20)
    with pytest.raises(UserError, match=".onnx"):
        export_plan(network_plan(small_net()), tmp_path / "x.pt")
    with pytest.raises(ModelError, match="no such file"):
        export_checkpoint(tmp_path / "missing.pt", tmp_path / "x.onnx", method="warpnet")


def test_cli_exports_a_checkpoint_with_the_vgg16_encoder(vgg_weights, tmp_path, capsys):
    """``impasto export warpnet CKPT``: the head from the checkpoint, the encoder from the VGG16 weights."""
    from impasto.cli.main import main
    from impasto.models.checkpoint import save_checkpoint
    from impasto.models.warpnet import build_warpnet

    torch.manual_seed(0)
    net = build_warpnet(WarpNetConfig(size=64, hidden=16), vgg_weights)
    ckpt = tmp_path / "w.pt"
    save_checkpoint(ckpt, {"method": "warpnet", "model": {"arch": "WarpNet", "config": net.config.to_dict()},
                           "state_dict": net.head.state_dict(), "optimizer": {}, "iteration": 1, "train_config": {},
                           "card": {"iterations": 1}})
    out = tmp_path / "w.onnx"
    assert main(["export", "warpnet", str(ckpt), "-o", str(out), "--json", "--vgg-weights", vgg_weights]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "warpnet" and report["output"] == str(out) and out.is_file()
    _assert_graph_matches_checkpoint(out, ckpt, vgg_weights)
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert set(json.loads(meta["impasto.source_sha256"])) == {"w.pt", Path(vgg_weights).name}
    assert json.loads(meta["impasto.card"]) == {"iterations": 1}


def _assert_graph_matches_checkpoint(graph: Path, ckpt: Path, vgg_weights: str) -> None:
    """ONNX Runtime against the checkpoint's network rebuilt in PyTorch, at sizes the exporter did not use."""
    import onnxruntime as ort

    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    net = build_from_checkpoint(load_checkpoint(ckpt), method="warpnet", vgg_weights=vgg_weights)
    rng = np.random.default_rng(8)
    c, g = smooth_image(rng, 57, 83), smooth_image(rng, 70, 48)
    field, warped = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(
        None, {"content": c, "guide": g})
    with torch.no_grad():
        ref_f, ref_w = net(torch.from_numpy(c), torch.from_numpy(g))
    assert np.abs(field - ref_f.numpy()).max() <= 1e-3 and np.abs(warped - ref_w.numpy()).max() <= 1e-3
