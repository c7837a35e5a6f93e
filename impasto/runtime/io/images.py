"""Image decoding, validation and (atomic, see :mod:`impasto.runtime.io.atomic`) writing (torch-free).

Convention:
    Images are ``HxWx3`` ``uint8`` arrays in RGB order (OpenCV's BGR never leaves this
    module). Grayscale is replicated to RGB; an alpha channel is composited over white;
    16-bit images are scaled to 8 bits (``round(v / 257)``); float images must lie in
    ``[0, 1]``. JPEG EXIF orientation is applied.

Safety:
    The pixel count is read from the file header (JPEG, PNG, BMP, WebP) and checked
    against ``max_pixels`` *before* decoding, so a decompression bomb never allocates.
    Truncated JPEG and PNG files are rejected rather than decoded with grey filler.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from impasto.errors import ImageError
from impasto.runtime.io.atomic import atomic_write_bytes

#: Default limit on decoded pixels (about 100 megapixels).
DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def _cv2():
    import cv2  # imported lazily: keeps `import impasto.runtime` fast

    return cv2


def sniff_format(data: bytes) -> str | None:
    """Return ``"jpeg" | "png" | "bmp" | "webp" | "tiff"`` from magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` from the header without decoding, or None if not parseable."""
    try:
        if fmt == "png":
            return struct.unpack(">II", data[16:24])
        if fmt == "bmp":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if fmt == "webp":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8L":
                b = int.from_bytes(data[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            return None
        if fmt == "jpeg":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                    i += 1 if marker == 0xFF else 2
                    continue
                seg_len = struct.unpack(">H", data[i + 2:i + 4])[0]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 2 + seg_len
            return None
    except struct.error:
        return None
    return None


def _check_complete(data: bytes, fmt: str, name: str) -> None:
    if fmt == "jpeg" and b"\xff\xd9" not in data[-4096:]:
        raise ImageError(f"{name}: truncated JPEG (no end-of-image marker)")
    if fmt == "png" and b"IEND" not in data[-64:]:
        raise ImageError(f"{name}: truncated PNG (no IEND chunk)")


def decode_image(data: bytes, *, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes into an ``HxWx3`` uint8 RGB array.

    Args:
        data: the file's bytes.
        name: how to refer to the source in errors (a path, ``"stdin"``).
        max_pixels: reject images with more pixels than this.

    Raises:
        ImageError: empty, not an image, truncated, too large or undecodable.
    """
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(f"{name}: not an image: expected JPEG, PNG, BMP, TIFF or WebP, got bytes {data[:8]!r}")
    size = header_size(data, fmt)
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(f"{name}: expected a non-empty image, got {w}x{h} in the header")
        if w * h > max_pixels:
            raise ImageError(f"{name}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} pixels")
    _check_complete(data, fmt, name)
    cv2 = _cv2()
    buf = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_COLOR if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(buf, flags)
    if img is None:
        raise ImageError(f"{name}: cannot decode {fmt.upper()} data (corrupt file?)")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{name}: {img.shape[1]}x{img.shape[0]} pixels exceeds the limit of {max_pixels} pixels")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., [2, 1, 0, 3][: img.shape[2]]]  # BGR(A) -> RGB(A)
    return to_rgb8(img, name=name)


def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as ``HxWx3`` uint8 RGB. See :func:`decode_image`."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{str(p)!r}: no such file")
    if p.is_dir():
        raise ImageError(f"{str(p)!r}: expected an image file, got a directory")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"{str(p)!r}: cannot read: {exc.strerror}") from None
    return decode_image(data, name=str(p), max_pixels=max_pixels)


def to_rgb8(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Convert an RGB-ordered array of any supported layout/dtype to ``HxWx3`` uint8.

    Accepts ``HxW``, ``HxWx1``, ``HxWx3`` and ``HxWx4`` (RGBA, composited over white)
    with dtype uint8, uint16, or float32/float64 in ``[0, 1]``.

    Raises:
        ImageError: anything else, saying what was expected and what was got.
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array HxWx3, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ImageError(f"{name}: expected HxW, HxWx1, HxWx3 or HxWx4, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"{name}: expected a non-empty image, got shape {image.shape}")
    if image.dtype == np.uint8:
        f = None
    elif image.dtype == np.uint16:
        f = image.astype(np.float32) / 65535.0
    elif image.dtype in (np.float32, np.float64):
        if not np.isfinite(image).all():
            raise ImageError(f"{name}: float images must be finite and in [0, 1], got NaN or infinite values")
        if image.min() < 0 or image.max() > 1:
            raise ImageError(f"{name}: float images must be finite and in [0, 1], got range "
                             f"[{image.min():.3g}, {image.max():.3g}]")
        f = image.astype(np.float32)
    else:
        raise ImageError(f"{name}: expected dtype uint8, uint16 or float32, got {image.dtype}")
    c = image.shape[2]
    if f is None and c == 3:
        return np.ascontiguousarray(image)
    if f is None:
        f = image.astype(np.float32) / 255.0
    if c == 4:
        a = f[..., 3:4]
        f = f[..., :3] * a + (1.0 - a)
    elif c == 1:
        f = np.repeat(f, 3, axis=2)
    return np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)


def fit_max_size(image: np.ndarray, max_size: int | None) -> np.ndarray:
    """Downscale (area interpolation) so the longest side is at most ``max_size``."""
    if max_size is None:
        return image
    if max_size < 1:
        raise ImageError(f"max_size: expected a positive integer, got {max_size}")
    h, w = image.shape[:2]
    s = max_size / max(h, w)
    if s >= 1:
        return image
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return _cv2().resize(image, size, interpolation=_cv2().INTER_AREA)


def encode_image(image: np.ndarray, ext: str, *, quality: int = 95) -> bytes:
    """Encode an ``HxWx3`` uint8 RGB array; ``ext`` like ``".png"`` or ``".jpg"``."""
    ext = ext.lower()
    if ext not in IMAGE_SUFFIXES:
        raise ImageError(f"output: expected one of {', '.join(sorted(IMAGE_SUFFIXES))}, got {ext or 'no extension'!r}")
    cv2 = _cv2()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(image[..., ::-1]), params)
    if not ok:
        raise ImageError(f"output: cannot encode {ext} image of shape {image.shape}")
    return buf.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray, *, quality: int = 95) -> None:
    """Encode by the file extension and write atomically."""
    atomic_write_bytes(path, encode_image(image, Path(path).suffix, quality=quality))
