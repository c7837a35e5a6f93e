"""Audio: finding ffmpeg, telling whether a container has audio, muxing it back (or saying why not)."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import numpy as np
import pytest

from impasto.runtime.io import audio
from impasto.runtime.io.audio import carry_audio, find_ffmpeg, has_audio
from impasto.runtime.io.video import write_video

WITH_AUDIO = Path(__file__).resolve().parents[1] / "data" / "tone_32x24_10fps.mp4"


def fake_ffmpeg(folder: Path, *, fail: bool = False) -> Path:
    """An executable that logs its arguments and "muxes" by copying its first input to its last argument."""
    exe = folder / "ffmpeg"
    body = ('echo "Unknown encoder (fake)" >&2\nexit 1\n' if fail else
            'video=""; prev=""\nfor a in "$@"; do\n  if [ "$prev" = "-i" ] && [ -z "$video" ]; then video="$a"; fi\n'
            '  prev="$a"; out="$a"\ndone\ncp "$video" "$out"\n')
    exe.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{folder}/calls.log"\n{body}')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def silent_video(path: Path) -> Path:
    write_video(path, [np.full((24, 32, 3), 10 * i, np.uint8) for i in range(5)], fps=10)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv", ".mov"])
def test_videos_written_by_opencv_have_no_audio(tmp_path, suffix):
    assert has_audio(silent_video(tmp_path / f"v{suffix}")) is False


def test_mp4_with_an_aac_track_has_audio():
    assert has_audio(WITH_AUDIO) is True


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def _avi(kinds: list[bytes]) -> bytes:
    strls = b"".join(_chunk(b"LIST", b"strl" + _chunk(b"strh", k + b"\0" * 52)) for k in kinds)
    hdrl = _chunk(b"LIST", b"hdrl" + _chunk(b"avih", b"\0" * 56) + strls)
    body = b"AVI " + hdrl + _chunk(b"LIST", b"movi")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _ebml(eid: bytes, payload: bytes) -> bytes:
    assert len(payload) < 127, "one-byte EBML sizes only"
    return eid + bytes([0x80 | len(payload)]) + payload


def _mkv(track_types: list[int]) -> bytes:
    entries = b"".join(_ebml(b"\xae", _ebml(b"\x83", bytes([t]))) for t in track_types)
    segment = _ebml(b"\x16\x54\xae\x6b", entries) + _ebml(b"\x1f\x43\xb6\x75", b"\0" * 8)
    return _ebml(b"\x1a\x45\xdf\xa3", b"\x42\x82\x84webm") + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" \
        + segment


@pytest.mark.parametrize("build, kinds, expected", [
    (_avi, [b"vids"], False), (_avi, [b"vids", b"auds"], True),
    (_mkv, [1], False), (_mkv, [1, 2], True),
])
def test_container_headers_are_read_without_ffmpeg(tmp_path, build, kinds, expected):
    path = tmp_path / "clip.bin"
    path.write_bytes(build(kinds))
    assert has_audio(path) is expected


def test_unknown_container_is_unknown_without_ffmpeg(tmp_path):
    path = tmp_path / "clip.ts"
    path.write_bytes(b"\x47" + os.urandom(1000))
    assert has_audio(path) is None


def test_find_ffmpeg_honours_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(audio.ENV_VAR, "none")
    assert find_ffmpeg() is None
    exe = fake_ffmpeg(tmp_path)
    monkeypatch.setenv(audio.ENV_VAR, str(exe))
    assert find_ffmpeg() == str(exe)
    monkeypatch.delenv(audio.ENV_VAR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg() == str(exe)  # found on PATH


def test_statuses_without_ffmpeg(tmp_path):
    out = tmp_path / "muxed.mp4"
    video = silent_video(tmp_path / "video.mp4")
    assert carry_audio(WITH_AUDIO, video, out, None).text == "dropped: no ffmpeg found"
    assert carry_audio(video, video, out, None).text == "none in input"
    unknown = tmp_path / "clip.ts"
    unknown.write_bytes(b"\x47" + os.urandom(100))
    assert carry_audio(unknown, video, out, None).text.startswith("dropped: no ffmpeg found (cannot tell")
    assert not out.exists()


def test_mux_calls_ffmpeg_with_a_stream_copy_of_the_audio(tmp_path):
    exe = fake_ffmpeg(tmp_path)
    video = silent_video(tmp_path / "video.mp4")
    status = carry_audio(WITH_AUDIO, video, tmp_path / "muxed.mp4", str(exe))
    assert status.text == "copied" and status.muxed
    assert (tmp_path / "muxed.mp4").read_bytes() == video.read_bytes()
    call = (tmp_path / "calls.log").read_text().split()
    assert call[call.index("-map") + 1] == "0:v:0" and "1:a" in call and call[call.index("-c:a") + 1] == "copy"


def test_failing_ffmpeg_is_reported_not_raised(tmp_path):
    exe = fake_ffmpeg(tmp_path, fail=True)
    video = silent_video(tmp_path / "video.mp4")
    status = carry_audio(WITH_AUDIO, video, tmp_path / "muxed.mp4", str(exe))
    assert status.text == "dropped: ffmpeg failed: Unknown encoder (fake)" and not status.muxed
    assert not (tmp_path / "muxed.mp4").exists()
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 2  # stream copy, then AAC


def test_real_ffmpeg_mux_keeps_the_audio(tmp_path):
    exe = find_ffmpeg()
    if exe is None:  # the [dev] extra installs imageio-ffmpeg: under CI a missing binary is a failure
        if os.environ.get("CI"):
            pytest.fail("no ffmpeg binary under CI (the [dev] extra installs imageio-ffmpeg)")
        pytest.skip("no ffmpeg binary here (PATH, IMPASTO_FFMPEG or imageio-ffmpeg)")
    video = silent_video(tmp_path / "video.mp4")
    status = carry_audio(WITH_AUDIO, video, tmp_path / "muxed.mp4", exe)
    assert status.muxed and has_audio(tmp_path / "muxed.mp4") is True
