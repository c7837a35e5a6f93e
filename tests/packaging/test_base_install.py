"""A base install (`pip install .`: numpy, onnxruntime, opencv, no torch) runs every runtime command in the README.

The test builds the wheel, checks it fits the 30 MB budget, installs it into a fresh
virtual environment with nothing else, and runs each command there as a user would,
checking what it wrote. Commands that need the ``[train]`` extra must say so in one
line and exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL_BUDGET = 30 * 1024 * 1024
CLIP = ROOT / "tests" / "data" / "tone_32x24_10fps.mp4"
PHOTO, OTHER = ROOT / "assets" / "astronaut.jpg", ROOT / "assets" / "chelsea.jpg"


def _run(cmd: list[str], timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IMPASTO_VGG16_WEIGHTS")}
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, **kw)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    """``{"python", "impasto", "wheel"}`` of a fresh venv holding only the wheel and its dependencies."""
    import shutil

    d = tmp_path_factory.mktemp("base_install")
    # a copy without build outputs: setuptools' build/ folder of a working tree can hold modules deleted since
    src = d / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "runs",
        "out", ".carry", "engines", "demo-output", "_C*.so"))
    build = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                  "-w", str(d / "wheel")], cwd=d)
    assert build.returncode == 0, build.stderr.decode()[-2000:]
    (wheel,) = (d / "wheel").glob("impasto-*.whl")
    venv.EnvBuilder(with_pip=True).create(d / "venv")
    py = d / "venv" / "bin" / "python"
    inst = _run([str(py), "-m", "pip", "install", "-q", str(wheel)], timeout=600)
    assert inst.returncode == 0, inst.stderr.decode()[-2000:]
    return {"python": py, "impasto": d / "venv" / "bin" / "impasto", "wheel": wheel}


def test_the_wheel_fits_the_budget_and_holds_the_built_in_graphs(base):
    import zipfile

    size = base["wheel"].stat().st_size
    assert size <= WHEEL_BUDGET, f"wheel is {size / 2**20:.1f} MiB"
    names = zipfile.ZipFile(base["wheel"]).namelist()
    assert "impasto/runtime/data/bank.onnx" in names and "impasto/runtime/data/vgg16/photowct.onnx" in names
    assert {"impasto/runtime/data/arbitrary/microast.onnx", "impasto/runtime/data/arbitrary/MICROAST_LICENSE"} <= set(
        names)
    assert not [n for n in names if n.endswith((".so", ".pt", ".pth"))], "compiled or checkpoint files in the wheel"
    # the built-in VGG16 graphs read one shared encoder file (ONNX external data): in the wheel once, beside them
    shared = [n for n in names if n.endswith(".f16.bin")]
    assert shared == ["impasto/runtime/data/vgg16/vgg16_relu4_1.f16.bin"], shared
    assert "impasto/runtime/data/vgg16/vgg16_relu4_1.f16.json" in names
    with zipfile.ZipFile(base["wheel"]) as zf:
        assert zf.getinfo("impasto/runtime/data/vgg16/photowct.onnx").file_size < 5_000_000  # no private encoder


def test_torch_is_not_installed_there(base):
    r = _run([str(base["python"]), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"])
    assert r.stdout.decode().strip() == "True"


def _impasto(base, *args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return _run([str(base["impasto"]), *args], cwd=cwd, input=stdin)


def _read(base, path: Path) -> np.ndarray:
    """Decode ``path`` with the base install's own reader (``HxWx3`` uint8), returned through a .npy file."""
    out = path.with_suffix(".npy")
    r = _run([str(base["python"]), "-c", "import sys, numpy; from impasto.runtime import read_image; "
              "numpy.save(sys.argv[2], read_image(sys.argv[1]))", str(path), str(out)])
    assert r.returncode == 0, r.stderr.decode()
    return np.load(out)


def _ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return r.stdout.decode()


def test_styles_and_info(base, tmp_path):
    styles = json.loads(_ok(_impasto(base, "styles", "--json", cwd=tmp_path)))
    names = {s["name"] for s in styles} if isinstance(styles, list) else set(styles)
    assert {"starry_night", "la_muse", "mosaic"} <= names
    info = json.loads(_ok(_impasto(base, "info", "--json", cwd=tmp_path)))
    assert "CPUExecutionProvider" in json.dumps(info)


def test_stylize_files_mixes_folders_and_pipes(base, tmp_path):
    a = tmp_path / "a.jpg"
    _ok(_impasto(base, "stylize", str(PHOTO), "-o", str(a), "--style", "la_muse", "--max-size", "128", cwd=tmp_path))
    b = tmp_path / "b.png"
    _ok(_impasto(base, "stylize", str(PHOTO), "-o", str(b), "--style", "starry_night:0.6,la_muse:0.4",
                 "--style-layer-weights", "0.5,0.5,2,2", "--content-layer-weights", "1", "--max-size", "128",
                 cwd=tmp_path))
    photo = _read(base, PHOTO)
    out_a, out_b = _read(base, a), _read(base, b)
    assert out_a.shape == out_b.shape and max(out_a.shape[:2]) == 128
    assert np.abs(out_a.astype(int) - out_b.astype(int)).mean() > 5  # two styles, two pictures
    small = _read(base, a)
    assert np.abs(small.astype(int).mean(axis=(0, 1)) - photo.astype(int).mean(axis=(0, 1))).max() > 1

    folder = tmp_path / "in"
    folder.mkdir()
    for p in (PHOTO, OTHER):
        (folder / p.name).write_bytes(p.read_bytes())
    report = json.loads(_ok(_impasto(base, "stylize", str(folder), "-o", str(tmp_path / "out"), "--strength", "0.7",
                                     "--preserve-color", "--max-size", "96", "--json", cwd=tmp_path)))
    written = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["astronaut.jpg", "chelsea.jpg"], report

    piped = _impasto(base, "stylize", "-", "--max-size", "64", cwd=tmp_path, stdin=PHOTO.read_bytes())
    assert piped.returncode == 0 and piped.stdout[:8] == b"\x89PNG\r\n\x1a\n", piped.stderr.decode()


def test_stylize_style_image_runs_the_built_in_microast(base, tmp_path):
    report = json.loads(_ok(_impasto(base, "stylize", str(PHOTO), "--style-image", str(OTHER), "-o",
                                     str(tmp_path / "m.jpg"), "--max-size", "96", "--json", cwd=tmp_path)))
    assert report["method"] == "microast" and report["succeeded"] == 1
    assert max(_read(base, tmp_path / "m.jpg").shape[:2]) == 96


def test_sheet_photoreal_video_webcam_bench(base, tmp_path):
    _ok(_impasto(base, "sheet", str(OTHER), "-o", str(tmp_path / "sheet.jpg"), "--tile", "64", cwd=tmp_path))
    assert _read(base, tmp_path / "sheet.jpg").shape[1] > 64 * 2

    _ok(_impasto(base, "photoreal", str(PHOTO), "--style-image", str(OTHER), "-o", str(tmp_path / "p.jpg"),
                 "--max-size", "96", cwd=tmp_path))
    assert max(_read(base, tmp_path / "p.jpg").shape[:2]) == 96

    video = json.loads(_ok(_impasto(base, "video", str(CLIP), "-o", str(tmp_path / "clip.mp4"), "--json",
                                    cwd=tmp_path)))
    # the clip has a tone; without the [video] extra or an ffmpeg on PATH the documented answer is "dropped"
    assert video["frames"] == video["frames_in_header"] == 10
    assert video["audio"] in ("copied", "dropped: no ffmpeg found")
    cam = json.loads(_ok(_impasto(base, "webcam", "--camera", str(CLIP), "--no-window", "--frames", "5", "--json",
                                  cwd=tmp_path)))
    assert cam["frames_out"] == 5
    bench = json.loads(_ok(_impasto(base, "bench", "--style", "starry_night", "--backend", "ort-cpu",
                                    "--sizes", "64", "--runs", "2", "--warmup", "1", "--json", cwd=tmp_path)))
    assert "64" in json.dumps(bench)


@pytest.mark.parametrize("argv", [
    ["gatys", str(PHOTO), str(OTHER), "-o", "g.jpg"],
    ["export", "model.pt", "-o", "m.onnx"],
    ["keypoints", str(PHOTO), str(OTHER), "-o", "k.json"],
])
def test_training_side_commands_name_the_extra_in_one_line(base, tmp_path, argv):
    r = _impasto(base, *argv, cwd=tmp_path)
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "[train]" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
