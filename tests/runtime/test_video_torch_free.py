"""The video, webcam and temporal modules (runtime and CLI) never import torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["impasto.runtime.io.video", "impasto.runtime.stream.video", "impasto.runtime.stream.live",
           "impasto.runtime.stream.temporal", "impasto.runtime.io.audio", "impasto.runtime.stream.channel",
           "impasto.cli.video", "impasto.cli.webcam"]


def test_video_modules_import_without_torch():
    code = (f"import sys\nfor m in {MODULES!r}: __import__(m)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
            "assert not bad, bad\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_video_cli_runs_end_to_end_without_torch(tiny_model, tmp_path):
    code = ("import sys, numpy as np\n"
            "from impasto.runtime.io.video import write_video\n"
            "from impasto.cli.main import main\n"
            f"write_video({str(tmp_path / 'in.avi')!r}, [np.full((24, 32, 3), 9 * i, np.uint8) for i in range(6)], 6)\n"
            f"assert main(['video', {str(tmp_path / 'in.avi')!r}, '-o', {str(tmp_path / 'out.mp4')!r}, "
            f"'--model', {str(tiny_model)!r}, '--stabilize', '0.5', '--json']) == 0\n"
            f"assert main(['webcam', '--camera', {str(tmp_path / 'in.avi')!r}, '--model', {str(tiny_model)!r}, "
            "'--no-window', '--json']) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 0


def test_no_torch_import_statement_in_the_video_cli():
    for name in ("video.py", "webcam.py"):
        text = (ROOT / "impasto" / "cli" / name).read_text()
        assert not any(line.strip().startswith(("import torch", "from torch")) for line in text.splitlines()), name
