"""``impasto eval``: the built-in bank on two tiny photos against one painting; ``--outputs``; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from impasto.cli.main import main  # noqa: E402
from impasto.runtime.io.images import read_image, write_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"model", "pairs", "style_ratio", "multiscale_style_ratio", "content_distance", "edge_ssim",
          "seconds_per_image", "images"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory, shared) -> dict[str, Path]:
    """Two 96-px photos and the painting starry_night was trained on."""
    root = tmp_path_factory.mktemp("eval")
    (root / "content").mkdir()
    for name in ("chelsea", "astronaut"):
        image = read_image(ROOT / "assets" / f"{name}.jpg")
        write_image(root / "content" / f"{name}.png", cv2.resize(image, (96, 72), interpolation=cv2.INTER_AREA))
    return {"content": root / "content", "painting": shared / "data" / "style" / "msgnet_starry_night.jpg",
            "root": root}


def _eval(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["eval", "--side", "96", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_builtin_styles_json_table_and_sheet(folders, vgg_weights, capsys):
    sheet = folders["root"] / "sheet.png"
    argv = ["--content", str(folders["content"]), "--style", str(folders["painting"]), "--model", "starry_night",
            "--model", "candy", "--sheet", str(sheet), "--vgg-weights", vgg_weights, "--backend", "ort-cpu"]
    code, out, _ = _eval([*argv, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    rows = {r["model"]: r for r in report["models"]}
    assert set(rows) == {"starry_night", "candy"} and FIELDS <= set(rows["candy"])
    for r in rows.values():
        assert r["pairs"] == 2 and [i["content"] for i in r["images"]] == ["astronaut.png", "chelsea.png"]
        assert 0 < r["style_ratio"] < 1.2 and 0 < r["content_distance"] and 0 < r["edge_ssim"] < 1
        assert r["seconds_per_image"] > 0
    # the painting's own style moves the photos nearer it than another painting's style does
    assert rows["starry_night"]["style_ratio"] < rows["candy"]["style_ratio"]
    sheet_image = read_image(sheet)
    assert sheet_image.shape[1] > 3 * 192 and sheet_image.std() > 20  # 3 columns: photo, 2 models


def test_eval_outputs_scores_existing_images(folders, vgg_weights, capsys):
    """The photos themselves as outputs: style ratio 1 and content distance 0 (at the measuring size)."""
    outputs = folders["root"] / "mine"
    outputs.mkdir()
    for p in folders["content"].iterdir():
        write_image(outputs / f"{p.stem}_starry_night.png", read_image(p))
    argv = ["--content", str(folders["content"]), "--style", str(folders["painting"]), "--outputs", str(outputs),
            "--sheet", str(folders["root"] / "o.png"), "--vgg-weights", vgg_weights]
    code, out, _ = _eval(argv, capsys)  # the markdown table
    assert code == 0 and out.splitlines()[0].startswith("| model | pairs | style ratio | multi-scale style ratio")
    assert out.splitlines()[2] == "| mine | 2 | 1.000 | 1.000 | 0.000 | 1.000 |"  # no s/image column: none timed
    code, out, _ = _eval([*argv, "--json"], capsys)
    assert code == 0
    (row,) = json.loads(out)["models"]
    assert row["model"] == "mine" and row["pairs"] == 2 and row["seconds_per_image"] is None
    assert row["style_ratio"] == pytest.approx(1.0, abs=1e-3) and row["content_distance"] < 1e-3


def test_eval_without_vgg_weights_is_one_line_exit_2(folders, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("IMPASTO_VGG16_WEIGHTS", raising=False)
    code, out, err = _eval(["--content", str(folders["content"]), "--style", str(folders["painting"]),
                            "--model", "candy", "--vgg-weights", str(tmp_path / "missing.pth"),
                            "--sheet", str(tmp_path / "s.png")], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "VGG16 weights" in err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "no_such_style"], "--model no_such_style: expected 'builtin'"),
    ([], "expected at least one --model or --outputs"),
    (["--model", "candy", "--sheet", "x.jpg"], "expected a .png path"),
])
def test_eval_bad_input_is_one_line_exit_2(folders, capsys, extra, message):
    argv = ["--content", str(folders["content"]), "--style", str(folders["painting"]), *extra]
    code, _, err = _eval(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_eval_builtin_against_a_folder_without_its_painting_is_refused(folders, tmp_path, capsys):
    (tmp_path / "p").mkdir()
    write_image(tmp_path / "p" / "other.png", np.zeros((32, 32, 3), np.uint8))
    write_image(tmp_path / "p" / "another.png", np.zeros((32, 32, 3), np.uint8))
    code, _, err = _eval(["--content", str(folders["content"]), "--style", str(tmp_path / "p"),
                          "--model", "candy"], capsys)
    assert code == 2 and "expected its painting 'msgnet_candy.jpg'" in err


def test_eval_video_reports_a_warping_error(folders, vgg_weights, tmp_path, capsys):
    """A clip of a photo panning 2 px per frame: every model row gets a finite warping error."""
    frames = tmp_path / "clip"
    frames.mkdir()
    base = cv2.resize(read_image(ROOT / "assets" / "astronaut.jpg"), (128, 96), interpolation=cv2.INTER_AREA)
    for i in range(3):
        write_image(frames / f"{i:03d}.png", base[:, 2 * i:2 * i + 96])
    code, out, _ = _eval(["--content", str(folders["content"]), "--style", str(folders["painting"]), "--model",
                          "starry_night", "--video", str(frames), "--sheet", str(tmp_path / "s.png"),
                          "--vgg-weights", vgg_weights, "--json"], capsys)
    assert code == 0
    (row,) = json.loads(out)["models"]
    assert 0 < row["warping_error"] < 255


def test_eval_onnx_graph_and_painting_graph_rows(folders, vgg_weights, tiny_model, tmp_path, capsys):
    """An exported .onnx (fixed style) and microast (takes the painting) against one painting: one row each."""
    code, out, _ = _eval(["--content", str(folders["content"]), "--style", str(folders["painting"]),
                          "--model", str(tiny_model), "--model", "microast", "--sheet", str(tmp_path / "s.png"),
                          "--vgg-weights", vgg_weights, "--json"], capsys)
    assert code == 0
    rows = {r["model"]: r for r in json.loads(out)["models"]}
    assert set(rows) == {"tiny", "microast"} and all(r["pairs"] == 2 for r in rows.values())
    assert rows["microast"]["style_ratio"] < 1.0  # MicroAST moves the photos towards the painting
