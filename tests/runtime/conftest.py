"""Fixtures of the runtime tests: hand-built ONNX graphs (onnx.helper, no torch, no exporter)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def write_identity_graph(path: Path, inputs: int = 1, metadata: dict[str, str] | None = None) -> Path:
    """``y = x0``: float32 ``Nx3xHxW`` inputs ``x0, x1, ...`` (all but ``x0`` unused), ``metadata_props`` as given."""
    import onnx
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, ["n", 3, "h", "w"]) for i in range(inputs)]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x0"], ["y"])], "g", ins, [out]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def identity_graph() -> Callable[..., Path]:
    """:func:`write_identity_graph`: ``identity_graph(path, inputs=1, metadata=None)``."""
    return write_identity_graph
