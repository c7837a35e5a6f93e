"""Video files, cameras and the preview window: round trips, typed errors, RGB in and out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from impasto.errors import StreamError, VideoError
from impasto.runtime.io.video import (
    CameraSource,
    PreviewWindow,
    VideoReader,
    VideoWriter,
    check_video_path,
    draw_overlay,
    even_size,
    probe_video,
    write_video,
)


def gradient_frames(n: int, w: int = 48, h: int = 32) -> list[np.ndarray]:
    """Frames whose red channel ramps with x and green with the frame index (RGB order matters)."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    return [np.stack([np.broadcast_to(x, (h, w)), np.full((h, w), 20 + 10 * i, np.float32),
                      np.full((h, w), 60, np.float32)], axis=2).astype(np.uint8) for i in range(n)]


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_round_trip_keeps_count_rate_size_and_rgb_order(tmp_path, suffix):
    frames = gradient_frames(12)
    path = tmp_path / f"clip{suffix}"
    assert write_video(path, frames, fps=12.5) == 12
    with VideoReader(path) as reader:
        assert reader.info.size == (48, 32) and reader.info.fps == pytest.approx(12.5)
        got = list(reader)
    assert len(got) == 12 and reader.end_reason == "end of file after 12 frames"
    for a, b in zip(frames, got):
        assert b.shape == (32, 48, 3) and b.dtype == np.uint8
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 8  # lossy codecs, same channel order
    assert got[0][:, -4:, 0].mean() > 200 and got[0][:, :4, 0].mean() < 50  # red ramps left to right


def test_check_video_path_rejects_what_cannot_be_a_video(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video at all")
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="no such file"):
        check_video_path(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="got a directory"):
        check_video_path(tmp_path)
    with pytest.raises(VideoError, match="empty file"):
        check_video_path(tmp_path / "empty.mp4")
    with pytest.raises(VideoError, match="got a PNG image"):
        check_video_path(tmp_path / "photo.png")
    with pytest.raises(VideoError, match="not a video"):
        probe_video(tmp_path / "notes.txt")


def test_zero_frame_video_is_rejected(tmp_path):
    path = tmp_path / "zero.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24)).release()
    with pytest.raises(VideoError, match="(at least one video frame|not a video)"):
        VideoReader(path)


def test_writer_rejects_unknown_extension_odd_size_and_wrong_frames(tmp_path):
    with pytest.raises(VideoError, match=r"expected a video extension .*got '\.gif'"):
        VideoWriter(tmp_path / "out.gif", (32, 24), 10)
    with pytest.raises(VideoError, match="even frame size"):
        VideoWriter(tmp_path / "out.mp4", (33, 24), 10)
    with VideoWriter(tmp_path / "out.mp4", (32, 24), 10) as w:
        with pytest.raises(VideoError, match=r"expected uint8 frames of shape \(24, 32, 3\), got uint8 \(24, 30, 3\)"):
            w.write(np.zeros((24, 30, 3), np.uint8))
    assert even_size((451, 301)) == (450, 300) and even_size((1, 1)) == (2, 2)


class FakeCapture:
    """Stands in for cv2.VideoCapture: BGR frames from a list, then (False, None) like an unplugged camera."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = list(frames)
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def set(self, *_):
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        return (True, self.frames.pop(0)) if self.frames else (False, None)

    def release(self) -> None:
        self.released = True


def test_camera_that_disappears_raises_stream_error_and_converts_bgr(monkeypatch):
    bgr = np.zeros((24, 32, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    fake = FakeCapture([bgr, bgr])
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a, **k: fake)
    cam = CameraSource(0)
    first = cam.read()
    assert first[..., 2].min() == 255 and first[..., 0].max() == 0  # RGB out
    cam.read()
    with pytest.raises(StreamError, match="camera 0: stopped delivering frames after 2"):
        cam.read()
    cam.close()
    assert fake.released


def test_camera_frame_of_another_size_is_a_stream_error(monkeypatch):
    fake = FakeCapture([np.zeros((24, 32, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)])
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a, **k: fake)
    cam = CameraSource("/dev/video7")
    cam.read()
    with pytest.raises(StreamError, match="corrupt frame"):
        cam.read()


def test_camera_that_cannot_open_is_a_video_error():
    with pytest.raises(VideoError, match="camera 97: cannot open it"):
        CameraSource(97)


def test_overlay_draws_on_a_copy():
    frame = np.zeros((120, 200, 3), np.uint8)
    out = draw_overlay(frame, ["12.3 fps  45 ms", "tiny  strength 1.0"])
    assert frame.max() == 0 and out.shape == frame.shape
    assert out[:60, :150].max() == 255 and out[80:, :].max() == 0  # text top-left only


def test_window_without_display_says_use_no_window(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(VideoError, match="--no-window"):
        PreviewWindow()
