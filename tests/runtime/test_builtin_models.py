"""The built-in style bank that ships as package data: size, model card, and what it does to a photo.

The quality tests run the shipped graph on a held-out photo (``assets/astronaut.jpg``,
384 px) and judge the result with VGG16 statistics (:mod:`impasto.training.metrics`):
each style brings the photo's Gram statistics nearer its painting than the photo is to
any of the bank's paintings (six of the eight remove 2/3 or more of the distance), the
per-layer loss weights α move the output in the direction they were trained for, and a
0.5/0.5 mixture lies between its two styles.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from impasto.runtime import Stylizer, read_image
from impasto.runtime.builtin_graphs import builtin_graph
from impasto.runtime.builtins import DEFAULT_STYLE, MODELS_DIR, builtin_cards, builtin_styles

ROOT = Path(__file__).resolve().parents[2]
#: The built-in models' budget (README "What ships"), counting decimal megabytes: 28 MB of graphs and the shared
#: encoder file, so the wheel with its code stays within the project's 30 MB (tests/packaging checks the wheel).
MAX_PACKAGE_BYTES = 28_000_000
STYLES = list(builtin_styles())
#: Regression pins, not quality floors: the largest allowed Gram distance after / before, per
#: style (astronaut at 384 px), each the shipped bank's (v11) measured ratio plus ~20 %, so a
#: retrained or re-exported bank that loses a fifth of a style's effect is caught. Measured:
#: starry_night 0.358, la_muse 0.402, wave 0.261, candy 0.681, udnie 0.230, the_scream 0.213,
#: composition_vii 0.368, mosaic 0.514 (v6: 0.283, 0.361, 0.226, 0.628, 0.224, 0.211, 0.354, 0.496; the
#: bank before the stability term, v3a: 0.222, 0.329, 0.181, 0.604, 0.208, 0.203, 0.279, 0.498: finer
#: texture, which this 384-px Gram distance rewards, but which swims in video). candy is the weakest: the
#: photo's statistics are already the closest to its painting's (1.67 before; the others 1.98-4.73).
MAX_GRAM_RATIO = {"starry_night": 0.43, "la_muse": 0.48, "wave": 0.31, "candy": 0.8, "udnie": 0.28,
                  "the_scream": 0.26, "composition_vii": 0.44, "mosaic": 0.62}


def test_builtins_ship_within_the_size_budget():
    """Every shipped model, the bank and the photowct graph, is package data under MODELS_DIR and counts."""
    assert DEFAULT_STYLE in STYLES, f"the default style {DEFAULT_STYLE!r} is missing from {MODELS_DIR}"
    photowct = builtin_graph("photowct")
    assert photowct is not None and photowct.is_relative_to(MODELS_DIR), photowct  # counted in the total below
    total = sum(p.stat().st_size for p in MODELS_DIR.rglob("*") if p.is_file())
    assert total <= MAX_PACKAGE_BYTES, f"built-in models take {total / 1e6:.2f} MB of {MAX_PACKAGE_BYTES / 1e6:.0f} MB"


def test_the_bank_is_the_only_builtin_file_and_holds_eight_styles():
    (card,) = builtin_cards()
    assert card.method == "bank" and card.path.name == "bank.onnx" and card.description
    styles = json.loads(card.metadata["impasto.styles"])
    assert len(styles) >= 8 and len(set(STYLES)) == len(STYLES) == len(styles)
    assert {"name": "starry_night", "source": "msgnet_starry_night.jpg"} in styles
    assert all(builtin_styles()[s].bank for s in STYLES)


def test_model_card_records_how_it_was_made():
    (card,) = builtin_cards()
    trained = card.card
    for key in ("command", "data", "iterations", "hardware", "styles", "final_losses", "seconds"):
        assert trained.get(key), f"model card lacks {key!r}"
    assert trained["command"].startswith("impasto train bank ")
    assert trained["iterations"] + trained.get("init_from", {}).get("iterations", 0) >= 1400
    # The exporter writes no graph that fails its parity gate, so "passed" and the rows' errors cannot fail here, and
    # without the bank's checkpoint (it does not ship) no independent ONNX-vs-PyTorch check is possible. What can
    # fail: the graph was gated at the default fp32 bound (not a relaxed --atol), at an odd size, over three draws.
    parity = json.loads(card.metadata["impasto.parity"])
    assert parity["tolerance"]["max_abs_error"] <= 1e-4
    sizes = {tuple(r["size"]) for r in parity["results"]}
    assert len(sizes) == 2 and any(h % 2 or w % 2 for h, w in sizes)
    assert len({r["draw"] for r in parity["results"]}) == 3  # one-hot at α = 1, then random mixtures and α


def test_default_style_loads_by_default():
    with Stylizer.load(backend="ort-cpu") as s:
        assert s.name == DEFAULT_STYLE
        assert s.style_weights[s.bank.styles.index(DEFAULT_STYLE)] == 1.0


@pytest.fixture(scope="module")
def judge(vgg_weights):
    from impasto.models.vgg import VGG16Features

    return VGG16Features(vgg_weights)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from impasto.runtime.io.images import fit_max_size

    return fit_max_size(read_image(ROOT / "assets" / "astronaut.jpg"), 384)


@pytest.fixture(scope="module")
def bank():
    with Stylizer.load(DEFAULT_STYLE, backend="ort-cpu") as s:
        yield s


def _painting(shared: Path, name: str) -> np.ndarray:
    return read_image(shared / "data" / "style" / builtin_styles()[name].source)


@pytest.fixture(scope="module")
def photo_to_painting(astronaut, shared, judge) -> dict[str, float]:
    """The unstyled photo's Gram distance to each of the bank's paintings (1.67 for candy ... 4.73 for wave)."""
    from impasto.training.metrics import style_distance

    return {name: style_distance(astronaut, _painting(shared, name), judge) for name in STYLES}


@pytest.mark.parametrize("name", STYLES)
def test_style_is_unmistakable_and_content_recognisable(name, bank, astronaut, shared, judge, photo_to_painting):
    """On a held-out photo: Gram statistics move towards the painting's, edges stay the photo's."""
    from impasto.training.metrics import edge_correlation, style_distance

    out = bank(astronaut, style=name)
    before, after = photo_to_painting[name], style_distance(out, _painting(shared, name), judge)
    # The quality floor, independent of today's numbers: the stylised photo ends nearer its painting than the unstyled
    # photo is to the nearest of the eight paintings (candy's, 1.67) -- a style that leaves the photo no closer to its
    # painting than a photo already is to some painting has not made it recognisable. Measured after: 0.55
    # (composition_vii) to 1.37 (mosaic). A fixed fraction of the way (e.g. after <= 0.5 x before) cannot be the
    # floor for all eight: candy's photo starts nearest its painting and keeps 0.60 of the distance.
    assert after < min(photo_to_painting.values()), (name, after, photo_to_painting)
    assert after < MAX_GRAM_RATIO[name] * before, (before, after)  # the regression pin
    assert edge_correlation(out, astronaut) > 0.6  # shipped bank: 0.71-0.85
    assert np.abs(out.astype(float) - astronaut.astype(float)).mean() > 20  # not a light filter


def test_more_style_weight_moves_further_from_the_content(bank, astronaut, shared, judge):
    """α_s up: further from the photo's features and closer to the painting; α_c up: the reverse."""
    from impasto.training.metrics import content_distance, style_distance

    style = _painting(shared, "starry_night")

    def measure(**alpha) -> tuple[float, float]:
        out = bank(astronaut, style="starry_night", **alpha)
        return content_distance(out, astronaut, judge), style_distance(out, style, judge)

    by_style = [measure(style_layer_weights=[a] * 4) for a in (0.25, 1.0, 2.0)]
    by_content = [measure(content_layer_weights=[a]) for a in (0.25, 1.0, 2.0)]
    content_d, style_d = zip(*by_style, strict=True)
    assert content_d[0] < content_d[1] < content_d[2], by_style
    assert style_d[0] > style_d[1] > style_d[2], by_style
    content_d, style_d = zip(*by_content, strict=True)
    assert content_d[0] > content_d[1] > content_d[2], by_content
    assert style_d[0] < style_d[1] < style_d[2], by_content


@pytest.mark.parametrize("layer", [
    pytest.param("relu1_2", marks=pytest.mark.xfail(
        strict=True, reason="known defect of the shipped bank (v11): α_s on relu1_2 raises relu1_2's Gram error "
                            "(0.00520 at 0.25, 0.00548 at 2, +5.4 %; v6 +12 %; the stability term works against the "
                            "finest texture); see docs/style-bank.md")),
    "relu2_2", "relu3_3",
    pytest.param("relu4_3", marks=pytest.mark.xfail(
        strict=True, reason="known defect of the shipped bank: α_s on relu4_3 barely moves relu4_3's Gram error "
                            "(v11: 0.5645 at 0.25, 0.5630 at 2, -0.27 %; v6 -0.16 %; v3a: 0.4705, 0.4722); "
                            "see docs/style-bank.md")),
])
def test_one_style_layer_weight_moves_its_own_layer(layer, bank, astronaut, shared, judge):
    """Raising α_s of one layer (others 1) lowers that layer's Gram error measurably (by at least 1 %)."""
    import torch

    from impasto.models.imaging import to_tensor
    from impasto.models.losses import gram, style_loss
    from impasto.training.metrics import _resize_longest

    layers = bank.bank.style_layers
    style = _painting(shared, "starry_night")
    with torch.no_grad():
        targets = {k: gram(v) for k, v in judge(to_tensor(_resize_longest(style, 384))[None], layers).items()}

    def layer_error(image: np.ndarray, layer: str) -> float:
        with torch.no_grad():
            return float(style_loss(judge(to_tensor(image)[None], (layer,)), {layer: targets[layer]}))

    i = layers.index(layer)
    errs = []
    for a in (0.25, 2.0):
        w = [1.0] * len(layers)
        w[i] = a
        errs.append(layer_error(bank(astronaut, style="starry_night", style_layer_weights=w), layer))
    assert errs[1] < 0.99 * errs[0], (layer, errs)


def test_half_and_half_mix_lies_between_the_two_styles(bank, astronaut, shared, judge):
    from impasto.training.metrics import style_distance

    a, b = "starry_night", "la_muse"
    pa, pb = _painting(shared, a), _painting(shared, b)
    out_a, out_b = bank(astronaut, style=a), bank(astronaut, style=b)
    mix = bank(astronaut, style={a: 0.5, b: 0.5})
    for painting in (pa, pb):
        da, db, dm = (style_distance(x, painting, judge) for x in (out_a, out_b, mix))
        assert min(da, db) < dm < max(da, db), (da, dm, db)
    # and in pixels: nearer to each pure style than the two are to each other
    dist = lambda x, y: np.abs(x.astype(float) - y.astype(float)).mean()  # noqa: E731
    assert dist(mix, out_a) < dist(out_a, out_b) and dist(mix, out_b) < dist(out_a, out_b)


#: Regression pins of the bank's stability (issue 19), each the shipped bank's (v11) measured value plus ~20 %:
#: the median over styles and two shifts of the mean |output change| (8-bit levels) after a whole-pixel shift of
#: a held-out photo, and the plain warping error on the first 16 frames of the procedural pan clip. Measured:
#: 4.69 and 9.85 (v6: 7.42 and 14.07); the bank before the stability term (v3a): 17.90 and 24.24 (its texture
#: swims).
MAX_SHIFT_CHANGE = 5.6
MAX_PAN_WARPING_ERROR = 12.0


def _shift_changes(bank, image: np.ndarray, style: str, shifts: list[tuple[int, int]]) -> list[float]:
    """Mean absolute 8-bit change of the stylisation's interior when the photo moves by each (dy, dx) whole pixels."""
    h, w = image.shape[:2]
    m = 16
    a = bank(image, style=style).astype(float)
    changes = []
    for dy, dx in shifts:
        moved = np.pad(image, ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0)), mode="edge")
        moved = moved[max(-dy, 0):max(-dy, 0) + h, max(-dx, 0):max(-dx, 0) + w]
        b = bank(moved, style=style).astype(float)
        changes.append(float(np.abs(b[m + dy:h - m + dy, m + dx:w - m + dx] - a[m:h - m, m:w - m]).mean()))
    return changes


def test_the_texture_moves_with_the_photo(bank, astronaut):
    """Shifts that are not multiples of the network's stride (4) must not make the texture swim."""
    changes = [c for name in STYLES for c in _shift_changes(bank, astronaut, name, [(1, 2), (3, -1)])]
    assert np.median(changes) < MAX_SHIFT_CHANGE, changes


def test_plain_video_flicker_stays_low(bank):
    """The warping error of the bank's plain per-frame output (the default style) along the input's own flow."""
    from impasto.runtime.stream.flicker import read_clip
    from impasto.runtime.stream.temporal import sequence_warping_error

    frames = read_clip(ROOT / "tests" / "data" / "video" / "pan_hills.avi", max_frames=16)
    outputs = [bank(f, style=DEFAULT_STYLE) for f in frames]
    assert sequence_warping_error(frames, outputs) < MAX_PAN_WARPING_ERROR
