"""Stylise a video file into a new one: same frame count, frame rate and size, audio carried over.

Decoding, stylisation and encoding run in separate threads (a
:class:`~impasto.runtime.stream.live.StreamPipeline` that never drops frames). The result is
written to a temporary file beside the output and renamed into place only when
complete, so a failure or Ctrl-C never leaves a half-written video. Audio is muxed back
with ffmpeg when one is found (see :mod:`impasto.runtime.io.audio`).

Example:
    >>> from impasto.runtime import Stylizer
    >>> from impasto.runtime.stream.video import VideoOptions, stylize_video
    >>> with Stylizer.load("starry_night") as s:
    ...     report = stylize_video("in.mp4", "out.mp4", s, VideoOptions(strength=0.8, stabilize=0.6))
    >>> report.frames, report.audio

Convention:
    Frames are ``HxWx3`` uint8 RGB inside impasto (BGR stays in
    :mod:`impasto.runtime.io.video`). Sizes are ``(width, height)``. Output sizes are even
    (4:2:0 codecs need it): an odd input dimension loses its last pixel row or column,
    and the report says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impasto.errors import UserError, VideoError
from impasto.runtime.io.atomic import publish, temp_beside
from impasto.runtime.io.audio import carry_audio, find_ffmpeg
from impasto.runtime.io.video import VIDEO_SUFFIXES, VideoInfo, VideoReader, VideoWriter, even_size, resize_frame
from impasto.runtime.stream.live import StreamConfig, StreamPipeline, StylisedFrame, StylizerLike

#: Frame rate written when the input's container does not give one.
FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class VideoOptions:
    """How to stylise a video.

    Attributes:
        strength: 0 = content, 1 = full style.
        preserve_colors: keep the content's colours.
        stabilize: temporal stabilisation weight in ``[0, 1]`` (0 = off).
        max_size: downscale so the longest side is at most this many pixels (None: keep the size).
    """

    strength: float = 1.0
    preserve_colors: bool = False
    stabilize: float = 0.0
    max_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_size is not None and self.max_size < 2:
            raise UserError(f"max_size: expected an integer >= 2, got {self.max_size}")


@dataclass(frozen=True)
class VideoReport:
    """What :func:`stylize_video` did; :meth:`to_dict` is what ``--json`` prints."""

    input: str
    output: str
    frames: int
    frames_in_header: int
    fps: float
    width: int
    height: int
    input_width: int
    input_height: int
    audio: str
    style: str
    provider: str
    seconds: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"input": self.input, "output": self.output, "frames": self.frames,
                "frames_in_header": self.frames_in_header, "fps": round(self.fps, 4), "width": self.width,
                "height": self.height, "input_width": self.input_width, "input_height": self.input_height,
                "audio": self.audio, "style": self.style, "provider": self.provider,
                "seconds": round(self.seconds, 3), "fps_processed": round(self.frames / self.seconds, 2)
                if self.seconds > 0 else None, "notes": list(self.notes)}


def check_output_path(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Validate the output path against the input before any work.

    Raises:
        VideoError: unknown extension, the input itself, or an existing folder.
    """
    out = Path(dst)
    suffix = out.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(f"output {str(out)!r}: expected a video extension ({', '.join(sorted(VIDEO_SUFFIXES))}), "
                         f"got {suffix or 'none'!r}")
    if out.is_dir():
        raise VideoError(f"output {str(out)!r}: expected a file path, got a directory")
    if Path(src).exists() and out.resolve() == Path(src).resolve():
        raise VideoError(f"output {str(out)!r} would overwrite its input")
    return out


def output_size(info: VideoInfo, max_size: int | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(scaled, final)`` sizes: ``scaled`` fits ``max_size``, ``final`` crops it to even dimensions."""
    w, h = info.size
    if max_size is not None and max(w, h) > max_size:
        s = max_size / max(w, h)
        w, h = max(2, round(w * s)), max(2, round(h * s))
    return (w, h), even_size((w, h))


class _FittedSource:
    """A :class:`VideoReader` whose frames are scaled to ``scaled`` and cropped to ``final``."""

    is_live = False

    def __init__(self, reader: VideoReader, scaled: tuple[int, int], final: tuple[int, int]) -> None:
        self.reader, self.scaled, self.final = reader, scaled, final
        self.name, self.fps = reader.name, reader.fps

    @property
    def end_reason(self) -> str:
        return self.reader.end_reason

    def read(self) -> np.ndarray | None:
        frame = self.reader.read()
        if frame is None:
            return None
        frame = resize_frame(frame, self.scaled)
        w, h = self.final
        return frame[:h, :w] if frame.shape[:2] != (h, w) else frame

    def close(self) -> None:
        self.reader.close()


_AUTO = object()


def stylize_video(src: str | os.PathLike, dst: str | os.PathLike, stylizer: StylizerLike,
                  options: VideoOptions | None = None, *, on_frame: Callable[[int, int], object] | None = None,
                  ffmpeg: str | None | object = _AUTO) -> VideoReport:
    """Stylise every frame of ``src`` into ``dst`` (written atomically).

    Args:
        src: input video.
        dst: output video; the extension picks the codec (``.mp4``, ``.mov``, ``.m4v``,
            ``.mkv``: MPEG-4 Part 2; ``.avi``: Motion JPEG).
        stylizer: a loaded :class:`~impasto.runtime.pipelines.stylizer.Stylizer` (not closed here).
        options: see :class:`VideoOptions`.
        on_frame: called as ``on_frame(frames_done, frames_expected)`` after each frame
            (``frames_expected`` is the header's estimate, 0 if unknown), e.g. a progress bar.
        ffmpeg: path of ffmpeg for the audio, None for none; default: :func:`find_ffmpeg`.

    Returns:
        A :class:`VideoReport`.

    Raises:
        VideoError: bad input or output path, unreadable video, a frame that cannot be decoded.
        UserError: bad options. Other errors from the stylizer propagate; no output is left behind.
    """
    options = options or VideoOptions()
    out = check_output_path(src, dst)
    t0 = time.perf_counter()
    reader = VideoReader(src)
    info = reader.info
    scaled, final = output_size(info, options.max_size)
    notes = []
    if final != scaled:
        notes.append(f"cropped {scaled[0]}x{scaled[1]} to {final[0]}x{final[1]}: the codec needs even dimensions")
    fps = info.fps
    if fps <= 0:
        fps = FALLBACK_FPS
        notes.append(f"the input does not give a frame rate: wrote {FALLBACK_FPS:g} fps")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reader.close()
        raise VideoError(f"output {str(out)!r}: cannot create its folder: {exc.strerror}") from None
    video_tmp = muxed_tmp = None
    try:
        video_tmp = temp_beside(out, f".video{out.suffix}")
        muxed_tmp = temp_beside(out, f".muxed{out.suffix}")
        with VideoWriter(video_tmp, final, fps) as writer:
            config = StreamConfig(strength=options.strength, preserve_colors=options.preserve_colors,
                                  stabilize=options.stabilize, drop_frames=False)
            pipeline = StreamPipeline(_FittedSource(reader, scaled, final), stylizer, config)

            def write(frame: StylisedFrame) -> None:
                writer.write(frame.image)
                if on_frame is not None:
                    on_frame(writer.frames_written, info.frame_count)

            summary = pipeline.run(on_frame=write)
        if pipeline.error is not None:
            raise pipeline.error
        if summary.reason.startswith("source failed"):
            raise VideoError(f"{str(src)!r}: {summary.reason.removeprefix('source failed: ')}")
        if summary.frames_out != summary.frames_in or writer.frames_written == 0:
            raise VideoError(f"{str(src)!r}: expected every decoded frame to be written, decoded "
                             f"{summary.frames_in}, wrote {writer.frames_written} ({summary.reason})")
        if info.frame_count and writer.frames_written != info.frame_count:
            notes.append(f"the header says {info.frame_count} frames; {writer.frames_written} could be decoded")
        status = carry_audio(src, video_tmp, muxed_tmp, find_ffmpeg() if ffmpeg is _AUTO else ffmpeg)
        publish(muxed_tmp if status.muxed else video_tmp, out)
    finally:
        reader.close()
        for tmp in (video_tmp, muxed_tmp):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    return VideoReport(input=str(src), output=str(out), frames=writer.frames_written,
                       frames_in_header=info.frame_count, fps=fps, width=final[0], height=final[1],
                       input_width=info.width, input_height=info.height, audio=status.text,
                       style=summary.style, provider=summary.provider, seconds=time.perf_counter() - t0,
                       notes=tuple(notes))
