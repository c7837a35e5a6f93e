"""Run an exported Learning-to-Warp graph with ONNX Runtime (torch-free).

Example:
    >>> from impasto.runtime.pipelines.warp import Warper
    >>> with Warper.load("warpnet.onnx") as warper:
    ...     res = warper.run(content, guide)          # HxWx3 uint8 RGB each
    >>> res["warped"], res["field"]                   # HxWx3 uint8, HxWx2 float32

The graph (``impasto export warpnet``, :mod:`impasto.export.warpnet_export`) holds the
whole network: VGG16 to pool4, the normalised 4D correlation, the refinement steps and
the final warp. The guide is resized here (area interpolation) to the graph's working
square; the content goes in at its own size (the graph downsamples it with an
antialiased bilinear resize for the features) and comes out warped at that size.

Convention:
    Images are ``HxWx3`` uint8 RGB (other layouts are converted as in
    :mod:`impasto.runtime.io.images`). The field is ``HxWx2`` float32 at the content's size:
    (x, y) offsets in normalised coordinates (``align_corners=False``; one pixel is
    ``2 / W`` in x); the warped image at pixel p shows the content at ``p + field(p)``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from impasto.contracts import WARP_INPUTS as _REQUIRED_INPUTS
from impasto.contracts import WARP_OUTPUTS as _REQUIRED_OUTPUTS
from impasto.errors import BackendRuntimeError, ImageError, ModelError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import Selection, open_backend
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.pipelines.photoreal import _to_nchw, _to_rgb8


class Warper:
    """An exported warpnet graph ready to run; use :meth:`load`."""

    def __init__(self, backend: Backend, selection: Selection | None = None) -> None:
        self.backend = backend.open()
        self.selection = selection or Selection(backend.name, backend.name)
        meta = self.backend.metadata
        path = str(self.backend.model_path)
        if meta.get("impasto.method") != "warpnet":
            raise ModelError(f"model {path!r}: expected a warpnet graph (impasto export warpnet), "
                             f"got impasto.method {meta.get('impasto.method')!r}")
        names = [s.name for s in self.backend.inputs]
        outs = [s.name for s in self.backend.outputs]
        if names != list(_REQUIRED_INPUTS) or outs != list(_REQUIRED_OUTPUTS):
            raise ModelError(f"model {path!r}: expected inputs {list(_REQUIRED_INPUTS)} and outputs "
                             f"{list(_REQUIRED_OUTPUTS)}, got {names} and {outs}")
        try:
            self.settings: dict[str, Any] = json.loads(meta["impasto.warpnet"])
            self.size = int(self.settings["size"])
        except (KeyError, ValueError, TypeError):
            raise ModelError(f"model {path!r}: missing or unreadable impasto.warpnet metadata") from None
        self.min_side = int(self.settings.get("min_side", 16))
        self.description = meta.get("impasto.description", "")

    @classmethod
    def load(cls, model: str | os.PathLike, *, backend: str = "auto", threads: int = 0) -> Warper:
        """Open an exported warpnet graph.

        Raises:
            ModelError: no such file, or not a warpnet graph.
            BackendUnavailableError: the backend cannot run here.
        """
        p = Path(model).expanduser()
        if not p.is_file():
            raise ModelError(f"--model: expected an exported warpnet .onnx graph, got {str(model)!r} (no such file)")
        opened, selection = open_backend(p, backend, threads=threads)
        try:
            return cls(opened, selection)
        except BaseException:
            opened.close()
            raise

    @property
    def provider(self) -> str:
        providers = getattr(self.backend, "providers", None) or [self.backend.name]
        return providers[0]

    def run(self, content: np.ndarray, guide: np.ndarray) -> dict[str, Any]:
        """Warp ``content`` towards ``guide``'s geometry.

        Returns:
            ``{"warped": HxWx3 uint8, "field": HxWx2 float32, "size": [h, w],
            "seconds": {"prepare", "graph", "total"}}``.

        Raises:
            ImageError: an image below the graph's smallest side.
            BackendRuntimeError: the graph produced non-finite values.
        """
        import cv2

        t0 = time.perf_counter()
        content = to_rgb8(content, name="content")
        guide = to_rgb8(guide, name="geometry guide")
        for name, im in (("content", content), ("geometry guide", guide)):
            if min(im.shape[:2]) < self.min_side:
                raise ImageError(f"{name} image {im.shape[1]}x{im.shape[0]}: too small, expected at least "
                                 f"{self.min_side} px on each side")
        small = cv2.resize(guide, (self.size, self.size), interpolation=cv2.INTER_AREA)
        feed = {"content": _to_nchw(content), "guide": _to_nchw(small)}
        t1 = time.perf_counter()
        out = self.backend.run(feed)
        t2 = time.perf_counter()
        if not all(np.isfinite(v).all() for v in out.values()):
            raise BackendRuntimeError(f"model {str(self.backend.model_path)!r}: the graph produced non-finite values "
                                      f"for this {content.shape[1]}x{content.shape[0]} image")
        return {"warped": _to_rgb8(out["warped"]), "field": np.ascontiguousarray(out["field"][0].transpose(1, 2, 0)),
                "size": list(content.shape[:2]),
                "seconds": {"prepare": round(t1 - t0, 4), "graph": round(t2 - t1, 4),
                            "total": round(time.perf_counter() - t0, 4)}}

    def __call__(self, content: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """The warped content, ``HxWx3`` uint8 RGB."""
        return self.run(content, guide)["warped"]

    def describe(self) -> dict[str, Any]:
        return {"method": "warpnet", "model": str(self.backend.model_path), "provider": self.provider,
                "backend": self.selection.to_dict(), "description": self.description, "size": self.size}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Warper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
