"""Inference backends behind one interface with a lifecycle (torch-free).

Lifecycle, as in Polygraphy's runners::

    backend = OrtBackend("model.onnx", providers=["CPUExecutionProvider"])
    backend.open()                 # create the session
    backend.inputs, backend.outputs, backend.metadata   # inspect
    backend.validate(feed)         # names, dtypes, shapes -> InputMismatchError
    outputs = backend.run(feed)    # {name: array}
    backend.close()

or ``with OrtBackend(path) as backend: ...`` (open/close).

Convention:
    Tensor specs use ``None`` or a string for dynamic dimensions, integers for fixed ones.
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import BackendUnavailableError, InputMismatchError, ModelError

log = logging.getLogger("impasto.runtime")

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


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

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate ``feed`` and run the model; returns ``{output name: array}``."""
        if not self.is_open:
            raise ModelError(f"{self.name}: run() before open()")
        self.validate(feed)
        return self._run(feed)

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": str(self.model_path),
                "inputs": [s.describe() for s in self.inputs], "outputs": [s.describe() for s in self.outputs]}


ORT_PROVIDERS = {
    "ort-cpu": ["CPUExecutionProvider"],
    "ort-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "ort-trt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def available_ort_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


class OrtBackend(Backend):
    """ONNX Runtime with an explicit provider list.

    Args:
        model_path: ``.onnx`` file.
        providers: ONNX Runtime provider names, in priority order. Providers that are
            not available raise :class:`BackendUnavailableError` (never a silent fallback).
        threads: intra-op threads (0 = ONNX Runtime's default).
    """

    name = "ort"

    def __init__(self, model_path: str | os.PathLike, providers: list[str] | None = None, *, threads: int = 0) -> None:
        super().__init__(model_path)
        self.requested_providers = list(providers or ORT_PROVIDERS["ort-cpu"])
        self.threads = threads
        self.session = None
        self.providers: list[str] = []

    def _open(self) -> None:
        import onnxruntime as ort

        missing = [p for p in self.requested_providers if p not in ort.get_available_providers()]
        if missing:
            raise BackendUnavailableError(f"ONNX Runtime providers {missing} are not available here "
                                          f"(available: {ort.get_available_providers()})")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
        try:
            self.session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                                providers=self.requested_providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model {str(self.model_path)!r}: ONNX Runtime cannot load it: {msg}") from None
        self.providers = self.session.get_providers()
        self.inputs = [TensorSpec(i.name, np.dtype(_ORT_DTYPES.get(i.type, np.float32)), tuple(i.shape))
                       for i in self.session.get_inputs()]
        self.outputs = [TensorSpec(o.name, np.dtype(_ORT_DTYPES.get(o.type, np.float32)), tuple(o.shape))
                        for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        log.info("opened %s with providers %s", self.model_path, self.providers)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.outputs]
        return dict(zip(names, self.session.run(names, feed)))

    def _close(self) -> None:
        self.session = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "providers": self.providers}
