"""Feed-forward export through the pipeline: graph convention, metadata, parity gate, dynamic shapes, fp16, CLI.

The dynamo export itself takes ~10 s on a small CPU, so it runs once (``exported``);
tests of the later stages (fp16 conversion, parity failure, CLI) replay that recorded
graph through ``cached_export``, which replaces only the ``torch.onnx.export`` step.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import impasto
from impasto.cli.main import main
from impasto.errors import ExportError, ModelError, UserError
from impasto.export import export_checkpoint, parity, pipeline
from impasto.models.checkpoint import load_checkpoint, save_checkpoint
from impasto.models.registry import build_from_checkpoint
from impasto.models.transformer import ClampedOutput, TransformerConfig, TransformerNet

SIZES = ((128, 128), (201, 317), (384, 256))
META_KEYS = ("impasto.version", "impasto.method", "impasto.style_name", "impasto.input", "impasto.output",
             "impasto.card", "impasto.parity", "impasto.precision", "impasto.source_sha256", "impasto.description")
JSON_KEYS = ("impasto.input", "impasto.output", "impasto.card", "impasto.parity")
CARD = {"command": "impasto train feedforward --style starry_night.jpg --data photos -o tiny.pt",
        "style_image": "starry_night.jpg", "style_name": "starry_night", "data": "photos/ (8 images)",
        "iterations": 3, "batch": 2, "hardware": "CPU x86_64 x2", "seconds": 1.5,
        "final_losses": {"content": 1.0, "style": 2.0, "tv": 0.1, "total": 3.1}}


def _make_checkpoint(path: Path) -> None:
    torch.manual_seed(1234)
    net = TransformerNet(TransformerConfig(width=8, n_residual=1))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):  # non-default affine parameters
                m.weight.normal_(1.0, 0.1)
                m.bias.normal_(0.0, 0.1)
        net.out[1].bias.add_(0.5)  # centre the output so most pixels are not clamped
    save_checkpoint(path, {"method": "feedforward",
                           "model": {"arch": "TransformerNet", "config": net.config.to_dict()},
                           "state_dict": net.state_dict(), "optimizer": {}, "iteration": 3,
                           "train_config": {"style": "art/starry_night.jpg", "data": "photos", "iters": 3},
                           "card": CARD})


def _reference(ckpt_path: Path) -> torch.nn.Module:
    return ClampedOutput(build_from_checkpoint(load_checkpoint(ckpt_path), method="feedforward")).eval()


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["stylized"], {"image": x})[0]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    _make_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def exported(ckpt, tmp_path_factory) -> SimpleNamespace:
    """One real fp32 export (dynamo, opset 18); its raw graph is recorded for replay."""
    graphs: dict[int, tuple[bytes, str]] = {}
    real = pipeline.torch_export

    def recording(plan, opset):
        model, exporter = real(plan, opset)
        graphs[opset] = (model.SerializeToString(), exporter)
        return model, exporter

    out = tmp_path_factory.mktemp("fp32") / "tiny.onnx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "torch_export", recording)
        report = export_checkpoint(ckpt, out)
    return SimpleNamespace(report=report, path=out, graphs=graphs)


@pytest.fixture
def cached_export(exported, monkeypatch) -> None:
    data, exporter = exported.graphs[18]
    monkeypatch.setattr(pipeline, "torch_export", lambda plan, opset: (onnx.load_from_string(data), exporter))


def test_fp32_export_report(exported):
    """The report; the parity rows' errors are the exporter's own gate, so test_dynamic_shapes_unseen_sizes checks."""
    r = exported.report
    assert r["output"] == str(exported.path) and exported.path.is_file()
    assert (r["opset"], r["precision"], r["exporter"], r["style_name"]) == (18, "fp32", "dynamo", "starry_night")
    assert r["onnx_bytes"] == exported.path.stat().st_size
    assert [tuple(p["size"]) for p in r["parity"]] == list(SIZES)
    assert any(h % 2 and w % 2 for h, w in SIZES)
    assert sorted(os.listdir(exported.path.parent)) == ["tiny.onnx"]  # no temporary files left


def test_parity_is_not_vacuous(ckpt):
    """The test network's output is mostly inside (0, 1), so the clamp does not hide errors."""
    y = _reference(ckpt)(torch.rand(1, 3, 64, 64)).detach().numpy()
    assert np.mean((y > 0) & (y < 1)) > 0.5


def test_graph_convention_and_checker(exported):
    model = onnx.load(str(exported.path))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import}.get("", 0) == 18
    for values, name in ((model.graph.input, "image"), (model.graph.output, "stylized")):
        assert [v.name for v in values] == [name]
        t = values[0].type.tensor_type
        assert t.elem_type == onnx.TensorProto.FLOAT
        assert [d.dim_param or d.dim_value for d in t.shape.dim] == ["batch", 3, "height", "width"]
    assert model.producer_name == "impasto"
    assert model.doc_string.startswith("starry_night — feed-forward TransformerNet (width 8, 1 residual block")


def test_metadata(exported, ckpt):
    model = onnx.load(str(exported.path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(META_KEYS) <= set(meta)
    assert all(isinstance(v, str) for v in meta.values())
    parsed = {k: json.loads(meta[k]) for k in JSON_KEYS}
    for key, name in (("impasto.input", "image"), ("impasto.output", "stylized")):
        spec = parsed[key]
        assert (spec["name"], spec["layout"], spec["dtype"], spec["range"], spec["color"]) == (
            name, "NCHW", "float32", [0, 1], "RGB")
    assert parsed["impasto.card"] == CARD
    assert parsed["impasto.parity"]["results"] == exported.report["parity"]
    assert meta["impasto.version"] == impasto.__version__
    assert meta["impasto.method"] == "feedforward"
    assert meta["impasto.style_name"] == "starry_night"
    assert meta["impasto.precision"] == "fp32"
    assert meta["impasto.source_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert "\n" not in meta["impasto.description"] and "width 8" in meta["impasto.description"]
    # the torch-free runtime reads the same metadata
    sess = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    assert sess.get_modelmeta().custom_metadata_map["impasto.style_name"] == "starry_night"


@pytest.mark.parametrize("shape", [(2, 3, 37, 53), (1, 3, 64, 48), (1, 3, 5, 7)])
def test_dynamic_shapes_unseen_sizes(exported, ckpt, shape):
    x = np.random.default_rng(7).random(shape, dtype=np.float32)
    got = _run(exported.path, x)
    with torch.no_grad():
        ref = _reference(ckpt)(torch.from_numpy(x)).numpy()
    assert got.shape == shape
    assert np.abs(got - ref).max() <= 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_fp16_export_within_bound(cached_export, ckpt, tmp_path):
    out = tmp_path / "tiny16.onnx"
    r = export_checkpoint(ckpt, out, fp16=True)
    assert r["precision"] == "fp16"
    assert r["tolerance"] == {"max_abs_error": 2e-2, "min_psnr_db": 40.0}  # the rows meet it: the exporter's gate
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert {p.key: p.value for p in model.metadata_props}["impasto.precision"] == "fp16"
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # I/O stays float32
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    x = np.random.default_rng(3).random((2, 3, 37, 53), dtype=np.float32)
    got = _run(out, x)
    with torch.no_grad():
        ref = _reference(ckpt)(torch.from_numpy(x)).numpy()
    assert got.dtype == np.float32 and got.shape == x.shape
    assert np.abs(got - ref).max() <= 2e-2


def test_opset17_uses_torchscript_and_stays_dynamic(ckpt, tmp_path):
    out = tmp_path / "tiny17.onnx"
    r = export_checkpoint(ckpt, out, opset=17, parity_sizes=((33, 45),))
    assert (r["opset"], r["exporter"]) == (17, "torchscript")
    model = onnx.load(str(out))
    assert {o.domain: o.version for o in model.opset_import}.get("", 0) == 17
    x = np.random.default_rng(5).random((2, 3, 37, 53), dtype=np.float32)
    with torch.no_grad():
        ref = _reference(ckpt)(torch.from_numpy(x)).numpy()
    assert np.abs(_run(out, x) - ref).max() <= 1e-4


def test_broken_parity_raises_and_writes_nothing(cached_export, ckpt, tmp_path, monkeypatch, capsys):
    real = parity.torch_outputs

    def shifted(module, feed, names):  # a PyTorch reference 0.05 away from the graph's output
        return [r + 0.05 for r in real(module, feed, names)]

    monkeypatch.setattr(parity, "torch_outputs", shifted)
    out = tmp_path / "sub" / "broken.onnx"
    with pytest.raises(ExportError, match="parity check"):
        export_checkpoint(ckpt, out)
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    # the CLI reports it on one line and exits 1
    assert main(["export", str(ckpt), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("impasto: error:") and err.count("\n") == 1 and "parity" in err
    assert not out.exists()


def test_bad_inputs(ckpt, tmp_path):
    with pytest.raises(ModelError, match="no such file") as exc:
        export_checkpoint(tmp_path / "missing.pt", tmp_path / "m.onnx")
    assert "\n" not in str(exc.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="junk.pt") as exc:
        export_checkpoint(junk, tmp_path / "m.onnx")
    assert "\n" not in str(exc.value)
    with pytest.raises(UserError, match=r"\.onnx"):
        export_checkpoint(ckpt, tmp_path / "model.pt")
    with pytest.raises(UserError, match="opset"):
        export_checkpoint(ckpt, tmp_path / "m.onnx", opset=16)
    with pytest.raises(UserError, match="tolerance"):
        export_checkpoint(ckpt, tmp_path / "m.onnx", atol=-1.0)
    assert not list(tmp_path.glob("*.onnx"))


def test_cli_json(cached_export, ckpt, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", str(ckpt), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and out.is_file()
    assert {"output", "opset", "precision", "exporter", "parity", "seconds", "onnx_bytes", "style_name"} <= set(report)
    x = np.random.default_rng(9).random((1, 3, 45, 61), dtype=np.float32)  # a size the exporter did not use
    with torch.no_grad():
        ref = _reference(ckpt)(torch.from_numpy(x)).numpy()
    assert np.abs(_run(out, x) - ref).max() <= 1e-4


def test_cli_human(cached_export, ckpt, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", str(ckpt), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert str(out) in text and "PSNR" in text and "201x317" in text and "max abs err" in text


def test_cli_missing_checkpoint(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("impasto: error:") and err.count("\n") == 1
    assert f"checkpoint: expected a file, got {str(tmp_path / 'nope.pt')!r} (no such file)" in err
    assert not (tmp_path / "m.onnx").exists()

