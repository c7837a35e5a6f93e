"""``impasto export munit``: both directions written, parity-checked, self-describing; nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from impasto.cli.main import main  # noqa: E402
from impasto.contracts import TRANSLATE  # noqa: E402


def test_export_writes_both_directions_with_parity_and_metadata(munit_model) -> None:
    report = munit_model.report
    paths = [Path(p) for p in report["graphs"]]
    assert [p.name for p in paths] == ["munit.a2b.onnx", "munit.b2a.onnx"] and all(p.is_file() for p in paths)
    assert not munit_model.path.exists()  # the stem names the pair, no file of its own
    rows = report["parity"]
    # 2 directions x 2 sizes x 2 modes (random, reference) x 2 outputs
    assert len(rows) == 16 and {(r["direction"], r["mode"]) for r in rows} == {
        (d, m) for d in ("a2b", "b2a") for m in ("random", "reference")}
    assert max(r["max_abs_error"] for r in rows) <= 1e-4
    for path, (s, t) in zip(paths, (("a", "b"), ("b", "a"))):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in sess.get_inputs()] == list(TRANSLATE.input_names)
        meta = sess.get_modelmeta().custom_metadata_map
        settings = json.loads(meta["impasto.munit"])
        assert (settings["source"], settings["target"], settings["style_dim"]) == (s, t, 3)
        assert settings["domains"] == {"a": "edges", "b": "bags"} and settings["partner"] != path.name
        assert json.loads(meta["impasto.parity"])["passed"] is True


def test_parity_at_a_size_the_exporter_did_not_use(munit_model) -> None:
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.munit import Translator
    from impasto.models.registry import build_from_checkpoint

    net = build_from_checkpoint(load_checkpoint(munit_model.checkpoint), method="munit")
    rng = np.random.default_rng(7)
    image, ref = rng.random((1, 3, 50, 83), dtype=np.float32), rng.random((1, 3, 33, 29), dtype=np.float32)
    codes = rng.standard_normal((5, 3)).astype(np.float32)
    for path, to in zip(munit_model.report["graphs"], ("b", "a")):
        feed = {"image": image, "reference": ref, "style": codes, "reference_weight": np.array([0.5], np.float32)}
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)
        with torch.no_grad():
            want = Translator(net, to)(*(torch.from_numpy(feed[n]) for n in TRANSLATE.input_names))
        assert got[0].shape == (5, 3, 50, 83)
        for g, w in zip(got, want):
            assert np.abs(g - w.numpy()).max() <= 1e-4


def test_failed_parity_writes_nothing(munit_checkpoint, tmp_path) -> None:
    from impasto.errors import ExportError
    from impasto.export import export_checkpoint

    with pytest.raises(ExportError, match="parity"):
        export_checkpoint(munit_checkpoint, tmp_path / "m.onnx", atol=0.0, parity_sizes=((32, 32), (33, 35)))
    assert list(tmp_path.iterdir()) == []  # no graph, no temporary folder


def test_export_refuses_fp16_and_other_methods(munit_checkpoint, tiny_checkpoint, tmp_path, capsys) -> None:
    assert main(["export", "munit", str(munit_checkpoint), "-o", str(tmp_path / "m.onnx"), "--fp16"]) == 2
    assert "fp32 only" in capsys.readouterr().err
    assert main(["export", "munit", str(tiny_checkpoint), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "expected method 'munit', got 'feedforward'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
