"""A graph that fails while running gives one typed line (BackendRuntimeError), not ONNX Runtime's own exception.

On main at 973f7ac ONNX Runtime's untyped error (with its own multi-line message)
escaped the backend, and the CLI printed a traceback.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from impasto.errors import BackendRuntimeError  # noqa: E402
from impasto.runtime.backends.ort import OrtBackend  # noqa: E402


def _reshape_to_4x4(path) -> None:
    """image (1, 3, H, W) -> Reshape to (1, 3, 4, 4): valid for 4x4 inputs only, a run-time failure otherwise."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [1, 3, 4, 4])
    node = helper.make_node("Reshape", ["image", "shape"], ["stylized"])
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    out = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph([node], "g", [image], [out], [shape])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_a_run_time_failure_is_one_typed_line(tmp_path, capfd):
    path = tmp_path / "reshape.onnx"
    _reshape_to_4x4(path)
    backend = OrtBackend(path)
    backend.open()
    try:
        ok = backend.run({"image": np.zeros((1, 3, 4, 4), np.float32)})
        assert ok["stylized"].shape == (1, 3, 4, 4)
        with pytest.raises(BackendRuntimeError) as info:
            backend.run({"image": np.zeros((1, 3, 8, 8), np.float32)})
    finally:
        backend.close()
    assert "onnxruntime" not in capfd.readouterr().err  # ONNX Runtime's own coloured log line is not printed
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model 'reshape.onnx': ONNX Runtime failed on image [1, 3, 8, 8]: ")
