"""tools/profile_photoreal.py: its stages and FLOP counts on a tiny exported photowct graph."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from support import load_module

pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    sys.path.insert(0, str(ROOT / "tools"))
    return load_module(ROOT / "tools" / "profile_photoreal.py", "profile_photoreal")


def _event(op: str, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> dict:
    return {"args": {"op_name": op, "input_type_shape": [{"float": list(s)} for s in ins],
                     "output_type_shape": [{"float": list(out)}]}}


def test_node_flops_of_convolutions_and_matrix_products():
    tool = _tool()
    assert tool.node_flops(_event("Conv", [(1, 64, 10, 12), (32, 64, 3, 3)], (1, 32, 10, 12))) == 2 * 32 * 120 * 64 * 9
    plain = tool.node_flops(_event("MatMul", [(3, 64, 100), (3, 100, 64)], (3, 64, 64)))
    fused = tool.node_flops(_event("FusedMatMul", [(3, 64, 100), (3, 64, 100)], (3, 64, 64)))  # A · Bᵀ
    assert plain == fused == 2 * 3 * 64 * 64 * 100
    assert tool.node_flops(_event("MatMul", [(64, 192), (192, 500)], (64, 500))) == 2 * 64 * 192 * 500
    assert tool.node_flops(_event("Relu", [(1, 8, 4, 4)], (1, 8, 4, 4))) == 0


def test_the_profile_names_every_stage_and_counts_the_encoder_exactly(photowct_graph):
    tool = _tool()
    rng = np.random.default_rng(0)
    h, w = 48, 64
    feed = {"content": rng.random((1, 3, h, w), dtype=np.float32),
            "style": rng.random((1, 3, 64, 72), dtype=np.float32),
            "content_mask": np.ones((1, 1, h, w), np.float32), "style_mask": np.ones((1, 1, 64, 72), np.float32),
            "alpha": np.array([1.0], np.float32)}
    events, graph, wall = tool.profile_graph(photowct_graph.path, feed, 0)
    assert wall > 0 and events
    table = tool.stage_table(tool.assign_stages(events, graph))
    assert {"encoder style ->relu2_1", "encoder content ->relu2_1", "encoder re-encode ->relu1_1", "wct relu2_1",
            "decoder relu2_1", "wct relu1_1", "decoder relu1_1", "guided filter"} <= set(table)
    # conv1_1, conv1_2 at full size, conv2_1 at half: the content's pass to relu2_1
    want = 2 * (64 * h * w * 3 * 9 + 64 * h * w * 64 * 9 + 128 * (h // 2) * (w // 2) * 64 * 9) / 1e9
    assert table["encoder content ->relu2_1"]["gflop"] == pytest.approx(want, rel=1e-9)
    assert table["encoder re-encode ->relu1_1"]["gflop"] == pytest.approx(2 * 64 * h * w * 3 * 9 / 1e9, rel=1e-9)
    assert table["wct relu2_1"]["gflop"] > 0  # covariances and Newton–Schulz products
    assert sum(r["nodes"] for r in table.values()) == len(events)
