"""Video files, cameras and the preview window: the only place impasto talks to OpenCV's video I/O.

Example:
    >>> from impasto.runtime.io.video import VideoReader, VideoWriter
    >>> with VideoReader("in.mp4") as reader, VideoWriter("out.mp4", reader.info.size, reader.info.fps) as writer:
    ...     for frame in reader:
    ...         writer.write(frame)

Convention:
    Frames are ``HxWx3`` uint8 arrays in RGB order. OpenCV's BGR never leaves this
    module: readers convert after decoding, writers and the window convert before
    encoding or drawing. Sizes are ``(width, height)`` tuples, as OpenCV takes them.
    Frame sources return ``None`` when they end normally (the end of a file) and raise
    :class:`impasto.errors.StreamError` when they fail (a camera that vanished, a frame
    of the wrong size).

Logging:
    Failures surface as typed one-line errors, so FFmpeg's own messages are silenced
    (``OPENCV_FFMPEG_LOGLEVEL=-8`` unless already set: set it to ``32`` to see them) and
    OpenCV's warnings are muted while a file or camera is being opened and while a frame is
    encoded (OpenCV's writer reports a failed write only as a warning, so finished files
    are read back instead: :func:`count_frames`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impasto.errors import StreamError, VideoError
from impasto.runtime.io.headers import sniff_format

#: Output extension -> FourCC the bundled OpenCV/FFmpeg build can write and read back.
VIDEO_SUFFIXES: dict[str, str] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


def _cv2():
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when OpenCV first opens a video
    import cv2  # imported lazily: keeps `import impasto.runtime` fast

    return cv2


@contextlib.contextmanager
def _quiet_opencv():
    """Mute OpenCV's own log while probing a file or camera (its failures become typed errors)."""
    cv2 = _cv2()
    old = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file's header says.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        fps: nominal frame rate (0.0 when the container does not say).
        frame_count: frame count from the header, an estimate (0 when unknown).
        codec: FourCC of the video stream, e.g. ``"mp4v"`` (``""`` when unknown).
    """

    path: str
    width: int
    height: int
    fps: float
    frame_count: int
    codec: str

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` rounded down to even numbers (4:2:0 codecs need them), at least 2x2."""
    w, h = size
    return max(2, w - w % 2), max(2, h - h % 2)


def _fourcc_text(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() and text.strip("\x00") else ""


def check_video_path(path: str | os.PathLike) -> Path:
    """Reject what cannot be a video before OpenCV sees it.

    Raises:
        VideoError: missing, a folder, empty, or an image file.
    """
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{str(p)!r}: no such file")
    if p.is_dir():
        raise VideoError(f"{str(p)!r}: expected a video file, got a directory")
    try:
        with p.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise VideoError(f"{str(p)!r}: cannot read: {exc.strerror}") from None
    if not head:
        raise VideoError(f"{str(p)!r}: empty file (0 bytes)")
    fmt = sniff_format(head)
    if fmt is not None:
        raise VideoError(f"{str(p)!r}: expected a video, got a {fmt.upper()} image (use `impasto stylize`)")
    return p


class VideoReader:
    """Frames of a video file, in order, as ``HxWx3`` uint8 RGB.

    Args:
        path: the video file.

    Raises:
        VideoError: missing file, not a video, or no decodable frame.
    """

    is_live = False

    def __init__(self, path: str | os.PathLike) -> None:
        p = check_video_path(path)
        cv2 = _cv2()
        with _quiet_opencv():
            self._cap = cv2.VideoCapture(str(p))
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoError(f"{str(p)!r}: not a video (OpenCV/FFmpeg cannot open it)")
        ok, first = self._cap.read()
        if not ok or first is None or first.ndim != 3 or first.size == 0:
            self._cap.release()
            raise VideoError(f"{str(p)!r}: expected at least one video frame, got none")
        h, w = first.shape[:2]
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.info = VideoInfo(path=str(p), width=w, height=h, fps=fps if np.isfinite(fps) and fps > 0 else 0.0,
                              frame_count=int(count) if count and np.isfinite(count) and count > 0 else 0,
                              codec=_fourcc_text(self._cap.get(cv2.CAP_PROP_FOURCC)))
        self.name = str(p)
        self._pending: np.ndarray | None = first
        self.frames_read = 0
        self.end_reason = ""

    @property
    def fps(self) -> float:
        return self.info.fps

    def read(self) -> np.ndarray | None:
        """The next frame, or ``None`` at the end of the file.

        Raises:
            StreamError: a frame whose size differs from the first frame's.
        """
        if self._cap is None:
            return None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                self.end_reason = f"end of file after {self.frames_read} frames"
                return None
        if bgr.shape != (self.info.height, self.info.width, 3):
            raise StreamError(f"{self.name}: frame {self.frames_read}: expected {self.info.height}x{self.info.width}"
                              f"x3 like the first frame, got shape {bgr.shape} (corrupt frame?)")
        self.frames_read += 1
        return bgr[..., ::-1].copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open a video, decode its first frame and close it: its :class:`VideoInfo`, or a :class:`VideoError`."""
    with VideoReader(path) as reader:
        return reader.info


def count_frames(path: str | os.PathLike) -> int:
    """How many frames of ``path`` decode, to the end (0 if it does not open): the check of a finished file."""
    cv2 = _cv2()
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(path))
    try:
        frames = 0
        while cap.isOpened() and cap.grab():
            frames += 1
        return frames
    finally:
        cap.release()


class CameraSource:
    """A live camera (V4L2 index or device path) as ``HxWx3`` uint8 RGB frames.

    Args:
        camera: device index (``0``) or device path (``/dev/video0``).
        size: ``(width, height)`` to request from the driver (frames are resized later
            anyway; drivers may ignore the request).

    Raises:
        VideoError: the camera cannot be opened or delivers no first frame.
    """

    is_live = True

    def __init__(self, camera: int | str, *, size: tuple[int, int] | None = None) -> None:
        cv2 = _cv2()
        self.name = f"camera {camera}"
        with _quiet_opencv():
            self._cap = cv2.VideoCapture(camera)
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoError(f"{self.name}: cannot open it (no such device, no permission, or in use)")
        if size is not None:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and fps > 0 else 0.0
        self.frames_read = 0
        self.end_reason = ""
        self._shape: tuple[int, ...] | None = None

    def read(self) -> np.ndarray | None:
        """The newest frame from the driver.

        Raises:
            StreamError: the camera stopped delivering frames (unplugged) or sent a
                frame of a different size.
        """
        if self._cap is None:
            return None
        ok, bgr = self._cap.read()
        if not ok or bgr is None or bgr.ndim != 3:
            raise StreamError(f"{self.name}: stopped delivering frames after {self.frames_read} "
                              "(disconnected or in use?)")
        if self._shape is None:
            self._shape = bgr.shape
        elif bgr.shape != self._shape:
            raise StreamError(f"{self.name}: frame {self.frames_read}: expected shape {self._shape}, "
                              f"got {bgr.shape} (corrupt frame?)")
        self.frames_read += 1
        return bgr[..., ::-1].copy()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoWriter:
    """Write ``HxWx3`` uint8 RGB frames to a video file; the codec follows the extension.

    Args:
        path: output file; its extension picks the codec (see :data:`VIDEO_SUFFIXES`).
        size: ``(width, height)`` of every frame; both must be even.
        fps: frame rate written into the container.

    Raises:
        VideoError: unknown extension, odd or empty size, bad rate, or the encoder fails to open.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float) -> None:
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise VideoError(f"output {str(p)!r}: expected a video extension "
                             f"({', '.join(sorted(VIDEO_SUFFIXES))}), got {suffix or 'none'!r}")
        w, h = size
        if w < 2 or h < 2 or w % 2 or h % 2:
            raise VideoError(f"output {str(p)!r}: expected an even frame size of at least 2x2, got {w}x{h}")
        if not (np.isfinite(fps) and fps > 0):
            raise VideoError(f"output {str(p)!r}: expected a positive frame rate, got {fps}")
        cv2 = _cv2()
        self.path = p
        self.size = (w, h)
        self.fps = float(fps)
        self.codec = VIDEO_SUFFIXES[suffix]
        self._writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*self.codec), self.fps, (w, h))
        if not self._writer.isOpened():
            self._writer.release()
            raise VideoError(f"output {str(p)!r}: OpenCV cannot open a {self.codec} encoder for {suffix}")
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (``HxWx3`` uint8 RGB of the writer's size)."""
        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise VideoError(f"output {str(self.path)!r}: expected uint8 frames of shape ({h}, {w}, 3), got {got}")
        with _quiet_opencv():  # a failed write is OpenCV's warning only: callers check the finished file instead
            self._writer.write(np.ascontiguousarray(frame[..., ::-1]))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write RGB frames (all of one even size) to ``path``; returns how many were written.

    Not atomic: for finished outputs use :func:`impasto.runtime.stream.video.stylize_video`,
    which writes through a temporary file.
    """
    writer = None
    try:
        for frame in frames:
            if writer is None:
                writer = VideoWriter(path, (frame.shape[1], frame.shape[0]), fps)
            writer.write(frame)
        return 0 if writer is None else writer.frames_written
    finally:
        if writer is not None:
            writer.close()


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB frame to ``(width, height)`` (area when shrinking, linear when growing)."""
    h, w = frame.shape[:2]
    if (w, h) == tuple(size):
        return frame
    cv2 = _cv2()
    interp = cv2.INTER_AREA if size[0] * size[1] < w * h else cv2.INTER_LINEAR
    return cv2.resize(frame, tuple(size), interpolation=interp)


def draw_overlay(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """A copy of ``frame`` with ``lines`` of text in the top-left corner (white on a dark box)."""
    cv2 = _cv2()
    out = np.ascontiguousarray(frame).copy()
    scale = max(0.4, min(out.shape[0], out.shape[1]) / 900)
    step = int(22 * scale / 0.5)
    for i, line in enumerate(lines):
        y = 6 + step * (i + 1)
        (tw, th), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(out, (4, y - th - 4), (10 + tw, y + base), (0, 0, 0), -1)
        cv2.putText(out, line, (7, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def display_available() -> bool:
    """False where a window cannot open (Linux without ``$DISPLAY`` or ``$WAYLAND_DISPLAY``)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class PreviewWindow:
    """An OpenCV window that shows RGB frames and reports the keys pressed.

    Raises:
        VideoError: no display to open a window on, or an OpenCV build without GUI support.
    """

    def __init__(self, title: str = "impasto") -> None:
        if not display_available():
            raise VideoError("no display to open a window on ($DISPLAY is not set): use --no-window")
        self.title = title
        self._open = False

    def show(self, frame: np.ndarray, lines: Sequence[str] = ()) -> int:
        """Draw ``frame`` (RGB) with an overlay of ``lines``; returns the key pressed or -1."""
        cv2 = _cv2()
        image = draw_overlay(frame, lines) if lines else frame
        try:
            cv2.imshow(self.title, np.ascontiguousarray(image[..., ::-1]))
            self._open = True
            key = cv2.waitKey(1)
        except cv2.error as exc:
            raise VideoError(f"cannot open a window: {str(exc).strip().splitlines()[-1]} "
                             "(an OpenCV build without GUI support?): use --no-window") from None
        return key & 0xFF if key >= 0 else -1

    def closed_by_user(self) -> bool:
        """True once the user closed the window with its close button."""
        if not self._open:
            return False
        cv2 = _cv2()
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        if self._open:
            cv2 = _cv2()
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._open = False
