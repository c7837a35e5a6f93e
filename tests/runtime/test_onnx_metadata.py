"""Reading ``metadata_props`` straight from the ONNX file: the same map as ONNX Runtime's, one-line errors."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from impasto.errors import ModelError
from impasto.runtime.builtins import MODELS_DIR
from impasto.runtime.onnx_metadata import read_onnx_metadata


def _ort_metadata(path) -> dict[str, str]:
    return dict(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
                .custom_metadata_map)


def _model(path, meta: list[tuple[str, str]]) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in meta:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


@pytest.mark.parametrize("path", sorted(p.relative_to(MODELS_DIR).as_posix() for p in MODELS_DIR.rglob("*.onnx")))
def test_shipped_graphs_read_the_same_as_onnx_runtime(path):
    meta = read_onnx_metadata(MODELS_DIR / path)
    assert meta and meta == _ort_metadata(MODELS_DIR / path)


def test_unicode_repeated_keys_and_empty_values(tmp_path):
    p = tmp_path / "m.onnx"
    _model(p, [("impasto.a", "é ✓ 画"), ("impasto.b", ""), ("impasto.a", "later wins"), ("k" * 300, "v" * 70000)])
    meta = read_onnx_metadata(p)
    assert meta == _ort_metadata(p)
    assert meta["impasto.a"] == "later wins" and meta["impasto.b"] == "" and meta["k" * 300] == "v" * 70000


def test_a_model_without_metadata_is_an_empty_map(tmp_path):
    p = tmp_path / "m.onnx"
    _model(p, [])
    assert read_onnx_metadata(p) == {}


@pytest.mark.parametrize("content", [b"not protobuf", b"", b"\x08\x08", b"\x08\x08\x3a\xff\xff\x03abc",
                                     b"\x72\x05\x0a\x03abc"])
def test_anything_else_is_a_one_line_model_error(tmp_path, content):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(ModelError, match="cannot load it as an ONNX model") as info:
        read_onnx_metadata(p)
    assert "\n" not in str(info.value) and str(p) in str(info.value)


def test_a_truncated_model_is_refused(tmp_path):
    p = tmp_path / "m.onnx"
    _model(p, [("impasto.method", "x")])
    data = p.read_bytes()
    p.write_bytes(data[:-3])
    with pytest.raises(ModelError, match="cannot load it as an ONNX model"):
        read_onnx_metadata(p)


def test_a_missing_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read it"):
        read_onnx_metadata(tmp_path / "nope.onnx")
