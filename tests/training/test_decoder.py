"""Decoder training: reconstruction PSNR on held-out images, side files, resume, held-out split."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from impasto.errors import UserError
from impasto.export.methods.wct import load_decoders
from impasto.models.checkpoint import load_checkpoint
from impasto.models.photowct import Encoder
from impasto.training.decoder import (
    DecoderTrainConfig,
    heldout_psnr,
    load_eval_images,
    split_holdout,
    train_decoder,
)
from impasto.training.loop import side_paths


@pytest.fixture(scope="module")
def trained(shared, vgg_weights, tmp_path_factory):
    """A relu1_1 photo decoder trained briefly at 64 px (about 10 s on a 2-core CPU)."""
    cfg = DecoderTrainConfig(level="relu1_1", kind="photo", data=str(shared / "data/train512/content"), iters=150,
                             size=64, batch=4, holdout=4, checkpoint_every=75, preview_every=150)
    out = tmp_path_factory.mktemp("dec") / "photo_relu1_1.pt"
    summary = train_decoder(cfg, out, progress=False, command="test", vgg_weights=vgg_weights)
    return cfg, out, summary


def test_reconstruction_psnr_on_held_out_images(trained, shared, vgg_weights):
    cfg, out, summary = trained
    assert summary["heldout_images"] == 4
    assert summary["heldout_psnr_db"] > 25.0, summary
    # the number in the card is reproducible from the checkpoint and the held-out files
    ckpt = load_checkpoint(out)
    files = [shared / "data/train512/content" / name for name in ckpt["card"]["holdout"]]
    (decoder,) = load_decoders([out], "photo")[0].values()
    again = heldout_psnr(Encoder(vgg_weights), decoder, load_eval_images(files))
    assert again == pytest.approx(summary["heldout_psnr_db"], abs=0.01)
    # an untrained decoder is far worse: the test measures training, not the metric
    fresh = type(decoder)(decoder.config)
    fresh.input_scale.copy_(decoder.input_scale)
    assert heldout_psnr(Encoder(vgg_weights), fresh, load_eval_images(files)) < 20.0


def test_side_files_card_and_resume(trained, vgg_weights):
    cfg, out, _ = trained
    paths = side_paths(out)
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["preview"].stat().st_size > 0
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 151))
    ckpt = load_checkpoint(out)
    config = {"level": "relu1_1", "kind": "photo", "refine": 0}
    assert ckpt["method"] == "decoder" and ckpt["model"] == {"arch": "Decoder", "config": config}
    card = ckpt["card"]
    assert card["iterations"] == 150 and card["level"] == "relu1_1" and len(card["holdout"]) == 4
    assert "held out" in card["data"] and card["heldout_psnr_db"] is not None
    train_decoder(replace(cfg, iters=155, checkpoint_every=5), out, resume=True, progress=False,
                  vgg_weights=vgg_weights)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 156))
    scale = load_checkpoint(out)["state_dict"]["input_scale"]
    assert torch.equal(scale, ckpt["state_dict"]["input_scale"])  # set once, kept on resume
    with pytest.raises(UserError, match="lr="):
        train_decoder(replace(cfg, iters=160, lr=5e-3), out, resume=True, progress=False, vgg_weights=vgg_weights)
    with pytest.raises(UserError, match="--resume"):
        train_decoder(cfg, out, progress=False, vgg_weights=vgg_weights)


def test_holdout_split_is_deterministic_and_disjoint():
    files = [Path(f"img{i:03d}.jpg") for i in range(228)]
    train, held = split_holdout(files, 10)
    assert len(held) == 10 and len(train) == 218 and not set(train) & set(held)
    assert split_holdout(files, 10) == (train, held)
    assert held[0] != files[0] and held[-1] != files[-1]  # spread over the folder, not its ends
    assert split_holdout(files, 0) == (files, [])
    with pytest.raises(UserError, match="fewer than"):
        split_holdout(files[:5], 5)


def test_config_validation(tmp_path):
    with pytest.raises(UserError, match="--level"):
        DecoderTrainConfig(level="relu5_1", data=str(tmp_path))
    with pytest.raises(UserError, match="--kind"):
        DecoderTrainConfig(level="relu1_1", kind="oil", data=str(tmp_path))
    with pytest.raises(UserError, match="size >= 32"):
        DecoderTrainConfig(level="relu1_1", data=str(tmp_path), size=16)
