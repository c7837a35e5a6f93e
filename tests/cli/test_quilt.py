"""``impasto quilt``: synthesis and transfer, --json, seeds, one-line exit-2 errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import one_error_line

from impasto.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "assets" / "chelsea.jpg"


@pytest.fixture
def texture(shared, tmp_path) -> Path:
    from impasto.runtime.io.images import fit_max_size, read_image, write_image

    path = tmp_path / "texture.png"
    write_image(path, fit_max_size(read_image(shared / "data" / "style" / "msgnet_mosaic_ducks_massimo.jpg"),
                                   300)[:120, :120])
    return path


def test_synthesis_json_and_seed(texture, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["quilt", str(texture), "-o", str(out), "--size", "100x80", "--patch", "24", "--seed", "3",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["mode"] == "synthesis" and rep["size"] == [100, 80] and rep["seed"] == 3
    assert rep["patch"] == 24 and rep["overlap"] == 4 and rep["blocks"] == 20
    assert 0 < rep["mean_boundary_error"] < 0.2 and rep["seconds"] > 0
    first = out.read_bytes()
    assert main(["quilt", str(texture), "-o", str(out), "--size", "100x80", "--patch", "24", "--seed", "3",
                 "--json"]) == 0
    assert out.read_bytes() == first
    assert main(["quilt", str(texture), "-o", str(out), "--size", "100x80", "--patch", "24", "--seed", "4",
                 "--json"]) == 0
    assert out.read_bytes() != first


def test_transfer_json(texture, tmp_path, capsys):
    from impasto.runtime.io.images import read_image

    out = tmp_path / "t.png"
    assert main(["quilt", str(texture), "--transfer", str(PHOTO), "-o", str(out), "--max-size", "96",
                 "--patch", "24", "--passes", "2", "--alpha", "0.8", "--seed", "1", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["mode"] == "transfer" and rep["patch"] == [24, 16] and rep["overlap"] == [4, 3]
    assert rep["alphas"] == [0.1, 0.8] and rep["size"] == [96, 64]
    assert read_image(out).shape == (64, 96, 3)


def test_progress_bar_without_json(texture, tmp_path, capfd):
    assert main(["quilt", str(texture), "-o", str(tmp_path / "o.png"), "--size", "64x64", "--seed", "0"]) == 0
    captured = capfd.readouterr()
    assert "quilt 100%" in captured.err and "seed 0" in captured.out


@pytest.mark.parametrize("args,expected", [
    (["--size", "64x64", "--patch", "200"], "smaller than one 200x200 block"),
    (["--size", "64x64", "--patch", "16", "--overlap", "16"], "overlap: expected an integer from 1 to patch - 1"),
    (["--size", "20x20"], "size: expected each side from the patch size (32)"),
    (["--size", "9000x64"], "to 8192 pixels, got 9000x64"),
    (["--size", "64by64"], "expected WIDTHxHEIGHT"),
    (["--size", "64x64", "--passes", "4"], "--passes: applies to --transfer only"),
    (["--transfer", str(PHOTO), "--passes", "9"], "passes: expected an integer from 1 to 5"),
    (["--transfer", str(PHOTO), "--alpha", "2"], "--alpha"),
    (["--transfer", str(PHOTO), "--overlap", "3"], "--overlap: applies to synthesis"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(texture, tmp_path, capfd, args, expected):
    out = tmp_path / "o.png"
    try:
        code = main(["quilt", str(texture), "-o", str(out), *args])
    except SystemExit as exc:  # argparse type errors
        code = exc.code
    assert code == 2 and expected in one_error_line(capfd)
    assert not out.exists() and list(tmp_path.iterdir()) == [texture]


def test_unreadable_texture_and_bad_outputs(texture, tmp_path, capfd):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["quilt", str(bad), "-o", str(tmp_path / "o.png"), "--size", "64x64"]) == 2
    assert "not an image" in one_error_line(capfd)
    assert main(["quilt", str(texture), "-o", str(tmp_path / "o.txt"), "--size", "64x64"]) == 2
    assert "expected an image extension" in one_error_line(capfd)
    (tmp_path / "file").write_text("x")
    assert main(["quilt", str(texture), "-o", str(tmp_path / "file" / "o.png"), "--size", "64x64"]) == 2
    assert "is a file, not a folder" in one_error_line(capfd)
    assert main(["quilt", str(texture), "-o", str(texture), "--size", "64x64"]) == 2
    assert "would overwrite its input" in one_error_line(capfd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png", "file", "texture.png"]
