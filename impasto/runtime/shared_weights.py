"""The shared weights file a graph reads through ONNX external data: find it and check it before loading.

Graphs exported with ``--shared-encoder`` (:mod:`impasto.export.shared_encoder`) keep
their VGG16 encoder's weights in one file beside them, shared by every graph of the
folder. ONNX Runtime and TensorRT resolve it from the graph's path; when it is missing or
truncated their own errors neither name it nor say what was expected, so the runtime
checks it first from the graph's metadata (no session, no hashing: a size check).

Convention:
    ``impasto.shared_weights`` (:data:`impasto.contracts.SHARED_WEIGHTS_KEY`) is JSON
    ``{"file": NAME, "bytes": N, "sha256": HEX, "index": NAME.json}``; ``NAME`` is a plain
    file name in the graph's own folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from impasto.contracts import SHARED_WEIGHTS_KEY
from impasto.errors import ModelError
from impasto.runtime.onnx_metadata import read_onnx_metadata


def shared_weights_of(model_path: str | os.PathLike,
                      metadata: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The graph's shared-weights entry (``file``, ``bytes``, ``sha256``, ``index``), or None.

    Raises:
        ModelError: the entry is not the JSON object the convention describes.
    """
    meta = read_onnx_metadata(model_path) if metadata is None else metadata
    text = meta.get(SHARED_WEIGHTS_KEY)
    if text is None:
        return None
    try:
        entry = json.loads(text)
        ok = (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("bytes"), int)
              and Path(entry["file"]).name == entry["file"])
    except ValueError:
        ok = False
    if not ok:
        raise ModelError(f"model {str(model_path)!r}: expected {SHARED_WEIGHTS_KEY} as JSON "
                         f'{{"file": NAME, "bytes": N, ...}} naming a file beside it, got {text[:120]!r}')
    return entry


def check_shared_weights(model_path: str | os.PathLike, metadata: dict[str, str] | None = None, *,
                         verify: bool = False) -> Path | None:
    """The shared weights file of an ``.onnx`` graph (None for a self-contained one), checked to exist at its size.

    Args:
        model_path: the graph.
        metadata: its metadata, when already read.
        verify: also hash the file and compare it with the graph's recorded sha256 (for
            what bakes the weights in, such as a TensorRT engine build; loading a session
            checks only the size).

    Raises:
        ModelError: the file is missing, has another size, or (``verify``) other contents
            than the graph expects (one line).
    """
    if Path(model_path).suffix.lower() != ".onnx":
        return None
    entry = shared_weights_of(model_path, metadata)
    if entry is None:
        return None
    path = Path(model_path).parent / entry["file"]
    want = entry["bytes"]
    if not path.is_file():
        raise ModelError(f"model {str(model_path)!r}: its shared weights file {str(path)!r} is missing "
                         f"(expected {want} bytes beside the graph; copy it with the graph)")
    got = path.stat().st_size
    if got != want:
        raise ModelError(f"model {str(model_path)!r}: its shared weights file {str(path)!r} has {got} bytes, "
                         f"expected {want} (truncated or from another export; copy it again with the graph)")
    if verify and isinstance(entry.get("sha256"), str):
        from impasto.utils.digest import sha256_file  # hashlib costs ~4 ms at import: only when verifying

        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise ModelError(f"model {str(model_path)!r}: its shared weights file {str(path)!r} has other contents "
                             f"than the graph expects (sha256 {digest[:12]}..., expected {entry['sha256'][:12]}...; "
                             "from another export? copy it again with the graph)")
    return path
