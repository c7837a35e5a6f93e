"""``impasto photoreal`` and ``impasto stylize --style-image``: paths, --json, --alpha by its effect, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import one_error_line

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "assets" / "chelsea.jpg"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photoreal_cli")
    content = cv2.resize(read_image(CHELSEA), (90, 60), interpolation=cv2.INTER_AREA)
    style = (np.random.default_rng(0).random((72, 96, 3)) * 255).astype(np.uint8)
    cm = np.zeros((60, 90, 3), np.uint8)
    cm[:, 45:] = (0, 0, 255)
    sm = np.zeros((72, 96, 3), np.uint8)
    sm[36:] = (0, 0, 255)
    paths = {"content": d / "content.png", "style": d / "style.png", "cm": d / "cm.png", "sm": d / "sm.png",
             "small_style": d / "small.png", "photo_mask": d / "photo_mask.png", "cm_bad_size": d / "cm_bad.png"}
    write_image(paths["content"], content)
    write_image(paths["style"], style)
    write_image(paths["cm"], cm)
    write_image(paths["sm"], sm)
    write_image(paths["small_style"], style[:40, :50])
    write_image(paths["photo_mask"], content)
    write_image(paths["cm_bad_size"], cm[:, :80])
    return paths


def test_photoreal_with_masks_json(photowct_graph, files, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["photoreal", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--content-mask", str(files["cm"]), "--style-mask", str(files["sm"]), "--model",
                 str(photowct_graph.path), "--alpha", "0.9", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "photowct" and report["smooth"] == "fast" and report["alpha"] == 0.9
    assert report["labels"]["count"] == 2 and report["width"] == 90 and report["height"] == 60
    assert set(report["seconds"]) >= {"graph", "smooth", "total"}
    assert read_image(out).shape == (60, 90, 3)


@pytest.mark.parametrize("smooth", ["none", "exact"])
def test_photoreal_smoothing_modes_human_output(photowct_graph, files, tmp_path, capsys, smooth):
    out = tmp_path / "out.jpg"
    assert main(["photoreal", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--model", str(photowct_graph.path), "--smooth", smooth]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {out} (90x60) in ") and "CPUExecutionProvider" in line
    assert (" exact smoothing " in line) == (smooth == "exact")


def test_photoreal_max_size_shrinks_image_and_mask(photowct_graph, files, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["photoreal", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--content-mask", str(files["cm"]), "--style-mask", str(files["sm"]), "--model",
                 str(photowct_graph.path), "--max-size", "45"]) == 0
    assert read_image(out).shape == (30, 45, 3)


@pytest.mark.parametrize(("extra", "message"), [
    (["--content-mask", "{cm_bad_size}", "--style-mask", "{sm}"], "content mask: expected the size of its image"),
    (["--content-mask", "{photo_mask}", "--style-mask", "{sm}"], "not a colour-coded label mask"),
    (["--content-mask", "{cm}"], "--content-mask and --style-mask go together"),
    (["--style-image", "{small_style}"], "too small, expected at least 64 px"),
    (["--smooth", "exact", "--exact-max-pixels", "100"], "exceeds its limit"),
    (["--model", "{missing}"], "no such file"),
    (["-o", "{content}"], "would overwrite its input"),
])
def test_photoreal_bad_inputs_exit_2(photowct_graph, files, tmp_path, capsys, extra, message):
    names = {**{k: str(v) for k, v in files.items()}, "missing": str(tmp_path / "missing.onnx")}
    extra = [e.format(**names) for e in extra]
    argv = ["photoreal", str(files["content"]), "--style-image", str(files["style"]), "-o", str(tmp_path / "o.png"),
            "--model", str(photowct_graph.path), *extra]
    assert main(argv) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "o.png").exists()


def test_photoreal_rejects_a_wct_graph(wct_graph, files, tmp_path, capsys):
    assert main(["photoreal", str(files["content"]), "--style-image", str(files["style"]), "-o",
                 str(tmp_path / "o.png"), "--model", str(wct_graph.path)]) == 2
    assert "expected a photowct graph, got a wct graph" in one_error_line(capsys)


def test_stylize_style_image(wct_graph, files, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "--model",
                 str(wct_graph.path), "-o", str(out), "--strength", "0.7", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "wct" and report["strength"] == 0.7 and report["succeeded"] == 1
    assert read_image(out).shape == (60, 90, 3)
    # a folder, default output names NAME_STYLE.EXT
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        write_image(d / f"p{i}.png", read_image(files["content"]))
    assert main(["stylize", str(d), "--style-image", str(files["style"]), "--model", str(wct_graph.path),
                 "-o", str(tmp_path / "outdir")]) == 0
    assert sorted(p.name for p in (tmp_path / "outdir" / "in").iterdir()) == ["p0.png", "p1.png"]


def test_stylize_style_image_errors(wct_graph, photowct_graph, files, tmp_path, capsys):
    base = ["stylize", str(files["content"]), "-o", str(tmp_path / "o.png")]
    assert main([*base, "--style-image", str(files["style"]), "--style", "starry_night"]) == 2
    assert "choose one" in one_error_line(capsys)
    assert main([*base, "--style-image", str(files["small_style"]), "--model", str(wct_graph.path)]) == 2
    assert "too small" in capsys.readouterr().err
    assert main([*base, "--style-image", str(files["style"]), "--model", str(photowct_graph.path)]) == 2
    assert "expected a wct graph" in one_error_line(capsys)


def test_stylize_style_image_without_a_wct_graph(files, tmp_path, capsys, monkeypatch):
    """An install without wct.onnx: --method wct without --model gets a one-line error naming the file and saying how
    to build one (without --method, the built-in microast graph runs: tests/cli/test_stylize_microast_cli.py)."""
    from impasto.runtime import builtin_graphs

    monkeypatch.setattr(builtin_graphs, "VGG16_DIR", tmp_path)
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "--method", "wct", "-o",
                 str(tmp_path / "o.png")]) == 2
    line = one_error_line(capsys)
    assert "no built-in wct graph" in line and "impasto export wct" in line and "--kind artistic" in line
    assert repr(str(tmp_path / "wct.onnx")) in line and not (tmp_path / "o.png").exists()


def _toward_style(out: np.ndarray, content: np.ndarray, style: np.ndarray) -> float:
    """Where ``out``'s mean colour lies on the line from the content's (0) to the style's (1), by projection."""
    c, s, o = (x.reshape(-1, 3).astype(float).mean(0) for x in (content, style, out))
    return float((o - c) @ (s - c) / ((s - c) @ (s - c)))


def test_photoreal_alpha_changes_the_pixels_as_it_says(files, tmp_path, capsys):
    """Effect, not echo (shipped graph): alpha 0 keeps the content's statistics whatever the style, 1 takes the style's.

    Two styles (the astronaut photo tinted blue and red, mean colours 217 and 151 RGB levels from the content's):
    at alpha 0 both give the same image, the content's decoder reconstruction, whose mean colour stays at the
    content's (t, the position on the line from the content's mean colour to the style's: 0.05 and -0.10 measured)
    and whose per-channel spread is the content's less what the smoothing takes (1.4-3.5 levels); at alpha 1 the
    mean colour lands on the style's (t = 0.99 and 1.02), and 0.5 lies between (0.87, 0.88).
    """
    import cv2

    content = read_image(files["content"])
    astronaut = cv2.resize(read_image(ROOT / "assets" / "astronaut.jpg"), (128, 128), interpolation=cv2.INTER_AREA)
    styles = {"blue": np.clip(astronaut * [0.3, 0.5, 1.2] + [0, 10, 40], 0, 255).astype(np.uint8),
              "red": np.clip(astronaut[..., ::-1] * [1.2, 0.5, 0.2], 0, 255).astype(np.uint8)}

    def run(name: str, alpha: str) -> np.ndarray:
        write_image(tmp_path / f"{name}.png", styles[name])
        out = tmp_path / f"out_{name}_{alpha}.png"
        assert main(["photoreal", str(files["content"]), "--style-image", str(tmp_path / f"{name}.png"), "-o",
                     str(out), "--alpha", alpha]) == 0
        return read_image(out)

    for name in styles:
        kept, half, full = run(name, "0"), run(name, "0.5"), run(name, "1")
        t = [_toward_style(x, content, styles[name]) for x in (kept, half, full)]
        assert abs(t[0]) < 0.2 and t[0] < t[1] < t[2] and t[2] > 0.8, (name, t)
        spread = [x.reshape(-1, 3).std(0) for x in (kept, content)]
        assert np.abs(spread[0] - spread[1]).max() < 6, (name, spread)
    # alpha 0: the style has no say at all
    assert np.array_equal(read_image(tmp_path / "out_blue_0.png"), read_image(tmp_path / "out_red_0.png"))
    capsys.readouterr()
