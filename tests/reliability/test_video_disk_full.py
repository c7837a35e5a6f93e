"""Class 8: a full disk during ``impasto video`` is an error (one line, exit 1) and never replaces a previous output.

On main at 973f7ac (and at 510d13f), OpenCV's writer failed silently on a full disk: the
command exited 0, printed "wrote ... 30 frames" and renamed an undecodable MP4 (or an AVI
of which 7 frames decode) over a valid file at that path. Now every finished file is
read back before it is published, the free space is watched while frames are written,
and an ffmpeg that runs out of room while adding the audio fails the command too.

The disk fills up deterministically, without root: a subprocess whose file size limit
(``RLIMIT_FSIZE``) makes writes fail, a writer that silently stops writing, an ffmpeg
that reports "No space left on device".
"""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.errors import StorageError
from impasto.runtime.io.video import VideoWriter, count_frames
from impasto.runtime.stream import video as stream_video
from impasto.runtime.stream.video import stylize_video


class _Invert:
    name, provider = "invert", "FakeProvider"

    def __call__(self, image, *, strength=1.0, preserve_colors=False):
        return 255 - image

    def close(self) -> None:
        pass


class _WriterThatStopsWriting(VideoWriter):
    """Counts every frame but encodes only the first ``keep``: what OpenCV does when the disk fills up."""

    keep = 8

    def write(self, frame: np.ndarray) -> None:
        if self.frames_written < self.keep:
            super().write(frame)
        else:
            self.frames_written += 1


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_full_disk_is_one_line_exit_1_and_the_previous_output_is_kept(tmp_path, impasto_cli, write_clip, error_lines,
                                                                     hidden_files, suffix):
    write_clip(tmp_path / "in.mp4", frames=30, w=128, h=96, noise=True)
    previous = write_clip(tmp_path / f"out{suffix}", frames=3, w=32, h=24)
    before = previous.read_bytes()
    r = impasto_cli("video", "in.mp4", "-o", f"out{suffix}", "--style", "starry_night", cwd=tmp_path,
                    max_file_bytes=40_000)  # the stylised clip is about 100 KB (MP4) or 165 KB (AVI)
    lines = error_lines(r.stderr)
    assert r.returncode == 1, r.stderr
    assert len(lines) == 1 and lines[0].startswith(f"impasto: error: out{suffix}: cannot write: "), lines
    assert "could be read back" in lines[0] and "nothing was published" in lines[0]
    assert r.stdout == b""  # no "wrote ... 30 frames"
    assert previous.read_bytes() == before and count_frames(previous) == 3
    assert hidden_files(tmp_path) == []


def test_a_writer_that_silently_drops_frames_is_caught_before_publishing(tmp_path, monkeypatch, write_clip,
                                                                        hidden_files):
    src = write_clip(tmp_path / "in.mp4", frames=20)
    out = write_clip(tmp_path / "out.avi", frames=3)
    before = out.read_bytes()
    monkeypatch.setattr(stream_video, "VideoWriter", _WriterThatStopsWriting)
    with pytest.raises(StorageError, match=r"out.avi: cannot write: 8 of the 20 frames written could be read back"):
        stylize_video(src, out, _Invert(), ffmpeg=None)
    assert out.read_bytes() == before and hidden_files(tmp_path) == []


def test_the_disk_filling_up_stops_the_video_at_once(tmp_path, monkeypatch, write_clip, hidden_files):
    """When the free space reaches 0 while frames are written, the run stops there (not after the last frame)."""
    src = write_clip(tmp_path / "in.mp4", frames=40)
    frames: list[int] = []
    monkeypatch.setattr(stream_video, "_space_left", lambda folder: 0 if len(frames) >= 5 else 10**9)
    with pytest.raises(StorageError, match=r"out.mp4: cannot write: No space left on device \(after 6 frames"):
        stylize_video(src, tmp_path / "out.mp4", _Invert(), on_frame=lambda done, total: frames.append(done),
                      ffmpeg=None)
    assert len(frames) == 5 and not (tmp_path / "out.mp4").exists() and hidden_files(tmp_path) == []


def _ffmpeg_out_of_room(folder):
    exe = folder / "ffmpeg"
    exe.write_text("#!/bin/sh\necho '[out#0/mp4 @ 0x1] Error closing file: No space left on device' >&2\nexit 1\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_ffmpeg_running_out_of_room_for_the_audio_fails_the_command(tmp_path, monkeypatch, capfd, write_clip,
                                                                   hidden_files):
    """Before, the video was published without its audio and the command exited 0."""
    with_audio = Path(__file__).resolve().parents[1] / "data" / "tone_32x24_10fps.mp4"
    monkeypatch.setenv("IMPASTO_FFMPEG", str(_ffmpeg_out_of_room(tmp_path)))
    out = write_clip(tmp_path / "out.mp4", frames=3)
    before = out.read_bytes()
    assert main(["video", str(with_audio), "-o", str(out), "--style", "starry_night", "--json"]) == 1
    captured = capfd.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("impasto")]
    assert lines == [f"impasto: error: {out}: cannot write: ffmpeg, adding the audio: Error closing file: "
                     "No space left on device"]
    assert captured.out == "" and out.read_bytes() == before
    assert hidden_files(tmp_path) == []
