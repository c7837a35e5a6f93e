"""Style-bank selections in the runtime: parsing, validation and normalisation (torch-free)."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import ModelError, UserError
from impasto.runtime.pipelines.bank import (
    BankLayout,
    describe_style,
    is_style_mix,
    layer_vector,
    parse_style,
    style_vector,
)

LAYOUT = BankLayout(("starry_night", "la_muse", "wave"), ("a.jpg", "b.jpg", "c.jpg"), ("relu2_2",),
                    ("relu1_2", "relu2_2", "relu3_3", "relu4_3"))


def test_parse_style_names_and_mixes():
    assert parse_style("la_muse") == {"la_muse": 1.0}
    assert parse_style("starry_night:0.6, la_muse:0.4") == {"starry_night": 0.6, "la_muse": 0.4}
    assert is_style_mix("a:0.5,b:0.5") and not is_style_mix("starry_night") and not is_style_mix("x.onnx")
    for bad, msg in (("a:x", "expected a number"), ("a,,b", "expected NAME"), ("a:1,a:2", "given twice")):
        with pytest.raises(UserError, match=msg):
            parse_style(bad)


def test_style_vector_normalises_and_orders_by_the_bank():
    np.testing.assert_allclose(style_vector(LAYOUT, "wave:3,starry_night:1"), [0.25, 0, 0.75])
    np.testing.assert_allclose(style_vector(LAYOUT, None), [1, 0, 0])
    np.testing.assert_allclose(style_vector(LAYOUT, [0, 2, 2]), [0, 0.5, 0.5])
    assert style_vector(LAYOUT, "la_muse").dtype == np.float32
    assert describe_style(LAYOUT, style_vector(LAYOUT, "wave:1,la_muse:1")) == "la_muse+wave"


@pytest.mark.parametrize("style, msg", [
    ("mosaic", r"style 'mosaic': expected one of the bank's styles \['starry_night', 'la_muse', 'wave'\]"),
    ([1, 0], r"expected 3 values \(one per style: starry_night, la_muse, wave\), got shape \(2,\)"),
    ({"wave": -1}, "expected finite non-negative values, got -1.0"),
    ({"wave": float("nan")}, "expected finite non-negative values"),
    ("wave:0", "expected at least one positive weight"),
])
def test_style_vector_rejects_bad_selections(style, msg):
    with pytest.raises(UserError, match=msg):
        style_vector(LAYOUT, style)


def test_layer_vector_defaults_parses_and_validates():
    np.testing.assert_array_equal(layer_vector(None, LAYOUT.style_layers, "--style-layer-weights"), [1, 1, 1, 1])
    np.testing.assert_allclose(layer_vector("0.5,1,2,0", LAYOUT.style_layers, "--x"), [0.5, 1, 2, 0])
    with pytest.raises(UserError, match=r"--style-layer-weights: expected 4 values \(one per layer: relu1_2, "
                                        r"relu2_2, relu3_3, relu4_3\), got shape \(3,\)"):
        layer_vector([1, 1, 1], LAYOUT.style_layers, "--style-layer-weights")
    with pytest.raises(UserError, match="expected 1 value "):
        layer_vector("1,2", LAYOUT.content_layers, "--content-layer-weights")
    with pytest.raises(UserError, match="expected finite non-negative"):
        layer_vector([-0.1], LAYOUT.content_layers, "--content-layer-weights")
    with pytest.raises(UserError, match="comma-separated numbers"):
        layer_vector("a,b", LAYOUT.content_layers, "--content-layer-weights")


def test_layout_from_metadata_needs_the_bank_keys():
    meta = {"impasto.styles": '[{"name": "a", "source": "a.jpg"}]', "impasto.content_layers": '["relu2_2"]',
            "impasto.style_layers": '["relu1_2"]'}
    layout = BankLayout.from_metadata(meta)
    assert layout.styles == ("a",) and layout.sources == ("a.jpg",)
    with pytest.raises(ModelError, match="impasto.styles"):
        BankLayout.from_metadata({k: v for k, v in meta.items() if k != "impasto.style_layers"})
