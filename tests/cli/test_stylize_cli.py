"""``impasto stylize`` / ``styles`` / ``info``: exit codes, --json, stdin/stdout, folders, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import decode_image, read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "assets" / "chelsea.jpg"


def _cli(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *args], input=stdin, capture_output=True, cwd=cwd,
                          timeout=300)


def test_single_file_human_output(tiny_model, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    assert main(["stylize", str(CHELSEA), "--model", str(tiny_model), "-o", str(out)]) == 0
    assert read_image(out).shape == read_image(CHELSEA).shape
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {out} (451x300) in ") and "CPUExecutionProvider" in line


def test_json_summary(tiny_model, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["stylize", str(CHELSEA), "--model", str(tiny_model), "-o", str(out), "--json",
                 "--strength", "0.5", "--preserve-color"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["provider"] == "CPUExecutionProvider" and report["style"] == "tiny"
    assert report["strength"] == 0.5 and report["preserve_color"] is True
    assert report["succeeded"] == 1 and report["failed"] == 0
    assert report["images"][0]["output"] == str(out) and report["images"][0]["width"] == 451


def test_max_size(tiny_model, tmp_path):
    out = tmp_path / "small.png"
    assert main(["stylize", str(CHELSEA), "--model", str(tiny_model), "-o", str(out), "--max-size", "100"]) == 0
    assert read_image(out).shape == (67, 100, 3)


def test_stdin_to_stdout(tiny_model):
    r = _cli("stylize", "-", "--model", str(tiny_model), stdin=CHELSEA.read_bytes())
    assert r.returncode == 0, r.stderr
    assert r.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode_image(r.stdout).shape == (300, 451, 3)
    r = _cli("stylize", "-", "--model", str(tiny_model), "--format", "jpg", stdin=CHELSEA.read_bytes())
    assert r.returncode == 0 and r.stdout[:3] == b"\xff\xd8\xff"


def test_stdin_bad_data_is_one_line_exit_2(tiny_model):
    r = _cli("stylize", "-", "--model", str(tiny_model), stdin=b"definitely not an image")
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr.decode().strip().splitlines() == [
        "impasto: error: stdin: not an image: expected JPEG, PNG, BMP, TIFF or WebP, got bytes b'definite'"]


def test_folder_recursive_keeps_names_and_survives_bad_files(tiny_model, tmp_path):
    src = tmp_path / "photos"
    photo = read_image(CHELSEA)
    write_image(src / "a.jpg", photo)
    write_image(src / "sub" / "b.png", photo[:50, :70])
    (src / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (src / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "styled"
    r = _cli("stylize", str(src), "--model", str(tiny_model), "-o", str(out), "--json")
    assert r.returncode == 2  # one file failed ...
    report = json.loads(r.stdout)
    assert report["succeeded"] == 2 and report["failed"] == 1
    assert read_image(out / "photos" / "a.jpg").shape == photo.shape  # ... the good ones are still written
    assert read_image(out / "photos" / "sub" / "b.png").shape == (50, 70, 3)
    assert not (out / "photos" / "sub" / "broken.jpg").exists()
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.jpg", "b.png"]  # no temporaries
    assert "broken.jpg: truncated JPEG" in r.stderr.decode()


def test_default_output_name_beside_the_input(tiny_model, tmp_path):
    src = tmp_path / "cat.jpg"
    src.write_bytes(CHELSEA.read_bytes())
    assert main(["stylize", str(src), "--model", str(tiny_model)]) == 0
    assert (tmp_path / "cat_tiny.jpg").is_file()


@pytest.mark.parametrize("args, message", [
    (["stylize", "missing.jpg"], "missing.jpg: no such file or folder"),
    (["stylize", str(CHELSEA), "--style", "no_such_style"], "unknown style 'no_such_style'"),
    (["stylize", str(CHELSEA), "--model", "missing.onnx"], "no such file"),
    (["stylize", str(CHELSEA), "-o", "out.gif"], "expected an image extension"),
    (["stylize", str(CHELSEA), "--strength", "1.5"], r"expected a number in [0, 1], got '1.5'"),
    (["stylize", str(CHELSEA), "--max-size", "0"], "expected a positive integer, got '0'"),
    (["stylize", str(CHELSEA), "--max-pixels", "1000"], "exceeds the limit of 1000 pixels"),
    (["stylize", str(CHELSEA), str(CHELSEA), "-o", "-"], "stdout takes a single image"),
    (["stylize", str(CHELSEA), "-o", str(CHELSEA)], "would overwrite its input"),
    (["stylize", str(CHELSEA), "--backend", "magic"], "invalid choice: 'magic'"),
    (["stylize", str(CHELSEA), "--style", "a", "--model", "b.onnx"], "no such file"),
    (["stylize", str(CHELSEA), "--style", "starry_night:0.5,nope:0.5"], "unknown style 'nope'"),
    (["stylize", str(CHELSEA), "--style", "starry_night", "--style-layer-weights", "1,1,1"],
     "expected 4 values (one per layer: relu1_2, relu2_2, relu3_3, relu4_3), got shape (3,)"),
    (["stylize", str(CHELSEA), "--style", "starry_night", "--content-layer-weights", "-1"],
     "expected finite non-negative values"),
    (["stylize", str(CHELSEA), "--style", "la_muse:x"], "expected a number after 'la_muse:'"),
    (["nonsense-command"], "invalid choice"),
])
def test_user_errors_are_one_line_exit_2(args, message, tmp_path, tiny_model):
    args = [a if a != "out.gif" else str(tmp_path / "out.gif") for a in args]
    if args[0] == "stylize" and "--style" not in args and "--model" not in args:
        args += ["--model", str(tiny_model)]
    r = _cli(*args, cwd=tmp_path)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(err) == 1 and err[0].startswith("impasto: error: ") and message in err[0], err
    assert "Traceback" not in r.stderr.decode()
    assert not list(tmp_path.glob("*.gif")) and not list(tmp_path.glob(".*.tmp"))


def test_train_extra_missing_is_a_clear_error(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from impasto.cli.main import main\n"
            "sys.exit(main(['export', 'x.pt', '-o', 'x.onnx']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == ("impasto: error: this command needs the [train] extra (torch is not installed): "
                                "pip install 'impasto[train]'")


def test_styles_lists_name_first(capsys):
    """The styles, then the built-in method graphs (tests/cli/test_builtin_graphs_cli.py checks those entries)."""
    from impasto.runtime.builtin_graphs import BUILTIN_GRAPHS
    from impasto.runtime.builtins import builtin_styles, default_style

    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [*builtin_styles(), *BUILTIN_GRAPHS]
    assert len(lines) >= 8 and "(default)" in lines[0] and lines[0].startswith("starry_night\t")
    assert main(["styles", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    styles = [s for s in listed if not s["graph"]]
    assert [s["name"] for s in styles] == list(builtin_styles())
    assert [s["name"] for s in listed if s["graph"]] == list(BUILTIN_GRAPHS)
    assert [s["name"] for s in listed if s["default"]] == [default_style()] == ["starry_night"]
    assert all(s["bank"] and s["source"].endswith(".jpg") for s in styles)


def test_bank_style_mix_and_layer_weights(tmp_path, capsys):
    out = tmp_path / "mix.png"
    assert main(["stylize", str(CHELSEA), "-o", str(out), "--style", "starry_night:0.6,la_muse:0.4",
                 "--style-layer-weights", "1,1,2,2", "--content-layer-weights", "0.5", "--max-size", "160",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    bank = report["bank"]
    weights = dict(zip(bank["styles"], bank["style_weights"], strict=True))
    assert weights["starry_night"] == pytest.approx(0.6) and weights["la_muse"] == pytest.approx(0.4)
    assert bank["style_layer_weights"] == [1, 1, 2, 2] and bank["content_layer_weights"] == [0.5]
    assert report["style"] == "starry_night+la_muse" and read_image(out).shape == (106, 160, 3)


def test_bank_options_on_a_single_style_model_are_refused(tiny_model, tmp_path):
    r = _cli("stylize", str(CHELSEA), "--model", str(tiny_model), "-o", str(tmp_path / "o.png"),
             "--style-layer-weights", "1,1,1,1")
    assert r.returncode == 2 and "is a single-style model" in r.stderr.decode()
    assert not (tmp_path / "o.png").exists()


def test_info_json(capsys, monkeypatch, tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    monkeypatch.setenv("IMPASTO_VGG16_WEIGHTS", str(weights))
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "CPUExecutionProvider" in info["providers"]
    assert info["vgg16_weights"] == {"path": str(weights), "source": "env", "resolves": True,
                                     "variable": "IMPASTO_VGG16_WEIGHTS"}
    assert info["packages"]["onnxruntime"]
    assert info["backends"]["ort-cpu"] == "installed" and set(info["backends"]) == {"ort-cpu", "ort-cuda", "ort-trt",
                                                                                     "tensorrt"}
    assert [m["name"] for m in info["builtin_methods"]] == ["quilting"]  # a built-in method with no graph
    assert "impasto quilt" in info["builtin_methods"][0]["command"]
    monkeypatch.setenv("IMPASTO_VGG16_WEIGHTS", str(tmp_path / "missing.pth"))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "VGG16 weights: NOT FOUND" in out
    assert "built-in method: quilting (no graph, torch-free): " in out


def test_version(capsys):
    import impasto

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"impasto {impasto.__version__}"


def _chroma(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.int16)


@pytest.fixture(scope="module")
def strengths(tiny_model, tmp_path_factory) -> dict[str, np.ndarray]:
    """The photo stylised by the CLI at strength 0, 0.5 and 1, and with --preserve-color (PNG: lossless)."""
    d = tmp_path_factory.mktemp("strength")
    runs = {"0": ["--strength", "0"], "0.5": ["--strength", "0.5"], "1": [], "color": ["--preserve-color"]}
    out = {}
    for name, flags in runs.items():
        path = d / f"{name}.png"
        assert main(["stylize", str(CHELSEA), "--model", str(tiny_model), "-o", str(path), *flags]) == 0
        out[name] = read_image(path).astype(np.int16)
    return out


def test_strength_zero_returns_the_photo_and_half_lies_halfway(strengths):
    photo = read_image(CHELSEA).astype(np.int16)
    assert np.array_equal(strengths["0"], photo)
    assert np.abs(strengths["1"] - photo).mean() > 20  # the tiny net changes the photo a lot ...
    halfway = (strengths["1"] + photo) / 2
    assert np.abs(strengths["0.5"] - halfway).max() <= 1  # ... and half strength is the pixel-wise mean


def test_preserve_color_keeps_the_photos_chroma_and_the_styles_luma(strengths):
    import cv2

    photo = read_image(CHELSEA)
    plain_shift = np.abs(_chroma(strengths["1"].astype(np.uint8)) - _chroma(photo)).mean()
    kept_shift = np.abs(_chroma(strengths["color"].astype(np.uint8)) - _chroma(photo)).mean()
    # kept: only the YCrCb round trip and the clipping of out-of-gamut pixels back into RGB move it (3.5 here)
    assert plain_shift > 20 and kept_shift < 5, (plain_shift, kept_shift)
    luma = [cv2.cvtColor(strengths[k].astype(np.uint8), cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
            for k in ("1", "color")]
    assert np.abs(luma[0] - luma[1]).mean() < 2  # the brightness pattern is the stylised one
