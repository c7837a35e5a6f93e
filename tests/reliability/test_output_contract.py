"""Class 5 (the model output contract): a graph's output is checked against what it declares, never bent to fit.

Every pipeline holds each run to its graph's contract (:mod:`impasto.runtime.pipelines.outputs`):
an image output has 3 channels, the size of the input it was fed and values in the range
of its ``impasto.output`` metadata (``[0, 1]`` assumed without it, and the message says
so); a declared ``[0, 255]`` output is converted as declared. A graph that breaks its
contract is refused with one line, exit 2, and nothing is written. The graphs here are
built with ``onnx.helper``.

On main at 973f7ac: a graph returning a fixed 2x2 image was upscaled to the photo's size,
a 1-channel output was written as a grey PNG, and an output in 0..255 (metadata: 0..1)
was clipped to a white image, each with exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.errors import ModelError
from impasto.runtime.io.images import read_image
from impasto.runtime.pipelines.outputs import check_output
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.pipelines.warp import Warper

ROOT = Path(__file__).resolve().parents[2]
UNIT = {"name": "stylized", "range": [0, 1]}


def _graph(path: Path, nodes: list, inputs: dict[str, list], outputs: dict[str, list], consts: dict[str, tuple],
           metadata: dict[str, object]) -> Path:
    """A float32 graph: ``inputs`` / ``outputs`` name -> dims, ``consts`` name -> (onnx type, dims, values)."""
    import onnx
    from onnx import TensorProto, helper

    model = helper.make_model(helper.make_graph(
        nodes, "contract", [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in outputs.items()],
        initializer=[helper.make_tensor(n, t, d, v) for n, (t, d, v) in consts.items()]),
        opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _stylizer_graph(path: Path, node: str, out_dims: list, output: dict | None = UNIT, **attrs) -> Path:
    """``stylized = node(image, ...)``: Mul by 255, a Resize to 2x2, or a mean over the channels."""
    from onnx import TensorProto, helper

    consts = {"Mul": {"k": (TensorProto.FLOAT, [], [255.0])},
              "Resize": {"sizes": (TensorProto.INT64, [4], [1, 3, 2, 2])}}.get(node, {})
    ins = {"Mul": ["image", "k"], "Resize": ["image", "", "", "sizes"]}.get(node, ["image"])
    meta = {"impasto.input": {"name": "image", "range": [0, 1]}}
    if output is not None:
        meta["impasto.output"] = output
    return _graph(path, [helper.make_node(node, ins, ["stylized"], **attrs)],
                  {"image": ["batch", 3, "height", "width"]}, {"stylized": out_dims}, consts, meta)


def _impasto(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "IMPASTO_FFMPEG": "none"})


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(ROOT / "assets" / "chelsea.jpg")), (64, 48)))
    return path


def _refused(res: subprocess.CompletedProcess, *parts: str) -> None:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("impasto: error: "), res.stderr
    assert all(p in lines[0] for p in parts), lines[0]


def test_a_fixed_2x2_output_is_refused_not_upscaled(tmp_path, photo):
    model = _stylizer_graph(tmp_path / "two.onnx", "Resize", ["batch", 3, 2, 2], mode="linear")
    res = _impasto("stylize", photo, "-o", tmp_path / "out.png", "--model", model, cwd=tmp_path)
    _refused(res, "output 'stylized' is 2x2 for a 64x48 input, expected 64x48", "refusing to resize")
    assert not (tmp_path / "out.png").exists()


def test_a_one_channel_output_is_refused_not_written_grey(tmp_path, photo):
    model = _stylizer_graph(tmp_path / "grey.onnx", "ReduceMean", ["batch", 1, "height", "width"], axes=[1])
    res = _impasto("stylize", photo, "-o", tmp_path / "out.png", "--model", model, cwd=tmp_path)
    _refused(res, "expected image outputs Nx3xHxW (RGB)", "1x?x?")
    assert not (tmp_path / "out.png").exists()
    grey = np.zeros((1, 1, 6, 8), np.float32)  # a graph that hides its channels until it runs
    with pytest.raises(ModelError, match=r"output 'y' has shape \[1, 1, 6, 8\], expected \[1, 3, H, W\]"):
        check_output(grey, "y", channels=3, size=(6, 8), fed=(6, 8), value_range=((0, 1), "declared"), where="m")


@pytest.mark.parametrize("output, source", [(UNIT, "as its impasto.output metadata says"),
                                            (None, "assumed: its impasto.output metadata is missing")])
def test_an_output_on_the_0_255_scale_is_refused_not_clipped_white(tmp_path, photo, output, source):
    model = _stylizer_graph(tmp_path / "x255.onnx", "Mul", ["batch", 3, "height", "width"], output)
    res = _impasto("stylize", photo, "-o", tmp_path / "out.png", "--model", model, cwd=tmp_path)
    _refused(res, "output 'stylized' has values in [0, ", "expected [0, 1]", source, "refusing to clip")
    assert not (tmp_path / "out.png").exists()


def test_a_declared_0_255_output_is_converted_as_declared(tmp_path, photo):
    model = _stylizer_graph(tmp_path / "x255.onnx", "Mul", ["batch", 3, "height", "width"],
                            {"name": "stylized", "range": [0, 255]})
    with Stylizer.load(model, backend="ort-cpu") as stylizer:
        image = read_image(photo)
        assert stylizer.output_range == 255.0 and np.array_equal(stylizer(image), image)


def _warp_graph(path: Path, warped: str) -> Path:
    """A warp graph: ``field`` = 0, ``warped`` = content * 255 (``"x255"``) or content resized to 2x2 (``"2x2"``)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Slice", ["content", "zero", "two", "one"], ["rg"]),
             helper.make_node("Mul", ["rg", "nought"], ["field"])]
    consts = {"zero": (TensorProto.INT64, [1], [0]), "two": (TensorProto.INT64, [1], [2]),
              "one": (TensorProto.INT64, [1], [1]), "nought": (TensorProto.FLOAT, [], [0.0]),
              "k": (TensorProto.FLOAT, [], [255.0]), "sizes": (TensorProto.INT64, [4], [1, 3, 2, 2])}
    nodes.append(helper.make_node("Mul", ["content", "k"], ["warped"]) if warped == "x255" else
                 helper.make_node("Resize", ["content", "", "", "sizes"], ["warped"], mode="linear"))
    return _graph(path, nodes, {"content": [1, 3, "height", "width"], "guide": [1, 3, "gh", "gw"]},
                  {"field": [1, 2, "height", "width"], "warped": [1, 3, "oh", "ow"]}, consts,
                  {"impasto.method": "warpnet", "impasto.warpnet": {"size": 32, "min_side": 16}})


@pytest.mark.parametrize("warped, message", [("x255", r"output 'warped' has values in \[0, 2\d\d\], expected \[0, 1\] "
                                                      r"\(assumed: its impasto.output metadata is missing\)"),
                                             ("2x2", "output 'warped' is 2x2 for a 64x48 input, expected 64x48")])
def test_the_warp_pipeline_holds_its_outputs_to_the_contract_too(tmp_path, photo, warped, message):
    image = read_image(photo)
    with Warper.load(_warp_graph(tmp_path / "warp.onnx", warped), backend="ort-cpu") as warper:
        with pytest.raises(ModelError, match=message):
            warper(image, image)
