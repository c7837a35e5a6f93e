"""OrtBackend lifecycle: open, inspect, validate (typed errors), run, close."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from impasto.errors import BackendUnavailableError, InputMismatchError, ModelError
from impasto.runtime.backends.base import TensorSpec
from impasto.runtime.backends.ort import OrtBackend


def _add_model(path, fixed_hw: bool = False) -> None:
    """out = a + b, with a float32 Nx3xHxW input and an int64 vector of length 2."""
    dims = ["n", 3, 4, 5] if fixed_hw else ["n", 3, "h", "w"]
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, dims)
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [2])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, dims)
    graph = helper.make_graph([helper.make_node("Add", ["a", "a"], ["out"]),
                               helper.make_node("Identity", ["k"], ["k_out"])], "g", [a, k],
                              [out, helper.make_tensor_value_info("k_out", TensorProto.INT64, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "impasto.method", "test"
    onnx.save(model, path)


@pytest.fixture
def add_model(tmp_path):
    p = tmp_path / "add.onnx"
    _add_model(p)
    return p


def _feed(h=4, w=5):
    return {"a": np.ones((1, 3, h, w), np.float32), "k": np.array([1, 2], np.int64)}


def test_lifecycle_and_inspection(add_model):
    backend = OrtBackend(add_model)
    assert not backend.is_open
    with pytest.raises(ModelError, match=r"run\(\) before open\(\)"):
        backend.run(_feed())
    with backend as b:
        assert b.is_open and b.providers == ["CPUExecutionProvider"]
        assert [s.name for s in b.inputs] == ["a", "k"]
        assert b.inputs[0] == TensorSpec("a", np.dtype(np.float32), ("n", 3, "h", "w"))
        assert b.inputs[1].dtype == np.int64
        assert b.metadata["impasto.method"] == "test"
        out = b.run(_feed(7, 9))
        assert out["out"].shape == (1, 3, 7, 9) and (out["out"] == 2).all()
        assert b.describe()["inputs"] == ["a: float32[?x3x?x?]", "k: int64[2]"]
    assert not backend.is_open


@pytest.mark.parametrize("feed, match", [
    ({"a": np.ones((1, 3, 4, 5), np.float32)}, r"expected \['a', 'k'\], got \['a'\]"),
    ({"a": np.ones((1, 3, 4, 5), np.float64), "k": np.array([1, 2])}, "expected dtype float32, got float64"),
    ({"a": np.ones((3, 4, 5), np.float32), "k": np.array([1, 2])}, r"expected 4 dims .* got shape \(3, 4, 5\)"),
    ({"a": np.ones((1, 4, 4, 5), np.float32), "k": np.array([1, 2])}, r"dim 1 must be 3"),
    ({"a": np.ones((1, 3, 0, 5), np.float32), "k": np.array([1, 2])}, "non-empty"),
    ({"a": np.ones((1, 3, 4, 5), np.float32), "k": np.array([1, 2, 3])}, "dim 0 must be 2"),
    ({"a": [[1.0]], "k": np.array([1, 2])}, "numpy array, got list"),
])
def test_validate_says_what_was_expected_and_got(add_model, feed, match):
    with OrtBackend(add_model) as b, pytest.raises(InputMismatchError, match=match):
        b.run(feed)


def test_fixed_dims_are_enforced(tmp_path):
    p = tmp_path / "fixed.onnx"
    _add_model(p, fixed_hw=True)
    with OrtBackend(p) as b:
        b.validate(_feed(4, 5))
        with pytest.raises(InputMismatchError, match="dim 2 must be 4"):
            b.validate(_feed(6, 5))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        OrtBackend(tmp_path / "nope.onnx").open()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="ONNX Runtime cannot load it"):
        OrtBackend(bad).open()


def test_unavailable_provider_is_an_error_not_a_fallback(add_model):
    with pytest.raises(BackendUnavailableError, match="NoSuchExecutionProvider"):
        OrtBackend(add_model, ["NoSuchExecutionProvider", "CPUExecutionProvider"]).open()


def test_run_can_ask_for_some_outputs(tmp_path):
    """``run(feed, outputs)``: only those outputs, the same values; an unknown name is one clear error."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("relu", "neg")]
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["relu"]), helper.make_node("Neg", ["x"], ["neg"])],
                          "g", [x], outs)
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    feed = {"x": np.array([-1.0, 2.0], np.float32)}
    with OrtBackend(path) as b:
        both = b.run(feed)
        some = b.run(feed, ["neg"])
        assert list(some) == ["neg"] and np.array_equal(some["neg"], both["neg"])
        with pytest.raises(InputMismatchError, match="expected names from .*got \\['nope'\\]"):
            b.run(feed, ["nope"])
