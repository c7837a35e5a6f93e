"""Class 4 (non-finite values): no black image with exit 0, and ``--json`` is always valid JSON.

Weights are checked in float32, the dtype of the graph (``1e39`` is finite in Python's
float64 and infinite in the graph); style weights are normalised without overflowing
(only their ratios matter); every pipeline checks its graph's output for NaN and infinity
(the still images and each frame of ``impasto video``); ``--json`` never prints ``NaN`` or
``Infinity``.

On main at 973f7ac: ``--style-layer-weights 1,1,1,1e39`` and ``--content-layer-weights
1e39`` wrote a black image with exit 0 (and ``"Infinity"`` in ``--json``);
``--style 'starry_night:1e308,la_muse:1e308'`` wrote a black image with ``"style": ""``; a
graph returning NaN gave a black image, and a black video, with exit 0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.cli.common import emit_json
from impasto.errors import BackendRuntimeError, ImpastoError, UserError
from impasto.runtime.io.images import read_image
from impasto.runtime.pipelines.stylizer import Stylizer

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "tests" / "data" / "tone_32x24_10fps.mp4"


def _impasto(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "IMPASTO_FFMPEG": "none"})


def _strict_json(text: str) -> object:
    """Parse JSON as the standard says: ``NaN``, ``Infinity`` and ``-Infinity`` are errors."""
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def _write_nan_graph(path: Path) -> Path:
    """``stylized = image * NaN``, with the stylize contract's metadata."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    y = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    graph = helper.make_graph([helper.make_node("Mul", ["image", "nan"], ["stylized"])], "nan", [x], [y],
                              initializer=[nan])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, spec in (("impasto.input", {"name": "image", "range": [0, 1]}),
                      ("impasto.output", {"name": "stylized", "range": [0, 1]})):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(spec)
    onnx.save(model, path)
    return path


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(ROOT / "assets" / "chelsea.jpg")), (64, 48)))
    return path


@pytest.mark.parametrize("flag, value", [("--style-layer-weights", "1,1,1,1e39"), ("--content-layer-weights", "1e39"),
                                         ("--style-layer-weights", "1,1,3.5e38,1")])
def test_layer_weights_beyond_float32_are_one_line_exit_2_nothing_written(tmp_path, photo, flag, value):
    res = _impasto("stylize", photo, "-o", tmp_path / "out.png", flag, value, "--json", cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "float32" in lines[0] and "at most 3.403e+38" in lines[0] and res.stdout == ""
    assert not (tmp_path / "out.png").exists()


def test_huge_style_weights_are_an_even_mix_not_a_black_image(tmp_path, photo):
    res = _impasto("stylize", photo, "-o", tmp_path / "huge.png", "--style", "starry_night:1e308,la_muse:1e308",
                   "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = _strict_json(res.stdout)
    assert report["style"] == "starry_night+la_muse" and report["bank"]["style_weights"][:2] == [0.5, 0.5]
    even = _impasto("stylize", photo, "-o", tmp_path / "even.png", "--style", "starry_night:1,la_muse:1", cwd=tmp_path)
    assert even.returncode == 0, even.stderr
    huge = read_image(tmp_path / "huge.png")
    assert huge.mean() > 20 and np.array_equal(huge, read_image(tmp_path / "even.png"))


def test_the_api_checks_weights_in_float32():
    with Stylizer.load(backend="ort-cpu") as stylizer:
        with pytest.raises(UserError, match="float32"):
            stylizer.set_layer_weights(style_layer_weights=[1, 1, 1, 1e39])
        with pytest.raises(UserError, match="float32"):
            stylizer(np.zeros((8, 8, 3), np.uint8), content_layer_weights=[np.float64(1e39)])
        stylizer.set_style({"starry_night": 1e308, "la_muse": 1e308})
        np.testing.assert_allclose(stylizer.style_weights[:2], [0.5, 0.5])
        with pytest.raises(UserError, match="expected numbers"):
            stylizer.set_layer_weights(style_layer_weights=["a", 1, 1, 1])


def test_a_graph_returning_nan_is_refused_for_images(tmp_path, photo):
    model = _write_nan_graph(tmp_path / "nan.onnx")
    res = _impasto("stylize", photo, "-o", tmp_path / "out.png", "--model", model, cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert "non-finite values (NaN or infinity)" in lines[0] and "64x48" in lines[0]
    assert not (tmp_path / "out.png").exists()
    with Stylizer.load(model, backend="ort-cpu") as stylizer, pytest.raises(BackendRuntimeError, match="non-finite"):
        stylizer(np.zeros((8, 8, 3), np.uint8))


def test_a_graph_returning_nan_is_refused_for_video_and_leaves_nothing(tmp_path):
    model = _write_nan_graph(tmp_path / "nan.onnx")
    out = tmp_path / "out"
    out.mkdir()
    res = _impasto("video", CLIP, "-o", out / "clip.mp4", "--model", model, "--json", cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and "non-finite values" in lines[0], res.stderr
    assert res.stdout == "" and sorted(p.name for p in out.iterdir()) == []


def test_json_never_carries_nan_or_infinity(capsys):
    emit_json({"ok": [1.0, 2], "nested": {"x": 0.5}})
    assert _strict_json(capsys.readouterr().out) == {"ok": [1.0, 2], "nested": {"x": 0.5}}
    for bad, where in (({"a": [1.0, {"b": float("inf")}]}, ".a[1].b"), ([float("nan")], "[0]")):
        with pytest.raises(ImpastoError, match=f"non-finite number at {re.escape(where)}"):
            emit_json(bad)
        assert capsys.readouterr().out == ""
