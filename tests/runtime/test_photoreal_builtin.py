"""The shipped photowct graph (package data): card, size budget, reconstruction and a DPST pair."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from impasto.runtime.io.images import read_image
from impasto.runtime.pipelines.photoreal import PHOTOREAL_DIR, WCTStylizer, builtin_graph

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "impasto" / "runtime" / "data"



def test_the_photowct_graph_ships():
    """The package ships it (README "What ships"); every test below needs it, so say so once, loudly."""
    assert builtin_graph("photowct") is not None, f"no built-in photowct graph in {PHOTOREAL_DIR}"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def test_package_data_stays_within_20_mb():
    total = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert total <= 20_000_000, total


def test_card_and_parity_metadata():
    with WCTStylizer.load(method="photowct") as m:
        meta = m.backend.metadata
        assert m.settings["levels"] == ["relu4_1", "relu3_1", "relu2_1", "relu1_1"]
        card = json.loads(meta["impasto.card"])
        assert set(card) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1"}
        for level, c in card.items():
            assert c["kind"] == "photo" and c["iterations"] > 0 and c["heldout_psnr_db"] > 20, level
        parity = json.loads(meta["impasto.parity"])
        assert parity["passed"] and all(r["max_abs_error"] <= 1e-3 for r in parity["results"])
    assert PHOTOREAL_DIR.name == "photoreal"


def test_alpha_zero_reconstructs_held_out_photos(shared):
    """alpha = 0: four encode/decode round trips bring the decoders' held-out photos back.

    Measured on the shipped graph: 19.9-21.4 dB unsmoothed, 21.8-24.0 dB with the guided
    filter (which is guided by the original photo) on the first five held-out photos.
    """
    with WCTStylizer.load(method="photowct") as m:
        held = json.loads(m.backend.metadata["impasto.card"])["relu4_1"]["holdout"][:3]
        for name in held:
            img = read_image(shared / "data/train512/content" / name)
            r = m.run(img, img, alpha=0.0, smooth="fast")
            assert _psnr(r["unsmoothed"], img) > 19.0, name
            assert _psnr(r["image"], img) > 21.0, name


def test_dpst_pair_with_masks(shared):
    d = shared / "data/photoreal/dpst"
    content, style = read_image(d / "content/in3.jpg"), read_image(d / "style/tar3.jpg")
    import cv2

    small = cv2.resize(content, (350, 234), interpolation=cv2.INTER_AREA)
    cm = cv2.resize(read_image(d / "segmentation/in3.png"), (350, 234), interpolation=cv2.INTER_NEAREST)
    with WCTStylizer.load(method="photowct") as m:
        r = m.run(small, style, content_mask=cm, style_mask=read_image(d / "segmentation/tar3.png"))
    out = r["image"]
    assert out.shape == small.shape and r["labels"]["count"] == 2
    # the style moved the colours: the mean colour is closer to the style's than the content's was
    assert np.abs(out.mean((0, 1)) - style.mean((0, 1))).sum() < np.abs(small.mean((0, 1)) - style.mean((0, 1))).sum()
