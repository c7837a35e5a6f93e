"""PhotoWCT / WCT modules: encoder = VGG16, unpooling, decoders at odd sizes, pipeline, guided filter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from impasto.models.guided_filter import box_mean, guided_filter
from impasto.models.photowct import (
    LEVELS,
    Decoder,
    DecoderConfig,
    Encoder,
    StylePipeline,
    unpool,
)
from impasto.models.registry import build_from_checkpoint


def test_encoder_equals_vgg16_taps(vgg_weights):
    from impasto.models.vgg import VGG16Features

    enc, vgg = Encoder(vgg_weights), VGG16Features(vgg_weights)
    x = torch.rand(1, 3, 45, 67)
    a, b = enc.features(x, LEVELS), vgg(x, list(LEVELS))
    for level in LEVELS:
        assert torch.equal(a[level], b[level]), level
    f, switches = enc.encode(x, "relu4_1")
    assert f.shape == (1, 512, 5, 8)
    assert [s[1] for s in switches] == [(45, 67), (22, 33), (11, 16)]
    assert sum(p.numel() for p in enc.parameters()) == 2_915_648  # conv1_1 … conv4_1 only


def test_unpool_is_max_unpooling():
    x = torch.randn(2, 5, 13, 17)
    p, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    got = unpool(p, (idx, (13, 17)))
    ref = F.max_unpool2d(p, idx, 2, 2, output_size=(13, 17))
    assert torch.equal(got, ref)
    assert got[..., -1, :].abs().sum() == 0  # the row the pooling dropped stays zero


@pytest.mark.parametrize("kind", ["photo", "artistic"])
def test_decoders_odd_sizes(kind):
    enc = Encoder(random=True)
    x = torch.rand(1, 3, 37, 53)
    for level in LEVELS:
        dec = Decoder(DecoderConfig(level, kind))
        f, switches = enc.encode(x, level)
        assert dec(f, switches).shape == (1, 3, 37, 53)
        with pytest.raises(ValueError, match="switches"):
            dec(f, [*switches, (None, (1, 1))])


def test_unpooling_decoder_uses_the_switches():
    """A photo decoder's output depends on where the maxima were; an artistic one's does not."""
    torch.manual_seed(0)
    enc = Encoder(random=True)
    x = torch.rand(1, 3, 32, 32)
    f, sw = enc.encode(x, "relu2_1")
    moved = [(torch.roll(sw[0][0], 1, dims=-1).clamp(max=32 * 32 - 1), sw[0][1])]
    photo, art = Decoder(DecoderConfig("relu2_1", "photo")), Decoder(DecoderConfig("relu2_1", "artistic"))
    assert not torch.allclose(photo(f, sw), photo(f, moved))
    assert torch.equal(art(f, sw), art(f, moved))


def test_config_and_pipeline_validation():
    with pytest.raises(ValueError, match="level"):
        DecoderConfig("relu5_1")
    with pytest.raises(ValueError, match="kind"):
        DecoderConfig("relu1_1", "watercolour")
    enc = Encoder(random=True)
    with pytest.raises(ValueError, match="one kind"):
        StylePipeline(enc, {"relu1_1": Decoder(DecoderConfig("relu1_1", "photo")),
                            "relu2_1": Decoder(DecoderConfig("relu2_1", "artistic"))})
    with pytest.raises(ValueError, match="given as"):
        StylePipeline(enc, {"relu2_1": Decoder(DecoderConfig("relu1_1"))})
    with pytest.raises(Exception, match="method 'decoder'"):
        build_from_checkpoint({"method": "feedforward", "model": {"arch": "TransformerNet"}}, method="decoder")


def test_pipeline_outputs_and_alpha_zero_is_reconstruction():
    torch.manual_seed(0)
    enc = Encoder(random=True)
    decs = {lv: Decoder(DecoderConfig(lv)) for lv in ("relu1_1", "relu2_1")}
    for d in decs.values():
        d.out[1].bias.data.fill_(0.5)
    p = StylePipeline(enc, decs, ns_iters=8)
    c, s = torch.rand(1, 3, 33, 41), torch.rand(1, 3, 40, 36)
    ones_c, ones_s = torch.ones(1, 1, 33, 41), torch.ones(1, 1, 40, 36)
    smoothed, raw = p(c, s, ones_c, ones_s, torch.tensor([0.0]))
    assert smoothed.shape == raw.shape == (1, 3, 33, 41)
    assert 0 <= float(raw.min()) and float(raw.max()) <= 1
    # alpha 0: each level decodes its own encoding, unpooling with the content photo's switches
    _, content_switches = enc.encode(c, "relu2_1")
    x = c
    for lv in ("relu2_1", "relu1_1"):
        f, _ = enc.encode(x, lv)
        x = decs[lv](f, content_switches[: int(lv[4]) - 1]).clamp(0, 1)
    assert torch.allclose(raw, x, atol=1e-5)
    assert torch.allclose(smoothed, guided_filter(c, x, p.smooth_radius, p.smooth_eps).clamp(0, 1), atol=1e-6)


# --- guided filter against a straightforward float64 reference (OpenCV box sums) -----------------

def _box_ref(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the clipped (2r+1)^2 window: OpenCV unnormalised box sums / box sums of ones."""
    k = (2 * r + 1, 2 * r + 1)
    s = cv2.boxFilter(x, cv2.CV_64F, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    n = cv2.boxFilter(np.ones(x.shape[:2]), cv2.CV_64F, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return s / (n if s.ndim == 2 else n[..., None])


def _guided_ref(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al. (2013) Algorithm 1 with a colour guide (eq. 19-21), pixel by pixel 3x3 solves."""
    h, w, _ = guide.shape
    mean_i = _box_ref(guide, r)
    sigma = np.empty((h, w, 3, 3))
    for a in range(3):
        for b in range(3):
            sigma[..., a, b] = _box_ref(guide[..., a] * guide[..., b], r) - mean_i[..., a] * mean_i[..., b]
    out = np.empty_like(src)
    for k in range(src.shape[2]):
        p = src[..., k]
        mean_p = _box_ref(p, r)
        cov = np.stack([_box_ref(guide[..., a] * p, r) for a in range(3)], -1) - mean_i * mean_p[..., None]
        a = np.linalg.solve(sigma + eps * np.eye(3), cov[..., None])[..., 0]
        b = mean_p - (a * mean_i).sum(-1)
        out[..., k] = (_box_ref(a, r) * guide).sum(-1) + _box_ref(b, r)
    return out


@pytest.mark.parametrize(("h", "w", "r", "eps"), [(31, 45, 4, 1e-2), (20, 17, 8, 1e-3), (12, 9, 15, 1e-1)])
def test_guided_filter_matches_reference(h, w, r, eps):
    rng = np.random.default_rng(h)
    guide = rng.random((h, w, 3))
    guide[:, : w // 2] *= 0.3  # an edge
    src = np.clip(guide[..., ::-1] * 0.7 + 0.2 * rng.random((h, w, 3)), 0, 1)
    ref = _guided_ref(guide, src, r, eps)
    got = guided_filter(torch.from_numpy(guide.transpose(2, 0, 1)[None]).float(),
                        torch.from_numpy(src.transpose(2, 0, 1)[None].copy()).float(), r, eps)
    err = np.abs(got[0].numpy().transpose(1, 2, 0) - ref).max()
    assert err < 2e-4, err


def test_box_mean_matches_reference():
    x = np.random.default_rng(0).random((23, 19))
    got = box_mean(torch.from_numpy(x)[None, None], 5)[0, 0].numpy()
    assert np.abs(got - _box_ref(x, 5)).max() < 1e-12


def _box_mean_pooling(x: torch.Tensor, r: int) -> torch.Tensor:
    """The former box filter: two 1-D average poolings of width 2r+1 (the graphs before the cumulative sums)."""
    k = 2 * r + 1
    x = torch.nn.functional.avg_pool2d(x, (1, k), stride=1, padding=(0, r), count_include_pad=False)
    return torch.nn.functional.avg_pool2d(x, (k, 1), stride=1, padding=(r, 0), count_include_pad=False)


@pytest.mark.parametrize(("h", "w", "r"), [(23, 19, 0), (23, 19, 5), (9, 40, 32), (70, 65, 32)])
def test_the_cumulative_sum_box_mean_equals_the_average_pooling_one(h, w, r):
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h + r)) * 4 - 1
    got, ref = box_mean(x, r), _box_mean_pooling(x, r)
    assert torch.allclose(got, ref, atol=5e-6), (got - ref).abs().max()
    assert not torch.allclose(got, box_mean(x, r + 1), atol=1e-3)  # the radius matters


def test_the_pipeline_with_the_fast_box_filter_equals_the_former_path(monkeypatch):
    torch.manual_seed(1)
    decs = {lv: Decoder(DecoderConfig(lv)) for lv in ("relu1_1", "relu2_1")}
    for d in decs.values():
        d.out[1].bias.data.fill_(0.5)
    p = StylePipeline(Encoder(random=True), decs, ns_iters=8)
    c, s = torch.rand(1, 3, 40, 52), torch.rand(1, 3, 44, 48)
    args = (c, s, torch.ones(1, 1, 40, 52), torch.ones(1, 1, 44, 48), torch.tensor([0.9]))
    new_smoothed, new_raw = p(*args)
    monkeypatch.setattr("impasto.models.guided_filter.box_mean", _box_mean_pooling)
    old_smoothed, old_raw = p(*args)
    assert torch.equal(new_raw, old_raw)  # the box filter is used by the smoothing only
    assert (new_smoothed - old_smoothed).abs().max() < 2e-5
    assert (new_smoothed - new_raw).abs().max() > 1e-2  # the smoothing does something


def test_guided_filter_keeps_an_affine_function_of_the_guide():
    """If the source is an affine colour transform of the guide, the filter returns it (eps -> 0)."""
    g = torch.rand(1, 3, 24, 30, generator=torch.Generator().manual_seed(3))
    m = torch.tensor([[0.5, 0.2, 0.1], [0.0, 0.8, 0.1], [0.3, 0.0, 0.6]])
    src = torch.einsum("ij,bjhw->bihw", m, g) + 0.05
    assert torch.allclose(guided_filter(g, src, 3, 1e-8), src, atol=2e-3)
