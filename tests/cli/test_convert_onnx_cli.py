"""``impasto convert onnx`` on the command line, and the converted graphs through stylize, video and bench."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from support import load_module, one_error_line

from impasto.cli.main import main
from impasto.runtime.io.video import VideoReader, write_video

graphs = load_module(Path(__file__).resolve().parents[1] / "export" / "convert" / "foreign_onnx_graphs.py",
                     "impasto_tests_foreign_onnx_graphs_cli")


@pytest.fixture(autouse=True)
def no_ffmpeg(monkeypatch):
    monkeypatch.setenv("IMPASTO_FFMPEG", "none")


def convert(tmp_path: Path, capfd, name: str, model: onnx.ModelProto, *flags: str) -> tuple[Path, dict]:
    src, out = tmp_path / f"{name}.onnx", tmp_path / f"{name}_impasto.onnx"
    onnx.save(model, str(src))
    assert main(["convert", "onnx", str(src), "-o", str(out), "--input-range", "0-255", *flags, "--json"]) == 0
    return out, json.loads(capfd.readouterr().out)


def test_convert_then_stylize_video_and_bench(tmp_path, capfd):
    out, report = convert(tmp_path, capfd, "candy", graphs.zoo_style(), "--license", "BSD-3-Clause")
    assert report["format"] == "onnx" and report["output"] == str(out) and report["onnx_bytes"] > 0
    assert max(r["max_abs_error"] for r in report["parity"]) <= 1e-4 and report["dims"][2] == "height"
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), (np.random.default_rng(0).random((75, 101, 3)) * 255).astype(np.uint8))
    styled = tmp_path / "styled.png"
    assert main(["stylize", str(photo), "--model", str(out), "-o", str(styled), "--backend", "ort-cpu"]) == 0
    img = cv2.imread(str(styled))
    assert img.shape == (75, 101, 3) and img.std() > 1
    capfd.readouterr()
    clip = tmp_path / "clip.mp4"
    write_video(clip, [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(6)], fps=6)
    video = tmp_path / "styled.mp4"
    assert main(["video", str(clip), "-o", str(video), "--model", str(out), "--backend", "ort-cpu"]) == 0
    with VideoReader(video) as r:
        assert len(list(r)) == 6 and r.info.size == (64, 48)
    capfd.readouterr()
    assert main(["bench", str(out), "--backend", "ort-cpu", "--sizes", "40x30", "--runs", "2", "--warmup", "0",
                 "--json"]) == 0
    rows = json.loads(capfd.readouterr().out)["rows"]
    assert [(r["width"], r["height"]) for r in rows] == [(40, 30)]


def test_fixed_size_graph_is_said_plainly_and_still_stylizes(tmp_path, capfd):
    src = tmp_path / "baked.onnx"
    onnx.save(graphs.zoo_style(reshape=True), str(src))
    out = tmp_path / "baked_impasto.onnx"
    assert main(["convert", "onnx", str(src), "-o", str(out), "--input-range", "0-255"]) == 0
    text = capfd.readouterr().out
    assert text.startswith(f"converted onnx -> {out} (")
    photo, styled = tmp_path / "p.png", tmp_path / "s.png"
    cv2.imwrite(str(photo), np.full((60, 90, 3), 128, np.uint8))
    assert main(["stylize", str(photo), "--model", str(out), "-o", str(styled), "--backend", "ort-cpu"]) == 0
    assert cv2.imread(str(styled)).shape == (60, 90, 3)


def test_human_output_says_when_the_size_stays_fixed(tmp_path, capfd):
    src = tmp_path / "baked.onnx"
    onnx.save(graphs.zoo_style(reshape=True), str(src))
    assert main(["convert", "onnx", str(src), "-o", str(tmp_path / "o.onnx"), "--input-range", "0-255"]) == 0
    err = capfd.readouterr().err
    assert err.startswith("impasto: note: the graph fixes its size at 224x224 (ONNX Runtime at 97x131")
    assert err.count("\n") == 1


@pytest.mark.parametrize("make, flags, expected", [
    (lambda p: p.write_bytes(b"\x80\x02PK not onnx"), [], "not an ONNX model"),
    (lambda p: onnx.save(graphs.two_inputs(), str(p)), [], "expected one image input, got 2 (['a', 'b'])"),
    (lambda p: onnx.save(graphs.zoo_style(), str(p)), ["--layout", "nhwc"], "expected 3 channels on axis 3"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capfd, make, flags, expected):
    src, out = tmp_path / "src.onnx", tmp_path / "out.onnx"
    make(src)
    assert main(["convert", "onnx", str(src), "-o", str(out), "--input-range", "0-255", *flags]) == 2
    assert expected in one_error_line(capfd)
    assert not out.exists()


def test_input_range_is_required(tmp_path, capfd):
    src = tmp_path / "src.onnx"
    onnx.save(graphs.zoo_style(), str(src))
    with pytest.raises(SystemExit) as info:
        main(["convert", "onnx", str(src), "-o", str(tmp_path / "o.onnx")])
    assert info.value.code == 2 and "--input-range" in one_error_line(capfd)


def test_convert_onnx_needs_no_torch(tmp_path):
    import subprocess
    import sys

    src, out = tmp_path / "candy.onnx", tmp_path / "out.onnx"
    onnx.save(graphs.zoo_style(), str(src))
    code = ("import sys; sys.modules['torch'] = None\nfrom impasto.cli.main import main\n"
            f"sys.exit(main(['convert', 'onnx', {str(src)!r}, '-o', {str(out)!r}, '--input-range', '0-255']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"converted onnx -> {out} (") and out.is_file()
