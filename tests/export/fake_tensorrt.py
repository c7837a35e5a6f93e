"""A minimal stand-in for the ``tensorrt`` module and the CUDA layer: the builder's control flow only.

It builds nothing. ``Builder.build_serialized_network`` returns fixed bytes
(:data:`FAKE_ENGINE`), the parser only reports what it is told to, and the CUDA buffers
are numpy arrays. Tests that use it exercise impasto's own logic around TensorRT (error
reporting, flags, profile, timing cache, calibration plumbing, sidecar and atomic
writes), never TensorRT itself; their names say ``fake_trt``. Real builds are the
``@pytest.mark.tensorrt`` / ``@pytest.mark.gpu`` tests.

Tests load it by path (they run with ``--import-mode=importlib``).
"""

from __future__ import annotations

import enum
import sys
import types
from typing import Any

import numpy as np

FAKE_ENGINE = b"FAKE-ENGINE-BYTES: not a TensorRT engine"
FAKE_TABLE = b"FAKE-CALIBRATION-TABLE"


class Severity(enum.Enum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class BuilderFlag(enum.Enum):
    FP16 = 0
    INT8 = 1


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0


class ErrorCode(enum.Enum):
    INVALID_NODE = 6
    UNSUPPORTED_NODE = 8


class ParserError:
    def __init__(self, node: int, desc: str, code: ErrorCode = ErrorCode.UNSUPPORTED_NODE, name: str = "",
                 op: str = "") -> None:
        self._node, self._desc, self._code, self._name, self._op = node, desc, code, name, op

    def node(self) -> int:
        return self._node

    def desc(self) -> str:
        return self._desc

    def code(self) -> ErrorCode:
        return self._code

    def node_name(self) -> str:
        return self._name

    def node_operator(self) -> str:
        return self._op


def make_module(record: types.SimpleNamespace, *, version: str = "10.9.0.34", fast_fp16: bool = True,
                fast_int8: bool = True, parse_ok: bool = True, parser_errors: tuple[ParserError, ...] = (),
                engine: bytes | None = FAKE_ENGINE, inputs: tuple[tuple[str, tuple[int, ...]], ...] = (
                    ("image", (-1, 3, -1, -1)),),
                rejected_cache: bytes | None = None, build_log_errors: tuple[str, ...] = ()) -> types.ModuleType:
    """A fake ``tensorrt`` module; ``record`` collects what impasto asked of it."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.BuilderFlag, trt.MemoryPoolType, trt.ErrorCode = BuilderFlag, MemoryPoolType, ErrorCode
    record.flags, record.pool_limits, record.profiles, record.cache_loaded = [], {}, [], None
    record.parsed_path, record.calibration_batches, record.calibration_profile = None, [], None

    class ILogger:
        Severity = Severity

        def __init__(self) -> None:
            pass

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self) -> None:
            self.tensors = [Tensor(n, s) for n, s in inputs]
            self.num_inputs = len(self.tensors)

        def get_input(self, i: int) -> Tensor:
            return self.tensors[i]

    class OnnxParser:
        def __init__(self, network: Network, logger: ILogger) -> None:
            self.num_errors = 0

        def parse_from_file(self, path: str) -> bool:
            record.parsed_path = path
            self.num_errors = len(parser_errors)
            return parse_ok

        def get_error(self, i: int) -> ParserError:
            return parser_errors[i]

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return self.data + b"|tuned"

    class Profile:
        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            record.profiles.append((name, tuple(low), tuple(opt), tuple(high)))

    class BuilderConfig:
        def __init__(self) -> None:
            self.cache: TimingCache | None = None
            self.int8_calibrator = None

        def set_flag(self, flag: BuilderFlag) -> None:
            record.flags.append(flag.name)

        def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
            record.pool_limits[pool.name] = size

        def add_optimization_profile(self, profile: Profile) -> int:
            return 0

        def set_calibration_profile(self, profile: Profile) -> bool:
            record.calibration_profile = profile
            return True

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if rejected_cache is not None and cache.data == rejected_cache:
                return False
            self.cache = cache
            record.cache_loaded = cache.data
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.cache

    class Builder:
        platform_has_fast_fp16 = fast_fp16
        platform_has_fast_int8 = fast_int8

        def __init__(self, logger: ILogger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            return Network()

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            for msg in build_log_errors:
                self.logger.log(Severity.ERROR, msg)
            calibrator = config.int8_calibrator
            if calibrator is not None and calibrator.read_calibration_cache() is None:
                while (ptrs := calibrator.get_batch(["image"])) is not None:
                    record.calibration_batches.append(FakeDeviceBuffer.live[ptrs[0]].data.copy())
                calibrator.write_calibration_cache(FAKE_TABLE)
            return engine

    trt.ILogger, trt.IInt8EntropyCalibrator2, trt.OnnxParser, trt.Builder = (
        ILogger, IInt8EntropyCalibrator2, OnnxParser, Builder)
    return trt


class FakeDeviceBuffer:
    """Device memory as a numpy array (what the calibrator copied in)."""

    live: dict[int, FakeDeviceBuffer] = {}

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.data = np.zeros(nbytes, np.uint8)
        self.ptr = id(self)
        FakeDeviceBuffer.live[self.ptr] = self

    def free(self) -> None:
        FakeDeviceBuffer.live.pop(self.ptr, None)
        self.ptr = 0


class FakePinnedHostBuffer:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.data = np.zeros(nbytes, np.uint8)
        self.ptr = 1

    def view(self, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        dtype = np.dtype(dtype)
        return self.data[: int(np.prod(shape)) * dtype.itemsize].view(dtype).reshape(shape)

    def free(self) -> None:
        self.ptr = 0


class FakeStream:
    def __init__(self) -> None:
        self.handle = 7

    def copy_to_device(self, dst: FakeDeviceBuffer, src: FakePinnedHostBuffer, nbytes: int) -> None:
        dst.data[:nbytes] = src.data[:nbytes]

    def synchronize(self) -> None:
        pass

    def destroy(self) -> None:
        pass


def install(monkeypatch: Any, device_name: str = "Fake GPU", compute_capability: str = "8.9",
            **options: Any) -> types.SimpleNamespace:
    """Put a fake ``tensorrt`` in ``sys.modules`` and fake CUDA calls in :mod:`impasto.runtime.tensorrt.cuda_mem`."""
    from impasto.runtime.tensorrt import cuda_mem

    record = types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "tensorrt", make_module(record, **options))
    device = cuda_mem.DeviceInfo(0, device_name, compute_capability, 1 << 30)
    monkeypatch.setattr(cuda_mem, "set_device", lambda index=0: None)
    monkeypatch.setattr(cuda_mem, "device_info", lambda index=0: device)
    monkeypatch.setattr(cuda_mem, "DeviceBuffer", FakeDeviceBuffer)
    monkeypatch.setattr(cuda_mem, "PinnedHostBuffer", FakePinnedHostBuffer)
    monkeypatch.setattr(cuda_mem, "CudaStream", FakeStream)
    record.device = device
    return record
