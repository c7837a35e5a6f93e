"""Choose and open an inference backend by name, ``auto`` included; report every fallback.

Names:
    ``ort-cpu``, ``ort-cuda``, ``ort-trt`` (ONNX Runtime with that execution provider),
    ``tensorrt`` (a native TensorRT engine built by ``impasto build-engine``) and
    ``auto``: for an ``.engine`` file, ``tensorrt``; for an ``.onnx`` file the fastest
    that opens, in the order ``ort-trt``, ``ort-cuda``, ``ort-cpu``. A named backend that
    cannot open raises; ``auto`` moves on to the next one and records why in
    :class:`Selection`, which is logged and shown in every ``--json`` report.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from impasto.contracts import ENGINE_SUFFIXES
from impasto.errors import BackendUnavailableError, UserError
from impasto.runtime.backends.base import Backend

log = logging.getLogger("impasto.runtime")

#: Every backend name, ``auto`` first.
BACKENDS: tuple[str, ...] = ("auto", "ort-cpu", "ort-cuda", "ort-trt", "tensorrt")
#: ``auto``'s order for ONNX files, fastest first.
AUTO_ORDER: tuple[str, ...] = ("ort-trt", "ort-cuda", "ort-cpu")


@dataclass(frozen=True)
class Selection:
    """Which backend was asked for, which one runs, and why the others did not.

    Attributes:
        requested: the name given (``"auto"`` or a backend name).
        chosen: the backend that opened.
        fallbacks: ``(backend, reason)`` for every candidate ``auto`` passed over.
    """

    requested: str
    chosen: str
    fallbacks: tuple[tuple[str, str], ...] = field(default=())

    def to_dict(self) -> dict:
        return {"requested": self.requested, "chosen": self.chosen,
                "fallbacks": [{"backend": b, "reason": r} for b, r in self.fallbacks]}


def is_engine(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in ENGINE_SUFFIXES


def make_backend(path: str | os.PathLike, backend: str = "ort-cpu", *, threads: int = 0, fp16: bool = False,
                 device_id: int = 0) -> Backend:
    """Create (not open) one named backend for a model file.

    Raises:
        UserError: an unknown name, ``auto`` (use :func:`open_backend`), a file type the
            backend cannot run, or ``fp16`` where it cannot apply.
    """
    if backend not in BACKENDS:
        raise UserError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        raise UserError("backend: 'auto' picks among several backends; call open_backend()")
    engine = is_engine(path)
    if backend == "tensorrt":
        if not engine:
            raise UserError(f"backend tensorrt: expected a TensorRT engine ({', '.join(ENGINE_SUFFIXES)}; build one "
                            f"with `impasto build-engine`), got {str(path)!r}")
        if fp16:
            raise UserError("fp16: an engine's precision is fixed when it is built (impasto build-engine --fp16)")
        from impasto.runtime.tensorrt.backend import TensorRTBackend

        return TensorRTBackend(path, device_id=device_id)
    if engine:
        raise UserError(f"backend {backend}: expected an .onnx model, got the TensorRT engine {str(path)!r} "
                        "(use --backend tensorrt or auto)")
    from impasto.runtime.backends.ort import OrtBackend, provider_list

    try:
        providers = provider_list(backend, fp16=fp16, device_id=device_id)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return OrtBackend(path, providers, threads=threads)


def open_backend(path: str | os.PathLike, backend: str = "auto", *, threads: int = 0, fp16: bool = False,
                 device_id: int = 0) -> tuple[Backend, Selection]:
    """Create and open a backend; ``auto`` tries the candidates in order.

    Returns:
        ``(opened backend, selection)``.

    Raises:
        UserError: bad name or file type.
        BackendUnavailableError: the named backend (or, with ``auto``, every candidate)
            cannot run here; the message lists each reason.
        ModelError: the model itself cannot be loaded (not retried on another backend).
    """
    if backend != "auto":
        return make_backend(path, backend, threads=threads, fp16=fp16, device_id=device_id).open(), \
            Selection(backend, backend)
    candidates = ("tensorrt",) if is_engine(path) else AUTO_ORDER
    if fp16:
        candidates = tuple(c for c in candidates if c in ("ort-trt",))
        if not candidates:
            raise UserError("fp16: auto cannot honour it for a TensorRT engine (its precision is fixed at build)")
    fallbacks: list[tuple[str, str]] = []
    failed = False  # a candidate that is installed but would not open: worth a warning, not just a note
    for name in candidates:
        missing = _missing_provider(name)
        if missing:
            fallbacks.append((name, f"{missing} is not installed"))
            continue
        try:
            opened = make_backend(path, name, threads=threads, fp16=fp16, device_id=device_id).open()
        except BackendUnavailableError as exc:
            fallbacks.append((name, str(exc)))
            failed = True
            continue
        if fallbacks:
            log.log(logging.WARNING if failed else logging.INFO, "backend auto: using %s (%s)", name,
                    "; ".join(f"{b}: {r}" for b, r in fallbacks))
        return opened, Selection("auto", name, tuple(fallbacks))
    raise BackendUnavailableError("backend auto: nothing can run this model here: "
                                  + "; ".join(f"{b}: {r}" for b, r in fallbacks))


def backend_status() -> dict[str, str]:
    """``{backend: "installed" | "missing: what"}`` for every concrete backend (no model is opened)."""
    return {name: (f"missing: {m}" if (m := _missing_provider(name)) else "installed")
            for name in BACKENDS if name != "auto"}


def _missing_provider(backend: str) -> str | None:
    """The package or provider a backend needs that is not installed here, else None."""
    if backend == "tensorrt":
        import importlib.util

        return None if importlib.util.find_spec("tensorrt") else "the tensorrt package"
    from impasto.runtime.backends.ort import PROVIDER_OF, available_providers

    provider = PROVIDER_OF[backend]
    return None if provider in available_providers() else f"ONNX Runtime's {provider}"
