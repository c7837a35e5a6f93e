"""int8 (QDQ) graphs: calibrated on photos, run through the Stylizer close to fp32, metadata kept, bad input refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.export.quantize import MIN_PSNR_DB, QUANTIZED_KEY, QuantizeConfig, quantize_graph
from impasto.runtime.builtins import MODELS_DIR
from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.onnx_metadata import read_onnx_metadata
from impasto.runtime.pipelines.stylizer import Stylizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def calib(tmp_path_factory) -> Path:
    """Six real photos: crops of the two shipped sample photos."""
    d = tmp_path_factory.mktemp("calib")
    for name in ("chelsea.jpg", "astronaut.jpg"):
        rgb = read_image(ROOT / "assets" / name)
        h, w = rgb.shape[:2]
        for i, (y, x) in enumerate(((0, 0), (h // 3, w // 3), (h // 2, 0))):
            write_image(d / f"{Path(name).stem}_{i}.png", rgb[y:y + h // 2, x:x + w // 2])
    return d


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def test_a_quantized_graph_runs_close_to_fp32_with_its_metadata(tiny_model, calib, tmp_path, photo):
    out = tmp_path / "tiny.int8.onnx"
    report = quantize_graph(tiny_model, out, QuantizeConfig(calib, size=64))
    assert report["quantization"]["images"] == 6 and min(r["psnr_db"] for r in report["parity"]) >= MIN_PSNR_DB
    fp32_meta, int8_meta = read_onnx_metadata(tiny_model), read_onnx_metadata(out)
    assert {k: v for k, v in int8_meta.items() if k in fp32_meta} == fp32_meta
    assert int8_meta[QUANTIZED_KEY] == "int8" and json.loads(int8_meta["impasto.quantization"])["format"] == "QDQ"
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    with Stylizer.load(tiny_model) as fp32, Stylizer.load(out) as int8:
        a, b = fp32(photo), int8(photo)  # a photo it was not calibrated on, at full size
    assert a.shape == b.shape == photo.shape
    # 8-bit activations and weights: each quantized layer adds up to half a step (1/510 of its range) of rounding
    # noise. Measured 32.5 dB here (RMS ~6 grey levels); 28 dB allows RMS 10 levels, while the network's own change
    # to the photo is ~7.5 dB (RMS ~100 levels), so a broken quantization (wrong scales, a missing input) fails
    assert _psnr(a, b) >= 28.0, _psnr(a, b)
    assert _psnr(a, photo) < 15.0


def test_the_shipped_bank_quantizes_and_keeps_its_styles(calib, tmp_path, photo):
    out = tmp_path / "bank.int8.onnx"
    quantize_graph(MODELS_DIR / "bank.onnx", out, QuantizeConfig(calib, size=96, max_images=4))
    small = photo[::4, ::4]
    with Stylizer.load(MODELS_DIR / "bank.onnx", style="candy") as fp32, Stylizer.load(out, style="candy") as int8:
        assert int8.bank is not None and int8.bank.styles == fp32.bank.styles
        a, b = fp32(small), int8(small)
    assert _psnr(a, b) >= 30.0, _psnr(a, b)  # measured 34.9 dB; the bank's convolutions are wider than the tiny one's


def test_refusals(tiny_model, calib, tmp_path):
    with pytest.raises(UserError, match="expected a new file"):
        quantize_graph(tiny_model, tiny_model, QuantizeConfig(calib))
    out = tmp_path / "q.onnx"
    quantize_graph(tiny_model, out, QuantizeConfig(calib, size=48, max_images=2))
    with pytest.raises(UserError, match="already quantized"):
        quantize_graph(out, tmp_path / "qq.onnx", QuantizeConfig(calib))
    with pytest.raises(UserError, match="stats forms are not quantized"):
        quantize_graph(MODELS_DIR / "bank.tiled.onnx", tmp_path / "t.onnx", QuantizeConfig(calib))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("calib_kind", ["missing", "empty", "file"])
def test_a_bad_calibration_folder_is_one_line_and_exit_2(tiny_model, tmp_path, calib_kind):
    where = tmp_path / "calib"
    if calib_kind == "empty":
        where.mkdir()
        (where / "notes.txt").write_text("no photos")
    elif calib_kind == "file":
        where.write_text("x")
    out = tmp_path / "out.onnx"
    r = _cli("quantize", str(tiny_model), "--calib", str(where), "-o", str(out))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("impasto: error: --calib: expected")
    assert not out.exists()


def test_quantize_cli_json(tiny_model, calib, tmp_path):
    out = tmp_path / "q.onnx"
    r = _cli("quantize", str(tiny_model), "--calib", str(calib), "--calib-size", "48", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["output"] == str(out) and out.is_file() and report["quantization"]["fp32_nodes"]


def test_export_int8_writes_both_graphs(tiny_checkpoint, calib, tmp_path):
    out = tmp_path / "m.onnx"
    r = _cli("export", str(tiny_checkpoint), "-o", str(out), "--int8", "--calib", str(calib), "--calib-size", "48",
             "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert out.is_file() and (tmp_path / "m.int8.onnx").is_file()
    assert report["int8"]["output"] == str(tmp_path / "m.int8.onnx")
    r = _cli("export", str(tiny_checkpoint), "-o", str(tmp_path / "n.onnx"), "--int8")
    assert r.returncode == 2 and "--int8: expected --calib DIR" in r.stderr
