"""Export trained checkpoints to deployable graphs (needs the ``[train]`` extra).

Importing this package is light: torch, onnx and onnxruntime are imported only when an
export actually runs.

Convention:
    An exported model is a single ONNX file whose graph follows the runtime's
    convention (input ``"image"``, output ``"stylized"``, float32 NCHW RGB in ``[0, 1]``,
    dynamic batch/height/width) and whose ``metadata_props`` carry the ``impasto.*``
    model card. See :mod:`impasto.export.onnx_export`.

Example:
    >>> from impasto.export import export_onnx
    >>> report = export_onnx("runs/starry_night.pt", "starry_night.onnx")
    >>> [p["max_abs_error"] for p in report["parity"]]  # each <= 1e-4
"""

from impasto.export.onnx_export import (
    DEFAULT_OPSET,
    DEFAULT_PARITY_SIZES,
    FP16_ATOL,
    FP16_MIN_PSNR_DB,
    FP32_ATOL,
    INPUT_NAME,
    OUTPUT_NAME,
    export_onnx,
)

__all__ = ["DEFAULT_OPSET", "DEFAULT_PARITY_SIZES", "FP16_ATOL", "FP16_MIN_PSNR_DB", "FP32_ATOL", "INPUT_NAME",
           "OUTPUT_NAME", "export_onnx"]
