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

from impasto.errors import InputMismatchError, ModelError, UserError
from impasto.runtime.backend import Backend
from impasto.runtime.images import to_rgb8
from impasto.runtime.multiscale import MultiscaleLayout, input_size, select_output
from impasto.runtime.postprocess import blend, preserve_color
from impasto.runtime.registry import ModelCard, resolve_model
from impasto.runtime.selection import BACKENDS, Selection, make_backend, open_backend

log = logging.getLogger("impasto.runtime")

__all__ = ["BACKENDS", "Stylizer", "make_backend"]


class Stylizer:
    """A style model ready to run.

    Use :meth:`load`; the constructor takes an already-created backend.
    """

    def __init__(self, backend: Backend, name: str, selection: Selection | None = None, *,
                 scale: int | None = None) -> None:
        self.backend = backend.open()
        self.name = name
        self.selection = selection or Selection(backend.name, backend.name)
        self._check_graph()
        self.card = ModelCard.from_metadata(Path(backend.model_path), backend.metadata)
        #: A multi-output (MT-Net) model's layout, and the graph output this stylizer returns.
        where = f"model {str(backend.model_path)!r}"
        self.multiscale = MultiscaleLayout.from_metadata(backend.metadata, where)
        self.output_name = select_output(self.multiscale, [o.name for o in self.backend.outputs], scale, where)
        self.input_range = self._input_range()
        self._warned_sizes: set[tuple[int, int]] = set()

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, *, backend: str = "auto", threads: int = 0,
             fp16: bool = False, scale: int | None = None) -> Stylizer:
        """Load a built-in style by name, an ``.onnx`` or ``.engine`` file, or (``None``) the default style.

        Args:
            model: built-in name (see ``impasto styles``) or a path.
            backend: one of :data:`~impasto.runtime.selection.BACKENDS`; ``"auto"`` (default)
                takes the fastest that opens here and records every fallback in
                :attr:`selection`.
            threads: intra-op threads, 0 for ONNX Runtime's default.
            fp16: fp16 TensorRT engines for ``ort-trt`` (never a silent precision change).
            scale: a multiscale model's output by nominal scale (MT-Net: 256, 512 or 1024;
                default its finest); see :mod:`impasto.runtime.multiscale`.

        Raises:
            ModelError: unknown name, missing or unloadable file, wrong graph signature.
            BackendUnavailableError: the backend cannot run here.
        """
        path, name = resolve_model(model)
        opened, selection = open_backend(path, backend, threads=threads, fp16=fp16)
        try:
            return cls(opened, name, selection, scale=scale)
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

    def model_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` the model runs at for an image of this size.

        The image's own size where the model accepts it; the model's size where it is
        fixed; for an engine whose optimisation profile does not cover the size, the
        size scaled (aspect kept) into the profile's range, with a warning once per size.

        Raises:
            InputMismatchError: no size with this aspect ratio fits the profile.
        """
        spec = self.backend.inputs[0]
        if isinstance(spec.shape[2], int) and isinstance(spec.shape[3], int):
            return spec.shape[2], spec.shape[3]
        profile = (getattr(self.backend, "profiles", None) or {}).get(spec.name)
        if profile is None or profile.contains((1, 3, height, width)):
            return height, width
        (lo_h, lo_w), (hi_h, hi_w) = profile.min[2:], profile.max[2:]
        s = min(1.0, hi_h / height, hi_w / width)
        s = max(s, lo_h / height, lo_w / width)
        size = (min(hi_h, max(lo_h, round(height * s))), min(hi_w, max(lo_w, round(width * s))))
        if abs(size[0] / size[1] - height / width) > 0.02 * height / width:
            raise InputMismatchError(f"image {width}x{height}: expected a size the engine's profile can take "
                                     f"({profile.describe()}); rebuild the engine with wider --shapes")
        if (height, width) not in self._warned_sizes:
            self._warned_sizes.add((height, width))
            log.warning("image %dx%d is outside the engine profile (%s): it runs at %dx%d and is resized back",
                        width, height, profile.describe(), size[1], size[0])
        return size

    def run_array(self, rgb: np.ndarray) -> np.ndarray:
        """Run the model on one ``HxWx3`` uint8 RGB image; no post-processing."""
        import cv2

        spec = self.backend.inputs[0]
        h, w = rgb.shape[:2]
        mh, mw = input_size(self.multiscale, *self.model_size(h, w))
        x = rgb if (mh, mw) == (h, w) else cv2.resize(rgb, (mw, mh), interpolation=cv2.INTER_AREA)
        scale = self.input_range / 255.0
        tensor = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(scale)
        out = self.backend.run({spec.name: tensor.astype(spec.dtype, copy=False)})
        y = out[self.output_name][0].astype(np.float32).transpose(1, 2, 0) / np.float32(self.input_range)
        y = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
        if y.shape[:2] != (h, w):
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
