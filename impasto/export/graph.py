"""ONNX graph helpers shared by every export: metadata, fp16, checks, the session and the atomic write.

Convention:
    Helpers take and return ``onnx.ModelProto`` (changed in place where they return
    None) and raise :class:`~impasto.errors.ExportError` with one-line messages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from impasto.errors import ExportError, UserError
from impasto.runtime.io.atomic import atomic_write_bytes

if TYPE_CHECKING:
    import onnx
    import onnxruntime

PROVIDERS = ["CPUExecutionProvider"]


def one_line(exc: BaseException | str, limit: int | None = None) -> str:
    """An exception's message squashed onto one line (cut to ``limit`` characters)."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:limit]


def failure(exc: BaseException) -> str:
    """``"TypeName: message"`` on one line, cut to 300 characters (for exporter failures)."""
    return f"{type(exc).__name__}: {one_line(exc, 300)}"


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Keep exporter chatter off stdout (``--json`` output must stay clean) and tame its logs and warnings."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            for category in (FutureWarning, DeprecationWarning, UserWarning):
                warnings.simplefilter("ignore", category)
            yield
    finally:
        logger.setLevel(level)


def strip_debug_metadata(model: onnx.ModelProto) -> None:
    """Drop the dynamo exporter's per-value debug metadata (FX node text, stack traces).

    It is noise in a shipped model (~80 KB on a small network) that no runtime reads; the
    model-level ``metadata_props`` (impasto's cards) are not touched.
    """
    g = model.graph
    for item in (*g.node, *g.input, *g.output, *g.value_info, *g.initializer):
        if hasattr(item, "metadata_props"):
            del item.metadata_props[:]


def opset_of(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def set_metadata(model: onnx.ModelProto, entries: dict[str, str]) -> None:
    """Set (or replace) ``metadata_props`` entries."""
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for key, value in [*keep, *entries.items()]:
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value


def check_model(model: onnx.ModelProto | str, what: str = "exported graph") -> None:
    """``onnx.checker`` with ``full_check=True`` on a model or a file."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"export: the {what} fails onnx.checker: {one_line(exc, 300)}") from None


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weights and activations to float16; I/O stays float32 (casts inside the graph)."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise UserError("--fp16: needs the onnxconverter-common package: pip install onnxconverter-common") from None
    with warnings.catch_warnings():
        # "the float32 number 6e-08 will be truncated to 1e-07": tiny weights clamped to the
        # fp16-safe range; the parity check judges the effect on the output.
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        return float16.convert_float_to_float16(model, keep_io_types=True)


def fp16_weights(model: onnx.ModelProto, min_elements: int = 1024) -> onnx.ModelProto:
    """Store large float32 initializers as float16, cast back to float32 inside the graph (compute stays fp32)."""
    import onnx
    from onnx import helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr, name + "__fp16"))
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], to=onnx.TensorProto.FLOAT,
                                      name=f"cast_fp16_{name}"))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)
    return model


def session(model: bytes | str | os.PathLike) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session of a serialised model, or of a file (external data resolves beside it)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), so, providers=PROVIDERS)
    except Exception as exc:
        raise ExportError(f"export: ONNX Runtime cannot load the exported graph: {one_line(exc, 300)}") from None


def atomic_write_checked(path: Path, data: bytes) -> None:
    """Check the serialised model with ``onnx.checker`` once more, then write it atomically (temporary file, rename)."""
    import onnx

    check_model(onnx.load_from_string(data), "serialised model")
    atomic_write_bytes(path, data)
