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


# --- live stabilisation: [ and ] in the window, the warping error of what was shown -------------------------

class PanSource:
    """A fake camera: a slow pan over textured hills (``tools/make_test_clips.py``), then the end."""

    is_live, fps, name, end_reason = False, 30.0, "fake pan camera", "fake camera ended"

    def __init__(self) -> None:
        from support import load_module

        clips = load_module(Path(__file__).resolve().parents[2] / "tools" / "make_test_clips.py", "make_test_clips")
        self.frames = clips.pan_frames(14, (64, 48))

    def read(self):
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        pass


class KeyWindow:
    """A fake preview window that presses ``keys`` one per frame and keeps the overlay it was shown."""

    keys: list[str] = []
    overlays: list[list[str]] = []

    def __init__(self, title: str) -> None:
        self.pressed = list(KeyWindow.keys)

    def show(self, frame, lines) -> int:
        KeyWindow.overlays.append(list(lines))
        return ord(self.pressed.pop(0)) if self.pressed else -1

    def closed_by_user(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _live(tiny_model, capfd, monkeypatch, *args: str, keys: str = "") -> dict:
    monkeypatch.setattr("impasto.cli.webcam.open_source", lambda camera, size: PanSource())
    monkeypatch.setattr("impasto.runtime.io.video.PreviewWindow", KeyWindow)
    KeyWindow.keys, KeyWindow.overlays = list(keys), []
    assert main(["webcam", "--model", str(tiny_model), "--json", *args]) == 0
    return json.loads(capfd.readouterr().out)


def test_keys_change_stabilize_live_and_the_overlay_shows_it(tiny_model, capfd, monkeypatch):
    s = _live(tiny_model, capfd, monkeypatch, "--stabilize", "0.2", keys="]]]]][")
    assert s["stabilize"] == 0.6 and s["frames_out"] == 14  # 0.2 + 5 x 0.1 - 0.1
    assert "stabilize 0.2" in KeyWindow.overlays[0][1] and "stabilize 0.6" in KeyWindow.overlays[-1][1]
    assert "stabilize 0.7" in KeyWindow.overlays[5][-1]  # the notice after the fifth ]
    s = _live(tiny_model, capfd, monkeypatch, keys="[[")
    assert s["stabilize"] == 0.0  # clamped at 0


def test_json_reports_the_warping_error_shown_lower_when_stabilised(tiny_model, capfd, monkeypatch):
    plain = _live(tiny_model, capfd, monkeypatch, "--no-window")
    steady = _live(tiny_model, capfd, monkeypatch, "--no-window", "--stabilize", "0.8")
    assert plain["warping_pairs"] == steady["warping_pairs"] == 13
    assert 0 < steady["warping_error"] < 0.8 * plain["warping_error"]
    sampled = _live(tiny_model, capfd, monkeypatch, "--no-window", "--flicker-every", "4")
    assert sampled["warping_pairs"] == 4  # pairs 1, 5, 9, 13
