"""WCT: Newton–Schulz against eigh on real VGG16 covariances, masks, alpha, regularisation."""

from __future__ import annotations

import pytest
import torch

from impasto.models import wct as W
from impasto.models.photowct import LEVELS, Encoder


@pytest.fixture(scope="module")
def vgg_feats(vgg_weights, shared):
    """relu1_1 … relu4_1 features of a DPST content photo and its style photo (long side 320)."""
    import cv2

    from impasto.models.imaging import to_tensor
    from impasto.runtime.io.images import read_image

    enc = Encoder(vgg_weights)
    out = []
    for rel in ("content/in3.jpg", "style/tar3.jpg"):
        img = read_image(shared / "data/photoreal/dpst" / rel)
        s = 320 / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        with torch.no_grad():
            out.append(enc.features(to_tensor(img)[None], LEVELS))
    return out


def test_newton_schulz_matches_eigh_on_vgg_covariances(vgg_feats):
    """Max relative error of Σ^{1/2} and Σ^{-1/2} (float32 NS, 25 steps) against float64 eigh, every level.

    Measured: ~3e-6 at relu2_1 … relu4_1 (512x512); up to ~3e-4 for relu1_1's Σ^{-1/2}, the
    float32 floor of its conditioning (eigenvalues from ~2 to ~4e4 after regularisation).
    """
    errors = {}
    for level in LEVELS:
        for feats in vgg_feats:
            f = feats[level][0].flatten(1)
            _, cov, _ = W.weighted_stats(f, torch.ones(1, f.shape[1]), W.DEFAULT_EPS)
            sq, isq = W.newton_schulz_sqrt(cov.float())
            rsq, risq = W.eigh_sqrt(cov.double())
            e_sq = ((sq.double() - rsq).abs().max() / rsq.abs().max()).item()
            e_isq = ((isq.double() - risq).abs().max() / risq.abs().max()).item()
            errors[level] = max(errors.get(level, 0.0), e_sq, e_isq)
    assert vgg_feats[0]["relu4_1"].shape[1] == 512  # the 512x512 case is in there
    assert max(errors[lv] for lv in LEVELS[1:]) < 2e-5, errors
    assert errors["relu1_1"] < 5e-4, errors


def test_wct_matches_eigh_reference_with_masks(vgg_feats):
    """The whole transform (masked, alpha) against the float64 eigh reference, relative to the feature scale.

    Measured on four DPST pairs: <= 8e-5 at relu1_1, <= 1e-5 at the other levels.
    """
    for level in LEVELS:
        fc, fs = vgg_feats[0][level], vgg_feats[1][level]
        h, w = fc.shape[-2:]
        wc = torch.zeros(1, 2, h, w)
        wc[:, 0, : h // 2], wc[:, 1, h // 2:] = 1.0, 1.0
        hs, ws_ = fs.shape[-2:]
        ws = torch.zeros(1, 2, hs, ws_)
        ws[:, 0, :, : ws_ // 3], ws[:, 1, :, ws_ // 3:] = 1.0, 1.0
        for wcm, wsm in ((torch.ones(1, 1, h, w), torch.ones(1, 1, hs, ws_)), (wc, ws)):
            got = W.wct(fc, fs, wcm, wsm, torch.tensor([0.7]))
            ref = W.wct_eigh(fc, fs, wcm, wsm, 0.7)
            rel = ((got.double() - ref).abs().max() / ref.abs().max()).item()
            assert rel < 2e-4, (level, wcm.shape[1], rel)


def test_covariances_stay_positive_definite_in_float32(vgg_feats):
    """Every regularised covariance keeps its smallest eigenvalue near the regulariser (masks included).

    A one-pass ``E[ffᵀ] − μμᵀ`` in float32 once produced a negative eigenvalue here (relu1_1,
    two labels), on which Newton–Schulz diverges to inf.
    """
    for level in LEVELS:
        f = vgg_feats[0][level][0].flatten(1)
        n = f.shape[1]
        w = torch.zeros(2, n)
        w[0, : n // 3], w[1, n // 3:] = 1.0, 1.0
        for weights in (torch.ones(1, n), w):
            _, cov, _ = W.weighted_stats(f, weights, W.DEFAULT_EPS)
            exact = W.weighted_stats(f.double(), weights.double(), W.DEFAULT_EPS)[1]
            reg = (exact - W.weighted_stats(f.double(), weights.double(), 0.0)[1])[:, 0, 0]
            low = torch.linalg.eigvalsh(cov.double()).min(dim=-1).values
            assert (low > 0.5 * reg).all(), (level, low, reg)


def test_newton_schulz_identities_small_spd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 40, generator=g)
    a = x @ x.transpose(1, 2) / 40 + 0.1 * torch.eye(16)
    sq, isq = W.newton_schulz_sqrt(a.double(), 30)
    eye = torch.eye(16, dtype=torch.float64)
    assert torch.allclose(sq @ sq, a.double(), atol=1e-8)
    assert torch.allclose(isq @ a.double() @ isq, eye.expand(3, 16, 16), atol=1e-8)
    assert torch.equal(W.eye_like(a), torch.eye(16))


def _region_stats(x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = x[0].flatten(1)[:, m.flatten() > 0.5].double()
    mu = f.mean(1, keepdim=True)
    return mu[:, 0], (f - mu) @ (f - mu).T / f.shape[1]


def test_masks_each_region_takes_only_its_counterparts_statistics():
    """Content label l gets style label l's mean and covariance; a label the style lacks gets the global ones."""
    g = torch.Generator().manual_seed(0)
    c, h, w, hs, ws_ = 8, 24, 30, 20, 36
    fc = torch.randn(1, c, h, w, generator=g) * 2 + 1
    # style: two regions with very different statistics
    mix_a, mix_b = torch.randn(c, c, generator=g), torch.randn(c, c, generator=g) * 0.3
    fs = torch.empty(1, c, hs, ws_)
    za, zb = torch.randn(c, hs * ws_, generator=g), torch.randn(c, hs * ws_, generator=g)
    left = (torch.arange(ws_) < 12).expand(hs, ws_).flatten()
    fs[0] = torch.where(left, mix_a @ za + 10.0, mix_b @ zb - 5.0).reshape(c, hs, ws_)
    sm = torch.stack([left.reshape(hs, ws_), ~left.reshape(hs, ws_)]).float()[None]
    sm = torch.cat([sm, torch.zeros(1, 1, hs, ws_)], dim=1)  # label 2: absent from the style
    top = torch.zeros(h, w)
    top[:8] = 1
    mid = torch.zeros(h, w)
    mid[8:16] = 1
    cm = torch.stack([top, mid, 1 - top - mid])[None]
    out = W.wct(fc, fs, cm, sm, torch.tensor([1.0]), eps=1e-6)
    targets = [_region_stats(fs, sm[0, 0]), _region_stats(fs, sm[0, 1]), _region_stats(fs, torch.ones(hs, ws_))]
    for label, (t_mu, t_cov) in enumerate(targets):
        mu, cov = _region_stats(out, cm[0, label])
        assert torch.allclose(mu, t_mu, atol=1e-3), label
        assert ((cov - t_cov).abs().max() / t_cov.abs().max()).item() < 1e-3, label
    # and not the other region's: the means are 15 apart
    assert (_region_stats(out, top)[0] - targets[1][0]).abs().max() > 5


def test_alpha_blends_in_feature_space():
    g = torch.Generator().manual_seed(1)
    fc, fs = torch.randn(1, 4, 9, 11, generator=g), torch.randn(1, 4, 10, 8, generator=g) * 3
    ones_c, ones_s = torch.ones(1, 1, 9, 11), torch.ones(1, 1, 10, 8)
    assert torch.allclose(W.wct(fc, fs, ones_c, ones_s, torch.tensor([0.0])), fc)
    full = W.wct(fc, fs, ones_c, ones_s, torch.tensor([1.0]))
    half = W.wct(fc, fs, ones_c, ones_s, torch.tensor([0.5]))
    assert torch.allclose(half, 0.5 * full + 0.5 * fc, atol=1e-5)


def test_constant_region_stays_finite():
    fc = torch.zeros(1, 4, 8, 8)  # zero covariance: the absolute floor keeps it invertible
    fs = torch.rand(1, 4, 8, 8)
    out = W.wct(fc, fs, torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8), torch.tensor([1.0]))
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0].mean(dim=(1, 2)), fs[0].mean(dim=(1, 2)), atol=1e-4)


def test_pool_mask_keeps_a_partition_and_the_encoder_grid():
    m = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 37, 53)), 3).permute(0, 3, 1, 2).float()
    p = W.pool_mask(m)
    assert p.shape == (1, 3, 18, 26)
    assert torch.allclose(p.sum(1), torch.ones(1, 18, 26))
