"""``impasto convert onnx``: foreign style graphs -> stylize graphs, checked against the source in ONNX Runtime."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from support import load_module

from impasto.contracts import COMMON_METADATA
from impasto.errors import ExportError, ModelError, UserError
from impasto.export.convert import foreign_onnx, onnx_rewrite

graphs = load_module(Path(__file__).parent / "foreign_onnx_graphs.py", "impasto_tests_foreign_onnx_graphs")


def run(path_or_model, x: np.ndarray) -> np.ndarray:
    data = path_or_model.SerializeToString() if isinstance(path_or_model, onnx.ModelProto) else str(path_or_model)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def image(h: int, w: int, batch: int = 1, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 3, h, w), dtype=np.float32)


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.fixture
def zoo(tmp_path) -> Path:
    path = tmp_path / "candy-9.onnx"
    onnx.save(graphs.zoo_style(), str(path))
    return path


def test_zoo_style_graph_becomes_a_dynamic_opset_18_stylize_graph(zoo, tmp_path):
    out = tmp_path / "candy.onnx"
    report = foreign_onnx.convert([zoo], out, license="BSD-3-Clause", command="impasto convert onnx ...")
    assert report["opset"] == {"from": 9, "to": 18, "note": None}
    assert report["dims"] == ["batch", 3, "height", "width"] and report["dims_note"] is None
    sizes = [r["size"] for r in report["parity"]]
    assert sizes == [[224, 224], [128, 128], [131, 97], [192, 256]]
    assert all(r["max_abs_error"] <= 1e-4 for r in report["parity"])
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["stylized"]
    assert foreign_onnx.graph.opset_of(model) == 18
    # the source's own computation, done here: [0,1] -> 0-255 -> source -> /255, clamped
    x = image(224, 224)
    want = np.clip(run(zoo, x * 255) / 255, 0, 1)
    np.testing.assert_allclose(run(out, x), want, atol=1e-4, rtol=0)
    odd = run(out, image(101, 75, batch=2))
    assert odd.shape == (2, 3, 101, 75) and odd.min() >= 0 and odd.max() <= 1 and odd.std() > 0.01


def test_metadata_card_and_contract(zoo, tmp_path):
    out = tmp_path / "candy.onnx"
    foreign_onnx.convert([zoo], out, license="BSD-3-Clause", command="impasto convert onnx candy-9.onnx")
    meta = metadata(out)
    assert set(COMMON_METADATA) <= set(meta)
    assert meta["impasto.method"] == "onnx" and meta["impasto.style_name"] == "candy-9"
    spec = json.loads(meta["impasto.input"])
    assert spec["range"] == [0, 1] and spec["color"] == "RGB" and spec["shape"] == ["batch", 3, "height", "width"]
    card = json.loads(meta["impasto.card"])["converted_from"]
    assert card["format"] == "onnx" and card["license"] == "BSD-3-Clause"
    assert card["input_convention"] == "RGB 0-255, NCHW" and card["command"] == "impasto convert onnx candy-9.onnx"
    assert card["files"] == [{"name": "candy-9.onnx", "sha256": hashlib.sha256(zoo.read_bytes()).hexdigest()}]
    assert "zoo-like" in card["upstream"]
    parity = json.loads(meta["impasto.parity"])
    assert parity["passed"] and len(parity["results"]) == 4


def test_nhwc_bgr_source_converts_to_the_same_stylize_graph(zoo, tmp_path):
    variant = tmp_path / "candy_nhwc_bgr.onnx"
    onnx.save(graphs.nhwc_bgr(graphs.zoo_style()), str(variant))
    plain, wrapped = tmp_path / "plain.onnx", tmp_path / "wrapped.onnx"
    foreign_onnx.convert([zoo], plain)
    report = foreign_onnx.convert([variant], wrapped, layout="nhwc", channels="bgr")
    assert report["input_convention"] == "BGR 0-255, NHWC" and report["dims"][2:] == ["height", "width"]
    for h, w in ((224, 224), (131, 97)):
        x = image(h, w, seed=h)
        np.testing.assert_allclose(run(wrapped, x), run(plain, x), atol=1e-5, rtol=0)
    # and against the variant itself at its own size: NHWC BGR in 0-255
    x = image(224, 224)
    y = run(variant, np.ascontiguousarray(x[:, ::-1].transpose(0, 2, 3, 1) * 255))
    np.testing.assert_allclose(run(wrapped, x), np.clip(y.transpose(0, 3, 1, 2)[:, ::-1] / 255, 0, 1), atol=1e-4)


def test_wrong_layout_flag_names_the_channel_axis(zoo, tmp_path):
    out = tmp_path / "x.onnx"
    with pytest.raises(ModelError, match=r"expected 3 channels on axis 3 for --layout nhwc"):
        foreign_onnx.convert([zoo], out, layout="nhwc")
    assert not out.exists()


def test_reshape_that_bakes_in_the_size_converts_fixed_and_says_so(tmp_path):
    src = tmp_path / "baked.onnx"
    onnx.save(graphs.zoo_style(reshape=True), str(src))
    out = tmp_path / "baked_out.onnx"
    report = foreign_onnx.convert([src], out)
    assert report["dims"] == [1, 3, 224, 224]
    assert report["dims_note"].startswith("the graph fixes its size at 224x224 (")
    assert "the runtime resizes every image to 224x224" in report["dims_note"]
    assert [r["size"] for r in report["parity"]] == [[224, 224]]
    assert json.loads(metadata(out)["impasto.input"])["shape"] == [1, 3, 224, 224]
    x = image(224, 224)
    np.testing.assert_allclose(run(out, x), np.clip(run(src, x * 255) / 255, 0, 1), atol=1e-4, rtol=0)


def test_opset_the_converter_cannot_upgrade_stays_and_is_reported(zoo, tmp_path, monkeypatch):
    def refuse(model, target):
        raise RuntimeError("no adapter for Upsample")

    monkeypatch.setattr(onnx.version_converter, "convert_version", refuse)
    report = foreign_onnx.convert([zoo], tmp_path / "old.onnx")
    assert report["opset"]["from"] == report["opset"]["to"] == 9
    assert "cannot take opset 9 to 18 (no adapter for Upsample)" in report["opset"]["note"]
    # opset 9 has no tensor-ended Slice to crop odd sizes: the size stays fixed, and the report says why
    assert report["dims"] == [1, 3, 224, 224] and "fixes its size" in report["dims_note"]


def test_parity_failure_writes_nothing_and_keeps_the_old_file(zoo, tmp_path, monkeypatch):
    out = tmp_path / "candy.onnx"
    out.write_bytes(b"old")
    upgrade = onnx_rewrite.upgrade_opset

    def faulty(model, target=18):  # a converter that changes a weight
        upgraded, note = upgrade(model, target)
        b2 = next(i for i in upgraded.graph.initializer if i.name == "b2")
        b2.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(b2) + 1.0, "b2"))
        return upgraded, note

    monkeypatch.setattr(foreign_onnx.rw, "upgrade_opset", faulty)
    with pytest.raises(ExportError, match=r"parity check against the source graph failed \(224x224: max abs error "):
        foreign_onnx.convert([zoo], out)
    assert out.read_bytes() == b"old"


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_text("not a graph"), r"^onnx source '.*bad.onnx': not an ONNX model \("),
    (lambda p: onnx.save(graphs.two_inputs(), str(p)),
     r"^onnx source '.*bad.onnx': expected one image input, got 2 \(\['a', 'b'\]\)"),
])
def test_bad_sources_get_one_line_and_nothing_written(tmp_path, make, match):
    src, out = tmp_path / "bad.onnx", tmp_path / "out.onnx"
    make(src)
    with pytest.raises(ModelError, match=match) as info:
        foreign_onnx.convert([src], out)
    assert "\n" not in str(info.value) and not out.exists()


def test_bad_options(zoo, tmp_path):
    with pytest.raises(ModelError, match=r"--input-range: expected one of \['0-1', '0-255'\], got '0-256'"):
        foreign_onnx.convert([zoo], tmp_path / "o.onnx", input_range="0-256")
    with pytest.raises(UserError, match=r"expected an output path ending in .onnx"):
        foreign_onnx.convert([zoo], tmp_path / "o.pt")
    with pytest.raises(ModelError, match=r"expected an ONNX file, got '.*missing.onnx' \(no such file\)"):
        foreign_onnx.convert([tmp_path / "missing.onnx"], tmp_path / "o.onnx")
    assert not list(tmp_path.glob("o.*"))
    before = zoo.read_bytes()
    with pytest.raises(UserError, match=r"the output '.*candy-9.onnx' is the source; expected another path"):
        foreign_onnx.convert([zoo], zoo)
    assert zoo.read_bytes() == before


def test_source_tensors_named_like_the_contract_are_renamed(tmp_path):
    model = graphs.zoo_style()
    swap = {"input1": "stylized", "output1": "image"}  # the worst case: each other's names
    for node in model.graph.node:
        node.input[:] = [swap.get(n, n) for n in node.input]
        node.output[:] = [swap.get(n, n) for n in node.output]
    model.graph.input[0].name, model.graph.output[0].name = "stylized", "image"
    src, out = tmp_path / "swapped.onnx", tmp_path / "out.onnx"
    onnx.save(model, str(src))
    foreign_onnx.convert([src], out)
    x = image(224, 224)
    np.testing.assert_allclose(run(out, x), np.clip(run(src, x * 255) / 255, 0, 1), atol=1e-4, rtol=0)


@pytest.mark.parametrize("layout, channels", [("nchw", "rgb"), ("nhwc", "bgr")])
def test_every_added_constant_is_used(tmp_path, layout, channels):
    model = graphs.zoo_style() if layout == "nchw" else graphs.nhwc_bgr(graphs.zoo_style())
    src, out = tmp_path / "src.onnx", tmp_path / "out.onnx"
    onnx.save(model, str(src))
    foreign_onnx.convert([src], out, layout=layout, channels=channels)
    g = onnx.load(str(out)).graph
    used = {n for node in g.node for n in node.input}
    assert [i.name for i in g.initializer if i.name not in used] == []
