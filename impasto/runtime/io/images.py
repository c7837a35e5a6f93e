"""Image decoding, validation and (atomic, see :mod:`impasto.runtime.io.atomic`) writing (torch-free).

Convention:
    Images are ``HxWx3`` ``uint8`` arrays in RGB order (OpenCV's BGR never leaves this
    module). Grayscale is replicated to RGB; an alpha channel is composited over white;
    16-bit images are scaled to 8 bits (``round(v / 257)``); float images must lie in
    ``[0, 1]``. JPEG EXIF orientation is applied.

Safety:
    The pixel count is read from the file header (JPEG, PNG, BMP, WebP, TIFF; see
    :mod:`impasto.runtime.io.headers`) and checked against ``max_pixels`` *before*
    decoding, so a decompression bomb never allocates. Truncated JPEG and PNG files
    (no end marker) and PNG files with a damaged chunk are rejected rather than decoded
    with grey filler; bytes after the end marker are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from impasto.errors import ImageError
from impasto.runtime.io.atomic import atomic_write_bytes
from impasto.runtime.io.headers import data_end, header_size, png_corruption, sniff_format

#: Default limit on decoded pixels (about 100 megapixels).
DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def _cv2():
    import cv2  # imported lazily: keeps `import impasto.runtime` fast

    return cv2


def decode_image(data: bytes, *, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
                 keep_single_channel: bool = False,
                 before_decode: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Decode encoded image bytes into an ``HxWx3`` uint8 RGB array.

    Args:
        data: the file's bytes.
        name: how to refer to the source in errors (a path, ``"stdin"``).
        max_pixels: reject images with more pixels than this.
        keep_single_channel: return a single-channel file as stored, ``HxW`` of its own
            depth (uint8 or uint16), e.g. a label-index mask (:mod:`impasto.runtime.io.masks`).
        before_decode: called with ``(width, height)`` from the header (where the format
            has one) before any decoding; it may raise to refuse the image.

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
        if before_decode is not None:
            before_decode(w, h)  # e.g. the memory plan: refuse before the decode's memory is spent
    end = data_end(data, fmt)
    if end is None:
        marker = "end-of-image marker" if fmt == "jpeg" else "IEND chunk"
        raise ImageError(f"{name}: truncated {fmt.upper()} (no {marker})")
    data = data[:end]  # what follows the end marker (a motion photo's video, padding) is not the image
    if fmt == "png" and (reason := png_corruption(data)):
        raise ImageError(f"{name}: corrupt PNG: {reason}")
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
    return img if keep_single_channel and img.ndim == 2 else to_rgb8(img, name=name)


def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               keep_single_channel: bool = False,
               before_decode: Callable[[int, int], None] | None = None) -> np.ndarray:
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
    return decode_image(data, name=str(p), max_pixels=max_pixels, keep_single_channel=keep_single_channel,
                        before_decode=before_decode)


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
    h, w = fitted_shape(*image.shape[:2], max_size)
    if (h, w) == image.shape[:2]:
        return image
    return _cv2().resize(image, (w, h), interpolation=_cv2().INTER_AREA)


def fitted_shape(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """The ``(height, width)`` :func:`fit_max_size` gives an image of this size (known before decoding it)."""
    s = max_size / max(height, width) if max_size else 1.0
    if s >= 1:
        return height, width
    return max(1, round(height * s)), max(1, round(width * s))


def encode_image(image: np.ndarray, ext: str, *, quality: int = 95) -> bytes:
    """Encode an RGB-ordered image by file extension.

    Convention:
        ``image`` is ``HxW`` / ``HxWx1`` (grey), ``HxWx3`` (RGB) or ``HxWx4`` (RGBA), of
        dtype uint8, uint16, or float32/float64 in ``[0, 1]`` (scaled to 8 bits). Grey
        and colour are written as such; alpha is kept where the format has it (PNG, TIFF,
        WebP) and composited over white elsewhere (JPEG, BMP); 16 bits are kept in PNG
        and TIFF and scaled to 8 bits elsewhere.

    Args:
        image: the pixels (see above).
        ext: the format as a file extension, e.g. ``".png"`` or ``".jpg"``.
        quality: JPEG / WebP quality, 0-100.

    Raises:
        ImageError: another shape or dtype, a float outside ``[0, 1]`` or not finite, an
            unknown extension or a quality outside 0-100.
    """
    ext = ext.lower()
    if ext not in IMAGE_SUFFIXES:
        raise ImageError(f"output: expected one of {', '.join(sorted(IMAGE_SUFFIXES))}, got {ext or 'no extension'!r}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 100:
        raise ImageError(f"output quality: expected an integer in 0-100, got {quality!r}")
    pixels = _encodable(image, ext)
    cv2 = _cv2()
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, int(quality)], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, max(1, int(quality))]}.get(ext, [])
    ok, buf = cv2.imencode(ext, pixels, params)
    if not ok:
        raise ImageError(f"output: cannot encode {ext} image of shape {image.shape}")
    return buf.tobytes()


def _encodable(image: np.ndarray, ext: str) -> np.ndarray:
    """``image`` checked and laid out as OpenCV writes it: BGR(A) order, a dtype the format holds."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"output: expected a numpy array HxWx3, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or 0 in image.shape[:2]:
        raise ImageError(f"output: expected a non-empty HxW, HxWx1, HxWx3 or HxWx4 array, got shape {image.shape}")
    if image.dtype in (np.float32, np.float64):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ImageError("output: float images must be finite and in [0, 1], got "
                             + ("NaN or infinite values" if not np.isfinite(image).all()
                                else f"range [{image.min():.3g}, {image.max():.3g}]"))
        image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    elif image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"output: expected dtype uint8, uint16 or float32 in [0, 1], got {image.dtype}")
    if image.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        image = np.clip(np.rint(image / 257.0), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4 and ext in (".jpg", ".jpeg", ".bmp"):
        top = float(np.iinfo(image.dtype).max)
        a = image[..., 3:4].astype(np.float32) / top
        image = np.clip(np.rint(image[..., :3] * a + top * (1.0 - a)), 0, top).astype(image.dtype)
    if image.ndim == 3:
        image = image[..., [2, 1, 0, 3][: image.shape[2]]]  # RGB(A) -> BGR(A)
    return np.ascontiguousarray(image)


def write_image(path: str | os.PathLike, image: np.ndarray, *, quality: int = 95) -> None:
    """Encode by the file extension and write atomically."""
    atomic_write_bytes(path, encode_image(image, Path(path).suffix, quality=quality))
