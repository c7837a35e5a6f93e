"""``Stylizer``: load a style model and apply it to images (torch-free).

Example:
    >>> from impasto.runtime import Stylizer
    >>> stylizer = Stylizer.load()                  # the default built-in style
    >>> out = stylizer(image)                       # HxWx3 uint8 RGB in, same size out
    >>> stylizer.provider                           # e.g. "CPUExecutionProvider"

Convention:
    Images are ``HxWx3`` uint8 RGB (see :mod:`impasto.runtime.images` for the other
    layouts and dtypes that are converted). Models take ``image``: float32 NCHW RGB in
    ``[0, 1]`` and return float32 NCHW RGB in ``[0, 1]`` of the same size.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from impasto.errors import ModelError, UserError
from impasto.runtime.backend import Backend
from impasto.runtime.images import to_rgb8
from impasto.runtime.postprocess import blend, preserve_color
from impasto.runtime.registry import ModelCard, resolve_model
from impasto.runtime.selection import BACKENDS, Selection, make_backend, open_backend

log = logging.getLogger("impasto.runtime")

__all__ = ["BACKENDS", "Stylizer", "make_backend"]


class Stylizer:
    """A style model ready to run.

    Use :meth:`load`; the constructor takes an already-created backend.
    """

    def __init__(self, backend: Backend, name: str, selection: Selection | None = None) -> None:
        self.backend = backend.open()
        self.name = name
        self.selection = selection or Selection(backend.name, backend.name)
        self._check_graph()
        self.card = ModelCard.from_metadata(Path(backend.model_path), backend.metadata)
        self.input_range = self._input_range()

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, *, backend: str = "auto", threads: int = 0,
             fp16: bool = False) -> Stylizer:
        """Load a built-in style by name, an ``.onnx`` or ``.engine`` file, or (``None``) the default style.

        Args:
            model: built-in name (see ``impasto styles``) or a path.
            backend: one of :data:`~impasto.runtime.selection.BACKENDS`; ``"auto"`` (default)
                takes the fastest that opens here and records every fallback in
                :attr:`selection`.
            threads: intra-op threads, 0 for ONNX Runtime's default.
            fp16: fp16 TensorRT engines for ``ort-trt`` (never a silent precision change).

        Raises:
            ModelError: unknown name, missing or unloadable file, wrong graph signature.
            BackendUnavailableError: the backend cannot run here.
        """
        path, name = resolve_model(model)
        opened, selection = open_backend(path, backend, threads=threads, fp16=fp16)
        try:
            return cls(opened, name, selection)
        except BaseException:
            opened.close()
            raise

    @property
    def provider(self) -> str:
        """The execution provider actually used (first of the session's providers)."""
        providers = getattr(self.backend, "providers", None) or [self.backend.name]
        return providers[0]

    @property
    def metadata(self) -> dict[str, str]:
        return self.backend.metadata

    def _check_graph(self) -> None:
        ins, outs = self.backend.inputs, self.backend.outputs
        if len(ins) != 1 or len(ins[0].shape) != 4 or ins[0].shape[1] not in (3, "3"):
            got = [s.describe() for s in ins]
            raise ModelError(f"model {str(self.backend.model_path)!r}: expected one input Nx3xHxW, got {got}")
        if not outs or len(outs[0].shape) != 4:
            got = [s.describe() for s in outs]
            raise ModelError(f"model {str(self.backend.model_path)!r}: expected an output Nx3xHxW, got {got}")

    def _input_range(self) -> float:
        spec = self.backend.metadata.get("impasto.input")
        if spec is None:
            log.warning("%s has no impasto.input metadata: assuming NCHW RGB in [0, 1]", self.backend.model_path)
            return 1.0
        try:
            return float(json.loads(spec)["range"][1])
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError(f"model {str(self.backend.model_path)!r}: unreadable impasto.input metadata "
                             f"{spec!r}") from None

    def run_array(self, rgb: np.ndarray) -> np.ndarray:
        """Run the model on one ``HxWx3`` uint8 RGB image; no post-processing."""
        spec = self.backend.inputs[0]
        h, w = rgb.shape[:2]
        fixed = isinstance(spec.shape[2], int) and isinstance(spec.shape[3], int)
        x = rgb
        if fixed and (spec.shape[2], spec.shape[3]) != (h, w):
            import cv2

            x = cv2.resize(rgb, (spec.shape[3], spec.shape[2]), interpolation=cv2.INTER_AREA)
        scale = self.input_range / 255.0
        tensor = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(scale)
        out = self.backend.run({spec.name: tensor.astype(spec.dtype, copy=False)})
        y = next(iter(out.values()))[0].astype(np.float32).transpose(1, 2, 0) / np.float32(self.input_range)
        y = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
        if y.shape[:2] != (h, w):
            import cv2

            y = cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC)
        return y

    def __call__(self, image: np.ndarray, *, strength: float = 1.0, preserve_colors: bool = False) -> np.ndarray:
        """Stylise one image.

        Args:
            image: ``HxWx3`` uint8 RGB (grayscale, RGBA, uint16 and float in [0, 1] are converted).
            strength: blend with the content, 0 = content, 1 = full style.
            preserve_colors: keep the content's colours (luminance-only transfer).

        Returns:
            ``HxWx3`` uint8 RGB of the input's size.
        """
        if not 0.0 <= strength <= 1.0:
            raise UserError(f"strength: expected a number in [0, 1], got {strength}")
        rgb = to_rgb8(image)
        out = self.run_array(rgb)
        if preserve_colors:
            out = preserve_color(out, rgb)
        return blend(out, rgb, strength)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Stylizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict:
        return {"style": self.name, "model": str(self.backend.model_path), "provider": self.provider,
                "backend": self.selection.to_dict(), "description": self.card.description}
