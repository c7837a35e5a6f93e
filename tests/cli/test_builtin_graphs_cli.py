"""The built-in wct and warpnet graphs from the CLI: no --model needed, listed with their cards, missing ones named.

Tiny real graphs (the session's ``wct_graph`` and ``warpnet_graph``) stand in for the shipped
ones: ``VGG16_DIR`` points at a folder holding them. The last tests run the shipped files
themselves where this checkout has them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import one_error_line

from impasto.cli.main import main
from impasto.runtime import builtin_graphs
from impasto.runtime.io.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_VGG16_DIR = builtin_graphs.VGG16_DIR


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A photo, a painting-like style (a colour ramp) and two crops of one photo for the warp."""
    d = tmp_path_factory.mktemp("builtin_graphs_cli")
    photo = read_image(ROOT / "assets" / "chelsea.jpg")
    ramp = np.zeros((80, 100, 3), np.uint8)
    ramp[..., 0] = np.linspace(30, 250, 100, dtype=np.uint8)
    ramp[..., 2] = np.linspace(200, 20, 80, dtype=np.uint8)[:, None]
    paths = {"content": d / "content.png", "style": d / "style.png", "a": d / "a.png", "b": d / "b.png"}
    write_image(paths["content"], cv2.resize(photo, (90, 60), interpolation=cv2.INTER_AREA))
    write_image(paths["style"], ramp)
    write_image(paths["a"], np.ascontiguousarray(photo[40:168, 60:188]))
    write_image(paths["b"], np.ascontiguousarray(photo[46:174, 51:179]))
    return paths


@pytest.fixture
def installed(tmp_path, monkeypatch, wct_graph, warpnet_graph) -> Path:
    """A VGG16 folder with wct.onnx and warpnet.onnx (no photowct.onnx: a trimmed install)."""
    d = tmp_path / "vgg16"
    d.mkdir()
    shutil.copyfile(wct_graph.path, d / "wct.onnx")
    shutil.copyfile(warpnet_graph.path, d / "warpnet.onnx")
    monkeypatch.setattr(builtin_graphs, "VGG16_DIR", d)
    return d


def _json(capsys) -> dict | list:
    return json.loads(capsys.readouterr().out)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_stylize_wct_without_model_runs_the_builtin_graph(files, installed, tmp_path, capsys):
    """Effect: the same pixels as --model with the same file, a stylised picture, and --strength still applies."""
    base = ["stylize", str(files["content"]), "--style-image", str(files["style"]), "--json"]
    builtin, explicit, half = tmp_path / "builtin.png", tmp_path / "explicit.png", tmp_path / "half.png"
    assert main([*base, "--method", "wct", "-o", str(builtin)]) == 0
    assert _json(capsys)["model"] == str(installed / "wct.onnx")
    assert main([*base, "--model", str(installed / "wct.onnx"), "-o", str(explicit)]) == 0
    capsys.readouterr()
    assert main([*base, "--method", "wct", "--strength", "0.5", "-o", str(half)]) == 0
    capsys.readouterr()
    content, out = read_image(files["content"]), read_image(builtin)
    assert np.array_equal(out, read_image(explicit))
    assert out.shape == content.shape and _diff(out, content) > 5
    assert _diff(read_image(half), out) > 1


def test_stylize_style_image_default_method_stays_microast(files, installed, tmp_path, capsys):
    from impasto.cli.stylize import DEFAULT_STYLE_IMAGE_METHOD

    assert DEFAULT_STYLE_IMAGE_METHOD == "microast"
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "-o",
                 str(tmp_path / "o.png"), "--json"]) == 0
    assert _json(capsys)["model"] == str(builtin_graphs.BUILTIN_GRAPHS["microast"].path)


def test_warp_network_without_model_runs_the_builtin_graph(files, installed, tmp_path, capsys):
    builtin, explicit = tmp_path / "builtin.png", tmp_path / "explicit.png"
    base = ["warp", str(files["a"]), "--geometry", str(files["b"]), "--json"]
    assert main([*base, "-o", str(builtin)]) == 0
    summary = _json(capsys)
    assert summary["method"] == "network" and summary["model"] == str(installed / "warpnet.onnx")
    assert main([*base, "--model", str(installed / "warpnet.onnx"), "-o", str(explicit)]) == 0
    capsys.readouterr()
    out = read_image(builtin)
    assert np.array_equal(out, read_image(explicit))
    assert out.shape == (128, 128, 3) and _diff(out, read_image(files["a"])) > 1  # it warped


def test_info_and_styles_list_the_builtin_graphs_with_their_cards(installed, warpnet_graph, capsys):
    card = warpnet_graph.card
    assert main(["info", "--json"]) == 0
    graphs = {g["name"]: g for g in _json(capsys)["builtin_graphs"]}
    assert main(["styles", "--json"]) == 0
    listed = {s["name"]: {k: v for k, v in s.items() if k not in ("graph", "default")} for s in _json(capsys)
              if s["graph"]}
    assert listed == graphs
    wct, warpnet, photowct = graphs["wct"], graphs["warpnet"], graphs["photowct"]
    assert wct["installed"] and wct["method"] == "wct" and wct["path"] == str(installed / "wct.onnx")
    assert wct["card"]["relu2_1"]["kind"] == "artistic" and "relu2_1" in wct["summary"]
    assert warpnet["installed"] and warpnet["method"] == "warpnet" and warpnet["card"] == card
    assert warpnet["summary"] == {k: card[k] for k in ("data", "iterations", "heldout_epe_px",
                                                                       "identity_epe_px")}
    assert not photowct["installed"] and "impasto export photowct" in photowct["build"]
    assert main(["info"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("built-in graph: ")]
    assert len(lines) == 4
    assert "heldout_epe_px 1.25" in lines[3] and lines[3].startswith("built-in graph: warpnet")
    assert "MISSING" in lines[2] and str(installed / "photowct.onnx") in lines[2]


@pytest.mark.parametrize("argv, name", [
    (["stylize", "{content}", "--style-image", "{style}", "--method", "wct", "-o", "{tmp}/o.png"], "wct"),
    (["warp", "{a}", "--geometry", "{b}", "-o", "{tmp}/o.png"], "warpnet"),
    (["warp", "{a}", "--geometry", "{b}", "--style", "starry_night", "-o", "{tmp}/o.png"], "warpnet"),
])
def test_a_missing_builtin_graph_is_one_line_exit_2_nothing_written(files, tmp_path, monkeypatch, capsys, argv, name):
    empty = tmp_path / "vgg16"
    empty.mkdir()
    monkeypatch.setattr(builtin_graphs, "VGG16_DIR", empty)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = [a.replace("{tmp}", str(out_dir)).format(**{k: str(v) for k, v in files.items()}) for a in argv]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert f"no built-in {name} graph is installed ({str(empty / f'{name}.onnx')!r} is missing)" in line
    assert f"impasto export {name}" in line and "pass it with --model" in line
    assert list(out_dir.iterdir()) == []


def _shipped(name: str) -> Path:
    path = SHIPPED_VGG16_DIR / f"{name}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout (the lead ships it with the trained graphs)")
    return path


def test_the_shipped_wct_graph_runs_without_model(files, tmp_path, capsys):
    path = _shipped("wct")
    out = tmp_path / "o.png"
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "--method", "wct",
                 "-o", str(out), "--json"]) == 0
    assert _json(capsys)["model"] == str(path)
    image, content = read_image(out), read_image(files["content"])
    assert image.shape == content.shape and _diff(image, content) > 5


def test_the_shipped_warpnet_graph_runs_without_model(files, tmp_path, capsys):
    path = _shipped("warpnet")
    out = tmp_path / "o.png"
    assert main(["warp", str(files["a"]), "--geometry", str(files["b"]), "-o", str(out), "--json"]) == 0
    assert _json(capsys)["model"] == str(path)
    assert read_image(out).shape == (128, 128, 3)
