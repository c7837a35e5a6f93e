"""Custom ops for geometric style transfer: 4D correlation (Learning to Warp) and TPS warp.

Each op has a pure-PyTorch reference (:mod:`impasto.ops.reference`: the test oracle, the
fallback when ``impasto._C`` is not built, and the ONNX export path) and C++/CUDA kernels
in ``cpp_ext/`` registered as ``torch.ops.impasto.*`` (see ``docs/cpp-ext.md``).
"""

from impasto.ops.extension import extension_available, extension_has_cuda, require_extension
from impasto.ops.functions import (
    DEFAULT_TEMPERATURE,
    correlation4d,
    local_correlation,
    tps_grid,
    tps_warp,
    window_softmax,
)
from impasto.ops.validate import OpInputError

__all__ = [
    "DEFAULT_TEMPERATURE",
    "OpInputError",
    "correlation4d",
    "extension_available",
    "extension_has_cuda",
    "local_correlation",
    "require_extension",
    "tps_grid",
    "tps_warp",
    "window_softmax",
]
