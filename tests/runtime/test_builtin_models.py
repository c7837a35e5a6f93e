"""The built-in styles that ship as package data: size, model cards, and what they do to a photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from impasto.runtime import Stylizer, read_image
from impasto.runtime.registry import DEFAULT_STYLE, MODELS_DIR, builtin_cards, builtin_paths

ROOT = Path(__file__).resolve().parents[2]
MAX_PACKAGE_BYTES = 20 * 1024 * 1024


def test_builtins_ship_within_the_size_budget():
    paths = builtin_paths()
    assert DEFAULT_STYLE in paths, f"the default style {DEFAULT_STYLE!r} is missing from {MODELS_DIR}"
    total = sum(p.stat().st_size for p in MODELS_DIR.iterdir() if p.is_file())
    assert total <= MAX_PACKAGE_BYTES, f"built-in models take {total / 1e6:.1f} MB"


@pytest.mark.parametrize("card", builtin_cards(), ids=lambda c: c.name)
def test_model_card_records_how_it_was_made(card):
    trained = card.card
    for key in ("command", "data", "iterations", "hardware", "style_image", "final_losses", "seconds"):
        assert trained.get(key), f"{card.name}: model card lacks {key!r}"
    assert trained["command"].startswith("impasto train feedforward ")
    assert trained["iterations"] >= 1000
    assert card.method == "feedforward" and card.description
    parity = json.loads(card.metadata["impasto.parity"])
    assert parity["passed"] is True and all(r["max_abs_error"] <= 1e-4 for r in parity["results"])
    assert len({tuple(r["size"]) for r in parity["results"]}) == 3


def test_default_style_loads_by_default():
    with Stylizer.load(backend="ort-cpu") as s:
        assert s.name == DEFAULT_STYLE


@pytest.mark.parametrize("card", builtin_cards(), ids=lambda c: c.name)
def test_style_is_unmistakable_and_content_recognisable(card, shared, vgg_weights):
    """On a held-out photo: Gram statistics move most of the way to the painting's, edges stay the photo's."""
    from impasto.models.vgg import VGG16Features
    from impasto.runtime.images import fit_max_size
    from impasto.training.metrics import edge_correlation, style_distance

    vgg = VGG16Features(vgg_weights)
    style = read_image(shared / "data" / "style" / card.card["style_image"])
    photo = fit_max_size(read_image(ROOT / "assets" / "astronaut.jpg"), 384)
    with Stylizer.load(card.name, backend="ort-cpu") as stylize:
        out = stylize(photo)
    before, after = style_distance(photo, style, vgg), style_distance(out, style, vgg)
    edges = edge_correlation(out, photo)
    assert after < before / 2.5, (before, after)  # starry_night, astronaut at 384 px: 3.06 -> 0.94 (3.3x)
    assert edges > 0.5, edges  # starry_night: 0.66
    assert np.abs(out.astype(float) - photo.astype(float)).mean() > 20  # not a light filter
