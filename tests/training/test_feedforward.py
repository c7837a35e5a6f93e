import csv

import pytest
import torch

from impasto.errors import ModelError, UserError
from impasto.models.checkpoint import load_checkpoint
from impasto.models.registry import build_from_checkpoint
from impasto.training.feedforward import FeedForwardConfig, train_feedforward
from impasto.training.loop import side_paths


@pytest.fixture
def cfg(shared, vgg_weights):
    return FeedForwardConfig(style=str(shared / "data/style/msgnet_starry_night.jpg"),
                             data=str(shared / "data/train512/content"), iters=4, size=64, batch=2,
                             width=8, n_residual=1, checkpoint_every=2, preview_every=4)


def test_smoke_run_writes_everything_and_resumes(cfg, vgg_weights, tmp_path):
    out = tmp_path / "run" / "s.pt"
    summary = train_feedforward(cfg, out, progress=False, command="test", vgg_weights=vgg_weights)
    paths = side_paths(out)
    assert summary["iterations"] == 4
    for key in ("csv", "plot", "preview"):
        assert paths[key].stat().st_size > 0
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    ckpt = load_checkpoint(out)
    assert ckpt["iteration"] == 4 and ckpt["train_config"]["size"] == 64
    assert ckpt["card"]["iterations"] == 4 and ckpt["card"]["style_name"] == "msgnet_starry_night"
    net = build_from_checkpoint(ckpt, method="feedforward")
    assert net(torch.rand(1, 3, 31, 45)).shape == (1, 3, 31, 45)

    # resume: more iterations, the log continues, the config must match
    from dataclasses import replace

    train_feedforward(replace(cfg, iters=6), out, resume=True, progress=False, vgg_weights=vgg_weights)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(out)["iteration"] == 6
    with pytest.raises(UserError, match="lr="):
        train_feedforward(replace(cfg, iters=8, lr=5e-3), out, resume=True, progress=False, vgg_weights=vgg_weights)
    with pytest.raises(UserError, match="--resume"):
        train_feedforward(cfg, out, progress=False, vgg_weights=vgg_weights)


def test_style_loss_goes_down(cfg, vgg_weights, tmp_path):
    from dataclasses import replace

    out = tmp_path / "s.pt"
    train_feedforward(replace(cfg, iters=12, checkpoint_every=12, preview_every=12, lr=5e-3), out,
                      progress=False, vgg_weights=vgg_weights)
    rows = list(csv.DictReader(side_paths(out)["csv"].open()))
    first = sum(float(r["style"]) for r in rows[:3]) / 3
    last = sum(float(r["style"]) for r in rows[-3:]) / 3
    assert last < first / 3


def test_config_validation(tmp_path):
    with pytest.raises(UserError, match="iters >= 1"):
        FeedForwardConfig(style="s.jpg", data=str(tmp_path), iters=0)
    with pytest.raises(UserError, match="--preset"):
        FeedForwardConfig(style="s.jpg", data=str(tmp_path), preset="huge")
    with pytest.raises(UserError, match="--device"):
        FeedForwardConfig(style="s.jpg", data=str(tmp_path), device="tpu")


def test_empty_data_folder(cfg, vgg_weights, tmp_path):
    from dataclasses import replace

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        train_feedforward(replace(cfg, data=str(tmp_path / "empty")), tmp_path / "x.pt", progress=False,
                          vgg_weights=vgg_weights)


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"hello": 1}, p)
    with pytest.raises(ModelError, match="expected format"):
        load_checkpoint(p)
    with pytest.raises(ModelError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_stability_term_is_logged_and_added(cfg, vgg_weights, tmp_path):
    from dataclasses import replace

    out = tmp_path / "stable.pt"
    train_feedforward(replace(cfg, iters=2, stability_weight=0.5), out, progress=False, vgg_weights=vgg_weights)
    rows = list(csv.DictReader(side_paths(out)["csv"].open()))
    for r in rows:
        stab = float(r["stability"])
        assert stab > 0
        total = float(r["content"]) + float(r["style"]) + float(r["tv"]) + 0.5 * stab
        assert float(r["total"]) == pytest.approx(total, rel=1e-3)
