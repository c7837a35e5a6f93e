"""A small layer over cuda-python's CUDA runtime bindings: memory, one stream, CUDA graphs.

Only :mod:`impasto.runtime.tensorrt.backend` and the engine builder use it, and only when
they run: nothing imports this module at ``import impasto.runtime`` time, and this module
imports ``cuda-python`` only on first use (:func:`cudart`). No pycuda, no torch.

Every CUDA call goes through :func:`check`, which turns a failed call into a
:class:`~impasto.errors.CudaError` naming the call and the CUDA error
(``cudaMalloc failed: cudaErrorMemoryAllocation (out of memory)``).

Convention:
    Device and pinned host memory are addressed by plain integers (the pointer values
    TensorRT's ``set_tensor_address`` takes). A :class:`PinnedHostBuffer` hands out numpy
    views of its memory; a view must not be used after the buffer is freed. Every object
    here is owned by one thread; ``free()``/``destroy()`` are idempotent.

Example:
    >>> stream = CudaStream()
    >>> host, dev = PinnedHostBuffer(nbytes), DeviceBuffer(nbytes)
    >>> np.copyto(host.view(np.float32, shape), frame)
    >>> stream.copy_to_device(dev, host, nbytes); stream.synchronize()
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from impasto.errors import BackendUnavailableError, CudaError

#: How to get the bindings; the [trt] extra installs them.
CUDA_PYTHON_HINT = "pip install 'impasto[trt]' (or: pip install cuda-python)"

_CUDART: ModuleType | None = None


def cudart() -> ModuleType:
    """cuda-python's runtime module (``cuda.bindings.runtime``; ``cuda.cudart`` before 12.6).

    Raises:
        BackendUnavailableError: cuda-python is not installed.
    """
    global _CUDART
    if _CUDART is None:
        try:
            from cuda.bindings import runtime as module
        except ImportError:
            try:
                from cuda import cudart as module  # cuda-python < 12.6
            except ImportError:
                raise BackendUnavailableError(f"cuda-python is not installed: {CUDA_PYTHON_HINT}") from None
        _CUDART = module
    return _CUDART


def _error_name(rt: ModuleType, err: Any) -> tuple[str, str]:
    """``(name, description)`` of a ``cudaError_t``; the name comes from the enum itself."""
    name = getattr(err, "name", None) or str(err)
    description = ""
    try:
        status, text = rt.cudaGetErrorString(err)
        if status == rt.cudaError_t.cudaSuccess:
            description = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    except Exception:  # the description is a nicety; the name alone identifies the error
        description = ""
    return name, description


def check(call: str, result: Any, rt: ModuleType | None = None) -> Any:
    """Check one cuda-python call's result and unwrap its values.

    cuda-python returns ``(cudaError_t, value, ...)`` (or a 1-tuple with only the error).

    Args:
        call: the CUDA function's name, for the message.
        result: what the binding returned.
        rt: the runtime module (default: :func:`cudart`).

    Returns:
        ``None`` for no value, the value for one, a tuple for several.

    Raises:
        CudaError: the call failed; the message names ``call`` and the CUDA error.
    """
    rt = rt or cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != rt.cudaError_t.cudaSuccess:
        name, description = _error_name(rt, err)
        raise CudaError(call, name, description)
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class DeviceInfo:
    """The GPU an engine is built for or runs on.

    Attributes:
        index: CUDA device ordinal.
        name: marketing name as CUDA reports it, e.g. ``"NVIDIA H100 80GB HBM3"``.
        compute_capability: ``"MAJOR.MINOR"``, e.g. ``"9.0"``.
        total_memory: bytes of device memory.
    """

    index: int
    name: str
    compute_capability: str
    total_memory: int

    def describe(self) -> str:
        return f"{self.name} (compute capability {self.compute_capability})"


def set_device(index: int = 0) -> None:
    """Make ``index`` the calling thread's current CUDA device."""
    check("cudaSetDevice", cudart().cudaSetDevice(index))


def device_info(index: int = 0) -> DeviceInfo:
    """Name, compute capability and memory of CUDA device ``index``.

    Raises:
        CudaError: no driver, no such device (``cudaErrorNoDevice``, ``cudaErrorInsufficientDriver``...).
    """
    prop = check("cudaGetDeviceProperties", cudart().cudaGetDeviceProperties(index))
    raw = prop.name
    name = raw.split(b"\0", 1)[0].decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return DeviceInfo(index=index, name=name.strip(), compute_capability=f"{prop.major}.{prop.minor}",
                      total_memory=int(prop.totalGlobalMem))


class DeviceBuffer:
    """``nbytes`` of device memory (``cudaMalloc``), freed by :meth:`free`.

    Attributes:
        ptr: the device address (0 once freed).
        nbytes: the size in bytes.
    """

    def __init__(self, nbytes: int) -> None:
        if nbytes <= 0:
            raise ValueError(f"DeviceBuffer: expected a positive size, got {nbytes}")
        self.nbytes = int(nbytes)
        self.ptr = int(check("cudaMalloc", cudart().cudaMalloc(self.nbytes)))

    def free(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            check("cudaFree", cudart().cudaFree(ptr))


class PinnedHostBuffer:
    """``nbytes`` of page-locked host memory (``cudaMallocHost``) for fast async copies.

    Attributes:
        ptr: the host address (0 once freed).
        nbytes: the size in bytes.
    """

    def __init__(self, nbytes: int) -> None:
        if nbytes <= 0:
            raise ValueError(f"PinnedHostBuffer: expected a positive size, got {nbytes}")
        self.nbytes = int(nbytes)
        self.ptr = int(check("cudaMallocHost", cudart().cudaMallocHost(self.nbytes)))

    def view(self, dtype: np.dtype | type, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous numpy view of the buffer's start; valid until :meth:`free`.

        Raises:
            ValueError: the buffer is freed or too small for ``shape``.
        """
        dtype = np.dtype(dtype)
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not self.ptr:
            raise ValueError("PinnedHostBuffer: the buffer was freed")
        if need > self.nbytes:
            raise ValueError(f"PinnedHostBuffer: {tuple(shape)} {dtype.name} needs {need} bytes, "
                             f"the buffer has {self.nbytes}")
        raw = (ctypes.c_ubyte * need).from_address(self.ptr)
        return np.frombuffer(raw, dtype=dtype, count=need // dtype.itemsize).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            check("cudaFreeHost", cudart().cudaFreeHost(ptr))


class CudaGraph:
    """An instantiated CUDA graph (``cudaGraphExec_t``) captured from a :class:`CudaStream`."""

    def __init__(self, graph_exec: Any) -> None:
        self._exec = graph_exec

    def launch(self, stream: CudaStream) -> None:
        """Replay the captured work on ``stream`` (asynchronously)."""
        if self._exec is None:
            raise ValueError("CudaGraph: the graph was destroyed")
        check("cudaGraphLaunch", cudart().cudaGraphLaunch(self._exec, stream.raw))

    def destroy(self) -> None:
        if self._exec is not None:
            graph_exec, self._exec = self._exec, None
            check("cudaGraphExecDestroy", cudart().cudaGraphExecDestroy(graph_exec))


class CudaStream:
    """A non-blocking CUDA stream owned by its creator, with async copies and graph capture.

    Attributes:
        handle: the stream as an integer (what TensorRT's ``execute_async_v3`` takes).
    """

    def __init__(self) -> None:
        rt = cudart()
        self.raw = check("cudaStreamCreateWithFlags", rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking))
        self.handle = int(self.raw)

    def copy_to_device(self, dst: DeviceBuffer, src: PinnedHostBuffer, nbytes: int) -> None:
        """Enqueue a host-to-device copy of ``nbytes`` from the start of ``src``."""
        _check_size("copy_to_device", nbytes, dst.nbytes, src.nbytes)
        rt = cudart()
        check("cudaMemcpyAsync", rt.cudaMemcpyAsync(dst.ptr, src.ptr, nbytes,
                                                    rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.raw))

    def copy_to_host(self, dst: PinnedHostBuffer, src: DeviceBuffer, nbytes: int) -> None:
        """Enqueue a device-to-host copy of ``nbytes`` from the start of ``src``."""
        _check_size("copy_to_host", nbytes, dst.nbytes, src.nbytes)
        rt = cudart()
        check("cudaMemcpyAsync", rt.cudaMemcpyAsync(dst.ptr, src.ptr, nbytes,
                                                    rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.raw))

    def synchronize(self) -> None:
        """Wait for everything enqueued so far; raises the first asynchronous error as :class:`CudaError`."""
        check("cudaStreamSynchronize", cudart().cudaStreamSynchronize(self.raw))

    def begin_capture(self) -> None:
        """Start recording this stream's work into a CUDA graph (thread-local capture mode)."""
        rt = cudart()
        check("cudaStreamBeginCapture",
              rt.cudaStreamBeginCapture(self.raw, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))

    def end_capture(self) -> CudaGraph:
        """Stop recording and instantiate what was recorded.

        Raises:
            CudaError: the capture was invalidated (e.g. an operation that cannot be
                captured) or the graph cannot be instantiated. The stream is out of
                capture mode either way.
        """
        rt = cudart()
        graph = check("cudaStreamEndCapture", rt.cudaStreamEndCapture(self.raw))
        try:
            graph_exec = check("cudaGraphInstantiate", rt.cudaGraphInstantiate(graph, 0))
        finally:
            check("cudaGraphDestroy", rt.cudaGraphDestroy(graph))  # the executable graph is independent of it
        return CudaGraph(graph_exec)

    def abort_capture(self) -> None:
        """Leave capture mode after a failure, dropping whatever was recorded; never raises."""
        rt = cudart()
        try:
            err, graph = rt.cudaStreamEndCapture(self.raw)
            if err == rt.cudaError_t.cudaSuccess and graph is not None:
                rt.cudaGraphDestroy(graph)
            rt.cudaGetLastError()  # clear the (non-sticky) capture error
        except Exception:
            pass

    def destroy(self) -> None:
        if self.raw is not None:
            raw, self.raw = self.raw, None
            check("cudaStreamDestroy", cudart().cudaStreamDestroy(raw))


def _check_size(what: str, nbytes: int, *capacities: int) -> None:
    if nbytes <= 0 or any(nbytes > c for c in capacities):
        raise ValueError(f"{what}: {nbytes} bytes does not fit buffers of {list(capacities)} bytes")
