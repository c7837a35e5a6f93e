"""Arbitrary style from a painting with a feed-forward graph (contract ``arbitrary``; torch-free).

Example:
    >>> from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer
    >>> with ArbitraryStylizer.load() as model:                 # the built-in MicroAST graph
    ...     out = model(photo_rgb, painting_rgb, alpha=0.8)

The built-in graph is MicroAST (Wang et al., AAAI 2023; MIT, copyright 2022 Zhizhong Wang;
licence in ``impasto/runtime/data/arbitrary/MICROAST_LICENSE``), converted from the
published checkpoints by ``impasto convert microast`` (:mod:`impasto.export.convert.microast`).
It lives in ``impasto/runtime/data/arbitrary/`` (a method graph of :mod:`impasto.runtime.builtin_graphs`, not
listed as a style by ``impasto styles``).

Convention:
    Images are ``HxWx3`` uint8 RGB (other layouts are converted as in
    :mod:`impasto.runtime.io.images`); the result has the content's size. The style image
    is downscaled (never upscaled) so its longest side is at most
    ``max(content's longest side, 512)``; both images need the graph's ``min_side`` /
    ``min_style_side`` (16 px) on each side. ``alpha`` in ``[0, 1]``: 0 returns the content,
    1 the full transfer. The output must be ``1x3xHxW``, finite and in ``[0, 1]``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from impasto.contracts import ARBITRARY
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import Selection
from impasto.runtime.builtin_graphs import require_builtin_graph
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.pipelines.base import Pipeline, check_min_side, require_file
from impasto.runtime.pipelines.postprocess import unit_number
from impasto.runtime.pipelines.tensors import image_to_nchw, nchw_to_image

METHODS: tuple[str, ...] = ("microast",)
#: The style is never downscaled below this longest side.
STYLE_MIN_LONG_SIDE = 512


def resolve_graph(model: str | os.PathLike | None, method: str = "microast") -> Path:
    """An explicit graph path, else the built-in graph of ``method`` (:mod:`impasto.runtime.builtin_graphs`).

    Raises:
        ModelError: a missing file, or no built-in graph (the message names the file and says how to convert one).
    """
    if model is not None:
        return require_file(model, f"a {method} .onnx graph (impasto convert {method})")
    return require_builtin_graph(method)


def fit_style(style: np.ndarray, content_shape: tuple[int, ...]) -> np.ndarray:
    """``style`` downscaled (area) so its longest side is at most ``max(content's longest side, 512)``."""
    import cv2

    limit = max(max(content_shape[:2]), STYLE_MIN_LONG_SIDE)
    h, w = style.shape[:2]
    s = limit / max(h, w)
    if s >= 1:
        return style
    return cv2.resize(style, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class ArbitraryStylizer(Pipeline):
    """A converted arbitrary-style graph (``impasto convert microast``) ready to run; use :meth:`load`."""

    def __init__(self, backend: Backend, selection: Selection | None = None) -> None:
        super().__init__(backend, selection)
        self.method = self._require_method(METHODS, "impasto convert microast DIR -o microast.onnx")
        self._require_names(ARBITRARY.input_names, ARBITRARY.output_names)
        self.settings: dict[str, Any] = self._json_metadata("impasto.arbitrary", ints=("min_side", "min_style_side"))
        self.min_side = int(self.settings["min_side"])
        self.min_style_side = int(self.settings["min_style_side"])

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, *, backend: str = "auto",
             threads: int = 0) -> ArbitraryStylizer:
        """Open ``model`` (a path) or the built-in MicroAST graph.

        Raises:
            ModelError: no such graph, or not an arbitrary-style graph.
            BackendUnavailableError: the backend cannot run here.
        """
        return cls.from_file(resolve_graph(model), backend, threads=threads)

    def run(self, content: np.ndarray, style: np.ndarray, *, alpha: float = 1.0) -> dict[str, Any]:
        """Stylise and report.

        Returns:
            ``{"image": HxWx3 uint8, "size": [h, w], "style_size": [h, w] as fed,
            "seconds": {"prepare", "graph", "total"}}``.

        Raises:
            ImageError: an image too small.
            UserError: ``alpha`` not a number in ``[0, 1]``.
            ModelError: an output of the wrong shape or range.
            BackendRuntimeError: the graph produced non-finite values.
        """
        alpha = unit_number(alpha, "alpha")
        t0 = time.perf_counter()
        content = to_rgb8(content, name="content")
        style = to_rgb8(style, name="style")
        check_min_side(content, self.min_side, "content")
        self.memory_plan(*content.shape[:2])  # refuses what does not fit, before the graph runs
        style = fit_style(style, content.shape)
        check_min_side(style, self.min_style_side, "style")
        feed = {"content": image_to_nchw(content), "style": image_to_nchw(style),
                "alpha": np.array([alpha], np.float32)}
        t1 = time.perf_counter()
        out = self._run_checked(feed, content, {"stylized": (3, content.shape[:2], (0.0, 1.0))},
                                "; please report it with the images")
        t2 = time.perf_counter()
        self._measured()
        return {"image": nchw_to_image(out["stylized"]), "size": list(content.shape[:2]),
                "style_size": list(style.shape[:2]),
                "seconds": {"prepare": round(t1 - t0, 4), "graph": round(t2 - t1, 4), "total": round(t2 - t0, 4)}}

    def __call__(self, content: np.ndarray, style: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Stylise; see :meth:`run` for the arguments. Returns ``HxWx3`` uint8 RGB."""
        return self.run(content, style, **kwargs)["image"]

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **super().describe()}


class PaintingStylizer:
    """An :class:`ArbitraryStylizer` bound to one painting: what ``impasto video`` / the live loop run per frame.

    Attributes:
        model: the opened graph (closed with this object).
        style: the painting, ``HxWx3`` uint8 RGB.
        name: the painting's name (the file's stem), reported as the style.
    """

    def __init__(self, model: ArbitraryStylizer, style: np.ndarray, name: str) -> None:
        self.model = model
        self.style = to_rgb8(style, name="style")
        self.name = name

    @classmethod
    def load(cls, painting: str | os.PathLike, *, model: str | os.PathLike | None = None, backend: str = "auto",
             threads: int = 0) -> PaintingStylizer:
        """Read ``painting`` and open ``model`` (default: the built-in MicroAST graph).

        Raises:
            ImageError: the painting cannot be read.
            ModelError: no such graph, or not an arbitrary-style graph.
        """
        from impasto.runtime.io.images import read_image

        style = read_image(painting)
        return cls(ArbitraryStylizer.load(model, backend=backend, threads=threads), style, Path(painting).stem)

    @property
    def provider(self) -> str:
        return self.model.provider

    @property
    def backend(self) -> Backend:
        return self.model.backend

    @property
    def selection(self) -> Selection:
        return self.model.selection

    def __call__(self, image: np.ndarray, *, strength: float = 1.0, preserve_colors: bool = False) -> np.ndarray:
        """One frame in the painting's style (``strength`` is the graph's alpha)."""
        from impasto.runtime.pipelines.postprocess import preserve_color

        out = self.model(image, self.style, alpha=strength)
        return preserve_color(out, image) if preserve_colors else out

    def describe(self) -> dict[str, Any]:
        return {**self.model.describe(), "style_image": self.name}

    def close(self) -> None:
        self.model.close()

    def __enter__(self) -> PaintingStylizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
