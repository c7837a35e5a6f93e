"""ONNX Runtime backends: CPU, CUDA (with IO binding) and the TensorRT execution provider.

Every provider is named explicitly; a provider that is missing, or that ONNX Runtime
quietly drops while creating the session (it falls back to the CPU when the CUDA
libraries fail to load), raises :class:`~impasto.errors.BackendUnavailableError`:
never a silent fallback.

IO binding (``ort-cuda``, ``ort-trt``): inputs are copied into device buffers that are
allocated once per input shape and reused across frames (``OrtValue.update_inplace``);
outputs are bound to device buffers sized on the first run of that shape and reused
too, so a frame costs one upload and one download and nothing else.

Convention:
    Feeds and results are numpy arrays on the host, whatever the device; buffers are
    keyed by the full input shapes, so a video at a fixed size allocates once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import BackendRuntimeError, BackendUnavailableError, ModelError
from impasto.runtime.backends.base import Backend, TensorSpec

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

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
#: The provider each ``ort-*`` backend is for.
PROVIDER_OF = {"ort-cpu": CPU, "ort-cuda": CUDA, "ort-trt": TENSORRT}


#: Session configuration for every ONNX Runtime session. Worker threads that wait for work
#: sleep instead of spinning: on a machine shared with other processes (and for a whole
#: ``impasto stylize`` process) spinning threads steal the cores the graph needs; measured
#: on the 2-core CI machine under load, the bank at 512 px ran 25-40 % faster (docs/speed.md).
SESSION_CONFIG = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def default_trt_cache_dir() -> Path:
    """Where the TensorRT execution provider keeps engines and timing caches.

    ``$IMPASTO_CACHE/ort-trt`` if set, else ``$XDG_CACHE_HOME/impasto/ort-trt``
    (default ``~/.cache/impasto/ort-trt``).
    """
    root = os.environ.get("IMPASTO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "impasto")
    return Path(root) / "ort-trt"


def provider_list(backend: str, *, fp16: bool = False, device_id: int = 0,
                  trt_cache_dir: str | os.PathLike | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The ``(provider, options)`` list ONNX Runtime gets for an ``ort-*`` backend name.

    Args:
        backend: ``"ort-cpu"``, ``"ort-cuda"`` or ``"ort-trt"``.
        fp16: build TensorRT engines in fp16 (``ort-trt`` only; anything else raises).
        device_id: CUDA device ordinal.
        trt_cache_dir: engine and timing cache folder of the TensorRT provider.

    Raises:
        ValueError: an unknown name, or ``fp16`` where it cannot apply.
    """
    if fp16 and backend != "ort-trt":
        raise ValueError(f"fp16: expected backend 'ort-trt' (ONNX Runtime CPU/CUDA run the model's own "
                         f"precision; export with --fp16 instead), got {backend!r}")
    if backend == "ort-cpu":
        return [(CPU, {})]
    cuda = (CUDA, {"device_id": device_id})
    if backend == "ort-cuda":
        return [cuda, (CPU, {})]
    if backend == "ort-trt":
        cache = str(trt_cache_dir or default_trt_cache_dir())
        trt = (TENSORRT, {"device_id": device_id, "trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                          "trt_engine_cache_path": cache, "trt_timing_cache_enable": True,
                          "trt_timing_cache_path": cache})
        return [trt, cuda, (CPU, {})]
    raise ValueError(f"backend: expected 'ort-cpu', 'ort-cuda' or 'ort-trt', got {backend!r}")


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


class OrtBackend(Backend):
    """ONNX Runtime with an explicit provider list.

    Args:
        model_path: ``.onnx`` file.
        providers: provider names or ``(name, options)`` pairs, in priority order. The
            first is the one this backend is for: if it is not available, or ONNX
            Runtime does not keep it, :meth:`open` raises :class:`BackendUnavailableError`.
        threads: intra-op threads (0 = ONNX Runtime's default).
        io_binding: device buffers reused across runs (see the module docstring);
            ``None`` = on for CUDA and TensorRT providers, off for the CPU.
        binding_device: ``"cuda"`` or ``"cpu"`` (the CPU binding exercises the same path
            in tests on machines without a GPU).
        device_id: device ordinal of the bound buffers.
    """

    name = "ort"

    def __init__(self, model_path: str | os.PathLike, providers: list[str | tuple[str, dict]] | None = None, *,
                 threads: int = 0, io_binding: bool | None = None, binding_device: str | None = None,
                 device_id: int = 0) -> None:
        super().__init__(model_path)
        entries = [(p, {}) if isinstance(p, str) else (p[0], dict(p[1])) for p in (providers or [CPU])]
        self.requested_providers = [name for name, _ in entries]
        self.provider_options = [opts for _, opts in entries]
        self.threads = threads
        on_gpu = self.requested_providers[0] != CPU
        self.io_binding = on_gpu if io_binding is None else io_binding
        self.binding_device = binding_device or ("cuda" if on_gpu else "cpu")
        self.device_id = device_id
        self.session = None
        self.providers: list[str] = []
        self._bound: dict[tuple, tuple[Any, dict[str, Any], dict[str, Any]]] = {}

    def _open(self) -> None:
        import onnxruntime as ort

        here = ort.get_available_providers()
        missing = [p for p in self.requested_providers if p not in here]
        if missing:
            raise BackendUnavailableError(f"ONNX Runtime providers {missing} are not available here "
                                          f"(available: {here}; the CUDA and TensorRT providers need "
                                          "onnxruntime-gpu: pip install 'impasto[gpu]')")
        for opts in self.provider_options:  # engine caches must exist before the provider writes them
            for key in ("trt_engine_cache_path", "trt_timing_cache_path"):
                if opts.get(key):
                    Path(opts[key]).mkdir(parents=True, exist_ok=True)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 4  # errors surface as impasto's own one-line messages, not ONNX Runtime's log
        if self.threads:
            so.intra_op_num_threads = self.threads
        for key, value in SESSION_CONFIG.items():
            so.add_session_config_entry(key, value)
        _check_shared_weights(self.model_path)
        try:
            session = ort.InferenceSession(str(self.model_path), sess_options=so,
                                           providers=self.requested_providers, provider_options=self.provider_options)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model {str(self.model_path)!r}: ONNX Runtime cannot load it: {msg}") from None
        kept = session.get_providers()
        if self.requested_providers[0] not in kept:
            raise BackendUnavailableError(f"{self.requested_providers[0]} failed to initialise (ONNX Runtime kept "
                                          f"{kept}); check the CUDA/TensorRT libraries, or choose another backend")
        self.session = session
        self.providers = kept
        self.inputs = [TensorSpec(i.name, np.dtype(_ORT_DTYPES.get(i.type, np.float32)), tuple(i.shape))
                       for i in session.get_inputs()]
        self.outputs = [TensorSpec(o.name, np.dtype(_ORT_DTYPES.get(o.type, np.float32)), tuple(o.shape))
                        for o in session.get_outputs()]
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        log.info("opened %s with providers %s (io binding: %s)", self.model_path, kept, self.io_binding)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._run_some(feed, [o.name for o in self.outputs])

    def _run_some(self, feed: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        try:
            if not self.io_binding:
                return dict(zip(names, self.session.run(names, feed)))
            return self._run_bound(feed, names)
        except Exception as exc:  # onnxruntime raises its own untyped errors (shapes a graph cannot take, OOM)
            if isinstance(exc, BackendRuntimeError):
                raise
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feed.items())
            raise BackendRuntimeError(f"model {self.model_path.name!r}: ONNX Runtime failed on {shapes}: "
                                      f"{msg[:300]}") from None

    def _run_bound(self, feed: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        import onnxruntime as ort

        key = tuple((k, v.shape, v.dtype.str) for k, v in sorted(feed.items()))
        entry = self._bound.get(key)
        if entry is None:
            binding = self.session.io_binding()
            ins = {k: ort.OrtValue.ortvalue_from_shape_and_type(list(v.shape), v.dtype, self.binding_device,
                                                                self.device_id) for k, v in feed.items()}
            for k, value in ins.items():
                binding.bind_ortvalue_input(k, value)
            for n in names:  # first run of this shape: ONNX Runtime allocates the outputs on the device
                binding.bind_output(n, self.binding_device, self.device_id)
            entry = (binding, ins, {})
        binding, ins, outs = entry
        for k, value in ins.items():
            value.update_inplace(np.ascontiguousarray(feed[k]))  # the upload
        binding.synchronize_inputs()
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        if not outs:  # keep this shape's output buffers and bind them for every later run
            outs.update(zip(names, binding.get_outputs()))
            binding.clear_binding_outputs()
            for n in names:
                binding.bind_ortvalue_output(n, outs[n])
            self._bound[key] = entry
        if self.binding_device == "cpu":  # numpy() is a view of the reused buffer: hand out a copy
            return {n: outs[n].numpy().copy() for n in names}
        return {n: outs[n].numpy() for n in names}  # the download (a fresh host array)

    def _close(self) -> None:
        self._bound.clear()
        self.session = None

    @property
    def bound_shapes(self) -> int:
        """How many distinct input shapes hold device buffers (one per video size)."""
        return len(self._bound)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "providers": self.providers, "io_binding": self.io_binding}


def _check_shared_weights(model_path: Path) -> None:
    """A graph's shared weights file (ONNX external data) present at its size, else one line naming it.

    A file whose metadata cannot be read is left to ONNX Runtime's own (one-line) refusal.
    """
    from impasto.runtime.onnx_metadata import read_onnx_metadata
    from impasto.runtime.shared_weights import check_shared_weights

    try:
        meta = read_onnx_metadata(model_path)
    except ModelError:
        return
    check_shared_weights(model_path, meta)
