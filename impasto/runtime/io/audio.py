"""Carry a video's audio over to its stylised copy with an ``ffmpeg`` binary, if one is found.

OpenCV's ``VideoWriter`` writes video only. After the frames are written, the input's
audio streams are muxed back in with ``ffmpeg`` (stream copy; re-encoded to AAC if the
output container refuses the codec). ffmpeg is optional: without it, or when the input
has no audio, the result says so, never silently.

Where ffmpeg comes from, in order: ``$IMPASTO_FFMPEG`` (a path; ``none`` disables it),
``ffmpeg`` on ``PATH``, then the ``imageio_ffmpeg`` package's bundled binary.

Whether the input has audio is read from the container header without ffmpeg (MP4/MOV,
AVI, Matroska/WebM); other containers are probed with ffmpeg when it is available.

Example:
    >>> status = carry_audio("in.mp4", "video_only.tmp.mp4", "muxed.tmp.mp4", find_ffmpeg())
    >>> status.text                                   # "copied" | "none in input" | "dropped: no ffmpeg found"
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from impasto.errors import StorageError
from impasto.runtime.io.atomic import ENVIRONMENT_ERRNOS

ENV_VAR = "IMPASTO_FFMPEG"

COPIED = "copied"
REENCODED = "copied (re-encoded as AAC: the output container does not take the original codec)"
NONE_IN_INPUT = "none in input"
NO_FFMPEG = "dropped: no ffmpeg found"
NO_FFMPEG_UNKNOWN = "dropped: no ffmpeg found (cannot tell whether the input has audio)"

_HEAD_BYTES = 4 << 20
_MAX_MOOV_BYTES = 64 << 20


@dataclass(frozen=True)
class AudioStatus:
    """What happened to the audio: ``text`` for people and JSON, ``muxed`` if the output has it."""

    text: str
    muxed: bool = False


def find_ffmpeg() -> str | None:
    """Path of an ffmpeg binary, or None (see the module docstring for the search order)."""
    env = os.environ.get(ENV_VAR)
    if env is not None:
        if env.strip().lower() in ("", "none", "0", "off"):
            return None
        return env if Path(env).is_file() and os.access(env, os.X_OK) else shutil.which(env)
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # its own RuntimeError when the bundled binary is missing
        return None
    return exe if exe and Path(exe).is_file() else None


# ---------------------------------------------------------------------------- container sniffing
def _mp4_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _mp4_has_audio(path: Path) -> bool | None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        pos = 0
        while pos + 8 <= size:  # top-level boxes; moov may follow a large mdat, so seek
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                return None
            box, kind = struct.unpack(">I4s", head[:8])
            header = 8
            if box == 1 and len(head) == 16:
                box, header = struct.unpack(">Q", head[8:16])[0], 16
            elif box == 0:
                box = size - pos
            if box < header:
                return None
            if kind == b"moov":
                if box > _MAX_MOOV_BYTES:
                    return None
                moov = fh.read(box - header) if header == 16 else head[8:] + fh.read(box - 16)
                for trak, s, e in _mp4_boxes(moov, 0, len(moov)):
                    if trak != b"trak":
                        continue
                    for mdia, s2, e2 in _mp4_boxes(moov, s, e):
                        if mdia != b"mdia":
                            continue
                        for hdlr, s3, _ in _mp4_boxes(moov, s2, e2):
                            if hdlr == b"hdlr" and moov[s3 + 8:s3 + 12] == b"soun":
                                return True
                return False
            pos += box
    return None


def _riff_chunks(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        kind, size = struct.unpack("<4sI", data[pos:pos + 8])
        yield kind, pos + 8, min(pos + 8 + size, end)
        pos += 8 + size + (size & 1)


def _avi_has_audio(head: bytes) -> bool | None:
    for kind, s, e in _riff_chunks(head, 12, len(head)):
        if kind == b"LIST" and head[s:s + 4] == b"hdrl":
            found_stream = False
            for kind2, s2, e2 in _riff_chunks(head, s + 4, e):
                if kind2 == b"LIST" and head[s2:s2 + 4] == b"strl":
                    for kind3, s3, _ in _riff_chunks(head, s2 + 4, e2):
                        if kind3 == b"strh":
                            found_stream = True
                            if head[s3:s3 + 4] == b"auds":
                                return True
            return False if found_stream else None
    return None


_EBML_SEGMENT, _EBML_TRACKS, _EBML_TRACK_ENTRY = 0x18538067, 0x1654AE6B, 0xAE
_EBML_TRACK_TYPE, _EBML_CLUSTER, _EBML_AUDIO = 0x83, 0x1F43B675, 2


def _ebml_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """``(value, length, unknown)``; raises IndexError/ValueError on bad data."""
    first = data[pos]
    if first == 0:
        raise ValueError("invalid EBML variable-length integer")
    length = 9 - first.bit_length()
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[pos + 1:pos + length]:
        value = (value << 8) | b
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def _mkv_has_audio(head: bytes) -> bool | None:
    def walk(start: int, end: int) -> bool | None:
        pos, saw_tracks = start, False
        while pos < end:
            eid, n, _ = _ebml_vint(head, pos, keep_marker=True)
            size, m, unknown = _ebml_vint(head, pos + n, keep_marker=False)
            payload = pos + n + m
            stop = end if unknown else min(payload + size, end)
            if eid == _EBML_CLUSTER:
                return False if saw_tracks else None
            if eid == _EBML_TRACK_TYPE and payload < len(head) and head[payload] == _EBML_AUDIO:
                return True
            if eid in (_EBML_SEGMENT, _EBML_TRACKS, _EBML_TRACK_ENTRY):
                found = walk(payload, stop)
                if found:
                    return True
                if eid == _EBML_TRACKS:
                    return False
                saw_tracks = saw_tracks or found is False
            pos = stop
        return False if saw_tracks else None

    try:
        return walk(0, len(head))
    except (IndexError, ValueError):
        return None


def _probe_with_ffmpeg(path: Path, ffmpeg: str) -> bool | None:
    try:
        r = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    streams = re.findall(r"Stream #\d+:\d+.*?: (Video|Audio|Subtitle|Data)", r.stderr)
    return ("Audio" in streams) if streams else None


def has_audio(path: str | os.PathLike, ffmpeg: str | None = None) -> bool | None:
    """Whether the file has an audio stream: True, False, or None (cannot tell).

    Reads the container header for MP4/MOV, AVI and Matroska/WebM; asks ``ffmpeg`` (if
    given) about anything else.
    """
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    found: bool | None = None
    try:
        if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
            found = _mp4_has_audio(p)
        elif head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            found = _avi_has_audio(head)
        elif head[:4] == b"\x1a\x45\xdf\xa3":
            found = _mkv_has_audio(head)
    except (struct.error, OSError):
        found = None
    if found is None and ffmpeg:
        found = _probe_with_ffmpeg(p, ffmpeg)
    return found


# ---------------------------------------------------------------------------- muxing
def _mux(ffmpeg: str, video_only: Path, source: Path, out: Path, audio_codec: str) -> subprocess.CompletedProcess:
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(video_only), "-i", str(source),
           "-map", "0:v:0", "-map", "1:a", "-c:v", "copy", "-c:a", audio_codec, str(out)]
    return subprocess.run(cmd, capture_output=True, text=True)


def carry_audio(source: str | os.PathLike, video_only: str | os.PathLike, out: str | os.PathLike,
                ffmpeg: str | None, *, target: str | os.PathLike | None = None) -> AudioStatus:
    """Mux ``source``'s audio with ``video_only``'s video into ``out`` (if there is audio and ffmpeg).

    ``out`` is written only when the returned status has ``muxed=True``; otherwise
    ``video_only`` is the result. A failing ffmpeg is reported in the status, not raised:
    the stylised video is still good; except when ffmpeg failed for want of room (a full
    disk, a quota, a file size limit, an I/O error): then the output cannot be trusted
    either, and a :class:`~impasto.errors.StorageError` naming ``target`` (the final
    output ``out`` will become; default ``out``) is raised.
    """
    src, vid, dst = Path(source), Path(video_only), Path(out)
    audio = has_audio(src, ffmpeg)
    if audio is False:
        return AudioStatus(NONE_IN_INPUT)
    if not ffmpeg:
        return AudioStatus(NO_FFMPEG if audio else NO_FFMPEG_UNKNOWN)
    try:
        r = _mux(ffmpeg, vid, src, dst, "copy")
        if r.returncode == 0 and dst.is_file() and dst.stat().st_size > 0:
            return AudioStatus(COPIED, muxed=True)
        r = _mux(ffmpeg, vid, src, dst, "aac")
        if r.returncode == 0 and dst.is_file() and dst.stat().st_size > 0:
            return AudioStatus(REENCODED, muxed=True)
    except OSError as exc:
        dst.unlink(missing_ok=True)
        return AudioStatus(f"dropped: cannot run ffmpeg {ffmpeg!r}: {exc.strerror}")
    dst.unlink(missing_ok=True)
    reason = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
    if any(os.strerror(code) in r.stderr for code in ENVIRONMENT_ERRNOS):
        reason = re.sub(r"^\[[^\]]*\]\s*", "", reason)  # ffmpeg's "[out#0/mp4 @ 0x...]" prefix
        raise StorageError(f"{target or out}: cannot write: ffmpeg, adding the audio: {reason}")
    return AudioStatus(f"dropped: ffmpeg failed: {reason}")
