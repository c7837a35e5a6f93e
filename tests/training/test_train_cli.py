"""``impasto train METHOD``: flags mirror the configuration dataclasses; divergence and a missing GPU are one line."""

from __future__ import annotations

import pytest
import torch

from impasto.cli.main import build_parser, main
from impasto.cli.train_flags import EXIT_DIVERGED, config_from_args
from impasto.errors import UserError
from impasto.training import configs
from impasto.training.configs import (
    BankTrainConfig,
    DecoderTrainConfig,
    FeedForwardConfig,
    MultimodalTrainConfig,
    MunitTrainConfig,
    WarpNetTrainConfig,
)

REQUIRED = {
    "feedforward": (FeedForwardConfig, {"style": "s.jpg", "data": "photos"}),
    "bank": (BankTrainConfig, {"styles": ("a.jpg", "b.jpg"), "data": "photos"}),
    "multimodal": (MultimodalTrainConfig, {"style": "s.jpg", "data": "photos"}),
    "decoder": (DecoderTrainConfig, {"level": "relu2_1", "data": "photos"}),
    "warpnet": (WarpNetTrainConfig, {"data": "photos"}),
    "munit": (MunitTrainConfig, {"domain_a": "edges", "domain_b": "bags"}),
}


def _argv(kind: str, values: dict) -> list[str]:
    flags = {k: ",".join(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return ["train", kind, "-o", "x.pt", *(a for k, v in flags.items() for a in (f"--{k.replace('_', '-')}", v))]


@pytest.mark.parametrize("kind", sorted(REQUIRED))
def test_flag_defaults_are_the_dataclass_defaults(kind):
    cls, required = REQUIRED[kind]
    args = build_parser().parse_args(_argv(kind, required))
    assert config_from_args(cls, args) == cls(**required)
    assert args.output == "x.pt" and not args.resume and args.init is None


def test_structured_and_switch_flags_parse_into_the_config(capsys):
    args = build_parser().parse_args([*_argv("bank", REQUIRED["bank"][1]), "--widths", "8,24", "--style-names", "x,y",
                                      "--device", "cuda:1", "--init", "a.pt"])
    cfg = config_from_args(BankTrainConfig, args)
    assert (cfg.widths, cfg.style_names, cfg.device, args.init) == ((8, 24), ("x", "y"), "cuda:1", "a.pt")
    args = build_parser().parse_args([*_argv("feedforward", REQUIRED["feedforward"][1]), "--no-amp", "--width", "8"])
    assert config_from_args(FeedForwardConfig, args) == FeedForwardConfig(style="s.jpg", data="photos", amp=False,
                                                                          width=8)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*_argv("bank", REQUIRED["bank"][1]), "--widths", "8"])
    assert exc.value.code == 2
    assert "argument --widths: expected 2 comma-separated integers >= 1, got '8'" in capsys.readouterr().err


def test_configs_check_each_flag_minimum_and_choice():
    with pytest.raises(UserError, match=r"--n-residual: expected n_residual >= 0, got -1"):
        FeedForwardConfig(style="s.jpg", data="d", n_residual=-1)
    with pytest.raises(UserError, match=r"--widths: expected widths >= 1, got \(0, 8\)"):
        BankTrainConfig(styles=("a.jpg",), data="d", widths=(0, 8))
    with pytest.raises(UserError, match="--kind: expected one of photo, artistic, got 'oil'"):
        DecoderTrainConfig(level="relu1_1", data="d", kind="oil")
    with pytest.raises(UserError, match="--device: expected cpu or cuda, got 'tpu'"):
        WarpNetTrainConfig(data="d", device="tpu")


def test_torch_free_choices_match_the_models():
    from impasto.models import multimodal, photowct, style_bank, transformer

    assert set(configs.FEEDFORWARD_PRESETS) == set(transformer.PRESETS)
    assert set(configs.MULTIMODAL_PRESETS) == set(multimodal.PRESETS)
    assert configs.UPSAMPLE_MODES == style_bank.UPSAMPLE_MODES
    assert (configs.LEVELS, configs.KINDS) == (photowct.LEVELS, photowct.KINDS)


@pytest.fixture
def photos(photo_folder):
    return photo_folder(2)


def test_a_diverging_run_prints_one_line_and_exits_1(photos, shared, vgg_weights, tmp_path, capsys, monkeypatch):
    from impasto.training.feedforward import FeedForward

    def nan_step(self, it):
        loss = self.net(self.data.batch(1)).mean() * float("nan")
        return {"content": loss, "style": loss, "tv": loss, "total": loss}

    monkeypatch.setattr(FeedForward, "step", nan_step)
    code = main(["train", "feedforward", "--style", str(shared / "data/style/msgnet_starry_night.jpg"),
                 "--data", str(photos), "-o", str(tmp_path / "ff.pt"), "--iters", "3", "--size", "32",
                 "--width", "4", "--n-residual", "0", "--vgg-weights", vgg_weights])
    err = capsys.readouterr().err
    assert code == EXIT_DIVERGED == 1
    assert err.splitlines() == ["impasto: error: training diverged at iteration 1: expected finite losses, got "
                                "content=nan, style=nan, tv=nan, total=nan; no checkpoint was written"]
    assert not (tmp_path / "ff.pt").exists()


def test_device_cuda_without_cuda_is_one_line_exit_2(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["train", "warpnet", "--data", str(photos), "-o", str(tmp_path / "w.pt"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--device cuda: expected a CUDA device, got none" in err
    assert not list(tmp_path.glob("w.*"))
