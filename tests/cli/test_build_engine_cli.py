"""``impasto build-engine``: argument errors, the no-TensorRT message, exit codes, reports.

Argument errors are detected before ``tensorrt`` is imported, so they are tested here
without TensorRT. The success/failure reports use the fake ``tensorrt`` of
``tests/export/fake_tensorrt.py`` (``fake_trt`` in the test names): they check the
command's plumbing, not TensorRT.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from support import load_module

from impasto.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _load_fake_tensorrt():
    return load_module(ROOT / "tests" / "export" / "fake_tensorrt.py", "impasto_tests_fake_tensorrt")


FT = _load_fake_tensorrt()


@pytest.fixture
def model(tmp_path) -> Path:
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    y = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["stylized"])], "ident", [x], [y])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    prop = m.metadata_props.add()
    prop.key, prop.value = "impasto.style_name", "ident"
    path = tmp_path / "ident.onnx"
    onnx.save(m, path)
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("impasto: error: "), err
    return err


@pytest.mark.parametrize("args, match", [
    (["missing.onnx", "-o", "x.engine"], "expected an .onnx model, got 'missing.onnx' (no such file)"),
    (["MODEL", "-o", "x.trt"], "expected an output path ending in .engine"),
    (["MODEL", "-o", "x.engine", "--shapes", "256x256"], "--shapes: expected three shapes MIN,OPT,MAX"),
    (["MODEL", "-o", "x.engine", "--shapes", "1x3x9x9,1x3x8x8,1x3x9x9"], "(height: 9 > 8)"),
    (["MODEL", "-o", "x.engine", "--int8"], "--int8: needs calibration images: --calib DIR"),
    (["MODEL", "-o", "x.engine", "--calib", "photos"], "--calib: only used with --int8"),
    (["MODEL", "-o", "x.engine", "--int8", "--calib", "nowhere"], "--calib: expected a folder of images"),
    (["MODEL", "-o", "x.engine", "--workspace-gb", "0"], "--workspace-gb: expected a positive number of GiB"),
    (["MODEL", "-o", "x.engine", "--workspace-gb", "-1"], "expected a non-negative number"),
    (["MODEL", "-o", "x.engine", "--fp16", "--int8"], "not allowed with argument"),
    (["MODEL"], "the following arguments are required: -o/--output"),
])
def test_argument_errors_exit_2_before_tensorrt(model, tmp_path, capsys, monkeypatch, args, match):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # a TensorRT error would show instead if checked first
    monkeypatch.chdir(tmp_path)
    argv = ["build-engine", *[str(model) if a == "MODEL" else a for a in args]]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert match in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ident.onnx"]


def test_without_tensorrt_one_line_and_exit_2(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main(["build-engine", str(model), "-o", str(tmp_path / "x.engine")]) == 2
    err = _one_line_error(capsys)
    assert "impasto build-engine needs TensorRT, which is not installed" in err
    assert "pip install 'impasto[trt]'" in err and "NVIDIA's package index" in err
    assert not (tmp_path / "x.engine").exists()


def test_without_tensorrt_in_a_fresh_interpreter(model, tmp_path):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    r = subprocess.run([sys.executable, "-m", "impasto", "build-engine", str(model), "-o", str(tmp_path / "x.engine"),
                        "--fp16"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "needs TensorRT, which is not installed" in r.stderr


def test_fake_trt_json_report(model, tmp_path, capsys, monkeypatch):
    FT.install(monkeypatch, device_name="Fake GPU 9000", compute_capability="8.9")
    out = tmp_path / "engines" / "ident.engine"
    assert main(["build-engine", str(model), "-o", str(out), "--fp16", "--shapes", "32x32,64x64,128x128",
                 "--timing-cache", str(tmp_path / "tc.bin"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == str(out) and report["sidecar"] == str(out.with_suffix(".json"))
    assert report["precision"] == "fp16" and report["builder_flags"] == ["FP16"]
    assert report["profile"] == {"input": "image", "min": [1, 3, 32, 32], "opt": [1, 3, 64, 64],
                                 "max": [1, 3, 128, 128]}
    assert report["gpu"] == "Fake GPU 9000" and report["timing_cache"]["path"] == str(tmp_path / "tc.bin")
    assert out.read_bytes() == FT.FAKE_ENGINE and (tmp_path / "tc.bin").is_file()


def test_fake_trt_human_report(model, tmp_path, capsys, monkeypatch):
    FT.install(monkeypatch, device_name="Fake GPU 9000", compute_capability="8.9")
    out = tmp_path / "ident.engine"
    assert main(["build-engine", str(model), "-o", str(out), "--shapes", "32x32,64x64,128x128"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"built {out} (fp32, ") and "for Fake GPU 9000 (compute capability 8.9), " \
                                                           "TensorRT 10.9.0.34" in lines[0]
    assert lines[1] == "  profile image: min 1x3x32x32, opt 1x3x64x64, max 1x3x128x128"
    assert lines[2] == f"  sidecar {tmp_path / 'ident.json'}; timing cache {tmp_path / 'timing.cache'} (new)"


def test_fake_trt_build_failure_exits_1(model, tmp_path, capsys, monkeypatch):
    FT.install(monkeypatch, parse_ok=False, parser_errors=(FT.ParserError(0, "Unsupported operator: Identity"),))
    assert main(["build-engine", str(model), "-o", str(tmp_path / "x.engine")]) == 1
    err = _one_line_error(capsys)
    assert "ONNX parser rejected" in err and "node 0: Unsupported operator: Identity" in err
    assert not (tmp_path / "x.engine").exists()


def test_fake_trt_fp16_without_fast_fp16_exits_2(model, tmp_path, capsys, monkeypatch):
    FT.install(monkeypatch, fast_fp16=False, device_name="Old GPU", compute_capability="6.1")
    assert main(["build-engine", str(model), "-o", str(tmp_path / "x.engine"), "--fp16"]) == 2
    assert "--fp16: this GPU (Old GPU (compute capability 6.1)) has no fast FP16" in _one_line_error(capsys)
