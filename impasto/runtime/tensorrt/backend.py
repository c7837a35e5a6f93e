"""Native TensorRT backend: runs an engine built by ``impasto build-engine`` (torch-free).

Needs the ``[trt]`` extra (TensorRT 10 and cuda-python) and an NVIDIA GPU; both are
imported when the backend opens, never at ``import impasto.runtime`` time.

Lifecycle (see :class:`~impasto.runtime.backends.base.Backend`)::

    with TensorRTBackend("engines/starry_night.engine") as trt_backend:
        out = trt_backend.run({"image": x})["stylized"]

Opening reads ``NAME.json`` (the sidecar) and refuses the engine unless its sha256
matches the sidecar and the sidecar's TensorRT version, GPU name and compute capability
equal this machine's (:class:`~impasto.errors.EngineMismatchError`, with the command
that rebuilds it). Device buffers for every I/O tensor are sized for the profile's max
shape once, at open, and reused for every frame; host staging buffers are pinned.

Convention:
    I/O tensors are named; specs use ``None`` for dimensions that are dynamic in the
    engine. A feed must lie within the optimisation profile (profile 0):
    :meth:`TensorRTBackend.validate` raises :class:`~impasto.errors.InputMismatchError`
    with the expected range otherwise. Each run: copy the feed into pinned memory,
    host-to-device copy, ``execute_async_v3`` on the backend's own stream, device-to-host
    copy, synchronise. With ``cuda_graphs=True`` (default) the first run at a new input
    shape runs eagerly (TensorRT's warm-up), the second captures those steps into a CUDA
    graph and every later run at that shape replays it; a new shape drops the graph and
    starts over. An engine that cannot be captured logs one warning and runs without
    graphs (``describe()["cuda_graphs"]`` says why). Not thread-safe: one run at a time, from any thread
    (each run makes the backend's device current on the calling thread).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from impasto.errors import (
    BackendRuntimeError,
    BackendUnavailableError,
    CudaError,
    EngineMismatchError,
    InputMismatchError,
    ModelError,
)
from impasto.runtime.backends.base import Backend, TensorSpec
from impasto.runtime.tensorrt.loader import import_tensorrt
from impasto.runtime.tensorrt.profile import EngineProfile, check_within_profile, format_shape
from impasto.runtime.tensorrt.sidecar import (
    EngineSidecar,
    check_compatible,
    check_engine_sha,
    read_sidecar,
    sidecar_summary,
)

log = logging.getLogger("impasto.runtime")

EAGER, CAPTURE, REPLAY = "eager", "capture", "replay"


@dataclass
class RunPlan:
    """What one run does: whether the input shape changed, and how the work is launched."""

    shape_changed: bool
    action: str  # EAGER, CAPTURE or REPLAY


class CudaGraphPolicy:
    """When to run eagerly, capture a CUDA graph, or replay it (pure state, no CUDA).

    One warm-up run per input shape, then a capture, then replays; any new shape starts
    over. After a failed capture (:meth:`capture_failed`) every run is eager.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.disabled_reason: str | None = None if enabled else "disabled (cuda_graphs=False)"
        self.shape: tuple | None = None
        self.runs_at_shape = 0
        self.captured = False

    def plan(self, shape: tuple) -> RunPlan:
        """The plan for a run whose input shapes are ``shape`` (any hashable tuple)."""
        changed = shape != self.shape
        if changed:
            self.shape, self.runs_at_shape, self.captured = shape, 0, False
        if self.disabled_reason is not None or self.runs_at_shape == 0:
            return RunPlan(changed, EAGER)
        return RunPlan(changed, REPLAY if self.captured else CAPTURE)

    def ran(self, action: str) -> None:
        self.runs_at_shape += 1
        if action == CAPTURE:
            self.captured = True

    def forget_shape(self) -> None:
        """The shape could not be set: the next :meth:`plan` treats any shape as new."""
        self.shape, self.runs_at_shape, self.captured = None, 0, False

    def capture_failed(self, reason: str) -> None:
        self.disabled_reason = f"capture failed: {reason}"
        self.captured = False


def _dims(shape: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in shape)


def _spec_shape(dims: tuple[int, ...]) -> tuple[int | None, ...]:
    return tuple(None if d < 0 else d for d in dims)


class TensorRTBackend(Backend):
    """A serialized TensorRT engine with its JSON sidecar, on one GPU.

    Args:
        model_path: ``NAME.engine`` (with ``NAME.json`` beside it).
        device_id: CUDA device ordinal to run on.
        cuda_graphs: replay a CUDA graph when the input shape repeats (see the module's Convention).

    Attributes:
        sidecar: the parsed :class:`~impasto.runtime.tensorrt.sidecar.EngineSidecar` (after open).
        profiles: ``{input name: EngineProfile}`` read from the engine (after open).
        counts: ``{"eager", "capture", "replay"}`` runs so far.
    """

    name = "tensorrt"

    def __init__(self, model_path: str | os.PathLike, *, device_id: int = 0, cuda_graphs: bool = True) -> None:
        super().__init__(model_path)
        self.device_id = device_id
        self.cuda_graphs = cuda_graphs
        self.sidecar: EngineSidecar | None = None
        self.profiles: dict[str, EngineProfile] = {}
        self.providers: list[str] = []
        self.counts = {EAGER: 0, CAPTURE: 0, REPLAY: 0}
        self._graphs = CudaGraphPolicy(cuda_graphs)
        self._reset_handles()

    def _reset_handles(self) -> None:
        self._trt: Any = None
        self._logger: Any = None
        self._cuda: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._graph: Any = None
        self._device: dict[str, Any] = {}
        self._host: dict[str, Any] = {}
        self._in_shapes: dict[str, tuple[int, ...]] = {}
        self._out_shapes: dict[str, tuple[int, ...]] = {}

    # -- open ---------------------------------------------------------------------------------

    def _open(self) -> None:
        trt = import_tensorrt(purpose="the tensorrt backend")
        from impasto.runtime.tensorrt import cuda_mem

        self._trt, self._cuda = trt, cuda_mem
        try:
            cuda_mem.set_device(self.device_id)
            device = cuda_mem.device_info(self.device_id)
        except CudaError as exc:
            raise BackendUnavailableError(f"the tensorrt backend needs a CUDA GPU: device {self.device_id} is not "
                                          f"usable ({exc})") from None
        sidecar = read_sidecar(self.model_path)
        data = self.model_path.read_bytes()
        check_engine_sha(self.model_path, data, sidecar)
        check_compatible(self.model_path, sidecar, tensorrt_version=trt.__version__, gpu_name=device.name,
                         compute_capability=device.compute_capability)
        try:
            self._load_engine(trt, data)
            self._inspect(trt, sidecar)
            self._allocate()
        except BaseException:
            self._close()
            raise
        self.sidecar = sidecar
        self.metadata = sidecar.metadata()
        self.providers = [f"TensorRT {trt.__version__} on {device.describe()}"]
        log.info("opened %s (%s, %s)", self.model_path, sidecar.precision, self.providers[0])

    def _load_engine(self, trt: Any, data: bytes) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)  # must outlive the runtime and the engine
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise ModelError(f"engine {str(self.model_path)!r}: TensorRT cannot deserialize it (see TensorRT's log "
                             "above); rebuild it with impasto build-engine")
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise BackendRuntimeError(f"engine {str(self.model_path)!r}: TensorRT cannot create an execution context "
                                      "(out of GPU memory?)")

    def _inspect(self, trt: Any, sidecar: EngineSidecar) -> None:
        engine = self._engine
        inputs, outputs = [], []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            try:
                dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            except TypeError:
                raise ModelError(f"engine {str(self.model_path)!r}: tensor {name!r} has dtype "
                                 f"{engine.get_tensor_dtype(name)}, which numpy cannot hold") from None
            spec = TensorSpec(name, dtype, _spec_shape(_dims(engine.get_tensor_shape(name))))
            mode = engine.get_tensor_mode(name)
            if mode == trt.TensorIOMode.INPUT:
                inputs.append(spec)
                low, opt, high = (_dims(s) for s in engine.get_tensor_profile_shape(name, 0))
                self.profiles[name] = EngineProfile(name, low, opt, high)
            elif mode == trt.TensorIOMode.OUTPUT:
                outputs.append(spec)
        if not inputs or not outputs:
            raise ModelError(f"engine {str(self.model_path)!r}: expected inputs and outputs, got "
                             f"{len(inputs)} inputs and {len(outputs)} outputs")
        recorded = {p.input_name: p for p in sidecar.profiles}
        for name, profile in self.profiles.items():
            if name in recorded and recorded[name] != profile:
                raise EngineMismatchError(f"engine {str(self.model_path)!r}: its profile ({profile.describe()}) is not "
                                          f"the one its sidecar records ({recorded[name].describe()}); rebuild it")
        self.inputs, self.outputs = inputs, outputs

    def _allocate(self) -> None:
        """Device + pinned host buffers for every I/O tensor at the profile's max shape."""
        cuda = self._cuda
        self._stream = cuda.CudaStream()
        for spec in self.inputs:
            high = self.profiles[spec.name].max
            if not self._context.set_input_shape(spec.name, high):
                raise ModelError(f"engine {str(self.model_path)!r}: TensorRT rejects the profile's max shape "
                                 f"{format_shape(high)} for {spec.name!r}")
            self._bind(spec.name, int(np.prod(high)) * spec.dtype.itemsize)
        for spec in self.outputs:
            high = _dims(self._context.get_tensor_shape(spec.name))
            if any(d < 0 for d in high):
                raise ModelError(f"engine {str(self.model_path)!r}: output {spec.name!r} has a data-dependent shape "
                                 f"{format_shape(_spec_shape(high))}, which this backend does not support")
            self._bind(spec.name, max(1, int(np.prod(high))) * spec.dtype.itemsize)

    def _bind(self, name: str, nbytes: int) -> None:
        self._device[name] = self._cuda.DeviceBuffer(nbytes)
        self._host[name] = self._cuda.PinnedHostBuffer(nbytes)
        if not self._context.set_tensor_address(name, self._device[name].ptr):
            raise BackendRuntimeError(f"engine {str(self.model_path)!r}: TensorRT rejects the address for {name!r}")

    # -- validate / run -----------------------------------------------------------------------

    def validate(self, feed: dict[str, np.ndarray]) -> None:
        """Names, dtypes, ranks (see :meth:`Backend.validate`) and the optimisation profile's range.

        Raises:
            InputMismatchError: saying what was expected and what was got.
        """
        super().validate(feed)
        for name, arr in feed.items():
            if name in self.profiles:
                check_within_profile(name, arr.shape, self.profiles[name])

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # The CUDA device is current per thread: a backend opened on one thread may run on another
        # (the webcam pipeline's inference thread), so make it current on every run (a cheap call).
        self._cuda.set_device(self.device_id)
        shape = tuple(tuple(feed[s.name].shape) for s in self.inputs)
        plan = self._graphs.plan(shape)
        if plan.shape_changed:
            try:
                self._set_shapes(feed)
            except BaseException:
                self._graphs.forget_shape()  # the next run must set the shapes again
                raise
        for spec in self.inputs:
            arr = feed[spec.name]
            np.copyto(self._host[spec.name].view(spec.dtype, arr.shape), arr, casting="no")
        action = plan.action
        if action == CAPTURE:
            action = CAPTURE if self._capture() else EAGER
        if action == EAGER:
            self._enqueue()
        else:
            self._graph.launch(self._stream)
        self._stream.synchronize()
        self._graphs.ran(action)
        self.counts[action] += 1
        return {s.name: self._host[s.name].view(s.dtype, self._out_shapes[s.name]).copy() for s in self.outputs}

    def _set_shapes(self, feed: dict[str, np.ndarray]) -> None:
        self._drop_graph()
        self._in_shapes = {}
        for spec in self.inputs:
            shape = tuple(feed[spec.name].shape)
            if not self._context.set_input_shape(spec.name, shape):
                raise InputMismatchError(f"input {spec.name!r}: TensorRT rejects shape {format_shape(shape)} "
                                         f"({self.profiles[spec.name].describe()})")
            self._in_shapes[spec.name] = shape
        self._out_shapes = {s.name: _dims(self._context.get_tensor_shape(s.name)) for s in self.outputs}

    def _enqueue(self) -> None:
        """Host-to-device copies, inference and device-to-host copies, all on the backend's stream."""
        for spec in self.inputs:
            nbytes = int(np.prod(self._in_shapes[spec.name])) * spec.dtype.itemsize
            self._stream.copy_to_device(self._device[spec.name], self._host[spec.name], nbytes)
        if not self._context.execute_async_v3(self._stream.handle):
            raise BackendRuntimeError(f"engine {str(self.model_path)!r}: execute_async_v3 failed (see TensorRT's log)")
        for spec in self.outputs:
            nbytes = max(1, int(np.prod(self._out_shapes[spec.name]))) * spec.dtype.itemsize
            self._stream.copy_to_host(self._host[spec.name], self._device[spec.name], nbytes)

    def _capture(self) -> bool:
        """Record :meth:`_enqueue` into a CUDA graph; False (and eager runs from now on) if it cannot be captured."""
        self._stream.begin_capture()
        try:
            self._enqueue()
        except (CudaError, BackendRuntimeError) as exc:
            self._stream.abort_capture()
            return self._capture_failed(str(exc))
        except BaseException:
            self._stream.abort_capture()
            raise
        try:
            self._graph = self._stream.end_capture()
        except CudaError as exc:
            return self._capture_failed(str(exc))
        return True

    def _capture_failed(self, reason: str) -> bool:
        self._graphs.capture_failed(reason)
        message = f"tensorrt: cannot capture {self.model_path.name} into a CUDA graph ({reason}); running it " \
                  "without graphs from now on"
        log.warning(message)  # also in describe()["cuda_graphs"]["disabled_reason"]
        return False

    def _drop_graph(self) -> None:
        if self._graph is not None:
            graph, self._graph = self._graph, None
            graph.destroy()

    # -- close --------------------------------------------------------------------------------

    def _close(self) -> None:
        errors: list[str] = []
        if self._stream is not None:
            try:
                self._stream.synchronize()
            except CudaError as exc:
                errors.append(str(exc))
        releases = [self._drop_graph, *(b.free for b in (*self._device.values(), *self._host.values()))]
        for release in releases:
            try:
                release()
            except CudaError as exc:
                errors.append(str(exc))
        if self._stream is not None:
            try:
                self._stream.destroy()
            except CudaError as exc:
                errors.append(str(exc))
        # TensorRT objects: the context before the engine before the runtime.
        self._context = self._engine = self._runtime = None
        self._reset_handles()
        self._graphs = CudaGraphPolicy(self.cuda_graphs)
        if errors:
            log.warning("tensorrt: errors while closing %s: %s", self.model_path, "; ".join(errors))

    def describe(self) -> dict[str, Any]:
        graphs = {"enabled": self.cuda_graphs, "runs": dict(self.counts),
                  "disabled_reason": self._graphs.disabled_reason}
        extra = dict(sidecar_summary(self.sidecar)) if self.sidecar is not None else {}
        return {**super().describe(), **extra, "providers": self.providers, "cuda_graphs": graphs}
