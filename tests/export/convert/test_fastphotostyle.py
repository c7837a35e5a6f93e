"""``impasto convert fastphotostyle``: an upstream-layout photo_wct.pth -> a photowct graph the runtime runs.

The checkpoint is built here in FastPhotoStyle's layout (``PhotoWCT``: ``e1``-``e4``
``VGGEncoder(level)``, ``d1``-``d4`` ``VGGDecoder(level)``) from the upstream layer order,
and the upstream forward is re-implemented here (functional, with ``max_unpool2d`` as
upstream does), independently of :mod:`impasto.models.photowct19`, with impasto's WCT
(the converted graph's, so that the comparison is like with like).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch.nn import functional as F

from impasto.cli.main import main
from impasto.errors import UserError
from impasto.export.convert import fastphotostyle
from impasto.export.convert.common import sha256_of
from impasto.models import guided_filter as gf
from impasto.models import wct as wct_mod

NS_ITERS = 10
TEST_PARITY_SIZES = ((64, 64), (67, 45))
# upstream models.py, VGGEncoder(4) in forward order: conv name, in, out; "P" = MaxPool2d(2, 2, return_indices)
ENCODER = [("conv1_1", 3, 64), ("conv1_2", 64, 64), "P", ("conv2_1", 64, 128), ("conv2_2", 128, 128), "P",
           ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "P",
           ("conv4_1", 256, 512)]
ENCODER_STOP = {1: 0, 2: 3, 3: 6, 4: 11}  # index of the level's last layer (relu{k}_1)
# upstream VGGDecoder(4) in forward order; "U" = MaxUnpool2d(2, 2); VGGDecoder(k) starts at conv{k}_1
DECODER = [("conv4_1", 512, 256), "U", ("conv3_4", 256, 256), ("conv3_3", 256, 256), ("conv3_2", 256, 256),
           ("conv3_1", 256, 128), "U", ("conv2_2", 128, 128), ("conv2_1", 128, 64), "U", ("conv1_2", 64, 64),
           ("conv1_1", 64, 3)]
DECODER_START = {4: 0, 3: 5, 2: 8, 1: 11}


def upstream_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in photo_wct.pth's layout, scaled so every level's output stays in a visible range."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def conv(prefix: str, cin: int, cout: int, k: int = 3, gain: float = 1.0, bias: float = 0.0) -> None:
        sd[f"{prefix}.weight"] = torch.randn(cout, cin, k, k, generator=g) * gain * math.sqrt(2.0 / (cin * k * k))
        sd[f"{prefix}.bias"] = torch.full((cout,), bias)

    for k in (1, 2, 3, 4):
        conv(f"e{k}.conv0", 3, 3, k=1)
        for layer in ENCODER[: ENCODER_STOP[k] + 1]:
            if layer != "P":
                conv(f"e{k}.{layer[0]}", layer[1], layer[2])
        for layer in DECODER[DECODER_START[k]:]:
            if layer != "U":
                last = layer[0] == "conv1_1"
                conv(f"d{k}.{layer[0]}", layer[1], layer[2], gain=0.1 if last else 1.0, bias=0.5 if last else 0.0)
    return sd


def _conv(x: torch.Tensor, sd: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), sd[f"{name}.weight"], sd[f"{name}.bias"])


def encode(sd, k: int, x: torch.Tensor):
    """Upstream ``e_k``: ``(features at relu{k}_1, {j: relu{j}_1}, [(indices, pre-pool size)])``."""
    x = F.conv2d(x, sd[f"e{k}.conv0.weight"], sd[f"e{k}.conv0.bias"])
    taps, pools = {}, []
    for layer in ENCODER[: ENCODER_STOP[k] + 1]:
        if layer == "P":
            size = x.shape[-2:]
            x, idx = F.max_pool2d(x, 2, 2, return_indices=True)
            pools.append((idx, size))
        else:
            x = F.relu(_conv(x, sd, f"e{k}.{layer[0]}"))
            if layer[0].endswith("_1"):
                taps[int(layer[0][4])] = x
    return x, taps, pools


def decode(sd, k: int, x: torch.Tensor, pools) -> torch.Tensor:
    """Upstream ``d_k`` (unpooling with ``max_unpool2d`` and the given switches)."""
    pools = list(pools)
    for layer in DECODER[DECODER_START[k]:]:
        if layer == "U":
            idx, size = pools.pop()
            x = F.max_unpool2d(x, idx, 2, 2, output_size=size)
        else:
            x = _conv(x, sd, f"d{k}.{layer[0]}")
            x = x if layer[0] == "conv1_1" else F.relu(x)
    return x


def reference(sd, content, style, content_mask, style_mask, alpha, ns_iters: int = NS_ITERS):
    """PhotoWCT.transform's order with impasto's WCT and the content's switches: ``(smoothed, unsmoothed)``."""
    s_taps = encode(sd, 4, style)[1]  # forward_multiple: every level's style features from e4
    c_masks, s_masks = [content_mask], [style_mask]
    for _ in range(3):
        c_masks.append(wct_mod.pool_mask(c_masks[-1]))
        s_masks.append(wct_mod.pool_mask(s_masks[-1]))
    x = content
    for k in (4, 3, 2, 1):
        f = encode(sd, k, x)[0]
        switches = encode(sd, k, content)[2]
        t = wct_mod.wct(f, s_taps[k], c_masks[k - 1], s_masks[k - 1], alpha, iters=ns_iters)
        x = decode(sd, k, t, switches)
    x = x.clamp(0, 1)
    return gf.guided_filter(content, x, gf.DEFAULT_RADIUS, gf.DEFAULT_EPS).clamp(0, 1), x


def _two_label_feed(h: int, w: int, sh: int, sw: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    content = np.clip(rng.random((1, 3, h, w)) * 0.3 + np.linspace(0, 0.7, w)[None, None, None], 0, 1)
    style = np.clip(rng.random((1, 3, sh, sw)) * 0.5 + 0.25, 0, 1)
    cm = np.zeros((1, 2, h, w))
    cm[:, 0, :, : w // 3], cm[:, 1, :, w // 3:] = 1, 1
    smk = np.zeros((1, 2, sh, sw))
    smk[:, 0, : sh // 2], smk[:, 1, sh // 2:] = 1, 1
    return {k: v.astype(np.float32) for k, v in (("content", content), ("style", style), ("content_mask", cm),
                                                 ("style_mask", smk), ("alpha", np.array([0.9])))}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A random upstream checkpoint converted through the CLI (small parity sizes, fewer Newton-Schulz steps)."""
    from types import SimpleNamespace

    d = tmp_path_factory.mktemp("fastphotostyle")
    src, out = d / "photo_wct.pth", d / "photowct19.onnx"
    sd = upstream_state_dict()
    torch.save(sd, src)
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        argv = ["convert", "fastphotostyle", str(src), "-o", str(out), "--json", "--ns-iters", str(NS_ITERS),
                "--license", "CC BY-NC-SA 4.0"]
        mp.setattr(fastphotostyle, "PARITY_SIZES", TEST_PARITY_SIZES)
        mp.setattr(sys, "argv", ["impasto", *argv])  # the card records the command as typed
        rc = main(argv)
    assert rc == 0
    return SimpleNamespace(src=src, out=out, sd=sd, report=json.loads(buf.getvalue()))


def test_expected_keys_are_the_upstream_layout():
    from impasto.models.photowct19 import expected_shapes

    sd = upstream_state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected_shapes()
    assert len(sd) == 80 and "e4.conv3_4.weight" in sd and "d1.conv1_1.bias" in sd and "e3.conv3_2.weight" not in sd


def test_module_matches_the_independent_upstream_forward():
    from impasto.models.photowct19 import PhotoWCT19Pipeline

    sd = upstream_state_dict(seed=1)
    net = PhotoWCT19Pipeline(ns_iters=NS_ITERS)
    net.load_state_dict(sd)
    feed = {k: torch.from_numpy(v) for k, v in _two_label_feed(37, 53, 70, 66).items()}
    with torch.no_grad():
        got, want = net(**feed), reference(sd, **feed)
    assert want[1].std() > 0.02  # a visible image, not a clamped flat one
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-5, rtol=0)


def test_report_parity_and_card(converted):
    r = converted.report
    assert r["format"] == "fastphotostyle" and r["method"] == "photowct" and r["onnx_bytes"] > 30e6
    assert {tuple(p["size"]) for p in r["parity"]} == set(TEST_PARITY_SIZES)
    assert all(p["max_abs_error"] <= fastphotostyle.ATOL for p in r["parity"])
    meta = {p.key: p.value for p in onnx.load(str(converted.out), load_external_data=False).metadata_props}
    assert meta["impasto.method"] == "photowct"
    card = json.loads(meta["impasto.card"])["converted_from"]
    assert card["format"] == "fastphotostyle" and "FastPhotoStyle" in card["upstream"]
    assert card["files"] == [{"name": "photo_wct.pth", "sha256": sha256_of(converted.src)}]
    assert card["license"] == "CC BY-NC-SA 4.0" and "ToTensor" in card["input_convention"]
    assert card["command"].startswith("impasto convert fastphotostyle") and "impasto's WCT" in card["parity_reference"]
    assert json.loads(meta["impasto.source_sha256"]) == {"photo_wct.pth": sha256_of(converted.src)}
    assert json.loads(meta["impasto.wct"])["ns_iters"] == NS_ITERS


def test_graph_matches_the_independent_reference_at_a_new_size(converted):
    feed = _two_label_feed(45, 83, 64, 90, seed=5)
    sess = ort.InferenceSession(str(converted.out), providers=["CPUExecutionProvider"])
    got = sess.run(None, feed)
    with torch.no_grad():
        want = reference(converted.sd, **{k: torch.from_numpy(v) for k, v in feed.items()})
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape)
        assert np.abs(g - w.numpy()).max() <= fastphotostyle.ATOL


def test_runtime_runs_it_unchanged(converted):
    from impasto.runtime import WCTStylizer

    rng = np.random.default_rng(0)
    content = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
    style = (rng.random((64, 72, 3)) * 255).astype(np.uint8)
    with WCTStylizer.load(converted.out, method="photowct") as photo:
        result = photo.run(content, style, alpha=1.0)
    assert result["image"].shape == (40, 56, 3) and result["image"].dtype == np.uint8
    assert result["image"].std() > 1.0


def test_two_sources_refused(tmp_path):
    with pytest.raises(UserError, match="expected one checkpoint"):
        fastphotostyle.convert([tmp_path / "a.pth", tmp_path / "b.pth"], tmp_path / "o.onnx", license=None,
                               command="test")
    assert not (tmp_path / "o.onnx").exists()
