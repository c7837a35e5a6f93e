"""Stylise a video file into a new one: same frame count, frame rate and size, audio carried over.

Decoding, stylisation and encoding run in separate threads (a
:class:`~impasto.runtime.stream.live.StreamPipeline` that never drops frames). The result is
written to a temporary file beside the output and renamed into place only when
complete and read back in full (OpenCV's writer does not report failed writes, so a full
disk is caught by decoding the finished file), so a failure, a full disk, Ctrl-C or
SIGTERM never leaves a half-written video nor replaces a previous one. Audio is muxed back
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

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impasto.errors import StorageError, UserError, VideoError
from impasto.runtime.io.atomic import check_writable, output_error, publish, temp_beside
from impasto.runtime.io.audio import carry_audio, find_ffmpeg, has_audio
from impasto.runtime.io.video import (
    VIDEO_SUFFIXES,
    VideoInfo,
    VideoReader,
    VideoWriter,
    count_frames,
    even_size,
    resize_frame,
)
from impasto.runtime.stream.live import StreamConfig, StreamPipeline, StreamSummary, StylisedFrame, StylizerLike

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
        workers: frames stylised at the same time (see ``StreamConfig.workers``; the stylizer
            must support concurrent calls). Frames that run tiled (over the memory budget,
            or a forced tile) run one at a time instead, and the report says so.
    """

    strength: float = 1.0
    preserve_colors: bool = False
    stabilize: float = 0.0
    max_size: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.workers, int) and self.workers >= 1):
            raise UserError(f"workers: expected a positive integer, got {self.workers!r}")
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
    workers: int = 1

    def to_dict(self) -> dict:
        return {"input": self.input, "output": self.output, "frames": self.frames,
                "frames_in_header": self.frames_in_header, "fps": round(self.fps, 4), "width": self.width,
                "height": self.height, "input_width": self.input_width, "input_height": self.input_height,
                "audio": self.audio, "style": self.style, "provider": self.provider,
                "seconds": round(self.seconds, 3), "fps_processed": round(self.frames / self.seconds, 2)
                if self.seconds > 0 else None, "workers": self.workers, "notes": list(self.notes)}


def check_output_path(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Validate the output path against the input before any work.

    Raises:
        VideoError: unknown extension, the input itself, or an existing folder.
        OutputError: a path that cannot be written (a name too long, a parent that is a
            file, a folder that is not writable; :func:`~impasto.runtime.io.atomic.check_writable`).
    """
    out = Path(dst)
    suffix = out.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(f"output {str(out)!r}: expected a video extension ({', '.join(sorted(VIDEO_SUFFIXES))}), "
                         f"got {suffix or 'none'!r}")
    if os.path.isdir(out):  # os.path: False for a name too long, which check_writable names
        raise VideoError(f"output {str(out)!r}: expected a file path, got a directory")
    if Path(src).exists() and out.resolve() == Path(src).resolve():
        raise VideoError(f"output {str(out)!r} would overwrite its input")
    check_writable(out)
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


def _space_left(folder: Path) -> int | None:
    """Bytes this process may still write in ``folder``'s file system (None if it cannot say)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs on Windows
        return None
    if st.f_blocks == 0:  # a file system that reports no size at all (some FUSE mounts): it cannot say
        return None
    blocks = st.f_bfree if getattr(os, "geteuid", lambda: -1)() == 0 else st.f_bavail  # root may use reserved blocks
    return blocks * st.f_frsize


def _full(out: Path, frames: int) -> StorageError:
    err = StorageError(f"{out}: cannot write: No space left on device (after {frames} frames; nothing was published)")
    err.errno, err.strerror, err.filename = errno.ENOSPC, os.strerror(errno.ENOSPC), str(out)
    return err


def verify_video(path: Path, out: Path, frames: int) -> None:
    """Decode the finished temporary file ``path`` to its end: it must hold all ``frames`` before it becomes ``out``.

    OpenCV's writer does not report a failed write (a full disk, a file size limit), so a
    file is only published once every frame written has been read back.

    Raises:
        StorageError: fewer frames decode (none: the file is unreadable, e.g. an MP4
            whose index could not be written).
    """
    decoded = count_frames(path)
    if decoded != frames:
        free = _space_left(out.parent)
        if free == 0:
            raise _full(out, frames)
        room = "" if free is None else f"; {free} bytes free there"
        raise StorageError(f"{out}: cannot write: {decoded} of the {frames} frames written could be read back "
                           f"(a full disk or a file size limit?{room}); nothing was published")


def _encode(source: _FittedSource, video_tmp: Path, final: tuple[int, int], fps: float, stylizer: StylizerLike,
            options: VideoOptions, on_frame: Callable[[int, int], object] | None, out: Path,
            expected: int, workers: int) -> tuple[int, StreamSummary]:
    """Stylise ``source`` into ``video_tmp``; ``(frames written, stream summary)``.

    Raises:
        StorageError: the disk filled up while frames were written.
        Whatever the stylizer raised.
    """
    with VideoWriter(video_tmp, final, fps) as writer:
        config = StreamConfig(strength=options.strength, preserve_colors=options.preserve_colors,
                              stabilize=options.stabilize, drop_frames=False, workers=workers)
        pipeline = StreamPipeline(source, stylizer, config)

        def write(frame: StylisedFrame) -> None:
            writer.write(frame.image)
            if _space_left(out.parent) == 0:  # the encoder cannot tell us; stop now rather than at the end
                raise _full(out, writer.frames_written)
            if on_frame is not None:
                on_frame(writer.frames_written, expected)

        summary = pipeline.run(on_frame=write)
    if pipeline.error is not None:
        raise pipeline.error
    return writer.frames_written, summary


def stylize_video(src: str | os.PathLike, dst: str | os.PathLike, stylizer: StylizerLike,
                  options: VideoOptions | None = None, *, on_frame: Callable[[int, int], object] | None = None,
                  ffmpeg: str | None | object = _AUTO, reader: VideoReader | None = None) -> VideoReport:
    """Stylise every frame of ``src`` into ``dst`` (written atomically, published only once it decodes in full).

    Args:
        src: input video.
        dst: output video; the extension picks the codec (``.mp4``, ``.mov``, ``.m4v``,
            ``.mkv``: MPEG-4 Part 2; ``.avi``: Motion JPEG).
        stylizer: a loaded :class:`~impasto.runtime.pipelines.stylizer.Stylizer` (not closed here).
        options: see :class:`VideoOptions`.
        on_frame: called as ``on_frame(frames_done, frames_expected)`` after each frame
            (``frames_expected`` is the header's estimate, 0 if unknown), e.g. a progress bar.
        ffmpeg: path of ffmpeg for the audio, None for none; default: :func:`find_ffmpeg`.
        reader: ``src`` already opened and not yet read from (a caller that opened it to
            check it before loading a model saves a second open, ~25 ms); closed here.

    Returns:
        A :class:`VideoReport`.

    Raises:
        VideoError: bad input or output path, unreadable video, a frame that cannot be decoded.
        OutputError: an output path that cannot be written (a read-only folder, a parent that is a file).
        StorageError: the disk filled up (or another write failure): the finished file did
            not decode in full. UserError: bad options. Other errors from the stylizer
            propagate. In every case no output or temporary file is left behind and an
            existing ``dst`` is kept as it was.
    """
    options = options or VideoOptions()
    try:
        out = check_output_path(src, dst)
        if reader is not None and (reader.frames_read or Path(reader.name).resolve() != Path(src).resolve()):
            raise UserError(f"reader: expected {str(src)!r} opened and not yet read from, got {reader.name!r} "
                            f"after {reader.frames_read} frames")
    except BaseException:
        if reader is not None:
            reader.close()
        raise
    t0 = time.perf_counter()
    reader = reader or VideoReader(src)
    info = reader.info
    scaled, final = output_size(info, options.max_size)
    notes = []
    if final != scaled:
        notes.append(f"cropped {scaled[0]}x{scaled[1]} to {final[0]}x{final[1]}: the codec needs even dimensions")
    fps = info.fps
    if fps <= 0:
        fps = FALLBACK_FPS
        notes.append(f"the input does not give a frame rate: wrote {FALLBACK_FPS:g} fps")
    video_tmp = muxed_tmp = None
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(out, exc, "create its folder") from None
        video_tmp = temp_beside(out, f".video{out.suffix}")
        muxed_tmp = temp_beside(out, f".muxed{out.suffix}")
        workers = options.workers
        plan = getattr(stylizer, "memory_plan", None)
        if workers > 1 and plan is not None and plan(final[1], final[0]).mode != "whole":
            workers = 1  # the tiled path opens its stats graph lazily and holds a frame's worth of tiles
            notes.append(f"{final[0]}x{final[1]} frames run tiled: one frame at a time instead of {options.workers}")
        written, summary = _encode(_FittedSource(reader, scaled, final), video_tmp, final, fps, stylizer, options,
                                   on_frame, out, info.frame_count, workers)
        if summary.reason.startswith("source failed"):
            raise VideoError(f"{str(src)!r}: {summary.reason.removeprefix('source failed: ')}")
        if summary.frames_out != summary.frames_in or written == 0:
            raise VideoError(f"{str(src)!r}: expected every decoded frame to be written, decoded "
                             f"{summary.frames_in}, wrote {written} ({summary.reason})")
        if info.frame_count and written != info.frame_count:
            notes.append(f"the header says {info.frame_count} frames; {written} could be decoded")
        if ffmpeg is _AUTO:  # searching PATH and imageio-ffmpeg costs ~20 ms: not for a file without audio
            ffmpeg = None if has_audio(src) is False else find_ffmpeg()
        status = carry_audio(src, video_tmp, muxed_tmp, ffmpeg, target=out)
        result = muxed_tmp if status.muxed else video_tmp
        verify_video(result, out, written)
        publish(result, out)
    finally:
        reader.close()
        for tmp in (video_tmp, muxed_tmp):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    return VideoReport(input=str(src), output=str(out), frames=written,
                       frames_in_header=info.frame_count, fps=fps, width=final[0], height=final[1],
                       input_width=info.width, input_height=info.height, audio=status.text,
                       style=summary.style, provider=summary.provider, seconds=time.perf_counter() - t0,
                       notes=tuple(notes), workers=workers)
