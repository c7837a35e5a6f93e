"""Multiscale (MT-Net) models in the runtime: layout metadata, output selection, input sizes, Stylizer(scale=)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impasto.errors import ModelError, UserError
from impasto.runtime.pipelines.multiscale import METADATA_KEY, MultiscaleLayout, input_size, select_output
from impasto.runtime.pipelines.stylizer import Stylizer

LAYOUT = {"outputs": [{"name": "a", "scale": 256, "downsample": 4}, {"name": "b", "scale": 512, "downsample": 2},
                      {"name": "c", "scale": 1024, "downsample": 1}], "default": "c", "min_side": 17,
          "trained_side": 1024}


def _layout(**changes) -> MultiscaleLayout:
    layout = MultiscaleLayout.from_metadata({METADATA_KEY: json.dumps({**LAYOUT, **changes})}, "m")
    assert layout is not None
    return layout


def test_layout_from_metadata():
    layout = _layout()
    assert layout.scales == (256, 512, 1024) and layout.default == "c" and layout.min_side == 17
    assert MultiscaleLayout.from_metadata({}, "m") is None


@pytest.mark.parametrize("text", ["not json", json.dumps({**LAYOUT, "default": "zz"}), json.dumps({"outputs": []})])
def test_unreadable_layout_is_a_model_error(text):
    with pytest.raises(ModelError, match=METADATA_KEY):
        MultiscaleLayout.from_metadata({METADATA_KEY: text}, "m")


def test_select_output():
    layout = _layout()
    assert select_output(layout, ["a", "b", "c"], None, "m") == "c"
    assert select_output(layout, ["a", "b", "c"], 256, "m") == "a"
    with pytest.raises(UserError, match="expected one of 256, 512, 1024 for m, got 300"):
        select_output(layout, ["a", "b", "c"], 300, "m")
    with pytest.raises(ModelError, match="names output 'c'"):
        select_output(layout, ["a", "b"], None, "m")
    assert select_output(None, ["stylized"], None, "m") == "stylized"
    with pytest.raises(UserError, match="single output .'stylized'.; a scale needs a multiscale model"):
        select_output(None, ["stylized"], 512, "m")


def test_input_size_enlarges_only_below_min_side():
    layout = _layout()
    assert input_size(layout, 300, 451) == (300, 451)
    assert input_size(layout, 10, 40) == (17, 68)
    assert input_size(None, 3, 5) == (3, 5)


def test_stylizer_returns_the_chosen_output_at_the_image_size(multiscale_model, photo):
    with Stylizer.load(multiscale_model) as finest:
        assert finest.output_name == "stylized_1024" and finest.multiscale is not None
        out = finest(photo)
    assert out.shape == photo.shape
    assert np.abs(out.astype(int) - (255 - photo.astype(int))).max() <= 1  # the finest output: 1 - image
    with Stylizer.load(multiscale_model, scale=256) as coarse:
        assert coarse.output_name == "stylized_256"
        low = coarse(photo)
    assert low.shape == photo.shape
    diff = np.abs(low.astype(int) - out.astype(int))
    assert diff.mean() > 1.0  # a 4x4-averaged, upsampled image: detail is gone
    assert abs(float(low.mean()) - float(out.mean())) < 3.0  # but it is the same picture


def test_stylizer_enlarges_tiny_images(multiscale_model):
    tiny = np.full((9, 12, 3), 200, dtype=np.uint8)
    with Stylizer.load(multiscale_model, scale=512) as s:
        out = s(tiny)
    assert out.shape == tiny.shape and np.abs(out.astype(int) - 55).max() <= 1


def test_stylizer_scale_errors(multiscale_model, tiny_model):
    with pytest.raises(UserError, match="expected one of 256, 512, 1024"):
        Stylizer.load(multiscale_model, scale=128)
    with pytest.raises(UserError, match="single output"):
        Stylizer.load(tiny_model, scale=256)
