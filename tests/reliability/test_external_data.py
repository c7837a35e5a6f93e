"""Class 2 (held, now pinned): a graph whose weights point outside its own folder is refused in one line.

ONNX Runtime (>= 1.17) validates external-data paths; this test pins that the refusal
reaches the user as impasto's one line with exit code 2 and nothing written, whatever
runtime version is installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

CHELSEA = Path(__file__).resolve().parents[2] / "assets" / "chelsea.jpg"


def _graph_reading(path: Path, location: str) -> None:
    """``stylized = image * w`` with ``w`` stored as external data at ``location`` (relative to the graph)."""
    w = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "12")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    out = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Mul", ["image", "w"], ["stylized"])], "g", [image], [out], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(np.ones(3, np.float32).tobytes())
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "evil.onnx"
    _graph_reading(model, location)
    out = tmp_path / "out.png"
    r = subprocess.run([sys.executable, "-m", "impasto", "stylize", str(CHELSEA), "--model", str(model), "-o",
                        str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"impasto: error: model '{model}': ONNX Runtime cannot load it")
    assert not out.exists()
