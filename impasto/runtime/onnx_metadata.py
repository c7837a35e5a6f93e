"""Read an ONNX file's ``metadata_props`` without ONNX Runtime or the ``onnx`` package (torch-free, fast).

Listing the built-in styles or resolving ``--style starry_night`` needs only the model
cards in ``metadata_props``. Opening an ONNX Runtime session for that costs tens of
milliseconds per file (the whole graph is parsed and optimised); this module walks the
top level of the ``ModelProto`` message instead and seeks past the graph, so it reads a
few kilobytes whatever the size of the weights.

Convention:
    ``ModelProto`` fields used (onnx.proto3): 1 ``ir_version`` (varint), 7 ``graph``
    (message, skipped) and 14 ``metadata_props`` (repeated ``StringStringEntryProto``:
    1 ``key``, 2 ``value``, both UTF-8). A file without ``ir_version`` or ``graph`` is not
    an ONNX model. Later entries with the same key win, as in ONNX Runtime's
    ``custom_metadata_map``.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from impasto.errors import ModelError

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
_IR_VERSION, _GRAPH, _METADATA_PROPS = 1, 7, 14
#: A metadata entry larger than this is not a model card (guards against reading a corrupt length).
_MAX_ENTRY_BYTES = 64 << 20


class _Malformed(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX model at ``path`` as ``{key: value}``.

    Raises:
        ModelError: the file is missing, unreadable or not an ONNX model (one line).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            return _read_model(f, size)
    except OSError as exc:
        raise ModelError(f"model {str(path)!r}: cannot read it: {exc.strerror or exc}") from None
    except _Malformed as exc:
        raise ModelError(f"model {str(path)!r}: cannot load it as an ONNX model: {exc}") from None


def _read_model(f: BinaryIO, size: int) -> dict[str, str]:
    meta: dict[str, str] = {}
    seen: set[int] = set()
    while f.tell() < size:
        field, wire = _read_tag(f)
        seen.add(field)
        if wire == _VARINT:
            _read_varint(f)
        elif wire == _FIXED64:
            _skip(f, 8, size)
        elif wire == _FIXED32:
            _skip(f, 4, size)
        elif wire == _LENGTH:
            length = _read_varint(f)
            if field == _METADATA_PROPS:
                if length > _MAX_ENTRY_BYTES or f.tell() + length > size:
                    raise _Malformed(f"a metadata entry of {length} bytes runs past the end of the file")
                key, value = _read_entry(f.read(length))
                meta[key] = value
            else:
                _skip(f, length, size)
        else:
            raise _Malformed(f"unexpected protobuf wire type {wire} at byte {f.tell()}")
    missing = [name for field, name in ((_IR_VERSION, "ir_version"), (_GRAPH, "graph")) if field not in seen]
    if missing:
        raise _Malformed(f"no {' and no '.join(missing)} field")
    return meta


def _read_entry(data: bytes) -> tuple[str, str]:
    """One ``StringStringEntryProto``: ``(key, value)``."""
    parts = {1: "", 2: ""}
    pos = 0
    while pos < len(data):
        tag, pos = _varint_at(data, pos)
        field, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            _, pos = _varint_at(data, pos)
            continue
        if wire != _LENGTH:
            raise _Malformed(f"unexpected wire type {wire} in a metadata entry")
        length, pos = _varint_at(data, pos)
        if pos + length > len(data):
            raise _Malformed("a metadata string runs past its entry")
        if field in parts:
            try:
                parts[field] = data[pos:pos + length].decode("utf-8")
            except UnicodeDecodeError:
                raise _Malformed("a metadata string is not UTF-8") from None
        pos += length
    return parts[1], parts[2]


def _read_tag(f: BinaryIO) -> tuple[int, int]:
    tag = _read_varint(f)
    if tag >> 3 == 0:
        raise _Malformed(f"field number 0 at byte {f.tell()}")
    return tag >> 3, tag & 7


def _read_varint(f: BinaryIO) -> int:
    value, shift = 0, 0
    while True:
        byte = f.read(1)
        if not byte:
            raise _Malformed("the file ends inside a number")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise _Malformed("a number longer than 10 bytes")


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise _Malformed("a truncated or overlong number in a metadata entry")


def _skip(f: BinaryIO, length: int, size: int) -> None:
    end = f.tell() + length
    if end > size:
        raise _Malformed(f"a field of {length} bytes runs past the end of the file ({size} bytes)")
    f.seek(end)
