"""The runtime and the inference CLI never import torch (checked in a fresh interpreter); the runtime not Ray either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_runtime_does_not_import_torch():
    r = _run("import sys, impasto.runtime, impasto.runtime.quilting, impasto.cli.main, impasto.cli.quilt, "
             "impasto.export\n"
             "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript', 'ray'))\n"
             "assert not bad, bad\nprint('ok')")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_stylize_end_to_end_without_torch(tiny_model, tmp_path):
    out = tmp_path / "out.png"
    code = ("import sys\n"
            "from impasto.runtime import Stylizer, read_image, write_image\n"
            "from impasto.cli.main import main\n"
            f"s = Stylizer.load({str(tiny_model)!r})\n"
            "img = read_image('assets/chelsea.jpg')\n"
            f"write_image({str(out)!r}, s(img, strength=0.7, preserve_colors=True))\n"
            f"assert main(['stylize', 'assets/chelsea.jpg', '--model', {str(tiny_model)!r}, "
            f"'-o', {str(tmp_path / 'cli.jpg')!r}, '--json']) == 0\n"
            "assert main(['info', '--json']) == 0\n"
            f"assert main(['quilt', 'assets/chelsea.jpg', '-o', {str(tmp_path / 'q.png')!r}, '--size', '64x48', "
            "'--json']) == 0\n"
            "with Stylizer.load() as default:\n"
            "    assert default(img).shape == img.shape\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0 and (tmp_path / "cli.jpg").stat().st_size > 0


def test_no_torch_or_pycuda_import_statement_under_runtime():
    """Also the modules the imports above do not load (TensorRT's CUDA memory helpers use cuda-python, never pycuda)."""
    offenders = [str(p) for p in (ROOT / "impasto" / "runtime").rglob("*.py")
                 if any(line.strip().startswith(("import torch", "from torch", "import pycuda", "from pycuda"))
                        for line in p.read_text().splitlines())]
    assert offenders == []
