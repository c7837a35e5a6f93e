"""The shipped graphs can be rebuilt from the checkpoints kept in the repository (checkpoints/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from impasto.contracts import BANK_INPUTS, SHARED_WEIGHTS_KEY  # noqa: E402
from impasto.export.pipeline import export_checkpoint  # noqa: E402
from impasto.models.checkpoint import load_checkpoint  # noqa: E402
from impasto.runtime.builtins import MODELS_DIR  # noqa: E402
from impasto.runtime.onnx_metadata import read_onnx_metadata  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BANK_CKPT = ROOT / "checkpoints" / "bank.pt"


def test_the_bank_checkpoint_loads_safely_and_matches_the_shipped_styles():
    ckpt = load_checkpoint(BANK_CKPT)  # weights_only=True
    assert ckpt["method"] == "bank" and ckpt["card"]["command"].startswith("impasto train bank ")
    assert ckpt["card"]["weights_only_copy_of"]["dropped"] == ["loss_ema", "optimizer", "rng"]
    shipped = ort.InferenceSession(str(MODELS_DIR / "bank.onnx"), providers=["CPUExecutionProvider"])
    styles = shipped.get_modelmeta().custom_metadata_map["impasto.styles"]
    assert all(f'"{n}"' in styles for n in ckpt["style_names"])


def test_the_bank_checkpoint_records_its_whole_training_chain_and_runs():
    """Every run the shipped bank descends from is in its card (``init_from``, nested), back to the first one."""
    import torch

    from impasto.models.registry import build_from_checkpoint

    ckpt = load_checkpoint(BANK_CKPT)  # weights_only=True
    assert "--stability-weight" in ckpt["card"]["command"] and ckpt["optimizer"] == {}
    links, card = [], ckpt["card"]
    while card is not None:
        assert card["command"].startswith("impasto train bank ") and card["seconds"] > 0, card.get("checkpoint")
        links.append(card)
        card = card.get("init_from")
    assert len(links) >= 5 and "--init" not in links[-1]["command"]  # the first run started from scratch
    net = build_from_checkpoint(ckpt, method="bank")
    y = net(torch.rand(1, 3, 37, 41), torch.eye(8)[0], torch.ones(1), torch.ones(4))
    assert y.shape == (1, 3, 37, 41) and torch.isfinite(y).all()


def test_re_exporting_the_bank_checkpoint_reproduces_the_shipped_graph(tmp_path):
    out = tmp_path / "bank.onnx"
    export_checkpoint(BANK_CKPT, out, method="bank")
    shipped = ort.InferenceSession(str(MODELS_DIR / "bank.onnx"), providers=["CPUExecutionProvider"])
    rebuilt = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    n_c, n_s = shipped.get_inputs()[2].shape[0], shipped.get_inputs()[3].shape[0]
    rng = np.random.default_rng(7)
    for h, w in ((173, 229), (64, 301)):  # sizes the exporter's parity check does not use
        feed = dict(zip(BANK_INPUTS, (rng.random((1, 3, h, w), dtype=np.float32),
                                      rng.dirichlet(np.ones(8)).astype(np.float32),
                                      rng.uniform(0, 2, n_c).astype(np.float32),
                                      rng.uniform(0, 2, n_s).astype(np.float32)), strict=True))
        a, b = shipped.run(None, feed)[0], rebuilt.run(None, feed)[0]
        assert np.abs(a - b).max() <= 1e-6, (h, w, float(np.abs(a - b).max()))


def test_the_shipped_shared_encoder_file_is_the_one_the_vgg16_weights_give(vgg_weights):
    from impasto.export.shared_encoder import DEFAULT_NAME, index_name_of, load_shared

    shared = load_shared(vgg_weights)
    assert (MODELS_DIR / "vgg16" / DEFAULT_NAME).read_bytes() == shared.data
    index = json.loads((MODELS_DIR / "vgg16" / index_name_of(DEFAULT_NAME)).read_text())
    assert index == shared.index()
    assert read_onnx_metadata(MODELS_DIR / "vgg16" / "photowct.onnx")[SHARED_WEIGHTS_KEY] == shared.metadata()


def test_re_exporting_the_photowct_decoders_reproduces_the_shipped_graph(vgg_weights, tmp_path):
    from impasto.contracts import WCT_INPUTS
    from impasto.export.methods.wct import export_wct

    decoders = [ROOT / "checkpoints" / f"photowct_{level}.pt" for level in ("relu4_1", "relu3_1", "relu2_1", "relu1_1")]
    out = tmp_path / "photowct.onnx"
    report = export_wct("photowct", decoders, out, vgg_weights=vgg_weights, shared_encoder="vgg16_relu4_1.f16.bin")
    assert report["shared_weights"]["created"] and report["shared_weights"]["tensors"] == 16
    assert abs(out.stat().st_size - (MODELS_DIR / "vgg16" / "photowct.onnx").stat().st_size) < 4096
    shipped = ort.InferenceSession(str(MODELS_DIR / "vgg16" / "photowct.onnx"), providers=["CPUExecutionProvider"])
    rebuilt = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, (1, 91, 118))  # two regions, a size the exporter's parity check does not use
    feed = dict(zip(WCT_INPUTS, (rng.random((1, 3, 91, 118), dtype=np.float32),
                                 rng.random((1, 3, 80, 64), dtype=np.float32),
                                 np.stack([labels == 0, labels == 1], 1).astype(np.float32),
                                 np.concatenate([np.ones((1, 1, 80, 64)), np.zeros((1, 1, 80, 64))], 1).astype(
                                     np.float32),  # the second label is absent from the style
                                 np.array([0.7], np.float32)), strict=True))
    for a, b in zip(shipped.run(None, feed), rebuilt.run(None, feed), strict=True):
        assert np.abs(a - b).max() <= 1e-5


def test_re_exporting_the_bank_stats_form_reproduces_the_shipped_tiled_graph(tmp_path):
    out = tmp_path / "bank.tiled.onnx"
    report = export_checkpoint(BANK_CKPT, out, method="bank", norm_stats=True)
    assert report["parity"] and report["norm_channels"] > 0
    shipped = ort.InferenceSession(str(MODELS_DIR / "bank.tiled.onnx"), providers=["CPUExecutionProvider"])
    rebuilt = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    plain = ort.InferenceSession(str(MODELS_DIR / "bank.onnx"), providers=["CPUExecutionProvider"])
    t = report["norm_channels"]
    rng = np.random.default_rng(5)
    cond = dict(zip(BANK_INPUTS[1:], (rng.dirichlet(np.ones(8)).astype(np.float32), np.ones(1, np.float32),
                                      rng.uniform(0, 2, 4).astype(np.float32)), strict=True))
    x = rng.random((1, 3, 120, 164), dtype=np.float32)
    own = {"image": x, **cond, "norm_stats": np.zeros((1, 2, t), np.float32),
           "stats_from_image": np.ones(1, np.float32)}
    a, stats = shipped.run(None, own)
    b, stats_b = rebuilt.run(None, own)
    assert np.abs(a - b).max() <= 1e-6 and np.abs(stats - stats_b).max() <= 1e-4
    # with its own statistics the stats form is the plain graph
    assert np.abs(a - plain.run(None, {"image": x, **cond})[0]).max() <= 1e-4
    # given statistics: the tile's output is normalised like the image they came from
    tile = {**own, "image": np.ascontiguousarray(x[:, :, :64, :96]), "norm_stats": stats,
            "stats_from_image": np.zeros(1, np.float32)}
    got, used = shipped.run(None, tile)
    np.testing.assert_array_equal(used, stats)
    assert np.abs(got - rebuilt.run(None, tile)[0]).max() <= 1e-6


def test_the_shipped_photowct_graph_equals_the_former_average_pooling_path(vgg_weights, monkeypatch):
    """The guided filter's box means became cumulative sums (speed): the shipped graph still gives the outputs of
    the PyTorch pipeline with the former average-pooling box filter (and the encoder weights rounded to fp16, as the
    shared file stores them)."""
    import torch

    from impasto.contracts import WCT_INPUTS
    from impasto.export.methods.wct import build_pipeline, parity_feeds

    def box_mean_pooling(x, r):
        k = 2 * r + 1
        x = torch.nn.functional.avg_pool2d(x, (1, k), stride=1, padding=(0, r), count_include_pad=False)
        return torch.nn.functional.avg_pool2d(x, (k, 1), stride=1, padding=(r, 0), count_include_pad=False)

    from impasto.export.shared_encoder import LEVEL_LAYERS, round_to_fp16_

    monkeypatch.setattr("impasto.models.guided_filter.box_mean", box_mean_pooling)
    decoders = [ROOT / "checkpoints" / f"photowct_{level}.pt" for level in ("relu4_1", "relu3_1", "relu2_1", "relu1_1")]
    pipeline, _ = build_pipeline("photowct", decoders, vgg_weights=vgg_weights)
    round_to_fp16_(pipeline, vgg_weights, LEVEL_LAYERS["relu4_1"])  # the shipped graph's encoder: fp16 values
    shipped = ort.InferenceSession(str(MODELS_DIR / "vgg16" / "photowct.onnx"), providers=["CPUExecutionProvider"])
    for feed in parity_feeds([(58, 83), (71, 49)], seed=11):  # the second with three labels
        with torch.no_grad():
            want = pipeline(*(torch.from_numpy(feed[k]) for k in WCT_INPUTS))
        got = shipped.run(None, {k: feed[k] for k in WCT_INPUTS})
        for a, b in zip(got, want, strict=True):
            assert np.abs(a - b.numpy()).max() <= 1e-4
