"""The torch-free warp runtime on a hand-built ONNX graph (no exporter, no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from impasto.errors import ImageError, ModelError

ROOT = Path(__file__).resolve().parents[2]


def write_shift_graph(path: Path, shift_x: float = 0.0, method: str = "warpnet") -> Path:
    """A stand-in warp graph: field = a constant x offset, warped = GridSample(content, identity + field)."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Shape", ["content"], ["shape"]),
        helper.make_node("Slice", ["shape", "i2", "i4"], ["hw"]),
        helper.make_node("Concat", ["i1", "i2v", "hw"], ["fshape"], axis=0),
        helper.make_node("Expand", ["offset", "fshape"], ["field"]),  # [1, 2, H, W]
        helper.make_node("Concat", ["i1", "i3v", "hw"], ["size4"], axis=0),
        helper.make_node("AffineGrid", ["theta", "size4"], ["base"], align_corners=0),  # identity grid
        helper.make_node("Transpose", ["field"], ["field_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Add", ["base", "field_t"], ["grid"]),
        helper.make_node("GridSample", ["content", "grid"], ["warped"], align_corners=0, mode="linear",
                         padding_mode="zeros"),
    ]
    inits = [
        helper.make_tensor("i1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("i2", TensorProto.INT64, [1], [2]),
        helper.make_tensor("i4", TensorProto.INT64, [1], [4]),
        helper.make_tensor("i2v", TensorProto.INT64, [1], [2]),
        helper.make_tensor("i3v", TensorProto.INT64, [1], [3]),
        helper.make_tensor("offset", TensorProto.FLOAT, [1, 2, 1, 1], [shift_x, 0.0]),
        helper.make_tensor("theta", TensorProto.FLOAT, [1, 2, 3], [1, 0, 0, 0, 1, 0]),
    ]
    graph = helper.make_graph(
        nodes, "shift",
        [helper.make_tensor_value_info("content", TensorProto.FLOAT, [1, 3, "height", "width"]),
         helper.make_tensor_value_info("guide", TensorProto.FLOAT, [1, 3, "guide_height", "guide_width"])],
        [helper.make_tensor_value_info("field", TensorProto.FLOAT, [1, 2, "height", "width"]),
         helper.make_tensor_value_info("warped", TensorProto.FLOAT, [1, 3, "height", "width"])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    for k, v in {"impasto.method": method, "impasto.warpnet": json.dumps({"size": 32, "min_side": 16})}.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def shift_graph(tmp_path_factory) -> Path:
    return write_shift_graph(tmp_path_factory.mktemp("warp") / "shift.onnx", shift_x=0.25)


def test_warper_runs_and_reports(shift_graph):
    from impasto.runtime.pipelines.warp import Warper

    content = np.zeros((40, 64, 3), np.uint8)
    content[:, 40:44] = 255  # a vertical bar at x = 40..43
    guide = np.full((70, 50, 3), 128, np.uint8)
    with Warper.load(shift_graph) as warper:
        res = warper.run(content, guide)
        assert warper.size == 32 and warper.describe()["method"] == "warpnet"
    assert res["warped"].shape == content.shape and res["field"].shape == (40, 64, 2)
    np.testing.assert_allclose(res["field"][..., 0], 0.25)
    # a field of +0.25 in x (8 px at width 64): output(p) = content(p + 8); the bar moves to x = 32..35
    assert res["warped"][20, 33].min() > 200 and res["warped"][20, 41].max() < 50
    assert set(res["seconds"]) == {"prepare", "graph", "total"}


def test_warper_refusals(tmp_path, shift_graph):
    from impasto.runtime.pipelines.warp import Warper

    with pytest.raises(ModelError, match="no such file"):
        Warper.load(tmp_path / "missing.onnx")
    other = write_shift_graph(tmp_path / "other.onnx", method="photowct")
    with pytest.raises(ModelError, match="expected a warpnet graph"):
        Warper.load(other)
    with Warper.load(shift_graph) as warper, pytest.raises(ImageError, match="too small"):
        warper.run(np.zeros((8, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8))


def test_runtime_warp_does_not_import_torch(shift_graph):
    code = ("import sys, numpy as np\n"
            "from impasto.runtime.pipelines.warp import Warper\n"
            f"w = Warper.load({str(shift_graph)!r})\n"
            "assert w(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)).shape == (32, 32, 3)\n"
            "assert 'torch' not in sys.modules\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
