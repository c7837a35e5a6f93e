"""``--shared-encoder``: the VGG16 encoder's weights in one fp16 file shared by the graphs of a folder."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from impasto.contracts import SHARED_WEIGHTS_KEY, WCT_INPUTS  # noqa: E402
from impasto.errors import ModelError  # noqa: E402
from impasto.export.shared_encoder import ALIGNMENT, DEFAULT_NAME, index_name_of, load_shared  # noqa: E402

WCT_TEST_LEVELS, WCT_TEST_NS_ITERS = ("relu1_1", "relu2_1"), 12  # as tests/conftest.py's fixtures
# relu1_1 + relu2_1 graphs run conv1_1, conv1_2 and conv2_1
LAYERS = ("conv1_1", "conv1_2", "conv2_1")


def _cli(argv: list[str]) -> tuple[int, dict | None, str]:
    from impasto.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, (json.loads(out.getvalue()) if code == 0 else None), err.getvalue()


def _export(method: str, decoders: list[Path], out: Path, *extra: str) -> tuple[int, dict | None, str]:
    return _cli(["export", method, *map(str, decoders), "-o", str(out), "--json", "--ns-iters",
                 str(WCT_TEST_NS_ITERS), "--shared-encoder", *extra])


@pytest.fixture(scope="module")
def folder(wct_decoders, vgg_weights, tmp_path_factory):
    """photowct then wct exported into one folder; the shared file's stat between the two."""
    d = tmp_path_factory.mktemp("shared")
    code, photo, err = _export("photowct", [wct_decoders["photo", lv] for lv in WCT_TEST_LEVELS], d / "photowct.onnx")
    assert code == 0, err
    bin_path = d / DEFAULT_NAME
    first = (bin_path.stat().st_mtime_ns, bin_path.stat().st_ino, bin_path.read_bytes())
    code, wct, err = _export("wct", [wct_decoders["artistic", "relu2_1"]], d / "wct.onnx")
    assert code == 0, err
    return {"dir": d, "photo": photo, "wct": wct, "first": first}


def test_the_shared_file_is_deterministic_aligned_fp16(vgg_weights):
    from impasto.models.vgg import load_state_dict

    a, b = load_shared(vgg_weights), load_shared(vgg_weights)
    assert a.data == b.data and a.index() == b.index()
    sd = load_state_dict(vgg_weights)
    assert [t.name for t in a.tensors][:3] == ["conv1_1.weight", "conv1_1.bias", "conv1_2.weight"]
    assert len(a.tensors) == 16
    for t in a.tensors:
        assert t.offset % ALIGNMENT == 0
        stored = np.frombuffer(a.data, "<f2", t.values.size, t.offset).reshape(t.values.shape)
        np.testing.assert_array_equal(stored, sd[t.vgg16].numpy().astype(np.float16))
    assert a.index()["source"]["file"] == Path(vgg_weights).name


def test_two_graphs_share_one_file_written_once(folder):
    d = folder["dir"]
    assert sorted(p.name for p in d.iterdir()) == sorted(["photowct.onnx", "wct.onnx", DEFAULT_NAME,
                                                          index_name_of(DEFAULT_NAME)])
    assert folder["photo"]["shared_weights"]["created"] and not folder["wct"]["shared_weights"]["created"]
    mtime, inode, data = folder["first"]
    st = (d / DEFAULT_NAME).stat()
    assert (st.st_mtime_ns, st.st_ino) == (mtime, inode) and (d / DEFAULT_NAME).read_bytes() == data
    index = json.loads((d / index_name_of(DEFAULT_NAME)).read_text())
    assert index["bytes"] == len(data) and len(index["tensors"]) == 16
    for name in ("photowct.onnx", "wct.onnx"):
        meta = {p.key: p.value for p in onnx.load(str(d / name), load_external_data=False).metadata_props}
        entry = json.loads(meta[SHARED_WEIGHTS_KEY])
        assert entry["file"] == DEFAULT_NAME and entry["sha256"] == index["sha256"]
        assert "rounded to fp16" in json.loads(meta["impasto.parity"])["reference"]


def test_graphs_hold_no_private_fp32_copy_of_the_encoder(folder, photowct_graph, vgg_weights):
    d = folder["dir"]
    report = folder["photo"]
    assert report["shared_weights"]["tensors"] == 2 * len(LAYERS)
    moved = report["shared_weights"]["bytes_moved"]
    assert moved == sum(4 * t.values.size for t in load_shared(vgg_weights).tensors if t.layer in LAYERS)
    # the self-contained graph of the same decoders is larger by the moved fp32 bytes (give or take metadata)
    plain = photowct_graph.path.stat().st_size
    assert abs((plain - (d / "photowct.onnx").stat().st_size) - moved) < 8_000
    model = onnx.load(str(d / "photowct.onnx"), load_external_data=False)
    external = [i for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    assert len(external) == 2 * len(LAYERS)
    assert all(i.data_type == onnx.TensorProto.FLOAT16 for i in external)
    conv1_1 = load_shared(vgg_weights).tensors[0].values.astype(np.float32)
    assert not any(tuple(i.dims) == conv1_1.shape and i.data_location != onnx.TensorProto.EXTERNAL
                   for i in model.graph.initializer)


def test_parity_against_the_rounded_torch_pipeline_at_a_new_size(folder, wct_decoders, vgg_weights):
    from impasto.export.methods.wct import build_pipeline, parity_feeds
    from impasto.export.shared_encoder import round_to_fp16_

    pipeline, _ = build_pipeline("photowct", [wct_decoders["photo", lv] for lv in WCT_TEST_LEVELS],
                                 vgg_weights=vgg_weights, ns_iters=WCT_TEST_NS_ITERS)
    assert round_to_fp16_(pipeline, vgg_weights, LAYERS) == 2 * len(LAYERS)
    sess = ort.InferenceSession(str(folder["dir"] / "photowct.onnx"), providers=["CPUExecutionProvider"])
    for feed in parity_feeds([(57, 82), (43, 70)], seed=5):
        with torch.no_grad():
            want = pipeline(*(torch.from_numpy(feed[k]) for k in WCT_INPUTS))
        for a, b in zip(sess.run(None, {k: feed[k] for k in WCT_INPUTS}), want, strict=True):
            assert np.abs(a - b.numpy()).max() <= 1e-3


def test_a_different_shared_file_is_refused_and_left_alone(wct_decoders, vgg_weights, tmp_path):
    bad = bytearray(load_shared(vgg_weights).data)
    bad[100] ^= 0xFF
    (tmp_path / DEFAULT_NAME).write_bytes(bytes(bad))
    before = sorted(os.listdir(tmp_path))
    code, _, err = _export("wct", [wct_decoders["artistic", "relu2_1"]], tmp_path / "wct.onnx")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert DEFAULT_NAME in err and "nothing written" in err
    assert (tmp_path / DEFAULT_NAME).read_bytes() == bytes(bad) and sorted(os.listdir(tmp_path)) == before


def test_a_failed_parity_gate_leaves_nothing(wct_decoders, vgg_weights, tmp_path, monkeypatch):
    from impasto.errors import ExportError

    def failing(*args, **kwargs):
        raise ExportError("export: parity failed (test)")

    monkeypatch.setattr("impasto.export.pipeline.check_parity", failing)
    code, _, err = _export("wct", [wct_decoders["artistic", "relu2_1"]], tmp_path / "wct.onnx")
    assert code == 1 and "parity failed" in err
    assert os.listdir(tmp_path) == []


def test_shared_encoder_is_refused_for_graphs_without_one(tiny_checkpoint, tmp_path):
    code, _, err = _cli(["export", str(tiny_checkpoint), "-o", str(tmp_path / "x.onnx"), "--shared-encoder"])
    assert code == 2 and "--shared-encoder" in err and not list(tmp_path.iterdir())


def test_a_missing_or_truncated_shared_file_is_one_line_at_load(folder, tmp_path):
    from impasto.runtime.backends.ort import OrtBackend

    src = folder["dir"]
    shutil.copy(src / "wct.onnx", tmp_path / "wct.onnx")
    graph = tmp_path / "wct.onnx"
    with pytest.raises(ModelError, match=f"{DEFAULT_NAME}.*missing.*expected \\d+ bytes"):
        OrtBackend(graph).open()
    r = subprocess.run([sys.executable, "-m", "impasto", "info", str(graph)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and DEFAULT_NAME in r.stderr
    (tmp_path / DEFAULT_NAME).write_bytes((src / DEFAULT_NAME).read_bytes()[:-4096])
    with pytest.raises(ModelError, match="has \\d+ bytes, expected \\d+"):
        OrtBackend(graph).open()
    from impasto.export.tensorrt_build import build_engine

    with pytest.raises(ModelError, match=f"{DEFAULT_NAME}.*has \\d+ bytes"):  # checked before TensorRT's parser
        build_engine(graph, tmp_path / "wct.engine")
    shutil.copy(src / DEFAULT_NAME, tmp_path / DEFAULT_NAME)
    backend = OrtBackend(graph).open()
    assert backend.metadata[SHARED_WEIGHTS_KEY]
    backend.close()


def test_info_names_the_shared_file(folder):
    code, report, err = _cli(["info", str(folder["dir"] / "photowct.onnx"), "--json"])
    assert code == 0, err
    sw = report["graphs"][0]["shared_weights"]
    assert sw["file"] == DEFAULT_NAME and sw["bytes"] == (folder["dir"] / DEFAULT_NAME).stat().st_size


def test_export_triton_copies_the_shared_file(folder, tmp_path):
    from impasto.export.triton import TritonOptions, export_triton

    export_triton([str(folder["dir"] / "photowct.onnx")], tmp_path / "repo", TritonOptions())
    version = tmp_path / "repo" / "photowct" / "1"
    assert (version / DEFAULT_NAME).read_bytes() == (folder["dir"] / DEFAULT_NAME).read_bytes()
    assert (version / index_name_of(DEFAULT_NAME)).is_file()
    sess = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(WCT_INPUTS)
