"""Style-bank export: conditioning as graph inputs, parity for random α and mixtures, refusals.

One export of a small random bank (module fixture, ~10 s); the other tests reuse it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from impasto.cli.main import main
from impasto.contracts import BANK_INPUTS as INPUT_NAMES
from impasto.errors import ExportError, ModelError
from impasto.export import export_checkpoint
from impasto.export.methods.bank import parity_conditions
from impasto.models.checkpoint import save_checkpoint
from impasto.models.style_bank import ClampedBank, StyleBankConfig, StyleBankNet

NAMES = ["alpha", "beta", "gamma"]


def _make_bank_checkpoint(path: Path, upsample: str = "bilinear") -> StyleBankNet:
    torch.manual_seed(7)
    net = StyleBankNet(StyleBankConfig(n_styles=3, widths=(4, 8), n_residual=1, hidden=4, upsample=upsample))
    with torch.no_grad():
        net.cond.A.normal_(0.0, 0.3)
        net.cond.b.add_(torch.randn_like(net.cond.b) * 0.3)
        net.out.conv.bias.add_(0.5)  # most pixels unclamped
    save_checkpoint(path, {"method": "bank", "model": {"arch": "StyleBankNet", "config": net.config.to_dict()},
                           "style_names": NAMES, "style_files": [f"{n}.jpg" for n in NAMES],
                           "state_dict": net.state_dict(), "optimizer": {}, "iteration": 2,
                           "train_config": {}, "card": {"command": "impasto train bank (test)", "iterations": 2}})
    return net.eval()


@pytest.fixture(scope="module", params=["bilinear", "nearest"])
def exported(tmp_path_factory, request):
    d = tmp_path_factory.mktemp("bank")
    net = _make_bank_checkpoint(d / "bank.pt", request.param)
    report = export_checkpoint(d / "bank.pt", d / "bank.onnx", parity_sizes=((64, 64), (37, 53)))
    return d, net, report


def _feed(x, w, ac, as_):
    return dict(zip(INPUT_NAMES, (x, np.asarray(w, np.float32), np.asarray(ac, np.float32),
                                  np.asarray(as_, np.float32)), strict=True))


def test_graph_takes_the_conditioning_as_inputs(exported):
    d, _, report = exported
    model = onnx.load(d / "bank.onnx")
    assert [i.name for i in model.graph.input] == list(INPUT_NAMES)
    dims = [[x.dim_param or x.dim_value for x in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims == [["batch", 3, "height", "width"], [3], [1], [4]]
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 18
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["impasto.method"] == "bank"
    assert json.loads(meta["impasto.styles"]) == [{"name": n, "source": f"{n}.jpg"} for n in NAMES]
    assert json.loads(meta["impasto.style_layers"]) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    assert json.loads(meta["impasto.content_layers"]) == ["relu2_2"]
    assert report["styles"] == NAMES


def test_parity_covers_random_alpha_and_mixtures_at_two_sizes(exported):
    _, _, report = exported
    sizes = {tuple(r["size"]) for r in report["parity"]}
    assert sizes == {(64, 64), (37, 53)}
    assert len(report["parity"]) == 2 * 3  # their errors: the exporter's gate; test_onnx_matches_torch_* checks
    w, ac, as_ = parity_conditions(3, 1, 4)[1]
    assert np.count_nonzero(w) == 3 and abs(w.sum() - 1) < 1e-6 and not np.allclose(as_, 1)


@pytest.mark.parametrize("size", [(31, 45), (96, 80)])
def test_onnx_matches_torch_for_new_random_conditioning(exported, size):
    d, net, _ = exported
    sess = ort.InferenceSession(str(d / "bank.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.random((1, 3, *size), dtype=np.float32)
        feed = _feed(x, rng.dirichlet(np.ones(3)), rng.uniform(0, 3, 1), rng.uniform(0, 3, 4))
        got = sess.run(["stylized"], feed)[0]
        with torch.no_grad():
            ref = ClampedBank(net)(*(torch.from_numpy(v) for v in feed.values())).numpy()
        assert np.abs(got - ref).max() <= 1e-4


def test_graph_rejects_wrong_vector_lengths(exported):
    d, _, _ = exported
    sess = ort.InferenceSession(str(d / "bank.onnx"), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, 16, 16), np.float32)
    with pytest.raises(Exception, match="style_weights"):
        sess.run(None, _feed(x, [1, 0], [1], [1, 1, 1, 1]))
    with pytest.raises(Exception, match="style_layer_weights"):
        sess.run(None, _feed(x, [1, 0, 0], [1], [1, 1, 1]))


def test_parity_failure_writes_nothing(exported, tmp_path):
    d, _, _ = exported
    with pytest.raises(ExportError, match="parity check against PyTorch failed"):
        export_checkpoint(d / "bank.pt", tmp_path / "x.onnx", atol=0.0, parity_sizes=((32, 32),))
    assert list(tmp_path.iterdir()) == []


def test_a_feedforward_checkpoint_is_not_a_bank(tiny_checkpoint, tmp_path):
    with pytest.raises(ModelError, match="expected method .bank., got .feedforward."):
        export_checkpoint(tiny_checkpoint, tmp_path / "x.onnx", method="bank")


def test_cli_exports_a_bank(exported, tmp_path, capsys):
    d, _, _ = exported
    out = tmp_path / "cli.onnx"
    assert main(["export", str(d / "bank.pt"), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["styles"] == NAMES and out.is_file()
