"""``stylize_video``: frame count, rate and size kept; atomic output; audio status; bad paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from impasto.errors import UserError, VideoError
from impasto.runtime.io.video import VideoReader, write_video
from impasto.runtime.stream.video import VideoOptions, stylize_video


class InvertStylizer:
    name, provider = "invert", "FakeProvider"

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at, self.calls = fail_at, 0

    def __call__(self, image, *, strength=1.0, preserve_colors=False):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("model crashed (fake)")
        return 255 - image

    def close(self) -> None:
        pass


def clip(path, n=15, w=64, h=48, fps=15.0):
    frames = [np.full((h, w, 3), (8 * i, 100, 200 - 8 * i), np.uint8) for i in range(n)]
    write_video(path, frames, fps=fps)
    return path


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("out_name", ["out.mp4", "out.avi", "out.mkv"])
def test_keeps_frame_count_rate_and_size(tmp_path, out_name):
    src = clip(tmp_path / "in.mp4")
    report = stylize_video(src, tmp_path / out_name, InvertStylizer(), ffmpeg=None)
    with VideoReader(tmp_path / out_name) as r:
        frames = list(r)
        assert r.info.fps == pytest.approx(15.0) and r.info.size == (64, 48)
    assert len(frames) == 15 == report.frames and report.frames_in_header == 15
    assert (report.width, report.height, report.fps) == (64, 48, 15.0)
    assert report.audio == "none in input" and report.notes == ()
    # the frames really are the stylised ones: the inverse of the input's colours
    assert abs(int(frames[0][..., 1].mean()) - 155) < 6 and abs(int(frames[0][..., 2].mean()) - 55) < 6
    assert listing(tmp_path) == sorted(["in.mp4", out_name])  # no temporary files left


def test_odd_sizes_are_cropped_and_max_size_scales(tmp_path):
    src = clip(tmp_path / "in.avi", w=64, h=48)
    report = stylize_video(src, tmp_path / "small.mp4", InvertStylizer(), VideoOptions(max_size=33), ffmpeg=None)
    assert (report.width, report.height) == (32, 24) and report.notes[0].startswith("cropped 33x25 to 32x24")
    with VideoReader(tmp_path / "small.mp4") as r:
        assert r.info.size == (32, 24) and len(list(r)) == 15


def test_failure_midway_leaves_no_output_and_keeps_an_existing_one(tmp_path):
    src = clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="model crashed"):
        stylize_video(src, out, InvertStylizer(fail_at=6), ffmpeg=None)
    assert out.read_bytes() == b"previous result"
    assert listing(tmp_path) == ["in.mp4", "out.mp4"]


def test_interrupt_midway_leaves_nothing_behind(tmp_path):
    src = clip(tmp_path / "in.mp4")

    def interrupt(done, expected):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_video(src, tmp_path / "out.mp4", InvertStylizer(), on_frame=interrupt, ffmpeg=None)
    assert listing(tmp_path) == ["in.mp4"]


def test_progress_callback_counts_frames_against_the_header(tmp_path):
    src = clip(tmp_path / "in.mp4", n=9)
    calls = []
    stylize_video(src, tmp_path / "out.mp4", InvertStylizer(), on_frame=lambda d, e: calls.append((d, e)), ffmpeg=None)
    assert calls == [(i, 9) for i in range(1, 10)]


def test_stabilised_video_differs_from_the_plain_one_but_keeps_the_frame_count(tmp_path, tiny_model):
    from impasto.runtime import Stylizer

    rng = np.random.default_rng(0)
    tex = (rng.random((48, 64 + 40, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "pan.avi", [tex[:, 2 * i:2 * i + 64] for i in range(20)], fps=20)
    with Stylizer.load(str(tiny_model), backend="ort-cpu") as s:
        plain = stylize_video(tmp_path / "pan.avi", tmp_path / "plain.avi", s, ffmpeg=None)
        stab = stylize_video(tmp_path / "pan.avi", tmp_path / "stab.avi", s, VideoOptions(stabilize=0.7), ffmpeg=None)
    assert plain.frames == stab.frames == 20
    with VideoReader(tmp_path / "plain.avi") as a, VideoReader(tmp_path / "stab.avi") as b:
        fa, fb = list(a), list(b)
    assert np.array_equal(fa[0], fb[0]) or np.abs(fa[0].astype(int) - fb[0]).mean() < 1  # first frame: nothing to blend
    assert np.abs(fa[-1].astype(int) - fb[-1]).mean() > 2


@pytest.mark.parametrize("dst, message", [("out.gif", "expected a video extension"), ("in.mp4", "overwrite its input"),
                                          ("folder.mp4", "got a directory")])
def test_bad_output_paths(tmp_path, dst, message):
    src = clip(tmp_path / "in.mp4")
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(VideoError, match=message):
        stylize_video(src, tmp_path / dst, InvertStylizer(), ffmpeg=None)


def test_audio_is_reported_when_it_cannot_be_kept(tmp_path):
    with_audio = Path(__file__).resolve().parents[1] / "data" / "tone_32x24_10fps.mp4"
    report = stylize_video(with_audio, tmp_path / "out.mp4", InvertStylizer(), ffmpeg=None)
    assert report.audio == "dropped: no ffmpeg found" and report.frames == 10


def test_an_opened_reader_is_used_once_and_a_wrong_one_is_refused(tmp_path):
    src, other = clip(tmp_path / "in.avi"), clip(tmp_path / "other.avi", n=3)
    reader = VideoReader(src)
    report = stylize_video(src, tmp_path / "out.avi", InvertStylizer(), ffmpeg=None, reader=reader)
    assert report.frames == 15 and reader._cap is None  # read to the end and closed
    for bad, why in ((VideoReader(other), "opened and not yet read from, got"), (VideoReader(src), "after 1 frames")):
        if why.startswith("after"):
            bad.read()
        with pytest.raises(UserError, match=why):
            stylize_video(src, tmp_path / "bad.avi", InvertStylizer(), ffmpeg=None, reader=bad)
        assert bad._cap is None  # closed even when refused
    assert not (tmp_path / "bad.avi").exists()
