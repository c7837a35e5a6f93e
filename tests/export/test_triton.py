"""``impasto export-triton``: every config.pbtxt parses into Triton's own ModelConfig and matches its graph."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

from impasto.errors import UserError
from impasto.export.triton import TritonOptions, export_triton
from impasto.runtime.builtins import MODELS_DIR, builtin_paths
from impasto.runtime.tensorrt.profile import EngineProfile
from impasto.runtime.tensorrt.sidecar import EngineSidecar, sha256_bytes, write_engine_pair

KIND = model_config_pb2.ModelInstanceGroup
ORT_TO_TRITON = {"tensor(float)": model_config_pb2.TYPE_FP32}


def _parse(folder) -> model_config_pb2.ModelConfig:
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def _check_against_graph(cfg: model_config_pb2.ModelConfig, graph) -> None:
    """Names, dtypes and dims of the config == ONNX Runtime's view of the graph (batch dim left out if batching)."""
    sess = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    for declared, actual in ((cfg.input, sess.get_inputs()), (cfg.output, sess.get_outputs())):
        assert [t.name for t in declared] == [a.name for a in actual]
        for t, a in zip(declared, actual, strict=True):
            assert t.data_type == ORT_TO_TRITON[a.type]
            dims = [d if isinstance(d, int) else -1 for d in a.shape]
            assert list(t.dims) == (dims[1:] if cfg.max_batch_size > 0 else dims)


def _stylize_graph(path) -> None:
    """A tiny feed-forward-style graph: image [batch, 3, height, width] -> stylized (same dims)."""
    dims = ["batch", 3, "height", "width"]
    graph = helper.make_graph([helper.make_node("Sigmoid", ["image"], ["stylized"])], "tiny",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="impasto.method", value="feedforward")
    onnx.save(model, path)


def test_bank_and_microast_by_name_and_path(tmp_path):
    repo = tmp_path / "repo"
    models = ["starry_night", "la_muse", "bank", str(MODELS_DIR / "arbitrary/microast.onnx")]
    reports = export_triton(models, repo, TritonOptions())
    assert [r["name"] for r in reports] == ["bank", "microast"]  # a bank's styles all give the bank
    bank = _parse(repo / "bank")
    assert bank.name == "bank" and bank.platform == "onnxruntime_onnx"
    assert bank.max_batch_size == 0  # style_weights [8] has no batch dim: Triton cannot batch the bank
    assert [(t.name, list(t.dims)) for t in bank.input] == [
        ("image", [-1, 3, -1, -1]), ("style_weights", [8]), ("content_layer_weights", [1]),
        ("style_layer_weights", [4])]
    assert bank.instance_group[0].count == 1 and bank.instance_group[0].kind == KIND.KIND_AUTO
    assert not bank.HasField("dynamic_batching")
    assert (repo / "bank/1/model.onnx").read_bytes() == builtin_paths()["bank"].read_bytes()
    meta = json.loads((repo / "bank/impasto.json").read_text())
    assert [s["name"] for s in meta["impasto.styles"]][:2] == ["starry_night", "la_muse"]  # style_weights order
    for r in reports:
        _check_against_graph(_parse(repo / r["name"]), repo / r["name"] / "1/model.onnx")
    assert not [p for p in repo.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_batchable_graph_gets_batching_instances_and_dynamic_batching(tmp_path):
    graph = tmp_path / "tiny.onnx"
    _stylize_graph(graph)
    options = TritonOptions(instances=2, kind="cpu", dynamic_batching=True, preferred_batch_sizes=(2, 4),
                            max_queue_delay_us=500)
    export_triton([str(graph)], tmp_path / "repo", options)
    cfg = _parse(tmp_path / "repo/tiny")
    assert cfg.max_batch_size == 8 and list(cfg.input[0].dims) == [3, -1, -1]
    assert cfg.instance_group[0].count == 2 and cfg.instance_group[0].kind == KIND.KIND_CPU
    assert list(cfg.dynamic_batching.preferred_batch_size) == [2, 4]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 500
    _check_against_graph(cfg, tmp_path / "repo/tiny/1/model.onnx")
    # what a Triton client sends: a batch of 2 NCHW float32 images runs on the copied graph
    sess = ort.InferenceSession(str(tmp_path / "repo/tiny/1/model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"image": np.zeros((2, 3, 5, 7), np.float32)})[0].shape == (2, 3, 5, 7)


def test_refusals_leave_the_repository_untouched(tmp_path):
    repo = tmp_path / "repo"
    export_triton(["bank"], repo, TritonOptions())
    before = (repo / "bank/config.pbtxt").read_text()
    with pytest.raises(UserError, match="model folder .*bank' exists: pass --force"):
        export_triton(["bank"], repo, TritonOptions(instances=3))
    with pytest.raises(UserError, match=r"--max-batch-size 4: model 'bank' cannot batch \(its tensor 'style_weights' "
                                        r"has dims \[8\]"):
        export_triton(["bank"], repo, TritonOptions(max_batch_size=4, force=True))
    with pytest.raises(UserError, match="--dynamic-batching: model 'bank' has max_batch_size 0"):
        export_triton(["bank"], repo, TritonOptions(dynamic_batching=True, force=True))
    assert (repo / "bank/config.pbtxt").read_text() == before
    export_triton(["bank"], repo, TritonOptions(instances=3, force=True))
    assert _parse(repo / "bank").instance_group[0].count == 3


def test_engine_uses_its_sidecar(tmp_path):
    data = b"not really a TensorRT engine"
    bank_meta = {k: v for k, v in ort.InferenceSession(str(builtin_paths()["bank"]), providers=[
        "CPUExecutionProvider"]).get_modelmeta().custom_metadata_map.items() if k != "impasto.card"}
    side = EngineSidecar(
        engine_file="bank.engine", engine_sha256=sha256_bytes(data), engine_bytes=len(data),
        source_onnx={"path": "bank.onnx", "sha256": "ab" * 32}, tensorrt_version="10.9.0.34",
        gpu={"name": "NVIDIA H100", "compute_capability": "9.0"}, precision="fp16",
        profiles=(EngineProfile("image", (1, 3, 64, 64), (1, 3, 512, 512), (1, 3, 1024, 1024)),),
        onnx_metadata=bank_meta, impasto_version="0.1.0", input=json.loads(bank_meta["impasto.input"]),
        output=json.loads(bank_meta["impasto.output"]))
    write_engine_pair(tmp_path / "bank.engine", data, side)
    export_triton([str(tmp_path / "bank.engine")], tmp_path / "repo", TritonOptions())
    cfg = _parse(tmp_path / "repo/bank")
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 0
    assert [(t.name, list(t.dims)) for t in cfg.input] == [
        ("image", [1, 3, -1, -1]), ("style_weights", [8]), ("content_layer_weights", [1]),
        ("style_layer_weights", [4])]  # batch fixed by the profile (1..1), sizes dynamic
    assert cfg.instance_group[0].kind == KIND.KIND_GPU
    assert (tmp_path / "repo/bank/1/model.plan").read_bytes() == data
    with pytest.raises(UserError, match="--kind cpu: model 'bank' is a TensorRT engine"):
        export_triton([str(tmp_path / "bank.engine")], tmp_path / "repo2", TritonOptions(kind="cpu"))
