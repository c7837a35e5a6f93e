"""MT-Net export: one graph, three outputs, parity at an even and an odd size, metadata, refusals."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from impasto.errors import ExportError, ModelError, UserError  # noqa: E402
from impasto.export import export_checkpoint  # noqa: E402
from impasto.export.methods import multimodal  # noqa: E402
from impasto.export.pipeline import load  # noqa: E402
from impasto.models.checkpoint import save_checkpoint  # noqa: E402
from impasto.models.multimodal import (  # noqa: E402
    OUTPUT_NAMES,
    ClampedMultimodal,
    MultimodalConfig,
    MultimodalNet,
    level_sizes,
)

TINY = MultimodalConfig(style_width=4, enhance_width=4, refine_width=4, style_residual=1, enhance_residual=1,
                        refine_residual=1)
SIZES = ((48, 64), (37, 53))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = MultimodalNet(TINY)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim == 1:  # instance-norm affine and biases: away from their identity init
                p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path_factory.mktemp("mt") / "tiny_mt.pt"
    save_checkpoint(path, {"method": "multimodal", "model": {"arch": "MultimodalNet", "config": TINY.to_dict()},
                           "state_dict": net.state_dict(), "optimizer": {}, "iteration": 0,
                           "train_config": {"style": "starry.jpg", "size": 1024},
                           "card": {"command": "test fixture", "style_name": "tiny_mt"}})
    return path, net.eval()


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny_mt.onnx"
    report = export_checkpoint(checkpoint[0], out, parity_sizes=SIZES)
    return out, report


def test_report_has_every_output_within_fp32_bound(exported):
    out, report = exported
    assert out.is_file() and report["precision"] == "fp32" and report["outputs"] == list(OUTPUT_NAMES)
    rows = report["parity"]
    assert [(tuple(r["size"]), r["output"]) for r in rows] == [(s, n) for s in SIZES for n in OUTPUT_NAMES]
    # each row's bound: 1e-4, or 4x the float32 noise measured against float64 where that is larger; the errors
    # within it are the exporter's own gate: test_onnx_matches_torch_at_another_odd_size_and_batch checks them
    assert all(r["bound"] == max(1e-4, 4 * r["fp32_noise"]) for r in rows)
    assert report["tolerance"]["max_abs_error"] == 1e-4
    assert [tuple(r["shape"]) for r in rows[3:]] == list(level_sizes(37, 53))


def test_graph_io_and_metadata(exported):
    model = onnx.load(exported[0])
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == list(OUTPUT_NAMES)
    dims = [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output]
    assert dims == [["batch", 3, "height_4", "width_4"], ["batch", 3, "height_2", "width_2"],
                    ["batch", 3, "height", "width"]]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["impasto.method"] == "multimodal" and meta["impasto.kind"] == "multiscale"
    layout = json.loads(meta["impasto.multiscale"])
    assert [o["scale"] for o in layout["outputs"]] == [256, 512, 1024] and layout["default"] == "stylized_1024"
    assert layout["min_side"] == 17 and layout["trained_side"] == 1024
    assert json.loads(meta["impasto.parity"])["results"] == exported[1]["parity"]
    assert meta["impasto.style_name"] == "tiny_mt"


def test_onnx_matches_torch_at_another_odd_size_and_batch(exported, checkpoint):
    sess = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(5).random((2, 3, 61, 29), dtype=np.float32)
    got = sess.run(None, {"image": x})
    with torch.no_grad():
        ref = ClampedMultimodal(checkpoint[1])(torch.from_numpy(x))
        ref64 = ClampedMultimodal(copy.deepcopy(checkpoint[1]).double())(torch.from_numpy(x).double())
    for g, r, r64, (h, w) in zip(got, ref, ref64, level_sizes(61, 29)):
        assert g.shape == (2, 3, h, w)
        noise = float((r.double() - r64).abs().max())
        assert np.abs(g - r.numpy()).max() <= max(1e-4, 4 * noise)


def test_failed_parity_writes_nothing(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(multimodal, "NOISE_FACTOR", 0.0)  # bound 0: only a bit-exact graph would pass
    out = tmp_path / "never.onnx"
    with pytest.raises(ExportError, match="parity check against PyTorch failed.*no file was written"):
        export_checkpoint(checkpoint[0], out, parity_sizes=((37, 53),), atol=0.0)
    assert list(tmp_path.iterdir()) == []


def test_refusals(checkpoint, tiny_checkpoint, tmp_path):
    with pytest.raises(UserError, match="ending in .onnx"):
        export_checkpoint(checkpoint[0], tmp_path / "m.txt", method="multimodal")
    with pytest.raises(UserError, match="--opset"):
        export_checkpoint(checkpoint[0], tmp_path / "m.onnx", method="multimodal", opset=17)
    with pytest.raises(UserError, match="parity sizes"):
        export_checkpoint(checkpoint[0], tmp_path / "m.onnx", method="multimodal", parity_sizes=((8, 64),))
    with pytest.raises(ModelError, match="expected method 'multimodal'"):
        export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", method="multimodal")
    assert load(checkpoint[0])[1].method == "multimodal" and load(tiny_checkpoint)[1].method == "feedforward"
    with pytest.raises(ModelError, match="no such file"):
        load(tmp_path / "missing.pt")
    assert list(tmp_path.iterdir()) == []
