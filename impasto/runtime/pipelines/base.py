"""``Pipeline``: what every model front-end shares (torch-free).

A front-end (:class:`~impasto.runtime.pipelines.stylizer.Stylizer`,
:class:`~impasto.runtime.pipelines.photoreal.WCTStylizer`,
:class:`~impasto.runtime.pipelines.warp.Warper`) is a :class:`Pipeline`: it holds an opened
inference backend and the :class:`~impasto.runtime.backends.selection.Selection` that chose
it, reports its execution provider and metadata, and closes the backend when closed or
when its ``with`` block ends. A front-end's ``load`` resolves the model file and calls
:meth:`Pipeline.from_file`, which opens a backend by name (``auto`` included, see
:mod:`impasto.runtime.backends.selection`) and builds the front-end, closing the backend
again if the front-end refuses the graph. ``__init__`` checks the graph with the helpers
here, which raise :class:`~impasto.errors.ModelError` saying what was expected and what
was got; every run is checked with :meth:`Pipeline._run_checked`: finite values, and the
output contract of :mod:`impasto.runtime.pipelines.outputs` (channels, size, range).

Example:
    >>> from impasto.runtime.pipelines.warp import Warper
    >>> with Warper.load("warpnet.onnx", backend="ort-cpu") as warper:   # any Pipeline
    ...     warper.provider, warper.metadata["impasto.method"], warper.describe()
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from impasto.errors import BackendRuntimeError, ImageError, ModelError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import Selection, open_backend
from impasto.runtime.memory import Budget, Plan, graph_cost, peak_rss, require_fits
from impasto.runtime.pipelines.outputs import OutputContract, ValueRange, check_output

P = TypeVar("P", bound="Pipeline")


def require_file(model: str | os.PathLike, expected: str, flag: str = "model") -> Path:
    """``model`` as a path to an existing file.

    Raises:
        ModelError: no such file; the message names ``flag`` and what was ``expected``.
    """
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelError(f"{flag}: expected {expected}, got {str(model)!r} (no such file)")
    return path


def check_min_side(image: np.ndarray, min_side: int, what: str) -> None:
    """Refuse an ``HxWx3`` image with a side below ``min_side`` pixels.

    Raises:
        ImageError: naming ``what`` (e.g. ``"content"``), its size and the minimum.
    """
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise ImageError(f"{what} image {w}x{h}: too small, expected at least {min_side} px on each side")


#: What a run's output must be: channels, ``(height, width)`` (None: unchecked), the range assumed without metadata.
Expected = tuple[int, tuple[int, int] | None, ValueRange | None]


class Pipeline:
    """An opened backend behind a front-end; use a subclass's ``load``.

    Attributes:
        backend: the opened :class:`~impasto.runtime.backends.base.Backend`.
        selection: which backend was asked for, which one runs, and why others did not.
    """

    def __init__(self, backend: Backend, selection: Selection | None = None) -> None:
        self.backend = backend.open()
        self.selection = selection or Selection(backend.name, backend.name)
        #: The output ranges the graph's ``impasto.output`` metadata declares.
        self.output_contract = OutputContract.from_metadata(self.metadata, [s.name for s in backend.outputs],
                                                            self.where)
        #: The memory budget (:mod:`impasto.runtime.memory`); :meth:`set_memory_budget` changes it.
        self.budget = Budget.resolve(None, self.selection.chosen)
        #: The memory plan of the last image run, its measured peak filled in (``--json`` reports it).
        self.last_plan: Plan | None = None

    def set_memory_budget(self, max_memory: str | int | None) -> None:
        """The budget: ``"2G"``, ``"512M"``, bytes, or None for a share of the available memory."""
        self.budget = Budget.resolve(max_memory, self.selection.chosen)

    def memory_plan(self, height: int, width: int) -> Plan:
        """The plan of running the graph on a ``height x width`` image: whole, or refused (this pipeline has no
        bounded-memory path); also :attr:`last_plan`.

        Raises:
            MemoryBudgetError: the estimated peak exceeds the budget; one line naming the largest size that fits.
        """
        plan = require_fits(graph_cost(self.backend.model_path), self.budget, height, width,
                            f"model {Path(self.backend.model_path).name}")
        self.last_plan = plan
        return plan

    def _measured(self) -> None:
        """Record the process's peak memory in :attr:`last_plan` after a run."""
        if self.last_plan is not None:
            self.last_plan.measured_peak = peak_rss()

    @classmethod
    def from_file(cls: type[P], path: str | os.PathLike, backend: str = "auto", *, threads: int = 0,
                  fp16: bool = False, **kwargs: Any) -> P:
        """Open ``path`` on ``backend`` and build the pipeline with ``kwargs``; the backend is closed if that fails.

        Raises:
            UserError: a bad backend name or file type.
            BackendUnavailableError: the backend cannot run here.
            ModelError: the model cannot be loaded, or the pipeline refuses the graph.
        """
        opened, selection = open_backend(path, backend, threads=threads, fp16=fp16)
        try:
            return cls(opened, selection=selection, **kwargs)
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
        """The model's ``metadata_props`` (``impasto.*`` keys)."""
        return self.backend.metadata

    @property
    def where(self) -> str:
        """Names the model in error messages: ``model '/path/x.onnx'``."""
        return f"model {str(self.backend.model_path)!r}"

    @property
    def description(self) -> str:
        return self.metadata.get("impasto.description", "")

    def describe(self) -> dict[str, Any]:
        """The model, provider, backend selection (fallbacks included) and description, for reports."""
        return {"model": str(self.backend.model_path), "provider": self.provider,
                "backend": self.selection.to_dict(), "description": self.description}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Graph checks for __init__ and run.

    def _require_method(self, methods: Sequence[str], how: str) -> str:
        """The graph's ``impasto.method``, which must be one of ``methods`` (``how``: how to make one)."""
        method = self.metadata.get("impasto.method", "")
        if method not in methods:
            raise ModelError(f"{self.where}: expected a {' or '.join(methods)} graph ({how}), "
                             f"got impasto.method {method!r}")
        return method

    def _require_names(self, inputs: Sequence[str], outputs: Sequence[str] | None = None) -> None:
        """The graph's input names (and, if given, output names), in order."""
        got_in = [s.name for s in self.backend.inputs]
        got_out = [s.name for s in self.backend.outputs]
        if outputs is None and got_in != list(inputs):
            raise ModelError(f"{self.where}: expected inputs {list(inputs)}, got {got_in}")
        if outputs is not None and (got_in != list(inputs) or got_out != list(outputs)):
            raise ModelError(f"{self.where}: expected inputs {list(inputs)} and outputs {list(outputs)}, "
                             f"got {got_in} and {got_out}")

    def _json_metadata(self, key: str, *, ints: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON object under metadata ``key``; each of ``ints`` must be there and read as an integer."""
        try:
            value = json.loads(self.metadata[key])
            if not isinstance(value, dict):
                raise TypeError(type(value).__name__)
            for name in ints:
                int(value[name])
        except (KeyError, ValueError, TypeError):
            raise ModelError(f"{self.where}: missing or unreadable {key} metadata") from None
        return value

    def _run_finite(self, feed: dict[str, np.ndarray], image: np.ndarray, hint: str = "") -> dict[str, np.ndarray]:
        """Run the graph on ``feed`` (made from ``image``); every output must be finite.

        Raises:
            BackendRuntimeError: a NaN or infinite value; ``hint`` ends the message.
        """
        out = self.backend.run(feed)
        if not all(np.isfinite(v).all() for v in out.values()):
            raise BackendRuntimeError(f"{self.where}: the graph produced non-finite values (NaN or infinity) for this "
                                      f"{image.shape[1]}x{image.shape[0]} image{hint}")
        return out

    def _run_checked(self, feed: dict[str, np.ndarray], image: np.ndarray, expected: dict[str, Expected],
                     hint: str = "") -> dict[str, np.ndarray]:
        """:meth:`_run_finite`, then each output named in ``expected`` held to the graph's output contract.

        Args:
            feed: the graph's inputs.
            image: the image the feed was made from, ``HxWx3`` at the size fed.
            expected: output name -> ``(channels, (height, width) or None, range assumed without metadata)``.
            hint: ends the non-finite message.

        Raises:
            BackendRuntimeError: a NaN or infinite value.
            ModelError: an output of the wrong rank, channels, size or range (see
                :func:`~impasto.runtime.pipelines.outputs.check_output`).
        """
        out = self._run_finite(feed, image, hint)
        for name, (channels, size, assumed) in expected.items():
            check_output(out[name], name, channels=channels, size=size, fed=image.shape[:2],
                         value_range=self.output_contract.range_of(name, assumed), where=self.where)
        return out
