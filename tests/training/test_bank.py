"""Style-bank training: a few real steps write a complete checkpoint; α sampling; resume and config checks."""

from __future__ import annotations

import random

import pytest
import torch

from impasto.errors import UserError
from impasto.models.checkpoint import load_checkpoint
from impasto.models.registry import build_from_checkpoint
from impasto.training.bank import BankTrainConfig, sample_alpha, train_bank

STYLES = ("msgnet_starry_night.jpg", "msgnet_la_muse.jpg")


@pytest.fixture
def setup(shared, photo_folder):
    return photo_folder(4), tuple(str(shared / "data/train512/style" / s) for s in STYLES)


def _cfg(data, styles, **kw) -> BankTrainConfig:
    base = dict(styles=styles, style_names=("starry_night", "la_muse"), data=str(data), iters=4, size=32, batch=1,
                widths=(4, 8), n_residual=1, hidden=4, checkpoint_every=2, preview_every=4)
    return BankTrainConfig(**{**base, **kw})


def test_a_few_steps_write_checkpoint_log_and_preview(setup, tmp_path, vgg_weights):
    data, styles = setup
    out = tmp_path / "bank.pt"
    summary = train_bank(_cfg(data, styles), out, progress=False, vgg_weights=vgg_weights, command="test")
    ckpt = load_checkpoint(out)
    assert ckpt["method"] == "bank" and ckpt["iteration"] == 4 and summary["iterations"] == 4
    assert ckpt["style_names"] == ["starry_night", "la_muse"]
    assert ckpt["style_files"] == list(STYLES)
    assert ckpt["card"]["styles"] == dict(zip(["starry_night", "la_muse"], STYLES, strict=True))
    ema = ckpt["loss_ema"]
    assert ema.shape == (2, 5) and (ema > 0).all()  # 4 steps, round-robin: both styles, every layer seen
    rows = (tmp_path / "bank.losses.csv").read_text().splitlines()
    assert len(rows) == 5 and {r.split(",")[1] for r in rows[1:]} == {"starry_night", "la_muse"}
    assert (tmp_path / "bank.preview.jpg").stat().st_size > 1000
    net = build_from_checkpoint(ckpt, method="bank")
    y = net(torch.rand(1, 3, 21, 19), torch.tensor([0.5, 0.5]), torch.ones(1), torch.ones(4))
    assert y.shape == (1, 3, 21, 19) and torch.isfinite(y).all()

    # resume with more iterations continues; different settings are refused
    train_bank(_cfg(data, styles, iters=6), out, resume=True, progress=False, vgg_weights=vgg_weights)
    assert load_checkpoint(out)["iteration"] == 6
    with pytest.raises(UserError, match="trained with other settings: lr="):
        train_bank(_cfg(data, styles, iters=8, lr=1e-2), out, resume=True, progress=False, vgg_weights=vgg_weights)
    with pytest.raises(UserError, match="exists: pass --resume"):
        train_bank(_cfg(data, styles), out, progress=False, vgg_weights=vgg_weights)


def test_alpha_sampling_mixes_the_default_and_uniform_draws():
    rng = random.Random(0)
    draws = [sample_alpha(rng, 5, 2.0, 0.25) for _ in range(2000)]
    defaults = sum(d == [1.0] * 5 for d in draws)
    assert 400 < defaults < 600
    flat = [v for d in draws if d != [1.0] * 5 for v in d]
    assert min(flat) >= 0 and max(flat) <= 2 and 0.9 < sum(flat) / len(flat) < 1.1


def test_config_validates_names_and_ranges(tmp_path):
    with pytest.raises(UserError, match="expected 2 names, got 1"):
        BankTrainConfig(styles=("a.jpg", "b.jpg"), style_names=("a",), data=str(tmp_path))
    with pytest.raises(UserError, match="unique names without"):
        BankTrainConfig(styles=("a.jpg", "b.jpg"), style_names=("a:1", "b"), data=str(tmp_path))
    with pytest.raises(UserError, match="p_default in"):
        BankTrainConfig(styles=("a.jpg",), data=str(tmp_path), p_default=1.5)
    assert BankTrainConfig(styles=("x/starry.jpg",), data="d").resolved_style_names == ("starry",)


def test_cosine_schedule_runs_from_lr_to_a_twentieth():
    cfg = BankTrainConfig(styles=("a.jpg",), data="d", iters=101, lr=1e-3)
    lrs = [cfg.lr_at(i) for i in range(1, 102)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(5e-5) and lrs[50] == pytest.approx(5.25e-4)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    flat = BankTrainConfig(styles=("a.jpg",), data="d", iters=101, lr=1e-3, lr_schedule="constant")
    assert {flat.lr_at(i) for i in (1, 50, 101)} == {1e-3}
    with pytest.raises(UserError, match="--lr-schedule: expected one of cosine, constant"):
        BankTrainConfig(styles=("a.jpg",), data="d", lr_schedule="step")
    with pytest.raises(UserError, match="--upsample"):
        BankTrainConfig(styles=("a.jpg",), data="d", upsample="area")
    assert BankTrainConfig(styles=("a.jpg",), data="d").model_config.upsample == "bilinear"


def test_stability_term_and_coarse_style_scale_are_trained_and_logged(setup, tmp_path, vgg_weights):
    import csv

    data, styles = setup
    out = tmp_path / "stable.pt"
    cfg = _cfg(data, styles, iters=2, size=48, style_scales=(1.0, 0.5), stability_weight=0.5, stability_noise=0.05,
               content_weight=0.0, style_weight=0.0, tv_weight=0.0)
    train_bank(cfg, out, progress=False, vgg_weights=vgg_weights)
    rows = list(csv.DictReader((tmp_path / "stable.losses.csv").open()))
    assert len(rows) == 2 and all(float(r["stability"]) > 0 for r in rows)
    for r in rows:  # with the other weights 0 the total is the weighted stability term alone
        assert float(r["total"]) == pytest.approx(0.5 * float(r["stability"]), rel=1e-4)
        assert float(r["style_loss"]) > 0  # still measured (both scales), just not weighted
    assert tuple(load_checkpoint(out)["train_config"]["style_scales"]) == (1.0, 0.5)
    plain = tmp_path / "plain.pt"
    train_bank(_cfg(data, styles, iters=1, size=48), plain, progress=False, vgg_weights=vgg_weights)
    first = next(csv.DictReader((tmp_path / "plain.losses.csv").open()))
    assert float(first["stability"]) == 0.0
    # same seed, same first batch and network: only the coarse scale changes the measured style error
    assert float(first["style_loss"]) != pytest.approx(float(rows[0]["style_loss"]), rel=1e-3)
    single = tmp_path / "single.pt"
    train_bank(_cfg(data, styles, iters=1, size=48, stability_weight=0.5), single, progress=False,
               vgg_weights=vgg_weights)
    same = next(csv.DictReader((tmp_path / "single.losses.csv").open()))
    assert float(same["style_loss"]) == pytest.approx(float(first["style_loss"]), rel=1e-5)
    sub = tmp_path / "sub.pt"
    train_bank(_cfg(data, styles, iters=1, size=48, stability_weight=0.5, stability_subpixel=True), sub,
               progress=False, vgg_weights=vgg_weights)
    assert load_checkpoint(sub)["train_config"]["stability_subpixel"] is True
    moved = next(csv.DictReader((tmp_path / "sub.losses.csv").open()))
    # same seed and first batch: only the (now fractional, Fourier) shifts change the stability term
    assert float(moved["stability"]) > 0
    assert float(moved["stability"]) != pytest.approx(float(same["stability"]), rel=1e-3)


def test_style_scales_are_checked(tmp_path):
    with pytest.raises(UserError, match=r"--style-scales: expected one or more scales in \[0.1, 1\]"):
        BankTrainConfig(styles=("a.jpg",), data="d", style_scales=(1.0, 2.0))
    with pytest.raises(UserError, match="style_scales"):
        BankTrainConfig(styles=("a.jpg",), data="d", style_scales=(0.01,))


def test_a_weights_only_copy_of_a_bank_still_exports_with_its_style_names(setup, tmp_path, vgg_weights):
    from impasto.export.pipeline import export_checkpoint
    from impasto.models.checkpoint import weights_only_copy
    from impasto.runtime.onnx_metadata import read_onnx_metadata

    data, styles = setup
    train_bank(_cfg(data, styles, iters=1), tmp_path / "full.pt", progress=False, vgg_weights=vgg_weights)
    report = weights_only_copy(tmp_path / "full.pt", tmp_path / "slim.pt")
    assert "loss_ema" in report["dropped"] and "style_names" not in report["dropped"]
    slim = load_checkpoint(tmp_path / "slim.pt")
    assert slim["style_names"] == ["starry_night", "la_muse"] and slim["style_files"] == list(STYLES)
    export_checkpoint(tmp_path / "slim.pt", tmp_path / "bank.onnx", method="bank")
    meta = read_onnx_metadata(tmp_path / "bank.onnx")
    assert '"name": "la_muse", "source": "msgnet_la_muse.jpg"' in meta["impasto.styles"]
