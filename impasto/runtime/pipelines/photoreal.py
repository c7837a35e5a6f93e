"""Photorealistic (PhotoWCT) and arbitrary artistic (WCT) style transfer with exported graphs (torch-free).

Example:
    >>> from impasto.runtime.pipelines.photoreal import WCTStylizer
    >>> with WCTStylizer.load(method="photowct") as photo:          # or model="photowct.onnx"
    ...     out = photo(content, style, content_mask=cm, style_mask=sm, smooth="fast")
    >>> with WCTStylizer.load(method="wct") as paint:
    ...     out = paint(photo_rgb, painting_rgb, alpha=0.8)

The graph (``impasto export photowct|wct``, :mod:`impasto.export.methods.wct`) does all
of the stylisation — encoder, mask-restricted WCT, decoders and, for photowct, the
guided-filter smoothing (``smooth="fast"``). ``smooth="exact"`` runs FastPhotoStyle's
matting-affinity solve on the graph's unsmoothed output on the CPU
(:mod:`impasto.runtime.pipelines.smoothing`, needs scipy); ``smooth="none"`` returns it as is.

PhotoWCT runs, with its smoothing, at a working size (``work_size``, default
:data:`impasto.runtime.pipelines.work_size.DEFAULT_WORK_PIXELS` pixels: the graph needs about
4 GB per megapixel) and the result is carried to the content's size by the guided
upsampling of :mod:`impasto.runtime.pipelines.guided_upsample`.

Built-in graphs, where the package ships them, live in ``impasto/runtime/data/vgg16/``
(``photowct.onnx``, ``wct.onnx``; listed in :mod:`impasto.runtime.builtin_graphs`); otherwise
pass the path of one you exported.

Convention:
    Images are ``HxWx3`` uint8 RGB (other layouts are converted as in
    :mod:`impasto.runtime.io.images`); the result has the content's size. Masks come in
    pairs, each the size of its own image, both label-index (``HxW`` integers: each value
    a label) or both colour-coded (an RGB image of flat colours); see
    :mod:`impasto.runtime.io.masks`. The style image is downscaled (never upscaled) so its
    longest side is at most ``max(content's longest side, 512)`` (at a working size, also to
    at most the working size's pixel count, 512x512 at least); its shorter side must
    then still be at least the graph's ``min_style_side`` (64 px). The graph's outputs
    must be ``1x3xHxW`` at the content's size, finite and in its declared range
    (:mod:`impasto.runtime.pipelines.outputs`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from impasto.contracts import WCT_INPUTS as _REQUIRED_INPUTS
from impasto.errors import BackendRuntimeError, ImageError, MemoryBudgetError, ModelError, UserError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import Selection
from impasto.runtime.builtin_graphs import require_builtin_graph
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.io.masks import as_mask, check_mask_size, label_maps, one_hot
from impasto.runtime.memory import IMAGE_BYTES_PER_PIXEL, Plan, format_size
from impasto.runtime.pipelines.base import Expected, Pipeline, check_min_side, require_file
from impasto.runtime.pipelines.guided_upsample import guided_upsample
from impasto.runtime.pipelines.outputs import check_output
from impasto.runtime.pipelines.postprocess import unit_number
from impasto.runtime.pipelines.tensors import image_to_nchw, nchw_to_image
from impasto.runtime.pipelines.wct_staged import StagedWCT, is_staged
from impasto.runtime.pipelines.work_size import (
    DEFAULT_WORK_PIXELS,
    STYLE_MIN_LONG_SIDE,
    parse_work_size,
    working_shape,
)

METHODS: tuple[str, ...] = ("photowct", "wct")
SMOOTH_MODES: tuple[str, ...] = ("fast", "exact", "none")

log = logging.getLogger("impasto.runtime")


def resolve_graph(model: str | os.PathLike | None, method: str) -> Path:
    """An explicit graph path, else the built-in one (:mod:`impasto.runtime.builtin_graphs`).

    Raises:
        ModelError: a missing file, or no built-in graph (the message names the file and says how to build one).
    """
    if method not in METHODS:
        raise UserError(f"method: expected one of {list(METHODS)}, got {method!r}")
    if model is not None:
        return require_file(model, f"an exported {method} .onnx graph")
    return require_builtin_graph(method)


def _nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` (``HxW`` or ``HxWxC``, any dtype) resized to ``shape`` by nearest neighbour (pixel centres)."""
    h, w = mask.shape[:2]
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * (h / shape[0])).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * (w / shape[1])).astype(np.intp), w - 1)
    return mask[rows][:, cols]


def _to_working_size(content: np.ndarray, content_mask: np.ndarray | None, shape: tuple[int, int]):
    """The content (area interpolation) and its mask (nearest, after checking its size) at the working size."""
    import cv2

    if content_mask is not None:
        content_mask = as_mask(content_mask, name="content mask")
        check_mask_size(content_mask, content, "content mask")
        content_mask = _nearest(content_mask, shape)
    return cv2.resize(content, (shape[1], shape[0]), interpolation=cv2.INTER_AREA), content_mask


class WCTStylizer(Pipeline):
    """An exported photowct / wct graph ready to run; use :meth:`load`."""

    def __init__(self, backend: Backend, selection: Selection | None = None, *, method: str | None = None) -> None:
        super().__init__(backend, selection)
        self.method = self._require_method(METHODS, "impasto export photowct|wct")
        if method is not None and self.method != method:
            raise ModelError(f"{self.where}: expected a {method} graph, got a {self.method} graph")
        #: The staged set (:mod:`impasto.runtime.pipelines.wct_staged`) where the graph is one's encoder, else None.
        self.staged: StagedWCT | None = None
        staged = is_staged(self.metadata)
        if not staged:
            self._require_names(_REQUIRED_INPUTS)  # before the settings: a foreign graph is named by its inputs
        self.settings: dict[str, Any] = self._json_metadata("impasto.wct")
        if staged:
            self.staged = StagedWCT.from_encoder(self.backend, self.selection.chosen,
                                                 threads=int(getattr(self.backend, "threads", 0) or 0))
            self.outputs = list(self.staged.output_names)
        else:
            self.outputs = [s.name for s in self.backend.outputs]
        self.max_labels = int(self.settings.get("max_labels", 16))
        self.min_side = int(self.settings.get("min_side", 16))
        self.min_style_side = int(self.settings.get("min_style_side", 64))

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, *, method: str = "photowct", backend: str = "auto",
             threads: int = 0) -> WCTStylizer:
        """Open a graph: ``model`` (a path) or the built-in graph of ``method``.

        Raises:
            ModelError: no such graph, or not a ``method`` graph.
            BackendUnavailableError: the backend cannot run here.
        """
        return cls.from_file(resolve_graph(model, method), backend, threads=threads, method=method)

    def _prepare_style(self, style: np.ndarray, style_labels: np.ndarray | None, content_shape: tuple[int, ...],
                       max_pixels: int | None = None):
        import cv2

        limit = max(max(content_shape[:2]), STYLE_MIN_LONG_SIDE)
        h, w = style.shape[:2]
        s = limit / max(h, w)
        if max_pixels is not None:  # at a working size the style's pixels count against the same memory
            s = min(s, math.sqrt(max_pixels / (h * w)))
        if s < 1:
            size = (max(1, round(w * s)), max(1, round(h * s)))
            style = cv2.resize(style, size, interpolation=cv2.INTER_AREA)
            if style_labels is not None:
                style_labels = cv2.resize(style_labels, size, interpolation=cv2.INTER_NEAREST)
        if min(style.shape[:2]) < self.min_style_side:
            raise ImageError(f"style image {w}x{h}{' (after fitting to the content)' if s < 1 else ''}: too small, "
                             f"expected at least {self.min_style_side} px on its shorter side")
        return style, style_labels

    def _check_options(self, alpha: float, smooth: str, masks: int) -> None:
        unit_number(alpha, "alpha")
        if smooth not in SMOOTH_MODES:
            raise UserError(f"smooth: expected one of {list(SMOOTH_MODES)}, got {smooth!r}")
        if self.method == "wct" and smooth == "exact":
            raise UserError("smooth exact: applies to photorealistic (photowct) graphs only")
        if masks == 1:
            raise UserError("masks: expected both a content mask and a style mask, or neither")

    def _mask_feeds(self, content: np.ndarray, style: np.ndarray, content_mask: np.ndarray | None,
                    style_mask: np.ndarray | None, style_max_pixels: int | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict | None]:
        """``(style fitted to the content, content_mask feed, style_mask feed, label info or None)``."""
        h, w = content.shape[:2]
        info = None
        style_labels = None
        if content_mask is not None:
            content_mask = as_mask(content_mask, name="content mask")
            style_mask = as_mask(style_mask, name="style mask")
            check_mask_size(content_mask, content, "content mask")
            check_mask_size(style_mask, style, "style mask")
            content_labels, style_labels, info = label_maps(content_mask, style_mask, max_labels=self.max_labels)
            for warning in info["warnings"]:
                log.warning(warning)
            cm = one_hot(content_labels, info["count"])
            style_labels = style_labels.astype(np.int16)  # cv2 resizes int16, not int32
        else:
            cm = np.ones((1, 1, h, w), np.float32)
        style, style_labels = self._prepare_style(style, style_labels, content.shape, style_max_pixels)
        if style_labels is not None:
            sm = one_hot(style_labels, cm.shape[1])
        else:
            sm = np.ones((1, 1, *style.shape[:2]), np.float32)
        return style, cm, sm, info

    def _working_size(self, work_size: int | str | None, smooth: str, exact_max_pixels: int | None) -> int | None:
        """The working size in pixels (None: full resolution); ``auto`` is capped by the exact solve's limit.

        Artistic (wct) outputs are not a local affine function of the content, so the
        guided upsampling does not apply: wct graphs run at full resolution.
        """
        auto = isinstance(work_size, str) and work_size.strip().lower() == "auto"
        if self.method == "wct":
            if not auto and parse_work_size(work_size) is not None:
                raise UserError("work size: applies to photorealistic (photowct) graphs only; "
                                f"wct graphs run at full resolution, got {work_size!r}")
            return None
        if auto:
            if smooth != "exact":
                return DEFAULT_WORK_PIXELS
            from impasto.runtime.pipelines.smoothing import DEFAULT_MAX_PIXELS

            return min(DEFAULT_WORK_PIXELS, exact_max_pixels or DEFAULT_MAX_PIXELS)
        return parse_work_size(work_size)

    def run(self, content: np.ndarray, style: np.ndarray, *, content_mask: np.ndarray | None = None,
            style_mask: np.ndarray | None = None, alpha: float = 1.0, smooth: str = "fast",
            exact_max_pixels: int | None = None, work_size: int | str | None = "auto") -> dict[str, Any]:
        """Stylise and report.

        Args:
            content: the photo to restyle.
            style: the style photo (photowct) or painting (wct).
            content_mask, style_mask: label masks, both or neither, both label-index or both
                colour-coded (see :mod:`impasto.runtime.io.masks`).
            alpha: 0 keeps the content, 1 is the full transfer (blended in feature space at every level).
            smooth: ``fast`` (guided filter, in the graph), ``exact`` (matting solve, CPU) or
                ``none``; wct graphs take ``none`` only (``fast`` is accepted and means none).
            exact_max_pixels: size limit of the exact solve (default
                :data:`impasto.runtime.pipelines.smoothing.DEFAULT_MAX_PIXELS`).
            work_size: the working size (:mod:`impasto.runtime.pipelines.work_size`): a pixel
                count (int, or text such as ``"0.7M"``), ``"full"`` / None (the graph at the
                content's own size) or ``"auto"`` (:data:`DEFAULT_WORK_PIXELS`, capped at
                ``exact_max_pixels`` for ``smooth="exact"``). A larger content is stylised
                (and smoothed) at the working size and brought back to its own size by
                :func:`impasto.runtime.pipelines.guided_upsample.guided_upsample`.

        Returns:
            ``{"image": HxWx3 uint8, "unsmoothed": the graph's unsmoothed output (photowct;
            at the working size) or None, "seconds": {"prepare", "graph", "smooth",
            "upsample", "total"}, "labels": info or None, "size": [h, w], "work_size":
            [h, w], "style_size": [h, w]}``.

        Raises:
            ImageError: images too small, masks of the wrong size, of two kinds or not
                decodable, a working size too large for ``smooth="exact"`` (checked before
                the graph runs).
            UserError: a bad ``alpha``, ``smooth`` or ``work_size``, or a single mask.
            ModelError: an output of the wrong shape or range.
            BackendRuntimeError: the graph produced non-finite values.
        """
        self._check_options(alpha, smooth, (content_mask is not None) + (style_mask is not None))
        work_pixels = self._working_size(work_size, smooth, exact_max_pixels)
        t0 = time.perf_counter()
        full = content = to_rgb8(content, name="content")
        style = to_rgb8(style, name="style")
        check_min_side(content, self.min_side, "content")
        work_hw = working_shape(*content.shape[:2], work_pixels)
        self.memory_plan(*content.shape[:2], work_hw=work_hw)  # refuses what does not fit, before the graph runs
        if smooth == "exact":  # refuse before the graph runs, not after
            from impasto.runtime.pipelines.smoothing import DEFAULT_MAX_PIXELS, check_size

            exact_max_pixels = exact_max_pixels or DEFAULT_MAX_PIXELS
            if work_hw != content.shape[:2] and work_hw[0] * work_hw[1] > exact_max_pixels:
                raise ImageError(f"--smooth exact: the working size {work_hw[1]}x{work_hw[0]} = "
                                 f"{work_hw[0] * work_hw[1] / 1e6:.2f} MP exceeds its limit of "
                                 f"{exact_max_pixels / 1e6:.2f} MP; expected --work-size {exact_max_pixels} or less "
                                 "(or --smooth fast)")
            check_size(*work_hw, exact_max_pixels)
        style_max_pixels = None
        if work_hw != content.shape[:2]:
            content, content_mask = _to_working_size(content, content_mask, work_hw)
            style_max_pixels = max(work_pixels, STYLE_MIN_LONG_SIDE ** 2)
        style, cm, sm, info = self._mask_feeds(content, style, content_mask, style_mask, style_max_pixels)
        feed = {"content": image_to_nchw(content), "style": image_to_nchw(style), "content_mask": cm,
                "style_mask": sm, "alpha": np.array([alpha], np.float32)}
        t1 = time.perf_counter()
        size = content.shape[:2]
        expected = {name: (3, size, (0.0, 1.0)) for name in self.outputs if name in ("stylized", "unsmoothed")}
        out = self._run_graph(feed, content, expected)
        del feed, cm, sm
        t2 = time.perf_counter()
        chosen = out["stylized" if smooth == "fast" or self.method == "wct" else "unsmoothed"]
        image = nchw_to_image(chosen)
        if smooth == "exact":
            from impasto.runtime.pipelines.smoothing import matting_smooth

            image = matting_smooth(image, content, max_pixels=exact_max_pixels)
        t3 = time.perf_counter()
        raw = nchw_to_image(out["unsmoothed"]) if "unsmoothed" in out else None
        t4 = t3
        if full is not content:
            low = image if smooth == "exact" else chosen[0].transpose(1, 2, 0)  # float: no rounding before the fit
            image = guided_upsample(full, content, low)
            t4 = time.perf_counter()
        self._measured()
        return {"image": image, "unsmoothed": raw, "labels": info, "size": list(full.shape[:2]),
                "work_size": list(work_hw), "style_size": list(style.shape[:2]),
                "seconds": {"prepare": round(t1 - t0, 4), "graph": round(t2 - t1, 4), "smooth": round(t3 - t2, 4),
                            "upsample": round(t4 - t3, 4), "total": round(t4 - t0, 4)}}

    def _run_graph(self, feed: dict[str, np.ndarray], content: np.ndarray,
                   expected: dict[str, Expected]) -> dict[str, np.ndarray]:
        """The graph (or the staged set) on ``feed``, every output finite and held to its contract."""
        hint = "; please report it with the images"
        if self.staged is None:
            return self._run_checked(feed, content, expected, hint)
        out = self.staged.run(feed)
        if not all(np.isfinite(v).all() for v in out.values()):
            raise BackendRuntimeError(f"{self.where}: the staged set produced non-finite values (NaN or infinity) "
                                      f"for this {content.shape[1]}x{content.shape[0]} image{hint}")
        for name, (channels, size, assumed) in expected.items():
            check_output(out[name], name, channels=channels, size=size, fed=content.shape[:2],
                         value_range=self.output_contract.range_of(name, assumed), where=self.where)
        return out

    def close(self) -> None:
        if self.staged is not None:
            self.staged.close()  # the encoder's backend too
        else:
            super().close()

    def __call__(self, content: np.ndarray, style: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Stylise; see :meth:`run` for the arguments. Returns ``HxWx3`` uint8 RGB."""
        return self.run(content, style, **kwargs)["image"]

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **super().describe()}

    def plan_for(self, height: int, width: int, *, smooth: str = "fast", exact_max_pixels: int | None = None,
                 work_size: int | str | None = "auto") -> Plan:
        """The memory plan :meth:`run` would make for a ``height x width`` content with these options.

        For callers that know the size before decoding (``impasto photoreal`` reads it from the
        file's header), so an image that cannot fit is refused before it is decoded.

        Raises:
            MemoryBudgetError: over the budget (one line).
            UserError: a bad ``work_size``.
        """
        work_hw = working_shape(height, width, self._working_size(work_size, smooth, exact_max_pixels))
        return self.memory_plan(height, width, work_hw=work_hw)

    def memory_plan(self, height: int, width: int, work_hw: tuple[int, int] | None = None) -> Plan:
        """The plan of a run on a ``height x width`` content photo at the working size ``work_hw`` (default: full
        size): the estimate of :func:`~impasto.runtime.pipelines.work_size.estimate_peak_bytes` against the budget.

        Raises:
            MemoryBudgetError: over the budget; one line naming the largest size that fits.
        """
        from impasto.runtime.pipelines.work_size import PEAK_PER_FULL_PIXEL, estimate_peak_bytes

        work = work_hw or (height, width)
        est = estimate_peak_bytes((height, width), work) + IMAGE_BYTES_PER_PIXEL * height * width
        plan = Plan("whole", height, width, est, self.budget.nbytes, self.budget.source,
                    "tools/measure_photoreal_memory.py (work_size.py)")
        if est > self.budget.nbytes:
            at_work = estimate_peak_bytes(work, work)
            if at_work >= self.budget.nbytes:  # no content size helps: the working size itself is too large
                raise MemoryBudgetError(
                    f"{width}x{height}: model {Path(self.backend.model_path).name} at working size {work[1]}x{work[0]} "
                    f"alone needs about {format_size(at_work)}, over the memory budget of "
                    f"{format_size(self.budget.nbytes)} ({self.budget.source}); "
                    "lower --work-size or raise --max-memory")
            pixels = max(0.0, (self.budget.nbytes - at_work) / (PEAK_PER_FULL_PIXEL + IMAGE_BYTES_PER_PIXEL))
            s = min(1.0, math.sqrt(pixels / (height * width)))
            plan.mode, plan.largest_fitting = "refused", f"{math.floor(width * s)}x{math.floor(height * s)}"
            raise plan.refusal(f"model {Path(self.backend.model_path).name} at working size {work[1]}x{work[0]}")
        self.last_plan = plan
        return plan
