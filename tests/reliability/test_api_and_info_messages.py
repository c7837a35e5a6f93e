"""Class 15 (the rest): typed errors from the Python API, and ``impasto info`` says where it looked for VGG16.

On main at 973f7ac: ``stylizer(image, strength="0.5")`` raised an untyped ``TypeError``
(``'<=' not supported between instances of 'float' and 'str'``), and without weights
``impasto info`` printed ``VGG16 weights: NOT FOUND (missing: None)``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.runtime.pipelines.postprocess import blend
from impasto.runtime.pipelines.stylizer import Stylizer

IMAGE = np.full((8, 8, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def stylizer():
    with Stylizer.load(backend="ort-cpu") as s:
        yield s


@pytest.mark.parametrize("strength, got", [("0.5", "'0.5' (str)"), (None, "None (NoneType)"), (True, "True (bool)"),
                                           ([0.5], "[0.5] (list)"), (float("nan"), "nan"), (1.5, "1.5")])
def test_strength_that_is_not_a_number_in_0_1_is_a_typed_error_naming_it(stylizer, strength, got):
    with pytest.raises(UserError, match=re.escape(f"strength: expected a number in [0, 1], got {got}")):
        stylizer(IMAGE, strength=strength)
    with pytest.raises(UserError, match=r"^strength: expected a number in \[0, 1\]"):
        blend(IMAGE, IMAGE, strength)


def test_numpy_numbers_are_numbers(stylizer):
    assert stylizer(IMAGE, strength=np.float32(0.5)).shape == IMAGE.shape
    assert np.array_equal(stylizer(IMAGE, strength=np.int64(0)), IMAGE)


def _info(tmp_path: Path, weights: str | None, *flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "IMPASTO_VGG16_WEIGHTS"}
    env.update(TORCH_HOME=str(tmp_path / "torch"), **({"IMPASTO_VGG16_WEIGHTS": weights} if weights else {}))
    res = subprocess.run([sys.executable, "-m", "impasto", "info", *flags], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def test_info_says_where_it_looked_and_that_training_will_download(tmp_path):
    hub = tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    line = [x for x in _info(tmp_path, None).stdout.splitlines() if x.startswith("VGG16 weights")][0]
    assert "None" not in line and "missing" not in line
    assert line.startswith("VGG16 weights: NOT FOUND (looked at $IMPASTO_VGG16_WEIGHTS (not set); "
                           f"{hub} (torch hub cache: no such file)); training will try to download torchvision's file")
    report = json.loads(_info(tmp_path, None, "--json").stdout)["vgg16_weights"]
    assert report["resolves"] is False and report["searched"][1].startswith(str(hub))
    assert "download.pytorch.org" in report["training"]


def test_info_names_a_variable_that_points_at_no_file(tmp_path):
    missing = tmp_path / "nowhere" / "vgg16.pth"
    line = [x for x in _info(tmp_path, str(missing)).stdout.splitlines() if x.startswith("VGG16 weights")][0]
    assert line == (f"VGG16 weights: NOT FOUND (looked at $IMPASTO_VGG16_WEIGHTS={missing} (no such file)); "
                    "training will refuse it: point $IMPASTO_VGG16_WEIGHTS at a vgg16 .pth file, or unset it")


@pytest.mark.parametrize("value", ["0.5", None, float("nan"), True])
def test_the_stream_api_types_its_strength_error_too(value):
    """``StreamConfig`` (webcam, video) raised a bare ``TypeError`` for a string strength, like the Stylizer did."""
    from impasto.errors import UserError
    from impasto.runtime.stream.live import StreamConfig

    with pytest.raises(UserError, match=r"^strength: expected a number in \[0, 1\], got "):
        StreamConfig(strength=value)
