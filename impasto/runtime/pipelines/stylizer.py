"""``Stylizer``: load a style model and apply it to images (torch-free).

Example:
    >>> from impasto.runtime import Stylizer
    >>> stylizer = Stylizer.load()                  # the default built-in style
    >>> out = stylizer(image)                       # HxWx3 uint8 RGB in, same size out
    >>> stylizer.provider                           # e.g. "CPUExecutionProvider"
    >>> mixed = Stylizer.load("starry_night:0.6,la_muse:0.4")   # a mix of the bank's styles
    >>> out = mixed(image, style_layer_weights=[1, 1, 2, 2])     # per call: more weight on coarse style


Convention:
    Images are ``HxWx3`` uint8 RGB (see :mod:`impasto.runtime.io.images` for the other
    layouts and dtypes that are converted). Models take ``image``: float32 NCHW RGB in
    ``[0, 1]`` and return float32 NCHW RGB in ``[0, 1]`` of the same size; each run is
    held to that (:mod:`impasto.runtime.pipelines.outputs`: 3 channels, the size fed,
    the range of ``impasto.output``, finite values) and refused otherwise. An image with a
    side below :data:`~impasto.runtime.pipelines.tensors.MIN_SIDE` (5 px, the graphs'
    smallest) is padded up to it by repeating its edge pixels, and the result cropped back
    (a multiscale model is fed at its own ``min_side``, see
    :mod:`impasto.runtime.pipelines.multiscale`). A style bank
    (:mod:`impasto.runtime.pipelines.bank`) also takes ``style_weights``,
    ``content_layer_weights`` and ``style_layer_weights``: the stylizer keeps a current
    selection (:meth:`Stylizer.set_style`, :meth:`Stylizer.set_layer_weights`) and any call
    may override it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from impasto.errors import ImageError, InputMismatchError, ModelError, UserError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import BACKENDS, Selection, make_backend
from impasto.runtime.builtins import ModelCard, resolve_model
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.memory import Plan, graph_cost
from impasto.runtime.pipelines.bank import (
    BANK_INPUTS,
    BankLayout,
    StyleSelection,
    describe_style,
    is_bank,
    layer_vector,
    style_vector,
)
from impasto.runtime.pipelines.base import Pipeline
from impasto.runtime.pipelines.multiscale import MultiscaleLayout, input_size, output_size, select_output
from impasto.runtime.pipelines.postprocess import blend, preserve_color, unit_number
from impasto.runtime.pipelines.tensors import MIN_SIDE, image_to_nchw, nchw_to_image, pad_to_min_side
from impasto.runtime.pipelines.tiled import plan_image
from impasto.runtime.pipelines.tiled_graph import TiledGraph

log = logging.getLogger("impasto.runtime")

__all__ = ["BACKENDS", "Stylizer", "make_backend"]


class Stylizer(Pipeline):
    """A style model ready to run.

    Use :meth:`load`; the constructor takes an already-created backend.
    """

    def __init__(self, backend: Backend, name: str, selection: Selection | None = None, *,
                 style: StyleSelection | None = None, style_layer_weights: object = None,
                 content_layer_weights: object = None, scale: int | None = None,
                 max_memory: str | int | None = None, tile: int | None = None) -> None:
        super().__init__(backend, selection)
        self.name = name
        #: The bank's layout, or None for a single-style model.
        self.bank: BankLayout | None = None
        self._check_graph()
        self.card = ModelCard.from_metadata(Path(backend.model_path), backend.metadata)
        #: A multi-output (MT-Net) model's layout, and the graph output this stylizer returns.
        self.multiscale = MultiscaleLayout.from_metadata(self.metadata, self.where)
        self.output_name = select_output(self.multiscale, [o.name for o in self.backend.outputs], scale, self.where)
        self.input_range = self._input_range()
        declared, _ = self.output_contract.range_of(self.output_name, None)
        #: The output value that means white: the declared range's top, else the input's.
        self.output_range = declared[1] if declared and declared[1] else self.input_range
        self._warned_sizes: set[tuple[int, int]] = set()
        self._conditioning: dict[str, np.ndarray] = {}
        #: The budget, the graph's cost and its stats form (:mod:`impasto.runtime.memory`); see :meth:`memory_plan`.
        self.set_memory_budget(max_memory)
        self.cost = graph_cost(backend.model_path)
        self.forced_tile = tile
        self.tiled = TiledGraph.beside(Path(backend.model_path), self.selection.requested, self.multiscale is None)
        #: Show a progress bar of tiles on stderr (the CLI sets it; off for library use).
        self.progress = False
        if self.bank is not None:
            if style is None and (name in self.bank.styles or ":" in name):
                style = name
            self.set_style(style)
            self.set_layer_weights(style_layer_weights=style_layer_weights,
                                   content_layer_weights=content_layer_weights)
        elif style is not None or style_layer_weights is not None or content_layer_weights is not None:
            raise UserError(f"{self.where} is a single-style model: style weights and "
                            "layer weights need a style bank (see `impasto styles`)")

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, *, backend: str = "auto", threads: int = 0,
             fp16: bool = False, style: StyleSelection | None = None, style_layer_weights: object = None,
             content_layer_weights: object = None, scale: int | None = None, max_memory: str | int | None = None,
             tile: int | None = None) -> Stylizer:
        """Load a built-in style by name, an ``.onnx`` or ``.engine`` file, or (``None``) the default style.

        Args:
            model: built-in name (see ``impasto styles``), a mix of a bank's styles
                (``"starry_night:0.6,la_muse:0.4"``) or a path.
            backend: one of :data:`~impasto.runtime.backends.selection.BACKENDS`; ``"auto"`` (default)
                takes the fastest that opens here and records every fallback in
                :attr:`selection`.
            threads: intra-op threads, 0 for ONNX Runtime's default.
            fp16: fp16 TensorRT engines for ``ort-trt`` (never a silent precision change).
            style: a bank's style selection (see :meth:`set_style`); overrides the one
                ``model`` names.
            style_layer_weights: α_s, one per style layer (bank only; default all 1).
            content_layer_weights: α_c, one per content layer (bank only; default all 1).
            scale: a multiscale model's output by nominal scale (MT-Net: 256, 512 or 1024;
                default its finest); see :mod:`impasto.runtime.pipelines.multiscale`.
            max_memory: the memory budget (``"2G"``, bytes; default a share of the available
                memory, see :mod:`impasto.runtime.memory`): larger images run tiled where
                the model has a stats form beside it, else are refused before any work.
            tile: force tiled inference with this tile side (needs the stats form).

        Raises:
            ModelError: unknown name, missing or unloadable file, wrong graph signature.
            UserError: style or layer weights that do not fit the model.
            BackendUnavailableError: the backend cannot run here.
        """
        path, name = resolve_model(model)
        return cls.from_file(path, backend, threads=threads, fp16=fp16, name=name, style=style,
                             style_layer_weights=style_layer_weights, content_layer_weights=content_layer_weights,
                             scale=scale, max_memory=max_memory, tile=tile)

    @property
    def supports_concurrent_calls(self) -> bool:
        """Whether calls may overlap from several threads (``StreamConfig.workers``).

        True for an ONNX Runtime CPU session: its ``run`` is thread-safe and no device
        buffers are reused across runs. Open it with ``threads=1`` per concurrent caller;
        every caller then computes on its own thread. GPU backends reuse bound buffers.
        """
        return self.selection.chosen == "ort-cpu" and not getattr(self.backend, "io_binding", True)

    def _check_graph(self) -> None:
        ins, outs = self.backend.inputs, self.backend.outputs
        where = self.where
        if is_bank(self.metadata):
            self.bank = BankLayout.from_metadata(self.backend.metadata, where)
            want = [(BANK_INPUTS[0], 4), *((n, 1) for n in BANK_INPUTS[1:])]
            got = [(s.name, len(s.shape)) for s in ins]
            if got != want:
                raise ModelError(f"{where}: expected a style bank's inputs {want} (name, rank), got {got}")
            lengths = (self.bank.n_styles, len(self.bank.content_layers), len(self.bank.style_layers))
            for spec, n in zip(ins[1:], lengths, strict=True):
                if spec.shape[0] not in (n, str(n)):
                    raise ModelError(f"{where}: input {spec.name!r} has shape {list(spec.shape)}, expected [{n}] "
                                     "as the metadata says")
            ins = ins[:1]
        if len(ins) != 1 or len(ins[0].shape) != 4 or ins[0].shape[1] not in (3, "3"):
            got = [s.describe() for s in ins]
            raise ModelError(f"{where}: expected one input Nx3xHxW, got {got}")
        grey = [s for s in outs if len(s.shape) == 4 and isinstance(s.shape[1], int) and s.shape[1] != 3]
        if not outs or len(outs[0].shape) != 4 or grey:
            got = [s.describe() for s in outs]
            raise ModelError(f"{where}: expected image outputs Nx3xHxW (RGB), got {got}")

    def _input_range(self) -> float:
        spec = self.backend.metadata.get("impasto.input")
        if spec is None:
            log.warning("%s has no impasto.input metadata: assuming NCHW RGB in [0, 1]", self.backend.model_path)
            return 1.0
        try:
            return float(json.loads(spec)["range"][1])
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError(f"{self.where}: unreadable impasto.input metadata {spec!r}") from None

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

    def set_style(self, style: StyleSelection | None) -> None:
        """Select a bank's style for later calls.

        Args:
            style: a name, ``"a:0.6,b:0.4"``, a ``{name: weight}`` mapping, one weight per
                style (normalised to sum 1), or ``None`` for the bank's first style.

        Raises:
            UserError: not a bank, an unknown name, a wrong length or negative weights.
        """
        bank = self._require_bank("style")
        w = style_vector(bank, style)
        self._conditioning[BANK_INPUTS[1]] = w
        self.name = describe_style(bank, w)

    def set_layer_weights(self, *, style_layer_weights: object = None, content_layer_weights: object = None) -> None:
        """Set α_s / α_c (one weight per VGG16 style / content layer; ``None``: all 1) for later calls."""
        bank = self._require_bank("layer weights")
        self._conditioning[BANK_INPUTS[2]] = layer_vector(content_layer_weights, bank.content_layers,
                                                          "content layer weights")
        self._conditioning[BANK_INPUTS[3]] = layer_vector(style_layer_weights, bank.style_layers,
                                                          "style layer weights")

    @property
    def style_weights(self) -> np.ndarray | None:
        """The current (normalised) style-weight vector of a bank; None for a single-style model."""
        return self._conditioning.get(BANK_INPUTS[1])

    def _require_bank(self, what: str) -> BankLayout:
        if self.bank is None:
            raise UserError(f"{what}: {self.where} is a single-style model, "
                            "expected a style bank")
        return self.bank

    def _feeds(self, style: StyleSelection | None, style_layer_weights: object,
               content_layer_weights: object) -> dict[str, np.ndarray]:
        """The bank's conditioning inputs for one call: the current selection with per-call overrides."""
        if self.bank is None:
            if style is not None or style_layer_weights is not None or content_layer_weights is not None:
                self._require_bank("style and layer weights")
            return {}
        feeds = dict(self._conditioning)
        if style is not None:
            feeds[BANK_INPUTS[1]] = style_vector(self.bank, style)
        if content_layer_weights is not None:
            feeds[BANK_INPUTS[2]] = layer_vector(content_layer_weights, self.bank.content_layers,
                                                 "content layer weights")
        if style_layer_weights is not None:
            feeds[BANK_INPUTS[3]] = layer_vector(style_layer_weights, self.bank.style_layers, "style layer weights")
        return feeds

    def graph_inputs(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's feed for a prepared float32 NCHW ``tensor``: the image and a bank's current conditioning."""
        return {self.backend.inputs[0].name: tensor, **self._conditioning}

    def run_array(self, rgb: np.ndarray, conditioning: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Run the model on one ``HxWx3`` uint8 RGB image; no post-processing.

        ``conditioning`` (a bank's extra inputs) defaults to the current selection.
        """
        return self.run_arrays([rgb], conditioning)[0]

    def can_batch(self, n: int, height: int, width: int) -> bool:
        """Whether ``n`` images of this size run as one ``Nx3xHxW`` call (a graph with a free batch dimension).

        A graph whose batch dimension is fixed, or an engine whose profile does not take
        ``n``, runs them one at a time instead (:meth:`run_arrays` does this itself).
        """
        spec = self.backend.inputs[0]
        if n == 1:
            return True
        if isinstance(spec.shape[0], int):
            return spec.shape[0] == n
        profile = (getattr(self.backend, "profiles", None) or {}).get(spec.name)
        return profile is None or profile.contains((n, 3, *self.model_size(height, width)))

    def run_arrays(self, rgbs: Sequence[np.ndarray],
                   conditioning: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """Run the model on ``HxWx3`` uint8 RGB images of one size, in one call where the graph takes a batch.

        The same conditioning applies to all of them (a bank's extra inputs are one vector
        per call); no post-processing. Each result equals :meth:`run_array` on that image
        up to float rounding (within 1/255 per channel: the batched convolutions sum in
        another order).

        Raises:
            ImageError: images of different sizes.
        """
        import cv2

        if not rgbs:
            return []
        if len({rgb.shape for rgb in rgbs}) != 1:
            raise ImageError(f"run_arrays: expected images of one size, got {sorted({rgb.shape for rgb in rgbs})}")
        if not self.can_batch(len(rgbs), *rgbs[0].shape[:2]):
            return [self.run_arrays([rgb], conditioning)[0] for rgb in rgbs]
        spec = self.backend.inputs[0]
        crop = None
        batch = []
        for rgb in rgbs:
            padded, crop = pad_to_min_side(rgb, MIN_SIDE)
            batch.append(padded)
        h, w = batch[0].shape[:2]
        mh, mw = input_size(self.multiscale, *self.model_size(h, w))
        if (mh, mw) != (h, w):
            batch = [cv2.resize(x, (mw, mh), interpolation=cv2.INTER_AREA) for x in batch]
        tensor = np.concatenate([image_to_nchw(x, self.input_range) for x in batch])
        feeds = dict(self._conditioning if conditioning is None else conditioning)
        expected = {self.output_name: (3, output_size(self.multiscale, self.output_name, mh, mw),
                                       (0.0, self.input_range))}
        hint = "; the layer weights may be too large for it" if self.bank is not None else ""
        out = self._run_checked({spec.name: tensor.astype(spec.dtype, copy=False), **feeds}, batch[0], expected,
                                hint)[self.output_name]
        results = []
        for i in range(len(rgbs)):
            y = nchw_to_image(out[i:i + 1], self.output_range)
            if y.shape[:2] != (h, w):
                y = cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC)
            results.append(y if (h, w) == rgbs[i].shape[:2] else np.ascontiguousarray(y[crop]))
        return results

    def __call__(self, image: np.ndarray, *, strength: float = 1.0, preserve_colors: bool = False,
                 style: StyleSelection | None = None, style_layer_weights: object = None,
                 content_layer_weights: object = None) -> np.ndarray:
        """Stylise one image.

        Args:
            image: ``HxWx3`` uint8 RGB (grayscale, RGBA, uint16 and float in [0, 1] are converted).
            strength: blend with the content, 0 = content, 1 = full style.
            preserve_colors: keep the content's colours (luminance-only transfer).
            style: a bank's style for this call only (see :meth:`set_style`).
            style_layer_weights: α_s for this call only (bank only).
            content_layer_weights: α_c for this call only (bank only).

        Returns:
            ``HxWx3`` uint8 RGB of the input's size.

        Raises:
            UserError: a ``strength`` that is not a number in [0, 1], style or layer weights
                that do not fit the model; :class:`~impasto.errors.ImageError` for an image
                of another layout.
            ModelError: the graph's output breaks its contract (channels, size, range).
            BackendRuntimeError: the graph produced NaN or infinite values.
        """
        strength = unit_number(strength, "strength")
        feeds = self._feeds(style, style_layer_weights, content_layer_weights)
        rgb = to_rgb8(image)
        plan = self.memory_plan(*rgb.shape[:2])
        if plan.mode == "tiled":
            def finish(band: np.ndarray, content: np.ndarray) -> np.ndarray:
                band = preserve_color(band, content) if preserve_colors else band
                return blend(band, content, strength)

            out = self.tiled.run(rgb, feeds, plan, finish, self.progress)
        else:
            out = self.run_array(rgb, feeds)
            if preserve_colors:
                out = preserve_color(out, rgb)
            out = blend(out, rgb, strength)
        self._measured()
        return out

    def memory_plan(self, height: int, width: int) -> Plan:
        """How an image of this size runs (whole, tiled or refused) under :attr:`budget`.

        Raises:
            MemoryBudgetError: it does not fit and there is no stats form to tile with;
                one line naming the largest size that fits.
            UserError: a forced tile without a stats form.
        """
        tiled_cost = self.tiled.cost if self.tiled is not None else None
        plan = plan_image(self.cost, tiled_cost, self.budget, height, width, self.forced_tile)
        if plan.mode == "refused":
            raise plan.refusal(f"style model {Path(self.backend.model_path).name}")
        self.last_plan = plan
        return plan

    def close(self) -> None:
        if self.tiled is not None:
            self.tiled.close()
        super().close()

    def stylize_batch(self, images: Sequence[np.ndarray], *, strength: float = 1.0, preserve_colors: bool = False,
                      style: StyleSelection | None = None, style_layer_weights: object = None,
                      content_layer_weights: object = None) -> list[np.ndarray]:
        """Stylise images of one size with the same settings, in one model call where the graph takes a batch.

        Takes the arguments of :meth:`__call__`, which applies to each image; each result
        equals that call's up to float rounding (see :meth:`run_arrays`). Dynamic batching
        (``impasto serve``) groups requests by size and settings and calls this once per group.

        Raises:
            ImageError: images of different sizes, or of a layout :meth:`__call__` refuses.
        """
        strength = unit_number(strength, "strength")
        feeds = self._feeds(style, style_layer_weights, content_layer_weights)
        rgbs = [to_rgb8(image) for image in images]
        outs = self.run_arrays(rgbs, feeds)
        return [blend(preserve_color(out, rgb) if preserve_colors else out, rgb, strength)
                for out, rgb in zip(outs, rgbs, strict=True)]

    def describe(self) -> dict:
        info = {"style": self.name, **super().describe()}
        if self.bank is not None:
            info["bank"] = {"styles": list(self.bank.styles),
                            **{k: self._conditioning[k].tolist() for k in BANK_INPUTS[1:]}}
        return info
