"""Torch-free inference runtime.

Nothing under ``impasto.runtime`` imports torch; a test checks it in a subprocess.

Example:
    >>> from impasto.runtime import Stylizer, read_image, write_image
    >>> with Stylizer.load("starry_night") as stylize:
    ...     write_image("out.jpg", stylize(read_image("photo.jpg"), strength=0.8))
"""

from impasto.runtime.backends.base import Backend, TensorSpec
from impasto.runtime.backends.ort import OrtBackend
from impasto.runtime.backends.selection import BACKENDS, Selection, open_backend
from impasto.runtime.builtins import ModelCard, builtin_cards, builtin_paths
from impasto.runtime.io.images import decode_image, read_image, write_image
from impasto.runtime.pipelines.photoreal import WCTStylizer
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.quilting import QuiltConfig, TransferConfig, quilt_texture, transfer_texture

__all__ = ["BACKENDS", "Backend", "ModelCard", "OrtBackend", "QuiltConfig", "Selection", "Stylizer", "TensorSpec",
           "TransferConfig", "WCTStylizer", "builtin_cards", "builtin_paths", "decode_image", "open_backend",
           "quilt_texture", "read_image", "transfer_texture", "write_image"]
