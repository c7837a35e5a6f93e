"""``impasto webcam``: a headless run over a video file read as a camera, --json, clean ends, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.video import write_video


@pytest.fixture
def clip(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "cam.avi"
    write_video(path, [(rng.random((24, 32, 3)) * 255).astype(np.uint8) for _ in range(30)], fps=30)
    return path


def test_headless_json_with_frame_limit(tiny_model, clip, capfd):
    assert main(["webcam", "--camera", str(clip), "--model", str(tiny_model), "--no-window", "--frames", "12",
                 "--json", "--strength", "0.7", "--size", "40x30"]) == 0
    s = json.loads(capfd.readouterr().out)
    assert (s["frames_in"], s["frames_out"], s["frames_dropped"]) == (12, 12, 0)
    assert s["reason"] == "frame limit reached (12 frames)" and s["error"] is None
    assert s["style"] == "tiny" and s["provider"] == "CPUExecutionProvider"
    assert 0 < s["latency_ms"]["p50"] <= s["latency_ms"]["p95"] and s["fps"] > 0
    assert s["source"] == str(clip) and s["drop_frames"] is False and s["strength"] == 0.7


def test_headless_file_runs_to_its_end_with_a_human_summary(tiny_model, clip, capfd):
    assert main(["webcam", "--camera", str(clip), "--model", str(tiny_model), "--no-window", "--stabilize",
                 "0.5"]) == 0
    out = capfd.readouterr().out.splitlines()
    assert out[0] == "stream ended: end of file after 30 frames"
    assert out[1].startswith("30/30 frames stylised (0 dropped) at ") and "'tiny' on CPUExecutionProvider" in out[1]


def test_realtime_file_is_paced_and_may_drop(tiny_model, clip, capfd):
    assert main(["webcam", "--camera", str(clip), "--model", str(tiny_model), "--no-window", "--realtime",
                 "--json"]) == 0
    s = json.loads(capfd.readouterr().out)
    assert s["drop_frames"] is True and s["frames_in"] == 30
    assert s["frames_in"] == s["frames_out"] + s["frames_dropped"]
    assert s["seconds"] >= 29 / 30 - 0.05  # paced at the file's 30 fps


@pytest.mark.parametrize("args, expected", [
    (["--camera", "96"], "camera 96: cannot open it"),
    (["--camera", "missing.mp4"], "no such file"),
])
def test_unavailable_camera_is_one_line_exit_2(tiny_model, capfd, args, expected):
    assert main(["webcam", *args, "--model", str(tiny_model), "--no-window"]) == 2
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("impasto: error: ") and expected in err[0]


def test_window_without_a_display_asks_for_no_window(tiny_model, clip, capfd, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["webcam", "--camera", str(clip), "--model", str(tiny_model)]) == 2
    assert "use --no-window" in capfd.readouterr().err


@pytest.mark.parametrize("size", ["640", "0x10", "axb"])
def test_bad_size_exits_2(size, capfd):
    with pytest.raises(SystemExit) as exc:
        main(["webcam", "--size", size, "--no-window"])
    assert exc.value.code == 2 and "expected WIDTHxHEIGHT" in capfd.readouterr().err
