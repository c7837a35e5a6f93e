"""Import the ``tensorrt`` package on demand, with one clear error when it is missing or too old.

Convention:
    impasto targets the TensorRT 10 Python API (named I/O tensors, ``execute_async_v3``).
    The runtime accepts TensorRT >= 10; the builder needs exactly 10.x, because TensorRT
    11 removed the ``BuilderFlag.FP16``/``INT8`` and calibrator APIs it uses.
"""

from __future__ import annotations

import re
from types import ModuleType

from impasto.errors import BackendUnavailableError

TRT_INSTALL_HINT = ("pip install 'impasto[trt]' (TensorRT 10 and cuda-python; the TensorRT wheels come from "
                    "NVIDIA's package index, and need an NVIDIA GPU with its driver)")


def tensorrt_major(version: str) -> int:
    """``"10.3.0.26"`` -> 10; -1 when the version is unreadable."""
    match = re.match(r"(\d+)\.", version or "")
    return int(match.group(1)) if match else -1


def import_tensorrt(*, purpose: str = "the tensorrt backend", max_major: int | None = None) -> ModuleType:
    """Import ``tensorrt`` and check its major version.

    Args:
        purpose: what needs it, for the message (``"impasto build-engine"``).
        max_major: the newest major version supported (None: no upper bound).

    Raises:
        BackendUnavailableError: not installed, or a version outside ``[10, max_major]``;
            a one-line message that says how to install a supported one.
    """
    try:
        import tensorrt as trt
    except ImportError as exc:
        reason = f" ({exc})" if str(exc) and "No module named" not in str(exc) else ""
        raise BackendUnavailableError(f"{purpose} needs TensorRT, which is not installed{reason}: "
                                      f"{TRT_INSTALL_HINT}") from None
    version = str(getattr(trt, "__version__", ""))
    major = tensorrt_major(version)
    if major < 10 or (max_major is not None and major > max_major):
        supported = "10.x" if max_major == 10 else "10 or newer"
        raise BackendUnavailableError(f"{purpose} needs TensorRT {supported}, got {version or 'an unknown version'}: "
                                      f"pip install 'tensorrt>=10,<11'")
    return trt
