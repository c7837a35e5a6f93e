"""Run an exported Learning-to-Warp graph with ONNX Runtime (torch-free).

Example:
    >>> from impasto.runtime.pipelines.warp import Warper
    >>> with Warper.load() as warper:                 # the built-in graph, or Warper.load("warpnet.onnx")
    ...     res = warper.run(content, guide)          # HxWx3 uint8 RGB each
    >>> res["warped"], res["field"]                   # HxWx3 uint8, HxWx2 float32

The graph (``impasto export warpnet``, :mod:`impasto.export.methods.warpnet`) holds the
whole network: VGG16 to pool4, the normalised 4D correlation, the refinement steps and
the final warp. The guide is resized here (area interpolation) to the graph's working
square; the content goes in at its own size (the graph downsamples it with an
antialiased bilinear resize for the features) and comes out warped at that size. The
built-in graph, where the package ships one, is ``impasto/runtime/data/vgg16/warpnet.onnx``
(:mod:`impasto.runtime.builtin_graphs`).

Convention:
    Images are ``HxWx3`` uint8 RGB (other layouts are converted as in
    :mod:`impasto.runtime.io.images`). The field is ``HxWx2`` float32 at the content's size:
    (x, y) offsets in normalised coordinates (``align_corners=False``; one pixel is
    ``2 / W`` in x); the warped image at pixel p shows the content at ``p + field(p)``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from impasto.contracts import WARP_INPUTS as _REQUIRED_INPUTS
from impasto.contracts import WARP_OUTPUTS as _REQUIRED_OUTPUTS
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import Selection
from impasto.runtime.builtin_graphs import require_builtin_graph
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.pipelines.base import Pipeline, check_min_side, require_file
from impasto.runtime.pipelines.tensors import image_to_nchw, nchw_to_image


def resolve_graph(model: str | os.PathLike | None) -> Path:
    """An explicit graph path, else the built-in warpnet graph (``builtin_graph("warpnet")``, where installed).

    Raises:
        ModelError: a missing file, or no built-in graph (the message names the file and says how to build one).
    """
    if model is not None:
        return require_file(model, "an exported warpnet .onnx graph", flag="--model")
    return require_builtin_graph("warpnet")


class Warper(Pipeline):
    """An exported warpnet graph ready to run; use :meth:`load`."""

    def __init__(self, backend: Backend, selection: Selection | None = None) -> None:
        super().__init__(backend, selection)
        self._require_method(("warpnet",), "impasto export warpnet")
        self._require_names(_REQUIRED_INPUTS, _REQUIRED_OUTPUTS)
        self.settings: dict[str, Any] = self._json_metadata("impasto.warpnet", ints=("size",))
        self.size = int(self.settings["size"])
        self.min_side = int(self.settings.get("min_side", 16))

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, *, backend: str = "auto", threads: int = 0) -> Warper:
        """Open an exported warpnet graph: ``model`` (a path) or the built-in one.

        Raises:
            ModelError: no such file, or not a warpnet graph.
            BackendUnavailableError: the backend cannot run here.
        """
        return cls.from_file(resolve_graph(model), backend, threads=threads)

    def run(self, content: np.ndarray, guide: np.ndarray) -> dict[str, Any]:
        """Warp ``content`` towards ``guide``'s geometry.

        Returns:
            ``{"warped": HxWx3 uint8, "field": HxWx2 float32, "size": [h, w],
            "seconds": {"prepare", "graph", "total"}}``.

        Raises:
            ImageError: an image below the graph's smallest side.
            ModelError: an output of the wrong shape, or a warped image outside [0, 1].
            BackendRuntimeError: the graph produced non-finite values.
        """
        import cv2

        t0 = time.perf_counter()
        content = to_rgb8(content, name="content")
        guide = to_rgb8(guide, name="geometry guide")
        check_min_side(content, self.min_side, "content")
        self.memory_plan(*content.shape[:2])  # refuses what does not fit, before the graph runs
        check_min_side(guide, self.min_side, "geometry guide")
        small = cv2.resize(guide, (self.size, self.size), interpolation=cv2.INTER_AREA)
        feed = {"content": image_to_nchw(content), "guide": image_to_nchw(small)}
        t1 = time.perf_counter()
        size = content.shape[:2]
        out = self._run_checked(feed, content, {"warped": (3, size, (0.0, 1.0)), "field": (2, size, None)})
        t2 = time.perf_counter()
        self._measured()
        return {"warped": nchw_to_image(out["warped"]),
                "field": np.ascontiguousarray(out["field"][0].transpose(1, 2, 0)), "size": list(content.shape[:2]),
                "seconds": {"prepare": round(t1 - t0, 4), "graph": round(t2 - t1, 4),
                            "total": round(time.perf_counter() - t0, 4)}}

    def __call__(self, content: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """The warped content, ``HxWx3`` uint8 RGB."""
        return self.run(content, guide)["warped"]

    def describe(self) -> dict[str, Any]:
        return {"method": "warpnet", **super().describe(), "size": self.size}
