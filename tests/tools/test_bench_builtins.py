"""``tools/bench_builtins.py``: times the built-in graphs through their pipelines and lists a missing one as missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_a_graph_missing_from_the_install_is_listed_as_missing(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    for name in ("p.png", "s.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    from support import load_module

    tool = load_module(ROOT / "tools" / "bench_builtins.py", "bench_builtins")
    from impasto.runtime import builtin_graphs

    monkeypatch.setattr(builtin_graphs, "VGG16_DIR", tmp_path / "none")  # no wct graph in this 'install'
    assert tool.main(["--photo", str(tmp_path / "p.png"), "--painting", str(tmp_path / "s.png"), "--side", "64",
                      "--runs", "1", "--only", "bank,wct", "--json"]) == 0
    bank, wct = json.loads(capsys.readouterr().out)
    assert wct == {"graph": "wct", "missing": True}
    assert bank["graph"] == "bank" and bank["median_s"] > 0


def test_json_rows_have_timings(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("p.png", "s.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    tool = str(ROOT / "tools" / "bench_builtins.py")
    args = ["--photo", str(tmp_path / "p.png"), "--painting", str(tmp_path / "s.png"), "--side", "56", "--runs", "3",
            "--only", "bank", "--json"]
    done = subprocess.run([sys.executable, tool, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-1000:]
    (row,) = json.loads(done.stdout)
    assert row["graph"] == "bank" and row["runs"] == 3 and row["size"] == [40, 56]
    assert 0 < row["min_s"] <= row["median_s"] <= row["max_s"]
