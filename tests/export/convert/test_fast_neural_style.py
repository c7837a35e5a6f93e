"""``impasto convert fast-neural-style``: upstream state dicts -> stylize graphs, parity, card, refusals."""

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
from impasto.export.convert.common import PARITY_SIZES, sha256_of
from impasto.export.convert.fast_neural_style import convert

UP = load_module(Path(__file__).parent / "fns_upstream.py", "impasto_tests_fns_upstream")


@pytest.fixture(scope="module")
def upstream_net():
    return UP.trained_like(seed=0)


@pytest.fixture(scope="module")
def converted(upstream_net, tmp_path_factory):
    """An old checkpoint (with running statistics) of the upstream network, converted once."""
    d = tmp_path_factory.mktemp("fns")
    src = d / "mosaic.pth"
    torch.save(UP.with_stale_norm_stats(upstream_net.state_dict()), src)
    out = d / "mosaic.onnx"
    report = convert([src], out, license="BSD-3-Clause", command="impasto convert fast-neural-style mosaic.pth")
    return src, out, report


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})[0]


def test_old_checkpoint_converts_and_matches_the_upstream_forward(converted, upstream_net):
    src, out, report = converted
    assert report["format"] == "fast-neural-style" and report["output"] == str(out)
    assert [r["size"] for r in report["parity"]] == [list(s) for s in PARITY_SIZES]
    assert all(r["max_abs_error"] <= 1e-4 for r in report["parity"])
    rng = np.random.default_rng(1)
    for h, w in [(64, 64), (77, 53), (130, 98)]:  # sides not multiples of 4: the upstream output is larger
        x = rng.random((1, 3, h, w), dtype=np.float32)
        got = _run(out, x)
        want = UP.upstream_stylize(upstream_net, torch.from_numpy(x)).numpy()
        assert got.shape == (1, 3, h, w)
        assert np.abs(got - want).max() <= 1e-4
        inside = ((want > 0.01) & (want < 0.99)).mean()
        assert inside > 0.5, f"only {inside:.0%} of the reference is unclamped: the check would prove little"


def test_card_and_metadata(converted):
    src, out, _ = converted
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["impasto.method"] == "fast-neural-style" and meta["impasto.style_name"] == "mosaic"
    card = json.loads(meta["impasto.card"])["converted_from"]
    assert card["format"] == "fast-neural-style" and card["license"] == "BSD-3-Clause"
    assert card["files"] == [{"name": "mosaic.pth", "sha256": sha256_of(src)}]
    assert "0-255" in card["input_convention"] and "pytorch/examples" in card["upstream"]
    assert card["command"] == "impasto convert fast-neural-style mosaic.pth"
    assert json.loads(meta["impasto.parity"])["passed"] is True


def test_current_checkpoint_without_running_stats_converts(upstream_net, tmp_path):
    src = tmp_path / "new.model"
    torch.save(upstream_net.state_dict(), src)
    report = convert([src], tmp_path / "new.onnx")
    assert max(r["max_abs_error"] for r in report["parity"]) <= 1e-4
    card = json.loads({p.key: p.value for p in onnx.load(str(tmp_path / "new.onnx")).metadata_props}["impasto.card"])
    assert card["converted_from"]["license"].startswith("unknown")


def _state(upstream_net):
    return dict(upstream_net.state_dict())


def _drop(state, key):
    del state[key]
    return state


def _bad_cases(net):
    other = {"enc1.1.weight": torch.zeros(32, 3, 9, 9), "enc1.1.bias": torch.zeros(32)}  # impasto's own layout
    return {
        "missing": (_drop(_state(net), "res5.in2.bias"), "missing key 'res5.in2.bias'"),
        "unexpected": ({**_state(net), "res6.conv1.conv2d.weight": torch.zeros(1)}, "unexpected key "
                                                                                   "'res6.conv1.conv2d.weight'"),
        "shape": ({**_state(net), "conv2.conv2d.weight": torch.zeros(64, 16, 3, 3)},
                  "'conv2.conv2d.weight': expected shape (64, 32, 3, 3), got (64, 16, 3, 3)"),
        "other-format": (other, "unexpected key 'enc1.1.weight'"),
        "stale-stat-outside-a-norm": ({**_state(net), "conv1.conv2d.running_mean": torch.zeros(32)},
                                      "unexpected key 'conv1.conv2d.running_mean'"),
    }


@pytest.mark.parametrize("case", ["missing", "unexpected", "shape", "other-format", "stale-stat-outside-a-norm"])
def test_bad_state_dicts_are_refused_naming_the_key(case, upstream_net, tmp_path):
    state, expected = _bad_cases(upstream_net)[case]
    src, out = tmp_path / "bad.pth", tmp_path / "bad.onnx"
    torch.save(state, src)
    with pytest.raises(ModelError) as err:
        convert([src], out)
    message = str(err.value)
    assert expected in message and "\n" not in message and str(src) in message
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize("payload, expected", [
    (b"\x89PNG\r\n\x1a\n not a checkpoint", "cannot read"),
    (None, "expected a state dict"),
])
def test_files_of_other_kinds_are_one_line_errors(payload, expected, tmp_path):
    src = tmp_path / "model.pth"
    if payload is None:
        torch.save([torch.zeros(3)], src)  # a list of tensors, not a state dict
    else:
        src.write_bytes(payload)
    with pytest.raises(ModelError, match=expected) as err:
        convert([src], tmp_path / "out.onnx")
    assert "\n" not in str(err.value) and not (tmp_path / "out.onnx").exists()


def test_missing_file_and_source_count(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        convert([tmp_path / "nope.pth"], tmp_path / "out.onnx")
    with pytest.raises(UserError, match="expected one state dict"):
        convert([tmp_path / "a.pth", tmp_path / "b.pth"], tmp_path / "out.onnx")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_when_the_source_is_bad(upstream_net, tmp_path):
    out = tmp_path / "keep.onnx"
    out.write_bytes(b"previous graph")
    src = tmp_path / "bad.pth"
    torch.save(_drop(_state(upstream_net), "in1.weight"), src)
    with pytest.raises(ModelError, match="missing key 'in1.weight'"):
        convert([src], out)
    assert out.read_bytes() == b"previous graph"
