"""``TiledGraph``: a style model's stats form, opened on demand, that runs an image tile by tile (torch-free).

A model ``X.onnx`` with ``X.tiled.onnx`` beside it (``impasto export CKPT --norm-stats``;
the built-in bank ships one) can run images of any size in bounded memory
(:mod:`impasto.runtime.pipelines.tiled`). The stats form is opened on the same backend
as the model the first time a plan says "tiled", and checked against its contract
(:data:`impasto.contracts.BANK_STATS` / :data:`impasto.contracts.STYLIZE_STATS`).

Convention:
    Images are ``HxWx3`` uint8 RGB; the graph's image input is float32 NCHW RGB in ``[0, 1]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from impasto.contracts import NORM_STATS_KIND, NORM_STATS_METADATA_KEY
from impasto.errors import BackendRuntimeError, ModelError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import open_backend
from impasto.runtime.builtins import tiled_companion
from impasto.runtime.memory import MemoryCost, Plan, graph_cost
from impasto.runtime.pipelines.tiled import pad_to_align, run_tiled, thumbnail_stats
from impasto.utils.progress import Progress


class TiledGraph:
    """The stats form beside a model; see the module docstring."""

    def __init__(self, path: Path, backend: str) -> None:
        self.path = path
        self.backend_name = backend
        self.cost: MemoryCost = graph_cost(path)
        self._backend: Backend | None = None
        self.channels = 0

    @classmethod
    def beside(cls, model: Path, backend: str, eligible: bool = True) -> TiledGraph | None:
        """The stats form beside ``model`` (None where there is none, or the model is not ``eligible``: multiscale)."""
        path = tiled_companion(model) if eligible and model.suffix.lower() == ".onnx" else None
        return cls(path, backend if backend != "tensorrt" else "auto") if path is not None else None

    def _open(self) -> Backend:
        if self._backend is None:
            backend, _ = open_backend(self.path, self.backend_name)
            where = f"stats form {str(self.path)!r}"
            try:
                meta = backend.metadata
                if meta.get("impasto.kind") != NORM_STATS_KIND:
                    raise ModelError(f"{where}: expected impasto.kind {NORM_STATS_KIND!r}, got "
                                     f"{meta.get('impasto.kind')!r}")
                self.channels = int(json.loads(meta[NORM_STATS_METADATA_KEY])["channels"])
            except (KeyError, ValueError, TypeError):
                backend.close()
                raise ModelError(f"{where}: missing or unreadable {NORM_STATS_METADATA_KEY} metadata") from None
            except ModelError:
                backend.close()
                raise
            self._backend = backend
        return self._backend

    def run(self, rgb: np.ndarray, conditioning: dict[str, np.ndarray], plan: Plan,
            finish: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, progress: bool = False) -> np.ndarray:
        """Stylise ``rgb`` as ``plan`` says (tile side, overlap), with a bank's ``conditioning``.

        Args:
            rgb: the image.
            conditioning: a bank's style and layer weights (empty for a single-style model).
            plan: a ``"tiled"`` plan (:func:`~impasto.runtime.pipelines.tiled.plan_image`).
            finish: ``(stylised band, content band) -> band``, applied to each final band of
                rows (e.g. strength and colour preservation), so no float copy of the whole
                image is made.
            progress: a bar of tiles on stderr.
        """
        backend = self._open()
        image_name = backend.inputs[0].name

        def run(x: np.ndarray, stats: np.ndarray, flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = backend.run({image_name: x, **conditioning, "norm_stats": stats, "stats_from_image": flag})
            y, used = out["stylized"], out["used_norm_stats"]
            if not (np.isfinite(y).all() and np.isfinite(used).all()):
                raise BackendRuntimeError(f"stats form {str(self.path)!r}: the graph produced non-finite values "
                                          f"(NaN or infinity) for a {x.shape[3]}x{x.shape[2]} tile")
            return y, used

        stats = thumbnail_stats(rgb, run, self.channels)
        padded, (h, w) = pad_to_align(rgb), rgb.shape[:2]

        def finish_band(band: np.ndarray, rows: slice) -> np.ndarray:
            return finish(band, padded[rows]) if finish is not None else band

        with Progress(plan.tiles or 1, "tiles", enabled=progress and (plan.tiles or 1) > 1) as bar:
            out = run_tiled(padded, run, stats, plan.tile or max(padded.shape[:2]), plan.overlap or 0,
                            finish=finish_band, progress=bar.update)
        return out if padded is rgb else np.ascontiguousarray(out[:h, :w])

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
