"""``impasto stylize --style-image`` through the built-in MicroAST graph: default method, --method, errors, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import one_error_line

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("microast_cli")
    content = cv2.resize(read_image(ROOT / "assets" / "chelsea.jpg"), (90, 61), interpolation=cv2.INTER_AREA)
    painting = cv2.resize(read_image(ROOT / "assets" / "astronaut.jpg"), (80, 96), interpolation=cv2.INTER_AREA)
    paths = {"content": d / "content.png", "style": d / "style.png", "tiny": d / "tiny.png"}
    write_image(paths["content"], content)
    write_image(paths["style"], painting)
    write_image(paths["tiny"], painting[:12, :12])
    return paths


def test_style_image_runs_the_builtin_microast_by_default(files, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "microast" and report["succeeded"] == 1
    assert Path(report["model"]).name == "microast.onnx"
    content, got = read_image(files["content"]), read_image(out)
    assert got.shape == content.shape == (61, 90, 3)
    assert np.abs(got.astype(float) - content).mean() > 10  # restyled, not the photo
    with ArbitraryStylizer.load(backend="ort-cpu") as model:  # the CLI ran the built-in graph as the API does
        assert np.array_equal(got, model(content, read_image(files["style"])))


def test_strength_blends_with_the_photo(files, tmp_path, capsys):
    content = read_image(files["content"]).astype(float)
    diffs = []
    for strength in ("0", "0.5", "1"):
        out = tmp_path / f"s{strength}.png"
        assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                     "--strength", strength, "--method", "microast"]) == 0
        diffs.append(np.abs(read_image(out).astype(float) - content).mean())
    assert diffs[0] < 0.5 and diffs[0] < diffs[1] < diffs[2]
    assert abs(diffs[1] - diffs[2] / 2) < 2  # an image-space blend: half the change


def test_model_path_picks_its_own_method(files, tmp_path, capsys):
    """--model with a microast graph needs no --method; a graph of another method is refused in one line."""
    from impasto.runtime.builtin_graphs import ARBITRARY_DIR

    out = tmp_path / "o.png"
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--model", str(ARBITRARY_DIR / "microast.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "microast"
    bank = ROOT / "impasto" / "runtime" / "data" / "bank.onnx"
    assert main(["stylize", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--model", str(bank), "--method", "microast"]) == 2
    assert "expected a microast graph" in one_error_line(capsys)


@pytest.mark.parametrize("argv,message", [
    (["--method", "microast"], "--method: applies to --style-image only"),
    (["--style-image", "{tiny}"], "style image 12x12: too small, expected at least 16 px"),
    (["--style-image", "{style}", "--method", "wct", "--model", "{missing}"], "no such file"),
])
def test_errors_are_one_line(argv, message, files, tmp_path, capsys):
    names = {"tiny": str(files["tiny"]), "style": str(files["style"]), "missing": str(tmp_path / "none.onnx")}
    out = tmp_path / "o.png"
    assert main(["stylize", str(files["content"]), "-o", str(out), *[a.format(**names) for a in argv]]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


def test_style_image_without_torch(files, tmp_path):
    out = tmp_path / "o.jpg"
    code = ("import sys\n"
            "from impasto.cli.main import main\n"
            f"assert main(['stylize', {str(files['content'])!r}, '--style-image', {str(files['style'])!r}, "
            f"'-o', {str(out)!r}]) == 0\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert read_image(out).shape == (61, 90, 3)


def _clip(tmp_path: Path) -> Path:
    from impasto.runtime.io.video import write_video

    photo = cv2.resize(read_image(ROOT / "assets" / "chelsea.jpg"), (88, 48), interpolation=cv2.INTER_AREA)
    path = tmp_path / "in.mp4"
    write_video(path, [photo[:, i:i + 64] for i in range(0, 24, 4)], fps=6)
    return path


def test_video_with_a_painting(files, tmp_path, capfd, monkeypatch):
    from impasto.runtime.io.video import VideoReader

    monkeypatch.setenv("IMPASTO_FFMPEG", "none")
    clip, out = _clip(tmp_path), tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "--style-image", str(files["style"]), "--json"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert report["method"] == "microast" and report["style"] == "style" and report["frames"] == 6
    with VideoReader(clip) as a, VideoReader(out) as b:
        src, got = list(a), list(b)
    assert len(got) == 6 and got[0].shape == src[0].shape == (48, 64, 3)
    assert np.mean([np.abs(g.astype(float) - s).mean() for g, s in zip(got, src)]) > 10  # restyled frames
    assert main(["video", str(clip), "-o", str(tmp_path / "x.mp4"), "--style-image", str(files["style"]),
                 "--style", "candy"]) == 2
    assert "choose one" in capfd.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_webcam_with_a_painting(files, tmp_path, capfd):
    clip = _clip(tmp_path)
    assert main(["webcam", "--camera", str(clip), "--no-window", "--style-image", str(files["style"]),
                 "--json"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert Path(report["model"]).name == "microast.onnx" and report["style"] == "style"
    assert report["frames_out"] == 6
