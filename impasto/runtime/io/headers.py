"""What an image file says about itself before decoding: format, size, and where its data ends (torch-free).

These readers run on untrusted bytes before any decoder does, so that a decompression
bomb is refused from its header and a truncated or corrupt file from its structure.
They never raise on malformed input: they return None (size unknown) or a reason.

Convention:
    Sizes are ``(width, height)`` in pixels. ``data`` is the whole file.
"""

from __future__ import annotations

import struct
import zlib

#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff_format(data: bytes) -> str | None:
    """Return ``"jpeg" | "png" | "bmp" | "webp" | "tiff"`` from magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` from the header without decoding, or None if not parseable."""
    reader = {"png": _png_size, "bmp": _bmp_size, "webp": _webp_size, "jpeg": _jpeg_size, "tiff": _tiff_size}.get(fmt)
    if reader is None:
        return None
    try:
        return reader(data)
    except (struct.error, IndexError, ValueError):
        return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _bmp_size(data: bytes) -> tuple[int, int]:
    w, h = struct.unpack("<ii", data[18:26])
    return abs(w), abs(h)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L":
        b = int.from_bytes(data[21:25], "little")
        return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    for marker, start, _ in _jpeg_segments(data, 2):
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[start + 5:start + 9])
            return w, h
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (tag 256) and ImageLength (257) of the first IFD; classic TIFF and BigTIFF."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(order + "H", data[2:4])[0] == 43
    if big:
        (ifd,) = struct.unpack(order + "Q", data[8:16])
        (count,) = struct.unpack(order + "Q", data[ifd:ifd + 8])
        first, entry, value_at = ifd + 8, 20, 12
    else:
        (ifd,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
        first, entry, value_at = ifd + 2, 12, 8
    found: dict[int, int] = {}
    for k in range(min(count, 4096)):
        at = first + k * entry
        tag, typ = struct.unpack(order + "HH", data[at:at + 4])
        if tag in (256, 257):
            fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
            if fmt is None:
                return None
            (found[tag],) = struct.unpack(order + fmt, data[at + value_at:at + value_at + struct.calcsize(fmt)])
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def data_end(data: bytes, fmt: str) -> int | None:
    """Offset just past the image's end marker (JPEG EOI, PNG IEND), or None if it has none.

    Bytes after it (a phone's motion-photo video, padding) are not part of the image.
    Only JPEG and PNG are checked; other formats return ``len(data)``.
    """
    if fmt == "jpeg":
        return _jpeg_end(data)
    if fmt == "png":
        return _png_end(data)
    return len(data)


def _jpeg_end(data: bytes) -> int | None:
    """Walk segments and entropy-coded scans (progressive files have several) to the EOI marker."""
    i = 2
    while True:
        sos_end = None
        for marker, _start, end in _jpeg_segments(data, i):
            if marker == 0xD9:
                return end
            if marker == 0xDA:
                sos_end = end
                break
        if sos_end is None:
            return None
        j = sos_end
        while True:  # the scan ends at the first 0xFF that is not stuffing (00) or a restart marker
            j = data.find(b"\xff", j)
            if j < 0 or j + 1 >= len(data):
                return None
            nxt = data[j + 1]
            if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                j += 1 if nxt == 0xFF else 2
                continue
            break
        if nxt == 0xD9:
            return j + 2
        i = j


def _jpeg_segments(data: bytes, i: int):
    """Yield ``(marker, start, end)`` of each marker segment from offset ``i`` up to the first start-of-scan
    (inclusive), or the end-of-image marker as ``(0xD9, start, start + 2)``."""
    while i + 2 <= len(data):
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xD9:
            yield marker, i, i + 2
            return
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if i + 4 > len(data):
            return
        (seg_len,) = struct.unpack(">H", data[i + 2:i + 4])
        if seg_len < 2 or i + 2 + seg_len > len(data):
            return
        yield marker, i, i + 2 + seg_len
        if marker == 0xDA:
            return
        i += 2 + seg_len


def _png_end(data: bytes) -> int | None:
    """Walk the chunks to IEND; None when one is cut short."""
    i = len(_PNG_SIGNATURE)
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        end = i + 12 + length
        if end > len(data):
            return None
        if data[i + 4:i + 8] == b"IEND":
            return end
        i = end
    return None


def png_corruption(data: bytes) -> str | None:
    """The first PNG chunk whose CRC does not match its contents, as a reason; None if all match.

    Checked before decoding so that a damaged file gets impasto's one-line error rather
    than libpng's own message on stderr.
    """
    i = len(_PNG_SIGNATURE)
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, end = data[i + 4:i + 8], i + 12 + length
        if end > len(data):
            return None
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[i + 4:end - 4]) & 0xFFFFFFFF != crc:
            return f"chunk {kind.decode('latin-1')!r} at byte {i} fails its CRC check"
        if kind == b"IEND":
            return None
        i = end
    return None
