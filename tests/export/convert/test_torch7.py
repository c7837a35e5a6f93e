"""``impasto convert torch7``: Johnson's .t7 checkpoints (written by the test) -> stylize graphs; refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from support import load_module

from impasto.errors import ModelError, UserError
from impasto.export.convert.common import sha256_of
from impasto.export.convert.torch7 import convert

UP = load_module(Path(__file__).parent / "t7_upstream.py", "impasto_tests_t7_upstream")
VARIANTS = {
    "instance-norm-vgg": {},  # the instance_norm/*.t7 models: arch c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3
    "batch-norm-resnet-legacy-conv": {"width": 8, "blocks": 1, "batch": True, "preprocessing": "resnet",
                                      "legacy_conv": True},
}


@pytest.fixture(scope="module", params=[*sorted(VARIANTS), "shave-upsample-replicate-cudnn"])
def converted(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("t7")
    name = request.param
    ckpt = UP.shaved_model(seed=1) if name not in VARIANTS else UP.johnson_model(seed=1, **VARIANTS[name])
    src, out = d / "candy.t7", d / "candy.onnx"
    UP.save_t7(ckpt, src)
    report = convert([src], out, license="free for research", command="impasto convert torch7 candy.t7")
    return ckpt, src, out, report


def test_graph_matches_the_torch7_forward(converted):
    ckpt, src, out, report = converted
    assert report["format"] == "torch7" and len(report["parity"]) == 3
    assert all(r["max_abs_error"] <= 1e-4 for r in report["parity"])
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    for h, w in [(64, 64), (77, 53)]:
        x = rng.random((1, 3, h, w), dtype=np.float32)
        got = sess.run(None, {"image": x})[0]
        want = UP.reference_stylize(ckpt, torch.from_numpy(x)).numpy()
        assert got.shape == (1, 3, h, w) and np.abs(got - want).max() <= 1e-4
        assert ((want > 0.01) & (want < 0.99)).mean() > 0.5  # the clamp does not hide the comparison


def test_card_records_the_preprocessing(converted):
    ckpt, src, out, _ = converted
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    card = json.loads(meta["impasto.card"])["converted_from"]
    pre = ckpt["opt"]["preprocessing"]
    assert card["format"] == "torch7" and card["preprocessing"] == pre and card["license"] == "free for research"
    assert card["files"] == [{"name": "candy.t7", "sha256": sha256_of(src)}]
    assert ("caffe mean" if pre == "vgg" else "ImageNet mean") in card["input_convention"]
    assert meta["impasto.method"] == "fast-neural-style-torch7"


def _small():
    return UP.johnson_model(seed=0, width=4, blocks=1)


def _layer(ckpt, i):
    return ckpt["model"].fields["modules"][i]


def _bad(kind):
    ckpt = _small()
    if kind == "unknown-layer":
        ckpt["model"].fields["modules"][3] = UP.Lua("nn.PReLU", {"weight": np.zeros(4, np.float32)})
        return ckpt, "model.modules[3]: unsupported layer nn.PReLU"
    if kind == "missing-field":
        ckpt["model"].fields["modules"][2] = UP.Lua("nn.SpatialBatchNormalization",
                                                    {"weight": np.ones(4, np.float32), "bias": np.zeros(4, np.float32),
                                                     "running_mean": np.zeros(4, np.float32), "eps": 1e-5})
        return ckpt, "model.modules[2]: missing field 'running_var' of nn.SpatialBatchNormalization"
    if kind == "wrong-shape":
        _layer(ckpt, 1).fields["weight"] = np.zeros((4, 3, 7, 7), np.float32)
        return ckpt, "model.modules[1].weight: expected shape (4, 3, 9, 9), got (4, 3, 7, 7)"
    if kind == "wrong-channels":
        _layer(ckpt, 4).fields["nInputPlane"] = 5
        return ckpt, "model.modules[4]: expected 4 input channels, got nInputPlane 5"
    if kind == "no-model":
        return {"opt": ckpt["opt"]}, "expected a fast-neural-style checkpoint"
    ckpt["opt"]["preprocessing"] = "caffe2"
    return ckpt, "opt.preprocessing: expected one of ['resnet', 'vgg'], got 'caffe2'"


@pytest.mark.parametrize("kind", ["unknown-layer", "missing-field", "wrong-shape", "wrong-channels", "no-model",
                                  "bad-preprocessing"])
def test_bad_checkpoints_are_one_line_naming_the_layer(kind, tmp_path):
    ckpt, expected = _bad(kind)
    src, out = tmp_path / "bad.t7", tmp_path / "bad.onnx"
    UP.save_t7(ckpt, src)
    with pytest.raises(ModelError) as err:
        convert([src], out)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == [src]


def test_output_smaller_than_the_input_is_refused(tmp_path):
    src = tmp_path / "shaved.t7"
    UP.save_t7(UP.shaved_model(seed=0, front_pad=0), src)
    with pytest.raises(ModelError, match="expected an output at least the input's size, got "):
        convert([src], tmp_path / "shaved.onnx")
    assert list(tmp_path.iterdir()) == [src]


def test_residual_table_without_its_sum_is_refused(tmp_path):
    ckpt = UP.johnson_model(seed=0, width=4, blocks=1)
    block = _layer(ckpt, 10)
    block.fields["modules"] = block.fields["modules"][:1]  # ConcatTable without CAddTable
    src = tmp_path / "bad.t7"
    UP.save_t7(ckpt, src)
    with pytest.raises(ModelError, match=r"model.modules\[10\].modules\[0\]: expected nn.ConcatTable followed by "
                                         r"nn.CAddTable"):
        convert([src], tmp_path / "bad.onnx")


@pytest.mark.parametrize("payload", [b"PK\x03\x04 a zip, such as a .pth", b"\x03\x00", b""])
def test_files_of_other_formats_are_one_line_errors(payload, tmp_path):
    src = tmp_path / "model.t7"
    src.write_bytes(payload)
    with pytest.raises(ModelError, match="cannot read as a Torch7 file") as err:
        convert([src], tmp_path / "out.onnx")
    assert "\n" not in str(err.value) and not (tmp_path / "out.onnx").exists()


def test_missing_file_and_source_count(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        convert([tmp_path / "nope.t7"], tmp_path / "out.onnx")
    with pytest.raises(UserError, match="expected one .t7 checkpoint"):
        convert([tmp_path / "a.t7", tmp_path / "b.t7"], tmp_path / "out.onnx")
