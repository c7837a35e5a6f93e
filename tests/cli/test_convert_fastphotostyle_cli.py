"""``impasto convert fastphotostyle``: bad checkpoints and arguments get one line, exit 2, and nothing written.

The successful conversion through the CLI is tested in
``tests/export/convert/test_fastphotostyle.py`` (its fixture runs ``impasto convert``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support import one_error_line

from impasto.cli.main import main
from impasto.models.photowct19 import expected_shapes


@pytest.fixture(scope="module")
def good_state() -> dict[str, torch.Tensor]:
    """Zero tensors with every key and shape of photo_wct.pth (the layout itself is tested against upstream's)."""
    return {k: torch.zeros(shape) for k, shape in expected_shapes().items()}


def _fast_neural_style() -> dict[str, torch.Tensor]:
    return {"conv1.conv2d.weight": torch.zeros(32, 3, 9, 9), "conv1.conv2d.bias": torch.zeros(32)}


def _without(state: dict[str, torch.Tensor], key: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k != key}


CASES = {
    "another format": (lambda s: _fast_neural_style(),
                       "unexpected key 'conv1.conv2d.weight'; expected keys like 'e1.conv0.weight'"),
    "missing key": (lambda s: _without(s, "d4.conv3_4.bias"), "missing key 'd4.conv3_4.bias'"),
    "unexpected key": (lambda s: {**s, "e1.conv1_2.weight": torch.zeros(64, 64, 3, 3)},
                       "unexpected key 'e1.conv1_2.weight'"),
    "wrong shape": (lambda s: {**s, "e2.conv1_1.weight": torch.zeros(64, 3, 1, 1)},
                    "'e2.conv1_1.weight': expected shape (64, 3, 3, 3), got (64, 3, 1, 1)"),
    "not a state dict": (lambda s: [1, 2, 3], "expected a state dict (names -> tensors), got list"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_checkpoint_one_line_nothing_written(good_state, tmp_path, capsys, case):
    make, message = CASES[case]
    src, out = tmp_path / "photo_wct.pth", tmp_path / "out.onnx"
    torch.save(make(good_state), src)
    assert main(["convert", "fastphotostyle", str(src), "-o", str(out)]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["photo_wct.pth"]


def test_bad_checkpoint_leaves_an_existing_output_alone(good_state, tmp_path, capsys):
    src, out = tmp_path / "photo_wct.pth", tmp_path / "out.onnx"
    torch.save(_without(good_state, "e1.conv0.bias"), src)
    out.write_bytes(b"an earlier graph")
    assert main(["convert", "fastphotostyle", str(src), "-o", str(out)]) == 2
    assert "missing key 'e1.conv0.bias'" in one_error_line(capsys)
    assert out.read_bytes() == b"an earlier graph"


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "no such file"),
    (["{text}"], "cannot read"),
    (["{text}", "{text}"], "expected one checkpoint (photo_wct.pth), got 2 files"),
])
def test_bad_sources_one_line(tmp_path: Path, capsys, argv, message):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    names = {"missing": str(tmp_path / "missing.pth"), "text": str(text)}
    out = tmp_path / "out.onnx"
    assert main(["convert", "fastphotostyle", *(a.format(**names) for a in argv), "-o", str(out)]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


def test_bad_setting_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["convert", "fastphotostyle", str(tmp_path / "x.pth"), "-o", str(tmp_path / "o.onnx"), "--ns-iters", "0"])
    assert exc.value.code == 2
    assert "--ns-iters" in capsys.readouterr().err
