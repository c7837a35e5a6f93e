"""Find the compiled extension ``impasto._C`` and decide, per call, kernel or reference.

The kernels (``torch.ops.impasto.*``) are used when ``impasto._C`` is built and the inputs
suit them (float32/float64 on CPU, or on CUDA in a CUDA build) and the call is not being
traced for export (ONNX, ``torch.export``, ``torch.compile``), which always takes the
pure-PyTorch reference. When the extension is not built the reference is used and this
is logged once (logger ``impasto.ops``); both paths compute the same formula in the
input's dtype, so the fallback never changes precision.

Set ``IMPASTO_REQUIRE_EXT=1`` to turn "extension not built" into an error (CI does, so the
kernel tests can never silently skip).
"""

from __future__ import annotations

import functools
import logging
import os

import torch

from impasto.errors import BackendUnavailableError
from impasto.ops.reference import exporting

log = logging.getLogger("impasto.ops")

#: Environment variable that makes a missing extension an error instead of a fallback.
REQUIRE_ENV = "IMPASTO_REQUIRE_EXT"


@functools.lru_cache(maxsize=1)
def _load() -> tuple[bool, str]:
    """Import ``impasto._C`` once; returns ``(loaded, reason_if_not)``."""
    try:
        import impasto._C  # noqa: F401  (registers torch.ops.impasto.*)
    except ImportError as exc:
        return False, f"impasto._C is not built ({exc}); build it with `make ext`"
    return True, ""


def extension_available() -> bool:
    """Whether ``impasto._C`` is built and importable (``torch.ops.impasto.*`` registered)."""
    return _load()[0]


def extension_has_cuda() -> bool:
    """Whether the built extension has CUDA kernels (False when it is not built)."""
    return extension_available() and bool(torch.ops.impasto._built_with_cuda())


def require_extension() -> None:
    """Raise unless the extension is built.

    Raises:
        BackendUnavailableError: naming why ``impasto._C`` could not be imported.
    """
    loaded, reason = _load()
    if not loaded:
        raise BackendUnavailableError(f"expected the compiled ops extension, got none: {reason}")


@functools.lru_cache(maxsize=1)
def _log_fallback_once(reason: str) -> None:
    log.warning("impasto.ops: using the pure-PyTorch reference ops: %s", reason)


def use_kernel(*tensors: torch.Tensor) -> bool:
    """Decide whether a call on ``tensors`` runs the compiled kernel (True) or the reference (False).

    Raises:
        BackendUnavailableError: when ``IMPASTO_REQUIRE_EXT=1`` and the extension is not built.
    """
    if exporting() or torch.compiler.is_compiling():
        return False
    loaded, reason = _load()
    if not loaded:
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            require_extension()
        _log_fallback_once(reason)
        return False
    device = tensors[0].device.type
    if device == "cpu":
        return True
    if device == "cuda" and extension_has_cuda():
        return True
    _log_fallback_once(f"no compiled kernel for device {device!r} in this build")
    return False
