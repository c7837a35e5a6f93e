"""``tools/gpu_check.py --dry-run``: every step of the GPU check runs on the CPU at tiny sizes and is reported.

So the script works the first time a GPU is lent; a failing step goes into the report and
the others still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["build_ext", "gpu_tests", "kernels", "graphs_torch", "graphs_ort", "train_bank", "train_decoder"]


def _gpu_check(out: Path, *args: str, timeout: float = 300) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--dry-run", "--out", str(out),
                           *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "gpu_check.md").read_text().startswith("# GPU check (dry run, CPU)")
    return json.loads((out / "gpu_check.json").read_text())


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut.jpg", "chelsea.jpg"):
        (folder / name).write_bytes((ROOT / "assets" / name).read_bytes())
    return folder


def test_dry_run_runs_every_step(tmp_path, photos, vgg_weights):
    report = _gpu_check(tmp_path / "out", "--data", str(photos), "--styles", str(photos / "chelsea.jpg"),
                        "--vgg-weights", vgg_weights)
    steps = {e["step"]: e for e in report["steps"]}
    assert list(steps) == STEPS
    assert report["ran"] == STEPS, {k: e.get("error") for k, e in steps.items()}
    torch_rows = steps["graphs_torch"]["result"]["rows"]
    assert {(r["graph"], r["precision"]) for r in torch_rows} == {(g, p) for g in ("bank", "photowct")
                                                                  for p in ("fp32", "fp16")}
    assert all(r.get("median_ms", 0) > 0 for r in torch_rows), torch_rows
    assert {r["graph"] for r in steps["graphs_ort"]["result"]["rows"]} == {"bank", "microast", "photowct"}
    assert {r["op"] for r in steps["kernels"]["result"]["rows"]} >= {"correlation4d", "tps_warp"}
    assert steps["train_bank"]["result"]["images_per_s"] > 0 and steps["train_decoder"]["result"]["images_per_s"] > 0


def test_a_failing_step_is_reported_and_the_others_still_run(tmp_path):
    report = _gpu_check(tmp_path / "out", "--data", str(tmp_path / "missing"), "--skip",
                        "build_ext,gpu_tests,kernels,graphs_torch,graphs_ort", timeout=120)
    status = {e["step"]: e["status"] for e in report["steps"]}
    assert status == {**dict.fromkeys(STEPS[:5], "skipped"), "train_bank": "failed", "train_decoder": "failed"}
    errors = [e["error"] for e in report["steps"] if e["status"] == "failed"]
    assert all("\n" not in e and "exited 2" in e for e in errors), errors
    assert report["ran"] == []


def test_steps_past_the_time_budget_are_skipped_and_reported(tmp_path):
    report = _gpu_check(tmp_path / "out", "--budget-seconds", "0", timeout=120)
    assert [e["status"] for e in report["steps"]] == ["skipped"] * len(STEPS)
    assert all("budget" in e["reason"] for e in report["steps"])
