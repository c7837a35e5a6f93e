"""CLI of geometric style: impasto keypoints, warp, train warpnet, export warpnet (paths and errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import load_module, one_error_line

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[2]


def _shift_graph_writer():
    """``write_shift_graph`` of tests/runtime/test_warp.py (not importable by name under --import-mode=importlib)."""
    return load_module(ROOT / "tests" / "runtime" / "test_warp.py", "_warp_graph").write_shift_graph


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("geometry_cli")
    photo = read_image(ROOT / "assets" / "chelsea.jpg")
    a, b = photo[40:168, 60:188], photo[46:174, 51:179]  # B(p) = A(p - (9, -6))
    paths = {"a": d / "a.png", "b": d / "b.png", "graph": d / "shift.onnx"}
    write_image(paths["a"], np.ascontiguousarray(a))
    write_image(paths["b"], np.ascontiguousarray(b))
    _shift_graph_writer()(paths["graph"], shift_x=0.1)
    return paths


def test_keypoints_writes_json_and_png(files, tmp_path, capsys, vgg_weights):
    out = tmp_path / "pts.json"
    assert main(["keypoints", str(files["a"]), str(files["b"]), "-o", str(out), "--k", "6", "--size", "128",
                 "--vgg-weights", vgg_weights, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    doc = json.loads(out.read_text())
    assert printed["points_a"] == doc["points_a"] and len(doc["points_a"]) == 6
    d = np.array(doc["points_b"]) - np.array(doc["points_a"])
    assert np.sum(np.all(np.abs(d - [9.0, -6.0]) <= 1.0, axis=1)) >= 4, d
    assert "pixel" in doc["convention"] and read_image(tmp_path / "pts.png").shape[0] == 480


@pytest.mark.parametrize("args, message", [
    (["-o", "{tmp}/pts.txt"], "expected a .json path"),
    (["-o", "{tmp}/pts.json", "--png", "{tmp}/pic.jpg"], "expected a .png path"),
    (["-o", "{tmp}/pts.json", "--size", "32"], "at least 64"),
])
def test_keypoints_bad_flags(files, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["keypoints", str(files["a"]), str(files["b"]), *args]) == 2
    assert message in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_keypoints_missing_image(files, tmp_path, capsys):
    assert main(["keypoints", str(files["a"]), str(tmp_path / "nope.png"), "-o", str(tmp_path / "p.json")]) == 2
    assert f"{str(tmp_path / 'nope.png')!r}: no such file" in one_error_line(capsys)
    assert not (tmp_path / "p.json").exists()


def test_warp_network_without_texture_and_with_a_builtin_style(files, tmp_path, capsys):
    out = tmp_path / "warped.png"
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), "--model", str(files["graph"]),
                 "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "network" and summary["size"] == [128, 128]
    warped, a = read_image(out), read_image(files["a"])
    assert np.abs(warped[:, :100].astype(int) - a[:, 6:106].astype(int)).mean() < 3  # +0.1 in x = 6.4 px
    styled = tmp_path / "styled.jpg"
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), "--model", str(files["graph"]),
                 "--style", "starry_night", "-o", str(styled)]) == 0
    assert read_image(styled).shape == (128, 128, 3)


@pytest.mark.parametrize("args, message", [
    (["--model", "{graph}", "-o", "{tmp}/o.txt"], "expected an image extension"),
    (["--method", "dst", "--style", "starry_night", "-o", "{tmp}/o.png"], "applies to --method network"),
    (["--method", "dst", "--model", "{graph}", "-o", "{tmp}/o.png"], "--model: applies"),
    (["--model", "{tmp}/missing.onnx", "-o", "{tmp}/o.png"], "no such file"),
])
def test_warp_bad_inputs(files, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)).replace("{graph}", str(files["graph"])) for a in args]
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), *args]) == 2
    assert message in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_warp_missing_geometry(files, tmp_path, capsys):
    assert main(["warp", str(files["a"]), "--geometry", str(tmp_path / "g.png"), "--model", str(files["graph"]),
                 "-o", str(tmp_path / "o.png")]) == 2
    assert f"{str(tmp_path / 'g.png')!r}: no such file" in one_error_line(capsys)
    assert not (tmp_path / "o.png").exists()


def test_warp_style_and_texture_are_exclusive(files, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["warp", str(files["a"]), "--geometry", str(files["b"]), "--style", "x", "--texture", "t.png",
              "-o", str(tmp_path / "o.png")])
    assert e.value.code == 2
    assert "argument --texture: not allowed with argument --style" in one_error_line(capsys)


def test_train_and_export_warpnet_bad_inputs(tmp_path, capsys):
    assert main(["train", "warpnet", "--data", str(tmp_path), "-o", str(tmp_path / "w.pt"), "--size", "100"]) == 2
    assert "multiple of 16" in one_error_line(capsys)
    assert main(["export", "warpnet", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "w.onnx")]) == 2
    assert "no such file" in one_error_line(capsys)
    assert main(["export", "warpnet", "a.pt", "b.pt", "-o", str(tmp_path / "w.onnx")]) == 2
    assert "expected one checkpoint" in one_error_line(capsys)
    assert main(["export", "warpnet", "a.pt", "-o", str(tmp_path / "w.onnx"), "--opset", "20"]) == 2
    assert "opset" in one_error_line(capsys)


def test_warp_network_with_a_texture_and_dst(files, tmp_path, capsys, vgg_weights):
    out = tmp_path / "textured.png"
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), "--model", str(files["graph"]),
                 "--texture", str(files["b"]), "--size", "48", "--iters", "2", "--vgg-weights", vgg_weights,
                 "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["texture"] == str(files["b"])
    assert read_image(out).shape == (48, 48, 3)
    out = tmp_path / "dst.png"
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), "--method", "dst", "--size", "48",
                 "--iters", "3", "--k", "4", "--vgg-weights", vgg_weights, "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    kept = 4 - len(summary["pruning"]["dropped"])
    assert summary["method"] == "dst" and len(summary["keypoints_content"]) == kept >= 3
    assert read_image(out).shape == (48, 48, 3)
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), "--method", "dst", "--size", "48",
                 "--iters", "1", "--k", "4", "--no-prune", "--vgg-weights", vgg_weights, "-o", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pruning"] is None and len(summary["keypoints_content"]) == 4
