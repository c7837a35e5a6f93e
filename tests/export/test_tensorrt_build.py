"""``build_engine``: argument checks, calibration data, and the build's control flow.

Three kinds of tests:

* pure (no TensorRT): argument validation, calibration images/preprocessing/cache;
* ``fake_trt``: a test double of the ``tensorrt`` module and the CUDA layer
  (``tests/export/fake_tensorrt.py``) drives impasto's own logic around TensorRT —
  parser errors, an empty build, precision checks, the timing cache, the sidecar. It
  builds nothing and proves nothing about TensorRT itself;
* ``@pytest.mark.tensorrt`` + ``@pytest.mark.gpu``: a real build (skipped where
  ``import tensorrt`` fails or there is no GPU).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from support import load_module

from impasto.errors import BackendUnavailableError, EngineBuildError, ModelError, UserError
from impasto.export import tensorrt_calibration as calib
from impasto.export.tensorrt_build import DEFAULT_TIMING_CACHE, build_engine, make_build_config
from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.tensorrt.sidecar import check_engine_sha, read_sidecar, sidecar_path


def _load_fake_tensorrt():
    """tests/export/fake_tensorrt.py (not importable by name under --import-mode=importlib)."""
    return load_module(Path(__file__).parent / "fake_tensorrt.py", "impasto_tests_fake_tensorrt")


FT = _load_fake_tensorrt()
META = {"impasto.style_name": "ident", "impasto.description": "identity test model",
        "impasto.input": json.dumps({"name": "image", "layout": "NCHW", "range": [0, 1]}),
        "impasto.output": json.dumps({"name": "stylized", "layout": "NCHW", "range": [0, 1]}),
        "impasto.card": json.dumps({"command": "test"}), "producer.note": "not an impasto key"}


def write_identity_onnx(path: Path, dims=("batch", 3, "height", "width")) -> Path:
    """image -> Identity -> stylized, with impasto metadata (ONNX Runtime loads it)."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, list(dims))
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["stylized"])], "ident", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in META.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, path)
    return path


@pytest.fixture
def model(tmp_path) -> Path:
    return write_identity_onnx(tmp_path / "ident.onnx")


def _images(folder: Path, n: int, size=(40, 60)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"img{i:02d}.png"
        write_image(p, rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        paths.append(p)
    return paths


# -- argument checks (no TensorRT) ------------------------------------------------------------------

@pytest.mark.parametrize("engine, kwargs, match", [
    ("out.plan", {}, r"expected an output path ending in \.engine, got '.*out\.plan'"),
    ("out.engine", {"precision": "bf16"}, r"precision must be one of \['fp32', 'fp16', 'int8'\], got 'bf16'"),
    ("out.engine", {"precision": "int8"}, r"--int8: needs calibration images: --calib DIR"),
    ("out.engine", {"calib_dir": "somewhere"}, r"--calib: only used with --int8"),
    ("out.engine", {"shapes": "256x256,512x512"}, r"--shapes: expected three shapes"),
    ("out.engine", {"shapes": "1x4x64x64,1x4x64x64,1x4x64x64"}, r"channels must be 3 \(RGB\), got 4"),
    ("out.engine", {"shapes": "64x64,512x512,256x256"}, r"opt <= max .* \(height: 512 > 256\)"),
    ("out.engine", {"workspace_gb": 0}, r"--workspace-gb: expected a positive number of GiB, got 0"),
    ("out.engine", {"workspace_gb": -1.5}, r"--workspace-gb: expected a positive number of GiB"),
    ("out.engine", {"workspace_gb": math.nan}, r"--workspace-gb: expected a positive number of GiB"),
])
def test_bad_arguments_are_user_errors(model, tmp_path, engine, kwargs, match):
    with pytest.raises(UserError, match=match):
        make_build_config(model, tmp_path / engine, **kwargs)


def test_bad_model_paths(tmp_path, model):
    with pytest.raises(UserError, match=r"expected an \.onnx model, got '.*missing\.onnx' \(no such file\)"):
        make_build_config(tmp_path / "missing.onnx", tmp_path / "x.engine")
    with pytest.raises(UserError, match=r"expected an \.onnx model, got '.*model\.pt'"):
        make_build_config(tmp_path / "model.pt", tmp_path / "x.engine")
    (tmp_path / "dir.engine").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        make_build_config(model, tmp_path / "dir.engine")
    (tmp_path / "cache").mkdir()
    with pytest.raises(UserError, match="--timing-cache: expected a file path, got the folder"):
        make_build_config(model, tmp_path / "x.engine", timing_cache=tmp_path / "cache")


def test_calibration_folder_checks(model, tmp_path):
    with pytest.raises(UserError, match=r"--calib: expected a folder of images, got '.*nope' \(no such folder\)"):
        make_build_config(model, tmp_path / "x.engine", precision="int8", calib_dir=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"expected at least 1 image\(s\) .* got 0"):
        make_build_config(model, tmp_path / "x.engine", precision="int8", calib_dir=tmp_path / "empty")
    _images(tmp_path / "one", 1)
    with pytest.raises(UserError, match=r"expected at least 2 image\(s\) .* got 1"):
        make_build_config(model, tmp_path / "x.engine", precision="int8", calib_dir=tmp_path / "one",
                          shapes="2x3x32x32,2x3x32x32,2x3x32x32")


def test_config_defaults(model, tmp_path):
    cfg = make_build_config(model, tmp_path / "engines" / "x.engine", shapes="256x256,512x512,1080x1920",
                            workspace_gb=1.5)
    assert cfg.shapes == ((1, 3, 256, 256), (1, 3, 512, 512), (1, 3, 1080, 1920))
    assert cfg.timing_cache == tmp_path / "engines" / DEFAULT_TIMING_CACHE
    assert cfg.sidecar_path == tmp_path / "engines" / "x.json"
    assert cfg.workspace_bytes == int(1.5 * 2**30) and cfg.precision == "fp32" and cfg.calib_images == ()


def test_argument_errors_come_before_tensorrt_is_imported(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    with pytest.raises(UserError, match="--shapes"):
        build_engine(model, tmp_path / "x.engine", shapes="bad")
    with pytest.raises(BackendUnavailableError, match=r"needs TensorRT, which is not installed.*: pip install "
                                                      r"'impasto\[trt\]'"):
        build_engine(model, tmp_path / "x.engine")
    assert list(tmp_path.iterdir()) == [model]


def test_unreadable_onnx_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not protobuf")
    with pytest.raises(ModelError, match="cannot load it as an ONNX model"):
        build_engine(bad, tmp_path / "x.engine")


# -- calibration data (no TensorRT) -------------------------------------------------------------------

def test_calibration_images_and_preprocessing_match_the_runtime(tmp_path):
    paths = _images(tmp_path / "calib" / "sub", 5, size=(40, 60))
    (tmp_path / "calib" / "notes.txt").write_text("ignored")
    files = calib.list_calibration_images(tmp_path / "calib")
    assert files == sorted(paths)
    rgb = read_image(paths[0])
    x = calib.preprocess(rgb, (40, 60))
    assert x.shape == (1, 3, 40, 60) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert calib.preprocess(rgb, (20, 30)).shape == (1, 3, 20, 30)
    batches = list(calib.calibration_batches(files, (2, 3, 16, 24)))
    assert len(batches) == 2 and all(b.shape == (2, 3, 16, 24) and b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(batches[1][0], calib.preprocess(read_image(files[2]), (16, 24))[0])


def test_input_range_from_metadata():
    assert calib.input_range_of({}) == 1.0
    assert calib.input_range_of({"impasto.input": json.dumps({"range": [0, 255]})}) == 255.0
    with pytest.raises(ModelError, match="unreadable impasto.input"):
        calib.input_range_of({"impasto.input": "{"})


def test_calibration_cache_is_reused_only_for_the_same_inputs(tmp_path):
    files = _images(tmp_path / "c", 2)
    digest = calib.calibration_digest(files, tmp_path / "c")
    key = {"digest": digest, "batch_shape": [1, 3, 8, 8], "input_range": 1.0, "tensorrt_version": "10.9"}
    cache = calib.CalibrationCache.beside(tmp_path / "x.engine")
    assert cache.path == tmp_path / "x.calib" and cache.load(key) is None
    cache.save(b"table", key)
    assert cache.load(key) == b"table"
    assert cache.load({**key, "batch_shape": [1, 3, 16, 16]}) is None
    write_image(files[1], np.zeros((5, 5, 3), np.uint8))  # the data changed
    assert calib.calibration_digest(files, tmp_path / "c") != digest
    cache.path.write_bytes(b"tampered")  # a table without its manifest's sha256
    assert cache.load(key) is None


# -- control flow with a fake tensorrt (builds nothing) ----------------------------------------------------

def test_fake_trt_fp32_build_writes_engine_sidecar_and_timing_cache(model, tmp_path, monkeypatch):
    rec = FT.install(monkeypatch, device_name="Fake GPU 9000", compute_capability="8.9")
    engine = tmp_path / "engines" / "ident.engine"
    report = build_engine(model, engine, shapes="64x64,256x256,512x768")
    assert engine.read_bytes() == FT.FAKE_ENGINE
    assert rec.parsed_path == str(model) and rec.flags == []
    assert rec.profiles == [("image", (1, 3, 64, 64), (1, 3, 256, 256), (1, 3, 512, 768))]
    side = read_sidecar(engine)
    check_engine_sha(engine, engine.read_bytes(), side)
    assert side.engine_sha256 == hashlib.sha256(FT.FAKE_ENGINE).hexdigest() and side.engine_file == "ident.engine"
    assert side.tensorrt_version == "10.9.0.34" and side.gpu == {"name": "Fake GPU 9000", "compute_capability": "8.9"}
    assert side.precision == "fp32" and side.source_onnx["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert side.onnx_metadata == {k: v for k, v in META.items() if k.startswith("impasto.")}
    assert side.input["name"] == "image" and side.output["name"] == "stylized"
    assert side.profiles[0].max == (1, 3, 512, 768) and side.timing_cache == str(engine.parent / "timing.cache")
    raw = json.loads(sidecar_path(engine).read_text())
    assert raw["format"] == "impasto-engine" and raw["format_version"] == 1 and raw["build_seconds"] >= 0
    cache = engine.parent / "timing.cache"
    assert cache.read_bytes() == b"|tuned" and report["timing_cache"]["status"] == "new"
    assert report["engine_bytes"] == len(FT.FAKE_ENGINE) and report["gpu"] == "Fake GPU 9000"
    assert sorted(p.name for p in engine.parent.iterdir()) == ["ident.engine", "ident.json", "timing.cache"]

    # A second build loads the saved cache and saves the grown one.
    report = build_engine(model, engine, shapes="64x64,256x256,512x768")
    assert rec.cache_loaded == b"|tuned" and report["timing_cache"]["status"] == "loaded"
    assert cache.read_bytes() == b"|tuned|tuned"


def test_fake_trt_every_parser_error_is_reported_and_nothing_written(model, tmp_path, monkeypatch):
    FT.install(monkeypatch, parse_ok=False, parser_errors=(
        FT.ParserError(3, "Unsupported operator: FancyPad", name="pad_3", op="FancyPad"),
        FT.ParserError(7, "Input 1 of Resize must be an initializer", FT.ErrorCode.INVALID_NODE),
        FT.ParserError(-1, "graph has no outputs", FT.ErrorCode.INVALID_NODE)))
    engine = tmp_path / "x.engine"
    with pytest.raises(EngineBuildError) as info:
        build_engine(model, engine)
    msg = str(info.value)
    assert "\n" not in msg and "(3 errors)" in msg
    assert "1) node 3 'pad_3' (FancyPad): Unsupported operator: FancyPad [UNSUPPORTED_NODE]" in msg
    assert "2) node 7: Input 1 of Resize must be an initializer [INVALID_NODE]" in msg
    assert "3) graph: graph has no outputs [INVALID_NODE]" in msg
    assert list(tmp_path.iterdir()) == [model]


def test_fake_trt_no_engine_is_an_error(model, tmp_path, monkeypatch):
    FT.install(monkeypatch, engine=None, build_log_errors=("Internal error: no tactic for Conv_0",))
    with pytest.raises(EngineBuildError, match=r"TensorRT built no engine .*Internal error: no tactic for Conv_0.* "
                                               r"nothing was written"):
        build_engine(model, tmp_path / "x.engine")
    assert list(tmp_path.iterdir()) == [model]
    FT.install(monkeypatch, engine=b"")
    with pytest.raises(EngineBuildError, match="empty engine"):
        build_engine(model, tmp_path / "x.engine")


@pytest.mark.parametrize("precision, option", [("fp16", "fast_fp16"), ("int8", "fast_int8")])
def test_fake_trt_no_silent_precision_downgrade(model, tmp_path, monkeypatch, precision, option):
    FT.install(monkeypatch, device_name="Old GPU", compute_capability="6.1", **{option: False})
    calib_dir = tmp_path / "calib"
    _images(calib_dir, 1)
    kwargs = {"calib_dir": calib_dir} if precision == "int8" else {}
    with pytest.raises(UserError, match=rf"--{precision}: this GPU \(Old GPU \(compute capability 6.1\)\) has no "
                                        rf"fast {precision.upper()}"):
        build_engine(model, tmp_path / "x.engine", precision=precision, **kwargs)
    assert not (tmp_path / "x.engine").exists() and not (tmp_path / "x.json").exists()


def test_fake_trt_fp16_sets_the_flag_and_workspace(model, tmp_path, monkeypatch):
    rec = FT.install(monkeypatch)
    report = build_engine(model, tmp_path / "x.engine", precision="fp16", workspace_gb=2)
    assert rec.flags == ["FP16"] and rec.pool_limits == {"WORKSPACE": 2 * 2**30}
    side = read_sidecar(tmp_path / "x.engine")
    assert side.precision == "fp16" and side.builder_flags == ("FP16",) and side.workspace_bytes == 2 * 2**30
    assert report["builder_flags"] == ["FP16"]
    assert "--fp16" in side.rebuild_command(tmp_path / "x.engine")


def test_fake_trt_int8_calibrates_on_preprocessed_images_then_reuses_the_table(model, tmp_path, monkeypatch):
    rec = FT.install(monkeypatch)
    paths = _images(tmp_path / "calib", 5, size=(30, 50))
    engine = tmp_path / "x.engine"
    report = build_engine(model, engine, precision="int8", calib_dir=tmp_path / "calib",
                          shapes="2x3x16x24,2x3x16x24,2x3x32x48")
    assert rec.flags == ["INT8"] and rec.calibration_profile is not None
    assert len(rec.calibration_batches) == 2  # 5 images, batch 2: the fifth is left out
    first = rec.calibration_batches[0].view(np.float32).reshape(2, 3, 16, 24)
    expected = np.concatenate([calib.preprocess(read_image(p), (16, 24)) for p in paths[:2]])
    np.testing.assert_array_equal(first, expected)
    assert (tmp_path / "x.calib").read_bytes() == FT.FAKE_TABLE
    cal = report["calibration"]
    assert cal["images"] == 5 and cal["images_used"] == 4 and cal["batches"] == 2 and cal["reused"] is False
    assert read_sidecar(engine).calibration["digest"] == cal["digest"]

    rec.calibration_batches.clear()
    report = build_engine(model, engine, precision="int8", calib_dir=tmp_path / "calib",
                          shapes="2x3x16x24,2x3x16x24,2x3x32x48")
    assert report["calibration"]["reused"] is True and rec.calibration_batches == []


def test_fake_trt_unreadable_calibration_image_fails_the_build(model, tmp_path, monkeypatch):
    FT.install(monkeypatch)
    _images(tmp_path / "calib", 1)
    (tmp_path / "calib" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(EngineBuildError, match="int8 calibration failed reading a batch: .*broken.png"):
        build_engine(model, tmp_path / "x.engine", precision="int8", calib_dir=tmp_path / "calib")
    assert not (tmp_path / "x.engine").exists()


def test_fake_trt_stale_timing_cache_is_replaced_with_a_warning(model, tmp_path, monkeypatch, caplog):
    rec = FT.install(monkeypatch, rejected_cache=b"from-another-gpu")
    (tmp_path / "timing.cache").write_bytes(b"from-another-gpu")
    with caplog.at_level(logging.WARNING, logger="impasto.export"):
        report = build_engine(model, tmp_path / "x.engine")
    assert report["timing_cache"]["status"] == "replaced" and rec.cache_loaded == b""
    assert "written by another TensorRT version or GPU" in caplog.text
    assert (tmp_path / "timing.cache").read_bytes() == b"|tuned"


def test_fake_trt_profile_must_fit_the_network_input(tmp_path, monkeypatch):
    fixed = write_identity_onnx(tmp_path / "fixed.onnx", dims=(1, 3, 256, 256))
    FT.install(monkeypatch, inputs=(("image", (1, 3, 256, 256)),))
    with pytest.raises(UserError, match=r"the ONNX input 'image' has a fixed height of 256, got min 1x3x64x64"):
        build_engine(fixed, tmp_path / "x.engine", shapes="64x64,256x256,256x256")
    FT.install(monkeypatch, inputs=(("image", (-1, 3, -1, -1)), ("mask", (-1, 1, -1, -1))))
    with pytest.raises(UserError, match=r"expected a model with one image input, got 2: \['image', 'mask'\]"):
        build_engine(fixed, tmp_path / "x.engine")


def test_fake_trt_tensorrt_11_is_refused_for_building(model, tmp_path, monkeypatch):
    FT.install(monkeypatch, version="11.4.0.106")
    with pytest.raises(BackendUnavailableError, match=r"needs TensorRT 10\.x, got 11\.4\.0\.106"):
        build_engine(model, tmp_path / "x.engine")


# -- real TensorRT -------------------------------------------------------------------------------------------

def _real_trt_and_gpu():
    trt = pytest.importorskip("tensorrt")
    from impasto.runtime.tensorrt import cuda_mem

    try:
        cuda_mem.device_info(0)
    except Exception as exc:  # no cuda-python, no driver, no device
        pytest.skip(f"no usable CUDA GPU here: {exc}")
    return trt


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_real_build_of_an_identity_model(model, tmp_path):
    trt = _real_trt_and_gpu()
    engine = tmp_path / "ident.engine"
    report = build_engine(model, engine, shapes="8x8,32x32,64x64")
    side = read_sidecar(engine)
    check_engine_sha(engine, engine.read_bytes(), side)
    assert side.tensorrt_version == trt.__version__ and report["engine_bytes"] == engine.stat().st_size > 0
    assert Path(report["timing_cache"]["path"]).stat().st_size > 0


def test_fake_trt_records_and_verifies_the_shared_weights_file(tmp_path, monkeypatch):
    """A graph reading a shared external-data file: the build hashes it, the sidecar records it, a changed file is
    refused."""
    from impasto.contracts import SHARED_WEIGHTS_KEY

    weights = tmp_path / "enc.bin"
    weights.write_bytes(bytes(range(256)) * 16)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    model = write_identity_onnx(tmp_path / "ident.onnx")
    m = onnx.load(model)
    prop = m.metadata_props.add()
    prop.key, prop.value = SHARED_WEIGHTS_KEY, json.dumps({"file": "enc.bin", "bytes": 4096, "sha256": digest})
    onnx.save(m, model)
    FT.install(monkeypatch)
    engine = tmp_path / "ident.engine"
    build_engine(model, engine, shapes="64x64,256x256,512x768")
    side = read_sidecar(engine)
    assert side.source_onnx["shared_weights"] == "enc.bin" and side.source_onnx["shared_weights_sha256"] == digest
    before = engine.read_bytes(), sidecar_path(engine).read_bytes()

    weights.write_bytes(bytes(reversed(range(256))) * 16)  # same size, other values: only the hash can tell
    with pytest.raises(ModelError, match=r"enc\.bin.*other contents than the graph expects"):
        build_engine(model, engine, shapes="64x64,256x256,512x768")
    assert (engine.read_bytes(), sidecar_path(engine).read_bytes()) == before  # the earlier pair is untouched
