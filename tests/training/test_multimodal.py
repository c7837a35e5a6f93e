"""MT-Net training: aligned crops, the hierarchical loss, a short run with resume, checkpoint building."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from impasto.errors import ModelError, UserError  # noqa: E402
from impasto.models.checkpoint import load_checkpoint  # noqa: E402
from impasto.models.multimodal import MultimodalNet, half_size  # noqa: E402
from impasto.models.registry import build_from_checkpoint  # noqa: E402
from impasto.runtime.io.images import write_image  # noqa: E402
from impasto.training.multimodal import (  # noqa: E402
    MultimodalTrainConfig,
    aligned_crop,
    hierarchical_loss,
    style_targets,
    train_multimodal,
)


@pytest.fixture(scope="module")
def vgg(vgg_weights):
    from impasto.models.vgg import VGG16Features

    return VGG16Features(vgg_weights)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Three smooth random 'photos' (80-100 px) and a striped 'painting'."""
    root = tmp_path_factory.mktemp("mt")
    rng = np.random.default_rng(0)
    (root / "photos").mkdir()
    for i, (h, w) in enumerate([(80, 96), (100, 90), (90, 120)]):
        small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
        write_image(root / "photos" / f"p{i}.png", np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w])
    stripes = np.zeros((60, 90, 3), dtype=np.uint8)
    stripes[:, ::6] = (250, 200, 40)
    write_image(root / "style.png", stripes)
    return root


def _cfg(folders, **kw) -> MultimodalTrainConfig:
    base = {"style": str(folders / "style.png"), "data": str(folders / "photos"), "iters": 2, "size": 64,
            "loss_crop": 32, "preset": "cpu", "checkpoint_every": 1, "preview_every": 2}
    return MultimodalTrainConfig(**{**base, **kw})


def test_aligned_crop_takes_the_same_window():
    y = torch.arange(64.0).view(1, 1, 8, 8)
    yc, xc = aligned_crop(y, y.clone() * 2, 4, random.Random(3))
    assert yc.shape[-2:] == (4, 4) and torch.equal(xc, yc * 2)
    whole_y, whole_x = aligned_crop(y, y, 16, random.Random(0))
    assert whole_y is y and whole_x is y
    assert aligned_crop(y, y, 0, random.Random(0))[0] is y


def test_config_rejects_bad_values(folders):
    with pytest.raises(UserError, match="divisible by 4"):
        _cfg(folders, size=66)
    with pytest.raises(UserError, match="--loss-crop"):
        _cfg(folders, loss_crop=8)
    with pytest.raises(UserError, match="--scale-weights"):
        _cfg(folders, scale_weights=(1.0, 0.5))
    with pytest.raises(UserError, match="--preset"):
        _cfg(folders, preset="huge")
    assert _cfg(folders).output_sides == (16, 32, 64)


def test_style_targets_follow_each_scale(vgg, folders):
    targets = style_targets(vgg, str(folders / "style.png"), (32, 64), 1.0)
    assert len(targets) == 2 and set(targets[0]) == {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}
    # stripes 6 px apart at 90 px look different at 32 and 64 px: the Gram matrices differ
    assert not torch.allclose(targets[0]["relu1_2"], targets[1]["relu1_2"], rtol=0.05)


def test_hierarchical_loss_weights_each_scale(vgg, folders):
    cfg = _cfg(folders)
    torch.manual_seed(0)
    net = MultimodalNet(cfg.model_config)
    x3 = torch.rand(1, 3, 64, 64)
    x2 = half_size(x3)
    contents = (half_size(x2), x2, x3)
    targets = style_targets(vgg, cfg.style, cfg.output_sides, cfg.style_scale)
    ys = net(x3)
    loss, parts = hierarchical_loss(vgg, ys, contents, targets, cfg, random.Random(0))
    assert torch.isfinite(loss) and parts["total"] == pytest.approx(loss.item(), rel=1e-5)
    assert parts["total"] == pytest.approx(parts["content"] + parts["style"] + parts["tv"], rel=1e-5)
    assert all(parts[f"style_{s}"] > 0 for s in (256, 512, 1024))
    # lambda_3 = 0 removes the finest output's style term, and no gradient reaches the refine subnet
    cfg0 = _cfg(folders, scale_weights=(1.0, 0.5, 0.0))
    loss0, parts0 = hierarchical_loss(vgg, net(x3), contents, targets, cfg0, random.Random(0))
    assert parts0["style_1024"] == 0.0
    net.zero_grad()
    loss0.backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in net.refine.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.enhance.parameters())


def test_short_run_writes_checkpoint_log_preview_and_resumes(vgg_weights, folders, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "mt.pt"
    cfg = _cfg(folders)
    summary = train_multimodal(cfg, out, progress=False, vgg_weights=vgg_weights, command="test")
    assert summary["iterations"] == 2 and out.is_file()
    ckpt = load_checkpoint(out)
    assert ckpt["method"] == "multimodal" and ckpt["iteration"] == 2
    assert ckpt["card"]["command"] == "test" and ckpt["card"]["style_name"] == "style"
    rows = list(csv.DictReader((tmp_path / "mt.losses.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [1, 2] and all(float(r["style_1024"]) > 0 for r in rows)
    assert (tmp_path / "mt.preview.jpg").is_file()
    net = build_from_checkpoint(ckpt, method="multimodal")
    assert not net.training and tuple(net(torch.rand(1, 3, 40, 40))[2].shape) == (1, 3, 40, 40)

    with pytest.raises(UserError, match="exists: pass --resume"):
        train_multimodal(cfg, out, progress=False, vgg_weights=vgg_weights)
    with pytest.raises(UserError, match="lr=0.001 \\(now 0.01\\)"):
        train_multimodal(_cfg(folders, iters=3, lr=1e-2), out, resume=True, progress=False, vgg_weights=vgg_weights)
    summary = train_multimodal(_cfg(folders, iters=3), out, resume=True, progress=False, vgg_weights=vgg_weights)
    assert summary["iterations"] == 3 and load_checkpoint(out)["iteration"] == 3
    assert [int(r["iteration"]) for r in csv.DictReader((tmp_path / "mt.losses.csv").open())] == [1, 2, 3]


def test_build_multimodal_rejects_other_checkpoints():
    with pytest.raises(ModelError, match="expected method 'multimodal'"):
        build_from_checkpoint({"method": "feedforward", "model": {"arch": "TransformerNet"}}, method="multimodal")
