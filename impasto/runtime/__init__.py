"""Torch-free inference runtime.

Nothing under ``impasto.runtime`` imports torch; a test checks it in a subprocess.

Example:
    >>> from impasto.runtime import Stylizer, read_image, write_image
    >>> with Stylizer.load("starry_night") as stylize:
    ...     write_image("out.jpg", stylize(read_image("photo.jpg"), strength=0.8))

The names below are imported on first use (PEP 562), so ``import impasto.runtime.io.images``
(or a CLI command that needs one pipeline) does not pay for every pipeline, ONNX Runtime
or OpenCV; see ``docs/speed.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module that defines it.
_EXPORTS = {
    "Backend": "impasto.runtime.backends.base",
    "TensorSpec": "impasto.runtime.backends.base",
    "OrtBackend": "impasto.runtime.backends.ort",
    "BACKENDS": "impasto.runtime.backends.selection",
    "Selection": "impasto.runtime.backends.selection",
    "open_backend": "impasto.runtime.backends.selection",
    "ModelCard": "impasto.runtime.builtins",
    "builtin_cards": "impasto.runtime.builtins",
    "builtin_paths": "impasto.runtime.builtins",
    "decode_image": "impasto.runtime.io.images",
    "read_image": "impasto.runtime.io.images",
    "write_image": "impasto.runtime.io.images",
    "WCTStylizer": "impasto.runtime.pipelines.photoreal",
    "Stylizer": "impasto.runtime.pipelines.stylizer",
    "QuiltConfig": "impasto.runtime.quilting",
    "TransferConfig": "impasto.runtime.quilting",
    "quilt_texture": "impasto.runtime.quilting",
    "transfer_texture": "impasto.runtime.quilting",
}

__all__ = ["BACKENDS", "Backend", "ModelCard", "OrtBackend", "QuiltConfig", "Selection", "Stylizer", "TensorSpec",
           "TransferConfig", "WCTStylizer", "builtin_cards", "builtin_paths", "decode_image", "open_backend",
           "quilt_texture", "read_image", "transfer_texture", "write_image"]

if TYPE_CHECKING:
    from impasto.runtime.backends.base import Backend, TensorSpec
    from impasto.runtime.backends.ort import OrtBackend
    from impasto.runtime.backends.selection import BACKENDS, Selection, open_backend
    from impasto.runtime.builtins import ModelCard, builtin_cards, builtin_paths
    from impasto.runtime.io.images import decode_image, read_image, write_image
    from impasto.runtime.pipelines.photoreal import WCTStylizer
    from impasto.runtime.pipelines.stylizer import Stylizer
    from impasto.runtime.quilting import QuiltConfig, TransferConfig, quilt_texture, transfer_texture


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'impasto.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
