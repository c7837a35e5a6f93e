"""The shared export steps on hand-built graphs (no exporter run): the contract I/O check, options, shapes, metadata.

Also the CLI's dispatch on a checkpoint's spec and its text reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import impasto
from impasto.cli.export import format_report
from impasto.cli.main import main
from impasto.contracts import BANK, MULTISCALE, STYLIZE, WARP, GraphContract
from impasto.errors import ExportError, UserError
from impasto.export.parity import expected_shapes
from impasto.export.pipeline import ExportPlan, check_io, check_options, stamp_metadata
from impasto.models.registry import get_spec


def _model(inputs, outputs) -> onnx.ModelProto:
    """A graph with these ``(name, dtype, dims)`` inputs and outputs (the nodes do not matter to the check)."""
    ins = [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs]
    outs = [helper.make_tensor_value_info(n, t, d) for n, t, d in outputs]
    nodes = [helper.make_node("Identity", [inputs[0][0]], [o[0]]) for o in outputs]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs))


def _dims(vi) -> list:
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


IMAGE = ["batch", 3, "height", "width"]


def test_io_check_names_the_outputs_symbolic_dims():
    model = _model([("image", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.FLOAT, ["s0", 3, "s1", "s2"])])
    check_io(model, STYLIZE, {})
    assert _dims(model.graph.output[0]) == IMAGE


@pytest.mark.parametrize(("inputs", "outputs"), [
    ([("img", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.FLOAT, IMAGE)]),  # input name
    ([("image", TensorProto.FLOAT16, IMAGE)], [("stylized", TensorProto.FLOAT, IMAGE)]),  # input dtype
    ([("image", TensorProto.FLOAT, [1, 3, "height", "width"])], [("stylized", TensorProto.FLOAT, IMAGE)]),  # batch 1
    ([("image", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.FLOAT, [2, 3, "h", "w"])]),  # output batch 2
    ([("image", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.FLOAT, ["b", 4, "h", "w"])]),  # channels
    ([("image", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.FLOAT, ["b", 3, "h"])]),  # rank
    ([("image", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.INT64, IMAGE)]),  # output dtype
    ([("image", TensorProto.FLOAT, IMAGE)], []),  # no output
])
def test_io_check_refuses_what_the_contract_does_not_allow(inputs, outputs):
    with pytest.raises(ExportError, match="expected graph (inputs|outputs)"):
        check_io(_model(inputs, outputs), STYLIZE, {})


def test_io_check_binds_the_bank_vector_lengths():
    lengths = {"styles": 3, "content_layers": 1, "style_layers": 4}
    inputs = [("image", TensorProto.FLOAT, IMAGE), *((t.name, TensorProto.FLOAT, [n]) for t, n in
                                                    zip(BANK.inputs[1:], lengths.values()))]
    model = _model(inputs, [("stylized", TensorProto.FLOAT, IMAGE)])
    check_io(model, BANK, lengths)
    with pytest.raises(ExportError, match="style_layer_weights"):
        check_io(model, BANK, {**lengths, "style_layers": 5})


def test_expected_shapes_bind_feeds_and_derived_dims():
    feed = {"image": np.zeros((2, 3, 37, 53), np.float32)}
    assert expected_shapes(MULTISCALE, feed, {}) == [(2, 3, 10, 14), (2, 3, 19, 27), (2, 3, 37, 53)]
    feed = {"content": np.zeros((1, 3, 40, 60), np.float32), "guide": np.zeros((1, 3, 70, 50), np.float32)}
    assert expected_shapes(WARP, feed, {}) == [(1, 2, 40, 60), (1, 3, 40, 60)]


def test_options_are_checked_against_the_method_defaults(tmp_path):
    warp, wct = get_spec("warpnet").export, get_spec("decoder").export
    out, opset, sizes = check_options(warp, "warpnet", tmp_path / "w.onnx", None, None, None)
    assert (out, opset, sizes) == (tmp_path / "w.onnx", 18, list(warp.parity_sizes))
    with pytest.raises(UserError, match=r"--opset: expected 18 for warpnet \(GridSample at opset 20"):
        check_options(warp, "warpnet", tmp_path / "w.onnx", 20, None, None)
    with pytest.raises(UserError, match="at least two parity sizes, got 1"):
        check_options(wct, "wct", tmp_path / "w.onnx", None, None, [(64, 64)])
    with pytest.raises(UserError, match="integers >= 16"):
        check_options(wct, "wct", tmp_path / "w.onnx", None, None, [(64, 64), (15, 64)])
    with pytest.raises(UserError, match="--fp16: an MT-Net exports in fp32 only"):
        check_options(get_spec("multimodal").export, "multimodal", tmp_path / "m.onnx", None, None, None, True,
                      "an MT-Net")
    with pytest.raises(UserError, match="tolerance"):
        check_options(warp, "warpnet", tmp_path / "w.onnx", None, float("nan"), None)
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(UserError, match="is a directory"):
        check_options(warp, "warpnet", tmp_path / "dir.onnx", None, None, None)


def _plan(contract: GraphContract, metadata: dict[str, str]) -> ExportPlan:
    return ExportPlan(method="m", module=None, contract=contract, defaults=get_spec("feedforward").export, noun="m",
                      style_name="s", description="d", card={"a": 1}, source_sha256="0" * 64, metadata=metadata)


def test_metadata_holds_every_contract_key():
    model = _model([("image", TensorProto.FLOAT, IMAGE)], [("stylized", TensorProto.FLOAT, IMAGE)])
    with pytest.raises(ExportError, match=r"multiscale contract expects metadata \['impasto.multiscale'\]"):
        stamp_metadata(model, _plan(MULTISCALE, {}), "fp32")
    stamp_metadata(model, _plan(MULTISCALE, {"impasto.multiscale": "{}"}), "fp32")
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(meta) == set(MULTISCALE.metadata_keys) - {"impasto.parity"}
    assert meta["impasto.kind"] == "multiscale" and model.doc_string == "d"


def test_cli_refuses_decoder_and_warp_checkpoints_in_the_plain_form(wct_decoders, tmp_path, capsys):
    from impasto.models.checkpoint import load_checkpoint, save_checkpoint

    out = str(tmp_path / "m.onnx")
    assert main(["export", str(wct_decoders["photo", "relu1_1"]), "-o", out]) == 2
    assert "impasto export photowct|wct DECODER.pt" in capsys.readouterr().err
    warp = load_checkpoint(wct_decoders["photo", "relu1_1"]) | {"method": "warpnet", "model": {"arch": "WarpNet"}}
    save_checkpoint(tmp_path / "w.pt", warp)
    assert main(["export", str(tmp_path / "w.pt"), "-o", out]) == 2
    assert "impasto export warpnet" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_text_reports():
    base = {"output": "o.onnx", "opset": 18, "precision": "fp32", "exporter": "dynamo", "onnx_bytes": 2_000_000,
            "seconds": 1.25, "tolerance": {"max_abs_error": 1e-3, "min_psnr_db": None}}
    warp = format_report({**base, "method": "warpnet", "style_name": "warpnet", "settings": {}, "parity": [
        {"size": [96, 128], "guide_size": [135, 107], "output": "field", "max_abs_error": 1.5e-5, "psnr_db": 99.0}]})
    assert warp.splitlines() == ["exported warpnet -> o.onnx (fp32, opset 18, 2.00 MB, 1.2 s)",
                                 "parity vs PyTorch on ONNX Runtime CPU (max abs error <= 0.001): passed",
                                 "  96x128 (guide 135x107) field   1.50e-05"]
    mm = format_report({**base, "method": "multimodal", "style_name": "x", "outputs": ["a", "b"],
                        "tolerance": {**base["tolerance"], "rule": "R"}, "parity": [
                            {"size": [37, 53], "output": "a", "max_abs_error": 2e-5, "psnr_db": 101.04,
                             "shape": [10, 14], "fp32_noise": 1e-5, "bound": 1e-4}]})
    assert mm.splitlines()[0] == "exported 'x' -> o.onnx (MT-Net, outputs a, b; fp32, opset 18, 2.00 MB, 1.2 s)"
    assert mm.splitlines()[1:] == [
        "parity vs PyTorch on ONNX Runtime CPU (R): passed",
        "  size (HxW)   output          max abs err     bound  fp32 noise  PSNR (dB)",
        "  37x53        a                  2.00e-05   1.0e-04    1.00e-05      101.0"]


@pytest.mark.parametrize(("modules", "absent"), [
    ("impasto.cli.export, impasto.export", ("torch", "onnx", "onnxruntime")),
    ("impasto.contracts", ("torch", "onnx", "numpy"))])
def test_imports_stay_light(modules, absent):
    root = str(Path(impasto.__file__).resolve().parents[1])
    code = f"import sys, {modules}; bad = [m for m in {absent!r} if m in sys.modules]; assert not bad, bad"
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
