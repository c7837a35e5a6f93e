"""Photoreal runtime (torch-free): label masks, exact smoothing, running exported photowct / wct graphs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.errors import ImageError, ModelError, UserError
from impasto.runtime import builtin_graphs
from impasto.runtime.io.images import decode_image, encode_image
from impasto.runtime.io.masks import decode_mask, label_maps, label_masks, match_style
from impasto.runtime.pipelines.photoreal import WCTStylizer, resolve_graph
from impasto.runtime.pipelines.smoothing import matting_smooth

ROOT = Path(__file__).resolve().parents[2]
PALETTE = np.array([[0, 0, 255], [0, 255, 0], [0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)


def _mask(labels: np.ndarray, jpeg: bool = True) -> np.ndarray:
    """A colour-coded mask, JPEG-damaged like the DPST segmentations (thousands of stray colours)."""
    rgb = PALETTE[labels]
    return decode_image(encode_image(rgb, ".jpg", quality=70)) if jpeg else rgb


def _blobs(h: int, w: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, n, (h // 16 + 1, w // 16 + 1)).repeat(16, 0).repeat(16, 1)[:h, :w]
    return np.ascontiguousarray(lab)


# --- masks ---------------------------------------------------------------------------------------

def test_decode_noisy_mask_recovers_the_regions():
    lab = _blobs(96, 128, 4, 0)
    noisy = _mask(lab)
    assert len(np.unique(noisy.reshape(-1, 3), axis=0)) > 30  # stray colours at every edge
    lm = decode_mask(noisy)
    assert lm.count == 4
    # every region keeps its colour; only pixels at edges may flip
    mapped = np.array([np.argmin(((PALETTE[:4].astype(int) - c) ** 2).sum(1)) for c in lm.colors])
    assert (mapped[lm.labels] == lab).mean() > 0.97


def test_style_labels_follow_content_colours_and_missing_labels_fall_back():
    c = _mask(_blobs(64, 64, 3, 1), jpeg=False)  # blue, green, black
    s_lab = _blobs(80, 48, 2, 2)
    s_lab[s_lab == 1] = 4  # red: not in the content
    s = _mask(s_lab, jpeg=False)
    cl, sl, info = label_maps(c, s)
    assert info["count"] == 3
    blue = [lab["color"] for lab in info["labels"]].index("#0000ff")
    assert set(np.unique(sl)) == {blue, -1}  # red style pixels belong to no label
    assert sorted(info["global_fallback"]) == ["#000000", "#00ff00"]
    cm, sm, _ = label_masks(c, s)
    assert cm.shape == (1, 3, 64, 64) and sm.shape == (1, 3, 80, 48)
    assert np.allclose(cm.sum(1), 1) and sm.sum() == (sl >= 0).sum()
    assert (match_style(s, decode_mask(c)) == sl).all()


def test_mask_errors():
    photo = cv2.resize(cv2.imread(str(ROOT / "assets" / "chelsea.jpg"))[..., ::-1], (200, 150))
    with pytest.raises(ImageError, match="not a colour-coded label mask"):
        decode_mask(np.ascontiguousarray(photo), name="cm.png")
    many = np.zeros((40, 200, 3), np.uint8)
    for i in range(20):  # 20 flat, well separated colours
        many[:, i * 10:(i + 1) * 10] = ((i * 97) % 256, (i * 53 + 90) % 256, (i * 211) % 256)
    with pytest.raises(ImageError, match="at most 8 label colours, got"):
        decode_mask(many, max_labels=8)


# --- exact smoothing -----------------------------------------------------------------------------

def test_exact_smoothing_removes_noise_and_keeps_edges():
    h, w = 48, 64
    clean = np.zeros((h, w, 3), np.uint8)
    clean[:, : w // 2] = (200, 60, 40)
    clean[:, w // 2:] = (30, 90, 220)
    content = np.clip(clean.astype(int) // 2 + 60, 0, 255).astype(np.uint8)  # same edge, other colours
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    out = matting_smooth(noisy, content)
    err_in = np.abs(noisy.astype(float) - clean).mean()
    err_out = np.abs(out.astype(float) - clean).mean()
    assert err_out < err_in / 3
    assert np.abs(out[:, w // 2 - 3].astype(int) - out[:, w // 2 + 2]).sum() > 300  # the edge is still there


def test_exact_smoothing_limits():
    a = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(ImageError, match=r"exceeds its limit of 0\.00 MP.*--smooth fast"):
        matting_smooth(a, a, max_pixels=1000)
    with pytest.raises(ImageError, match="one size"):
        matting_smooth(a, a[:30])


# --- running the graphs --------------------------------------------------------------------------

def test_photowct_runs_with_masks_and_every_smoothing(photowct_graph):
    rng = np.random.default_rng(0)
    content = cv2.resize(np.ascontiguousarray(cv2.imread(str(ROOT / "assets/chelsea.jpg"))[..., ::-1]), (72, 48))
    style = (rng.random((80, 90, 3)) * 255).astype(np.uint8)
    cm, sm = _mask(_blobs(48, 72, 3, 3)), _mask(_blobs(80, 90, 2, 4))
    with WCTStylizer.load(photowct_graph.path) as model:
        assert model.method == "photowct" and model.provider == "CPUExecutionProvider"
        outs = {}
        for smooth in ("fast", "none", "exact"):
            r = model.run(content, style, content_mask=cm, style_mask=sm, alpha=0.8, smooth=smooth)
            outs[smooth] = r["image"]
            assert r["image"].shape == content.shape and r["image"].dtype == np.uint8
            assert r["labels"]["count"] == 3 and len(r["labels"]["global_fallback"]) == 1
        assert not np.array_equal(outs["fast"], outs["none"]) and not np.array_equal(outs["exact"], outs["none"])
        plain = model(content, style)  # no masks
        assert plain.shape == content.shape


def test_photowct_input_errors(photowct_graph):
    content = np.full((48, 64, 3), 128, np.uint8)
    with WCTStylizer.load(photowct_graph.path, method="photowct") as model:
        with pytest.raises(ImageError, match="style image 60x40: too small, expected at least 64 px"):
            model(content, np.zeros((40, 60, 3), np.uint8))
        style = np.zeros((70, 90, 3), np.uint8)
        with pytest.raises(ImageError, match="content mask: expected the size of its image, 64x48, got 60x48"):
            model(content, style, content_mask=_mask(_blobs(48, 60, 2, 0)), style_mask=_mask(_blobs(70, 90, 2, 0)))
        with pytest.raises(ImageError, match="style mask: expected the size of its image, 90x70"):
            model(content, style, content_mask=_mask(_blobs(48, 64, 2, 0)), style_mask=_mask(_blobs(71, 90, 2, 0)))
        with pytest.raises(UserError, match="both a content mask and a style mask"):
            model(content, style, content_mask=_mask(_blobs(48, 64, 2, 0)))
        with pytest.raises(UserError, match="alpha"):
            model(content, style, alpha=1.5)
        with pytest.raises(ImageError, match="too small, expected at least 16 px"):
            model(content[:10], style)
        with pytest.raises(ImageError, match="exceeds its limit"):
            model(content, style, smooth="exact", exact_max_pixels=100)


def test_style_is_fitted_to_the_content(photowct_graph):
    with WCTStylizer.load(photowct_graph.path) as model:
        r = model.run(np.full((40, 48, 3), 90, np.uint8), np.zeros((600, 1200, 3), np.uint8))
        assert r["style_size"] == [256, 512]  # longest side max(48, 512)


def test_wct_graph_and_method_checks(wct_graph, photowct_graph):
    with WCTStylizer.load(wct_graph.path, method="wct") as model:
        out = model(np.full((40, 56, 3), 100, np.uint8), np.random.default_rng(1).integers(0, 255, (64, 64, 3),
                                                                                          dtype=np.uint8), alpha=0.5)
        assert out.shape == (40, 56, 3)
        with pytest.raises(UserError, match=r"\(photowct\) graphs only"):
            model(np.zeros((40, 56, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), smooth="exact")
    with pytest.raises(ModelError, match="expected a wct graph, got a photowct graph"):
        WCTStylizer.load(photowct_graph.path, method="wct")


def test_not_a_wct_graph(tiny_model):
    with pytest.raises(ModelError, match="expected a photowct or wct graph"):
        WCTStylizer.load(tiny_model)


def test_missing_graph_messages(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="no such file"):
        resolve_graph(tmp_path / "nope.onnx", "photowct")
    monkeypatch.setattr(builtin_graphs, "VGG16_DIR", tmp_path)
    with pytest.raises(ModelError, match="impasto export photowct DECODER.pt"):
        resolve_graph(None, "photowct")


def test_runtime_modules_do_not_import_torch(photowct_graph, tmp_path):
    code = ("import sys, numpy as np\n"
            "from impasto.runtime.pipelines.photoreal import WCTStylizer\n"
            "import impasto.runtime.pipelines.smoothing, impasto.runtime.io.masks, impasto.cli.photoreal\n"
            f"m = WCTStylizer.load({str(photowct_graph.path)!r})\n"
            "out = m(np.full((32, 40, 3), 120, np.uint8), np.full((64, 64, 3), 30, np.uint8), smooth='exact')\n"
            "assert out.shape == (32, 40, 3)\n"
            "bad = sorted(x for x in sys.modules if x.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
