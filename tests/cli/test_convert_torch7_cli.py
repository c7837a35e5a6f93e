"""``impasto convert torch7`` on the command line, and the converted graph in ``impasto stylize`` and ``bench``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from support import load_module

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image

UPSTREAM = Path(__file__).resolve().parents[1] / "export" / "convert" / "t7_upstream.py"


def _load_upstream():
    return load_module(UPSTREAM, "impasto_tests_t7_upstream_cli")


def test_convert_then_stylize_and_bench(tmp_path, capsys):
    up = _load_upstream()
    src, graph = tmp_path / "udnie.t7", tmp_path / "udnie.onnx"
    up.save_t7(up.johnson_model(seed=4, width=8, blocks=2), src)
    assert main(["convert", "torch7", str(src), "-o", str(graph), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "torch7" and all(r["max_abs_error"] <= 1e-4 for r in report["parity"])
    image, out = tmp_path / "in.png", tmp_path / "out.png"
    write_image(image, (np.random.default_rng(0).random((37, 50, 3)) * 255).astype(np.uint8))
    assert main(["stylize", str(image), "--model", str(graph), "-o", str(out)]) == 0
    assert read_image(out).shape == (37, 50, 3)
    capsys.readouterr()
    assert main(["bench", str(graph), "--backend", "ort-cpu", "--sizes", "40x30", "--runs", "2"]) == 0


def test_bad_checkpoint_is_one_line_exit_2_and_nothing_written(tmp_path, capfd):
    up = _load_upstream()
    ckpt = up.johnson_model(seed=0, width=4, blocks=1)
    ckpt["model"].fields["modules"][5].fields["weight"] = np.ones(3, np.float32)  # an 8-channel norm
    src, out = tmp_path / "bad.t7", tmp_path / "bad.onnx"
    up.save_t7(ckpt, src)
    assert main(["convert", "torch7", str(src), "-o", str(out)]) == 2
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"impasto: error: torch7 checkpoint {str(src)!r}: model.modules[5].weight: expected shape (8,), "
                     "got (3,)"]
    assert not out.exists()


def test_pytorch_file_is_refused_in_one_line(tmp_path, capfd):
    src = tmp_path / "mosaic.pth"
    src.write_bytes(b"PK\x03\x04\x14\x00\x00\x00 a torch.save zip")
    assert main(["convert", "torch7", str(src), "-o", str(tmp_path / "o.onnx")]) == 2
    err = capfd.readouterr().err.strip()
    assert err.startswith("impasto: error: torch7 checkpoint") and "cannot read as a Torch7 file" in err
    assert "\n" not in err and not (tmp_path / "o.onnx").exists()
