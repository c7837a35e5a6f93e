"""``impasto convert fast-neural-style`` on the command line, and the converted graph in stylize/video/webcam/bench."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from support import load_module, one_error_line

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.io.video import VideoReader, write_video

UPSTREAM = Path(__file__).resolve().parents[1] / "export" / "convert" / "fns_upstream.py"


def _load_upstream():
    return load_module(UPSTREAM, "impasto_tests_fns_upstream_cli")


@pytest.fixture(autouse=True)
def no_ffmpeg(monkeypatch):
    monkeypatch.setenv("IMPASTO_FFMPEG", "none")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``(source, graph, report)``: an upstream-layout checkpoint converted by the CLI with --json."""
    d = tmp_path_factory.mktemp("fns_cli")
    src, out = d / "candy.model", d / "candy.onnx"
    torch.save(_load_upstream().trained_like(seed=3).state_dict(), src)
    args = ["convert", "fast-neural-style", str(src), "-o", str(out), "--json", "--license", "BSD"]
    capture = d / "stdout.json"
    with pytest.MonkeyPatch.context() as mp, open(capture, "w") as fh, contextlib.redirect_stdout(fh):
        mp.setattr("sys.argv", ["impasto", *args])  # what the card records as the command
        assert main(args) == 0
    return src, out, json.loads(capture.read_text())


@pytest.fixture
def clip(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    tex = (rng.random((36, 48 + 8, 3)) * 255).astype(np.uint8)
    path = tmp_path / "in.mp4"
    write_video(path, [tex[:, i:i + 48] for i in range(4)], fps=8)
    return path


def test_json_report(converted):
    src, out, report = converted
    assert report["format"] == "fast-neural-style" and report["output"] == str(out) and out.is_file()
    assert report["onnx_bytes"] == out.stat().st_size and report["seconds"] > 0
    assert len(report["parity"]) == 3 and all(r["max_abs_error"] <= 1e-4 for r in report["parity"])
    card = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["impasto.card"])
    assert card["converted_from"]["command"].startswith(f"impasto convert fast-neural-style {src} -o ")
    assert card["converted_from"]["license"] == "BSD"


def test_human_report(converted, tmp_path, capsys):
    src, _, _ = converted
    assert main(["convert", "fast-neural-style", str(src), "-o", str(tmp_path / "x.onnx")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"converted fast-neural-style -> {tmp_path / 'x.onnx'} (") and "max abs error" in line


def test_stylize_runs_the_converted_graph_at_an_odd_size(converted, tmp_path, capsys):
    _, graph, _ = converted
    rng = np.random.default_rng(0)
    image, out = tmp_path / "in.png", tmp_path / "out.png"
    write_image(image, (rng.random((45, 61, 3)) * 255).astype(np.uint8))
    assert main(["stylize", str(image), "--model", str(graph), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["succeeded"] == 1 and report["style"] == "candy"
    result = read_image(out)
    assert result.shape == (45, 61, 3) and result.std() > 1  # the right size, not a flat image


def test_video_webcam_and_bench_run_it(converted, clip, tmp_path, capfd):
    _, graph, _ = converted
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "--model", str(graph), "--backend", "ort-cpu", "--json"]) == 0
    with VideoReader(out) as r:
        assert len(list(r)) == 4 and r.info.size == (48, 36)
    capfd.readouterr()
    assert main(["webcam", "--camera", str(clip), "--model", str(graph), "--no-window", "--frames", "4",
                 "--json"]) == 0
    s = json.loads(capfd.readouterr().out)
    assert s["frames_out"] == 4 and s["error"] is None
    assert main(["bench", str(graph), "--backend", "ort-cpu", "--sizes", "40x30", "--runs", "2", "--json"]) == 0
    assert "ort-cpu" in capfd.readouterr().out


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s.pop("deconv3.conv2d.bias"), "missing key 'deconv3.conv2d.bias'"),
    (lambda s: s.update({"in1.weight": torch.zeros(16)}), "'in1.weight': expected shape (32,), got (16,)"),
])
def test_bad_checkpoint_is_one_line_exit_2_and_nothing_written(converted, mutate, expected, tmp_path, capfd):
    src, _, _ = converted
    state = torch.load(src, weights_only=True)
    mutate(state)
    bad, out = tmp_path / "bad.pth", tmp_path / "bad.onnx"
    torch.save(state, bad)
    assert main(["convert", "fast-neural-style", str(bad), "-o", str(out)]) == 2
    assert expected in one_error_line(capfd)
    assert not out.exists()


def test_unreadable_source_is_one_line_exit_2(tmp_path, capfd):
    src = tmp_path / "style.t7"
    src.write_bytes(b"\x04\x00\x00\x00not a pytorch file")
    assert main(["convert", "fast-neural-style", str(src), "-o", str(tmp_path / "o.onnx")]) == 2
    assert "cannot read" in one_error_line(capfd)
    assert not (tmp_path / "o.onnx").exists()
