"""Export trained checkpoints to deployable graphs (needs the ``[train]`` extra).

Importing this package is light: torch, onnx and onnxruntime are imported only when an
export actually runs. :mod:`impasto.export.pipeline` holds the one pipeline every method
goes through; :mod:`impasto.export.methods` one small module per method.

Convention:
    An exported model is a single ONNX file whose graph follows its contract
    (:mod:`impasto.contracts`) and whose ``metadata_props`` carry the ``impasto.*`` model
    card; nothing is written unless it passes ``onnx.checker``, the contract's I/O check
    and the parity check against PyTorch.

Example:
    >>> from impasto.export import export_checkpoint
    >>> report = export_checkpoint("runs/starry_night.pt", "starry_night.onnx")
    >>> [p["max_abs_error"] for p in report["parity"]]  # each <= 1e-4
"""

from impasto.export.methods.wct import export_wct
from impasto.export.pipeline import ExportPlan, export_checkpoint, export_plan

__all__ = ["ExportPlan", "export_checkpoint", "export_plan", "export_wct"]
