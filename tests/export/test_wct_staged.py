"""``impasto export photowct|wct --staged``: a set of graphs, the WCT in the runtime (eigh), parity of the whole set."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from impasto.errors import ExportError, ModelError  # noqa: E402
from impasto.export.methods import wct_staged  # noqa: E402
from impasto.export.methods.wct import build_pipeline  # noqa: E402
from impasto.export.shared_encoder import DEFAULT_NAME  # noqa: E402
from impasto.models.registry import get_spec  # noqa: E402
from impasto.models.wct_stages import staged_reference  # noqa: E402
from impasto.runtime.pipelines.photoreal import WCTStylizer  # noqa: E402
from impasto.runtime.pipelines.wct_staged import StagedWCT  # noqa: E402

LEVELS = ("relu1_1", "relu2_1")  # as tests/conftest.py's wct_decoders
ATOL = get_spec("decoder").export.atol


def _cli(argv: list[str]) -> tuple[int, dict | None, str]:
    from impasto.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, (json.loads(out.getvalue()) if code == 0 and out.getvalue().strip() else None), err.getvalue()


@pytest.fixture(scope="module")
def staged(wct_decoders, vgg_weights, tmp_path_factory):
    """A photowct set (random photo decoders at relu1_1 + relu2_1) with the shared encoder file."""
    d = tmp_path_factory.mktemp("staged")
    code, report, err = _cli(["export", "photowct", *(str(wct_decoders["photo", lv]) for lv in LEVELS),
                              "-o", str(d / "photowct.onnx"), "--staged", "--shared-encoder", "--json"])
    assert code == 0, err
    return {"dir": d, "report": report}


def _feed(h: int, w: int, labels: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.random((1, 3, h, w), dtype=np.float32)
    s = rng.random((1, 3, 70, 66), dtype=np.float32)
    cl = rng.integers(0, labels, (h // 8 + 1, w // 8 + 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    sl = rng.integers(0, labels, (70 // 8 + 1, 66 // 8 + 1)).repeat(8, 0).repeat(8, 1)[:70, :66]
    return {"content": c, "style": s, "alpha": np.array([0.6], np.float32),
            "content_mask": (cl[None, None] == np.arange(labels)[None, :, None, None]).astype(np.float32),
            "style_mask": (sl[None, None] == np.arange(labels)[None, :, None, None]).astype(np.float32)}


def test_the_set_is_written_with_its_report(staged):
    d, r = staged["dir"], staged["report"]
    assert sorted(p.name for p in d.iterdir()) == sorted(["photowct.onnx", "photowct.relu1_1.onnx",
                                                          "photowct.relu2_1.onnx", DEFAULT_NAME,
                                                          DEFAULT_NAME.replace(".bin", ".json")])
    assert r["staged"] is True and r["stages"] == {"relu2_1": "photowct.relu2_1.onnx",
                                                    "relu1_1": "photowct.relu1_1.onnx"}
    assert {p["labels"] for p in r["parity"]} == {1, 3} and {p["output"] for p in r["parity"]} == {"stylized",
                                                                                                  "unsmoothed"}
    assert set(r["graphs"]) == {"photowct.encoder", "relu2_1", "relu1_1"}
    encoder = onnx.load(str(d / "photowct.onnx"), load_external_data=False)
    meta = {p.key: p.value for p in encoder.metadata_props}
    settings = json.loads(meta["impasto.wct"])
    assert settings["stages"] == r["stages"] and settings["staged_parity"]["passed"] is True
    assert [o.name for o in encoder.graph.output] == ["relu1_1", "relu2_1", "pool1"]
    assert encoder.graph.output[2].type.tensor_type.elem_type == onnx.TensorProto.INT64
    level = onnx.load(str(d / "photowct.relu2_1.onnx"), load_external_data=False)
    info = json.loads({p.key: p.value for p in level.metadata_props}["impasto.wct_stage"])
    assert info == {"method": "photowct", "level": "relu2_1", "next": "relu1_1"}
    assert [i.name for i in level.graph.input] == ["features", "content", "pool1"]
    # the re-encoding's weights are read from the shared file, not stored again
    external = [i.name for i in level.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    assert external and all(i.endswith("__shared_f16") for i in external)


def test_the_set_matches_the_eigh_reference_at_a_new_size(staged, wct_decoders, vgg_weights):
    """Independently of the exporter's gate: the runtime's staged run against PyTorch, unseen size and labels."""
    pipeline, _ = build_pipeline("photowct", [wct_decoders["photo", lv] for lv in LEVELS], vgg_weights=vgg_weights)
    from impasto.export.shared_encoder import round_to_fp16_

    round_to_fp16_(pipeline, vgg_weights, ("conv1_1", "conv1_2", "conv2_1"))  # as the shared file stores them
    feed = _feed(41, 57, 4, seed=3)
    with StagedWCT.open(staged["dir"] / "photowct.onnx", backend="ort-cpu") as s:
        got = s.run(feed)
    ref = staged_reference(pipeline, *(torch.from_numpy(feed[k]) for k in
                                       ("content", "style", "content_mask", "style_mask")), 0.6)
    for name, r in zip(("stylized", "unsmoothed"), ref):
        assert got[name].shape == (1, 3, 41, 57)
        assert np.abs(got[name] - r.numpy()).max() <= ATOL
    # not vacuous: the content itself is far from the output
    assert np.abs(got["unsmoothed"] - feed["content"]).max() > 100 * ATOL


def test_the_stylizer_runs_the_set_like_a_graph(staged, photo):
    with WCTStylizer.load(staged["dir"] / "photowct.onnx", method="photowct", backend="ort-cpu") as m:
        assert m.staged is not None and m.outputs == ["stylized", "unsmoothed"]
        small = photo[::4, ::4]
        r = m.run(small, photo[::3, ::3], smooth="fast")
    assert r["image"].shape == small.shape and r["image"].dtype == np.uint8
    assert r["unsmoothed"].shape == small.shape


def test_a_missing_or_foreign_stage_is_one_line(staged, tmp_path):
    d = tmp_path / "set"
    shutil.copytree(staged["dir"], d)
    (d / "photowct.relu1_1.onnx").unlink()
    with pytest.raises(ModelError, match="relu1_1 stage graph 'photowct.relu1_1.onnx' is missing") as info:
        WCTStylizer.load(d / "photowct.onnx", method="photowct", backend="ort-cpu")
    assert "\n" not in str(info.value)
    # a level graph in another level's place
    shutil.copy(d / "photowct.relu2_1.onnx", d / "photowct.relu1_1.onnx")
    with pytest.raises(ModelError, match="expected the stage .*'level': 'relu1_1'.*got .*'level': 'relu2_1'"):
        StagedWCT.open(d / "photowct.onnx", backend="ort-cpu")


def test_a_failed_whole_set_check_writes_nothing(wct_decoders, vgg_weights, tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise ExportError("export --staged: the whole set against PyTorch failed (test); no file was written")

    monkeypatch.setattr(wct_staged, "whole_parity", failing)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = _cli(["export", "photowct", str(wct_decoders["photo", "relu2_1"]), "-o", str(out / "p.onnx"),
                         "--staged", "--shared-encoder"])
    assert code == 1 and "whole set" in err
    assert list(out.iterdir()) == []  # no graph, no shared file, no temporary folder


@pytest.mark.parametrize("extra", [["--ns-iters", "5"], ["--fp16"]])
def test_options_a_staged_set_cannot_honour_are_refused(wct_decoders, tmp_path, extra):
    code, _, err = _cli(["export", "photowct", str(wct_decoders["photo", "relu2_1"]), "-o", str(tmp_path / "p.onnx"),
                         "--staged", *extra])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_artistic_set_without_switches(wct_decoders, vgg_weights, tmp_path, photo):
    out = tmp_path / "wct.onnx"
    code, report, err = _cli(["export", "wct", str(wct_decoders["artistic", "relu2_1"]), "-o", str(out), "--staged",
                              "--json"])
    assert code == 0, err
    assert report["stages"] == {"relu2_1": "wct.relu2_1.onnx"}
    encoder = onnx.load(str(out), load_external_data=False)
    assert [o.name for o in encoder.graph.output] == ["relu2_1"]  # no pooling switches for upsampling decoders
    feed = _feed(37, 45, 1, seed=9)
    pipeline, _ = build_pipeline("wct", [wct_decoders["artistic", "relu2_1"]], vgg_weights=vgg_weights)
    with StagedWCT.open(out, backend="ort-cpu") as s:
        (name,) = s.output_names
        got = s.run(feed)[name]
    (ref,) = staged_reference(pipeline, *(torch.from_numpy(feed[k]) for k in
                                          ("content", "style", "content_mask", "style_mask")), 0.6)
    assert name == "stylized" and np.abs(got - ref.numpy()).max() <= ATOL
    # and as a user runs it
    from impasto.runtime.io.images import read_image, write_image

    write_image(tmp_path / "photo.png", photo[::4, ::4])
    write_image(tmp_path / "painting.png", photo[::-3, ::3])
    code, _, err = _cli(["stylize", str(tmp_path / "photo.png"), "--style-image", str(tmp_path / "painting.png"),
                         "--method", "wct", "--model", str(out), "-o", str(tmp_path / "out.png"), "--json"])
    assert code == 0, err
    assert read_image(tmp_path / "out.png").shape == photo[::4, ::4].shape


def test_stage_files_sit_beside_the_output():
    assert wct_staged.stage_files(Path("/x/y/photowct.onnx"), ("relu4_1", "relu1_1")) == {
        "relu4_1": "photowct.relu4_1.onnx", "relu1_1": "photowct.relu1_1.onnx"}


def test_a_set_refuses_a_backend_other_than_onnx_runtime(staged):
    from impasto.runtime.backends.selection import open_backend

    opened, _ = open_backend(staged["dir"] / "photowct.onnx", "ort-cpu")
    try:
        with pytest.raises(ModelError, match="runs on ONNX Runtime .* got backend 'tensorrt'"):
            StagedWCT.from_encoder(opened, "tensorrt")
    finally:
        opened.close()
