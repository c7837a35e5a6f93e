"""``impasto video``: output, progress, --json, audio reporting, one-line errors with exit code 2."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import one_error_line

from impasto.cli.main import main
from impasto.runtime.io.video import VideoReader, write_video

WITH_AUDIO = Path(__file__).resolve().parents[1] / "data" / "tone_32x24_10fps.mp4"


@pytest.fixture(autouse=True)
def no_ffmpeg(monkeypatch):
    """Tests see no ffmpeg unless they install a fake one (the machine's own must not change results)."""
    monkeypatch.setenv("IMPASTO_FFMPEG", "none")


@pytest.fixture
def clip(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    tex = (rng.random((48, 64 + 24, 3)) * 255).astype(np.uint8)
    path = tmp_path / "in.mp4"
    write_video(path, [tex[:, i:i + 64] for i in range(12)], fps=12)
    return path


def test_human_output_progress_and_preserved_video(tiny_model, clip, tmp_path, capfd):
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "--model", str(tiny_model), "--backend", "ort-cpu"]) == 0
    captured = capfd.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith(f"wrote {out} (64x48, 12 frames at 12 fps) in ")
    assert "'tiny' on CPUExecutionProvider" in lines[0]
    assert lines[1] == "audio: none in input"
    assert "video 100% |" in captured.err and "12/12" in captured.err  # progress bar on stderr
    with VideoReader(out) as r:
        assert len(list(r)) == 12 and r.info.fps == pytest.approx(12) and r.info.size == (64, 48)


def test_json_summary(tiny_model, clip, tmp_path, capfd):
    out = tmp_path / "out.avi"
    assert main(["video", str(clip), "-o", str(out), "--model", str(tiny_model), "--json", "--strength", "0.5",
                 "--stabilize", "0.6", "--preserve-color"]) == 0
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    assert (report["frames"], report["fps"], report["width"], report["height"]) == (12, 12.0, 64, 48)
    assert report["audio"] == "none in input" and report["output"] == str(out)
    assert report["style"] == "tiny" and report["provider"] == "CPUExecutionProvider"
    assert report["strength"] == 0.5 and report["stabilize"] == 0.6 and report["preserve_color"] is True
    assert report["backend"]["chosen"] == "ort-cpu"
    assert "video" not in captured.err  # no progress bar with --json


def test_default_output_name(tiny_model, clip, capfd):
    assert main(["video", str(clip), "--model", str(tiny_model), "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["output"] == str(clip.with_name("in_tiny.mp4"))
    assert clip.with_name("in_tiny.mp4").is_file()


def test_audio_dropped_without_ffmpeg_is_said(tiny_model, tmp_path, capfd):
    out = tmp_path / "out.mp4"
    assert main(["video", str(WITH_AUDIO), "-o", str(out), "--model", str(tiny_model)]) == 0
    assert "audio: dropped: no ffmpeg found (install ffmpeg" in capfd.readouterr().out
    assert main(["video", str(WITH_AUDIO), "-o", str(out), "--model", str(tiny_model), "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["audio"] == "dropped: no ffmpeg found"


def test_audio_copied_with_an_ffmpeg(tiny_model, tmp_path, capfd, monkeypatch):
    exe = tmp_path / "ffmpeg"  # a stand-in that "muxes" by copying the video-only file
    exe.write_text('#!/bin/sh\nvideo=""; prev=""\nfor a in "$@"; do\n'
                   '  if [ "$prev" = "-i" ] && [ -z "$video" ]; then video="$a"; fi\n  prev="$a"; out="$a"\ndone\n'
                   'cp "$video" "$out"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("IMPASTO_FFMPEG", str(exe))
    out = tmp_path / "out.mp4"
    assert main(["video", str(WITH_AUDIO), "-o", str(out), "--model", str(tiny_model), "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["audio"] == "copied"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ffmpeg", "out.mp4"]


def _zero_frames(tmp_path: Path) -> Path:
    path = tmp_path / "zero.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24)).release()
    return path


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such file"), ("text", "not a video"), ("image", "got a PNG image"),
    ("zero", "expected at least one video frame"), ("ext", "expected a video extension"),
    ("same", "would overwrite its input"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_model, clip, tmp_path, capfd, case, expected):
    (tmp_path / "notes.txt").write_text("hello")
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((8, 8, 3), np.uint8))
    src, dst = {"missing": (tmp_path / "nope.mp4", tmp_path / "o.mp4"),
                "text": (tmp_path / "notes.txt", tmp_path / "o.mp4"),
                "image": (tmp_path / "photo.png", tmp_path / "o.mp4"),
                "zero": (_zero_frames(tmp_path), tmp_path / "o.mp4"),
                "ext": (clip, tmp_path / "o.gif"),
                "same": (clip, clip)}[case]
    capfd.readouterr()
    assert main(["video", str(src), "-o", str(dst), "--model", str(tiny_model)]) == 2
    assert expected in one_error_line(capfd)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.gif").exists()


def test_bad_flags_exit_2(clip, capfd):
    assert_exit = pytest.raises(SystemExit)
    with assert_exit as exc:
        main(["video", str(clip), "--stabilize", "1.5"])
    assert exc.value.code == 2 and "expected a number in [0, 1]" in one_error_line(capfd)


def test_workers_default_to_the_cores_and_give_the_same_video(tiny_model, clip, tmp_path, capfd):
    from impasto.cli.video import MAX_AUTO_WORKERS, cpu_cores

    reports, frames = {}, {}
    for workers in (None, 1, 2):
        out = tmp_path / f"w{workers}.avi"
        flags = [] if workers is None else ["--workers", str(workers)]
        assert main(["video", str(clip), "-o", str(out), "--model", str(tiny_model), "--backend", "ort-cpu",
                     "--stabilize", "0.5", "--json", *flags]) == 0
        reports[workers] = json.loads(capfd.readouterr().out)
        with VideoReader(out) as r:
            frames[workers] = list(r)
    assert reports[None]["workers"] == max(1, min(cpu_cores(), MAX_AUTO_WORKERS))
    assert (reports[1]["workers"], reports[2]["workers"]) == (1, 2)
    assert len(frames[2]) == 12
    for a, b in zip(frames[1], frames[2], strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("flags, expected", [
    (["--workers", "2", "--backend", "ort-cuda"], "--workers 2: expected 1 with --backend ort-cuda"),
    (["--workers", "3", "--style-image", "painting.png"], "--workers 3: expected 1 with --style-image"),
])
def test_workers_where_frames_cannot_run_side_by_side_exit_2(clip, tmp_path, capfd, flags, expected):
    capfd.readouterr()
    assert main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), *flags]) == 2
    assert expected in one_error_line(capfd)
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(SystemExit) as exc:
        main(["video", str(clip), "--workers", "0"])
    assert exc.value.code == 2 and "expected a positive integer" in one_error_line(capfd)


@pytest.fixture(scope="module")
def mountain(shared, tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """Ten consecutive real frames (camera motion), 192x82, written losslessly as PNG frames in an .avi (MJPEG)."""
    from impasto.runtime.io.images import read_image

    frames = [cv2.resize(read_image(p), (192, 82), interpolation=cv2.INTER_AREA)
              for p in sorted((shared / "data" / "video" / "mountain_2").glob("frame_*.jpg"))[:10]]
    path = tmp_path_factory.mktemp("mountain") / "mountain.avi"
    write_video(path, frames, fps=10)
    with VideoReader(path) as r:
        decoded = list(r)
    return path, decoded


def _frames(tiny_model, clip: Path, out: Path, *flags: str) -> list[np.ndarray]:
    assert main(["video", str(clip), "-o", str(out), "--model", str(tiny_model), "--json", *flags]) == 0
    with VideoReader(out) as r:
        return list(r)


def test_video_flags_change_the_frames_as_they_say(tiny_model, mountain, tmp_path, capfd):
    """Effects, not echoes: strength 0 gives the input back, --preserve-color its chroma, --stabilize less flicker."""
    from impasto.runtime.stream.temporal import sequence_warping_error

    clip, source = mountain
    plain = _frames(tiny_model, clip, tmp_path / "plain.avi")
    zero = _frames(tiny_model, clip, tmp_path / "zero.avi", "--strength", "0")
    kept = _frames(tiny_model, clip, tmp_path / "kept.avi", "--preserve-color")
    steady = _frames(tiny_model, clip, tmp_path / "steady.avi", "--stabilize", "0.8")
    capfd.readouterr()

    def mean_diff(a, b):
        return float(np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b, strict=True)]))

    def chroma(frames):
        return [cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb)[..., 1:] for f in frames]

    assert mean_diff(zero, source) < 4 < 20 < mean_diff(plain, source)  # MJPEG re-encoding costs ~2 levels
    assert mean_diff(chroma(kept), chroma(source)) < 0.25 * mean_diff(chroma(plain), chroma(source))
    flicker, stabilised = sequence_warping_error(source, plain), sequence_warping_error(source, steady)
    assert stabilised < 0.8 * flicker, (flicker, stabilised)
