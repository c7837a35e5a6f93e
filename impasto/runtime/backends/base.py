"""Inference backends behind one interface with a lifecycle (torch-free).

Lifecycle, as in Polygraphy's runners::

    backend = OrtBackend("model.onnx", providers=["CPUExecutionProvider"])   # or TensorRTBackend(...)
    backend.open()                 # create the session
    backend.inputs, backend.outputs, backend.metadata   # inspect
    backend.validate(feed)         # names, dtypes, shapes -> InputMismatchError
    outputs = backend.run(feed)    # {name: array}
    backend.close()

or ``with OrtBackend(path) as backend: ...`` (open/close).

The concrete backends live in their own modules (:mod:`impasto.runtime.backends.ort`,
:mod:`impasto.runtime.tensorrt.backend`); :mod:`impasto.runtime.backends.selection` picks one by
name (``auto`` included) and reports every fallback.

Convention:
    Tensor specs use ``None`` or a string for dynamic dimensions, integers for fixed ones.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import InputMismatchError, ModelError


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of a graph input or output (``None``/str = dynamic dim)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]

    def describe(self) -> str:
        dims = "x".join("?" if not isinstance(d, int) else str(d) for d in self.shape)
        return f"{self.name}: {np.dtype(self.dtype).name}[{dims}]"


class Backend(abc.ABC):
    """Base class of every inference backend.

    Subclasses implement :meth:`_open`, :meth:`_run` and :meth:`_close`, and fill
    ``inputs``, ``outputs`` and ``metadata`` when opened.
    """

    name: str = "backend"

    def __init__(self, model_path: str | os.PathLike) -> None:
        self.model_path = Path(model_path)
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self.metadata: dict[str, str] = {}
        self.is_open = False

    def open(self) -> Backend:
        if not self.is_open:
            if not self.model_path.is_file():
                raise ModelError(f"model: expected a file, got {str(self.model_path)!r} (no such file)")
            self._open()
            self.is_open = True
        return self

    def close(self) -> None:
        if self.is_open:
            self._close()
            self.is_open = False

    def __enter__(self) -> Backend:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def validate(self, feed: dict[str, np.ndarray]) -> None:
        """Check names, dtypes and shapes against the model's inputs.

        Raises:
            InputMismatchError: saying what was expected and what was got.
        """
        expected = {s.name: s for s in self.inputs}
        if set(feed) != set(expected):
            raise InputMismatchError(f"inputs: expected {sorted(expected)}, got {sorted(feed)}")
        for name, arr in feed.items():
            spec = expected[name]
            if not isinstance(arr, np.ndarray):
                raise InputMismatchError(f"input {name!r}: expected a numpy array, got {type(arr).__name__}")
            if arr.dtype != spec.dtype:
                raise InputMismatchError(f"input {name!r}: expected dtype {np.dtype(spec.dtype).name}, "
                                         f"got {arr.dtype.name}")
            if arr.ndim != len(spec.shape):
                raise InputMismatchError(f"input {name!r}: expected {len(spec.shape)} dims {spec.describe()}, "
                                         f"got shape {arr.shape}")
            for i, (want, got) in enumerate(zip(spec.shape, arr.shape)):
                if isinstance(want, int) and want != got:
                    raise InputMismatchError(f"input {name!r}: expected {spec.describe()}, got shape {arr.shape} "
                                             f"(dim {i} must be {want})")
                if got == 0:
                    raise InputMismatchError(f"input {name!r}: expected non-empty dims, got shape {arr.shape}")

    def run(self, feed: dict[str, np.ndarray], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Validate ``feed`` and run the model; returns ``{output name: array}``.

        Args:
            feed: the inputs by name.
            outputs: only these outputs (a backend that can skips the rest's work and copies);
                default all.

        Raises:
            InputMismatchError: a bad feed, or an output name the model does not have.
        """
        if not self.is_open:
            raise ModelError(f"{self.name}: run() before open()")
        self.validate(feed)
        if outputs is None:
            return self._run(feed)
        unknown = [n for n in outputs if n not in {s.name for s in self.outputs}]
        if unknown:
            raise InputMismatchError(f"outputs: expected names from {[s.name for s in self.outputs]}, got {unknown}")
        return self._run_some(feed, list(outputs))

    def _run_some(self, feed: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        """Some outputs; this default runs everything and keeps them (backends that can skip work override it)."""
        out = self._run(feed)
        return {n: out[n] for n in names}

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": str(self.model_path),
                "inputs": [s.describe() for s in self.inputs], "outputs": [s.describe() for s in self.outputs]}
