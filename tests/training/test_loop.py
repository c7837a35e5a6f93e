"""The one training run loop: resume, refusals, divergence, --init, --device, loss log (on a toy method)."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, replace

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from impasto.errors import TrainingDivergedError, UserError
from impasto.models.checkpoint import load_checkpoint, save_checkpoint
from impasto.models.registry import ExportDefaults, ModelSpec
from impasto.runtime.io.images import write_image
from impasto.training.loop import Method, check_resume_settings, init_from_checkpoint, open_loss_log, side_paths, train


@dataclass(frozen=True)
class _Cfg:
    lr: float = 1e-3
    sizes: tuple[int, ...] = (256, 512)
    iters: int = 100
    checkpoint_every: int = 10
    preview_every: int = 10


@dataclass(frozen=True)
class ToyModel:
    width: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ToyConfig:
    iters: int = 6
    batch: int = 4
    lr: float = 0.05
    width: int = 3
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 2
    preview_every: int = 3
    diverge_at: int = 0

    @property
    def model_config(self) -> ToyModel:
        return ToyModel(self.width)


class Toy(Method):
    """Linear regression on fresh random inputs from torch's global generator (so resume must restore it)."""

    name = "toy"
    spec = ModelSpec("toy", "ToyNet", ToyModel, lambda cfg, **_: nn.Linear(cfg.width, 1), "stylize",
                     ExportDefaults(), "a toy")
    columns = ("mse", "total")
    plot_columns = ("total",)
    progress_keys = {"mse": "mse"}

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__(cfg)
        self.steps_taken = 0

    def setup(self, net, device, start, vgg_weights):
        self.net, self.start = net, start
        self.initial_weight = net.weight.detach().clone()

    def step(self, it):
        x = torch.randn(self.cfg.batch, self.cfg.width)
        loss = F.mse_loss(self.net(x)[:, 0], x @ torch.arange(1.0, self.cfg.width + 1))
        self.steps_taken += 1
        if it == self.cfg.diverge_at:
            loss = loss * float("nan")
        return {"mse": loss.detach(), "total": loss}

    def preview(self, path):
        write_image(path, np.zeros((8, 8, 3), np.uint8))

    def state(self):
        return {"steps_taken": self.steps_taken}

    def restore(self, ckpt):
        self.steps_taken = ckpt["steps_taken"]


def _losses(out) -> list[list[str]]:
    """The loss log without its seconds column."""
    return [r[:-1] for r in csv.reader(side_paths(out)["csv"].open())]


def test_resume_continues_from_the_stored_iteration_with_the_same_losses(tmp_path):
    whole = train(Toy(ToyConfig()), tmp_path / "whole.pt", progress=False, command="test")
    assert whole["iterations"] == 6 and all((tmp_path / f"whole.{s}").is_file()
                                           for s in ("losses.csv", "losses.png", "preview.jpg"))

    out = tmp_path / "part.pt"
    train(Toy(ToyConfig(iters=3)), out, progress=False)
    assert load_checkpoint(out)["iteration"] == 3
    method = Toy(ToyConfig(checkpoint_every=5))  # a cadence may change
    summary = train(method, out, resume=True, progress=False)
    assert method.start == 3 and method.steps_taken == 6 and summary["iterations"] == 6
    ckpt = load_checkpoint(out)
    assert ckpt["iteration"] == 6 and ckpt["steps_taken"] == 6 and ckpt["method"] == "toy"
    assert ckpt["model"] == {"arch": "ToyNet", "config": {"width": 3}}
    assert _losses(out) == _losses(tmp_path / "whole.pt")  # RNG restored: the same numbers as one run
    assert torch.equal(ckpt["state_dict"]["weight"], load_checkpoint(tmp_path / "whole.pt")["state_dict"]["weight"])


def test_existing_output_and_changed_settings_are_refused(tmp_path):
    out = tmp_path / "run.pt"
    train(Toy(ToyConfig(iters=2)), out, progress=False)
    before = out.read_bytes()
    with pytest.raises(UserError, match="exists: pass --resume"):
        train(Toy(ToyConfig(iters=4)), out, progress=False)
    with pytest.raises(UserError, match=r"other settings: lr=0\.05 \(now 0\.1\)"):
        train(Toy(ToyConfig(iters=4, lr=0.1)), out, resume=True, progress=False)
    assert out.read_bytes() == before

    class Other(Toy):
        name = "other"

    with pytest.raises(UserError, match="--resume: expected a other checkpoint .* got a toy one"):
        train(Other(ToyConfig(iters=4)), out, resume=True, progress=False)


def test_divergence_is_a_typed_error_and_keeps_the_last_checkpoint(tmp_path):
    out = tmp_path / "run.pt"
    with pytest.raises(TrainingDivergedError, match=r"diverged at iteration 5: expected finite losses, got mse=nan, "
                                                    r"total=nan; the last checkpoint \(.*run\.pt\) holds iteration 4"):
        train(Toy(ToyConfig(diverge_at=5)), out, progress=False)
    assert load_checkpoint(out)["iteration"] == 4
    assert [r[0] for r in _losses(out)] == ["iteration", "1", "2", "3", "4"]
    with pytest.raises(TrainingDivergedError, match="iteration 1: .*no checkpoint was written"):
        train(Toy(ToyConfig(diverge_at=1)), tmp_path / "early.pt", progress=False)


def test_init_starts_from_another_checkpoint_and_records_it(tmp_path):
    src = tmp_path / "src.pt"
    train(Toy(ToyConfig(iters=2)), src, progress=False, command="impasto train toy")
    method = Toy(ToyConfig(iters=1, seed=5))
    train(method, tmp_path / "dst.pt", init=src, progress=False)
    assert torch.equal(method.initial_weight, load_checkpoint(src)["state_dict"]["weight"])
    init_from = load_checkpoint(tmp_path / "dst.pt")["card"]["init_from"]
    assert init_from["checkpoint"] == "src.pt" and init_from["iterations"] == 2
    assert init_from["command"] == "impasto train toy"
    # a resumed run keeps its init_from; another model configuration is refused
    train(Toy(ToyConfig(iters=2, seed=5)), tmp_path / "dst.pt", resume=True, init=src, progress=False)
    assert load_checkpoint(tmp_path / "dst.pt")["card"]["init_from"] == init_from
    with pytest.raises(UserError, match=r"--init: expected a toy checkpoint with this model configuration "
                                        r"\(\{'width': 4\}\), got a toy checkpoint with \{'width': 3\}"):
        train(Toy(ToyConfig(width=4)), tmp_path / "wide.pt", init=src, progress=False)


def test_device_cuda_without_cuda_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="--device cuda: expected a CUDA device, got none"):
        train(Toy(ToyConfig(device="cuda")), tmp_path / "gpu.pt", progress=False)
    assert not list(tmp_path.iterdir())


def test_resume_accepts_a_longer_run_and_lists_for_tuples():
    stored = {"lr": 1e-3, "sizes": [256, 512], "iters": 50, "checkpoint_every": 5, "preview_every": 5}
    check_resume_settings("run.pt", _Cfg(), stored)  # only the resumable settings differ


def test_resume_names_every_changed_setting_with_both_values():
    stored = {"lr": 2e-3, "sizes": [128], "iters": 100, "checkpoint_every": 10, "preview_every": 10}
    with pytest.raises(UserError, match=r"'run\.pt' was trained with other settings: "
                                        r"lr=0\.002 \(now 0\.001\), sizes=\[128\] \(now \(256, 512\)\)"):
        check_resume_settings("run.pt", _Cfg(), stored)


def test_resume_without_a_stored_configuration_is_refused():
    with pytest.raises(UserError, match="other settings"):
        check_resume_settings("run.pt", _Cfg(), None)


def test_loss_log_keeps_rows_up_to_the_resumed_iteration(tmp_path):
    path = tmp_path / "sub" / "run.losses.csv"
    fh, log = open_loss_log(path, ("iteration", "loss"))
    log.writerows([[1, 0.5], [2, 0.4], [3, 0.3]])
    fh.close()
    fh, log = open_loss_log(path, ("iteration", "loss"), resume_at=2)
    log.writerow([3, 0.25])
    fh.close()
    assert path.read_text().split() == ["iteration,loss", "1,0.5", "2,0.4", "3,0.25"]


@dataclass(frozen=True)
class _ModelCfg:
    n: int
    extra: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def test_init_from_checkpoint_loads_weights_and_refuses_another_model(tmp_path):
    src = torch.nn.Linear(3, 2)
    card = {"seconds": 1.5, "command": "impasto train bank", "init_from": {"x": 1}}
    save_checkpoint(tmp_path / "a.pt", {"method": "bank", "model": {"config": {"n": 2}}, "state_dict": src.state_dict(),
                                        "iteration": 7, "train_config": {"lr": 1e-3}, "card": card})
    dst = torch.nn.Linear(3, 2)
    card = init_from_checkpoint(tmp_path / "a.pt", "bank", _ModelCfg(2), dst)  # `extra` is newer than the file: default
    assert torch.equal(dst.weight, src.weight)
    assert card == {"checkpoint": "a.pt", "iterations": 7, "train_config": {"lr": 1e-3}, "seconds": 1.5,
                    "command": "impasto train bank", "init_from": {"x": 1}}
    with pytest.raises(UserError, match=r"--init: expected a warpnet checkpoint with this model configuration "
                                        r"\(\{'n': 2, 'extra': 0\}\), got a bank checkpoint"):
        init_from_checkpoint(tmp_path / "a.pt", "warpnet", _ModelCfg(2), dst)
    with pytest.raises(UserError, match=r"with this model configuration \(\{'n': 3, 'extra': 0\}\), got a bank "
                                        r"checkpoint with \{'extra': 0, 'n': 2\}"):
        init_from_checkpoint(tmp_path / "a.pt", "bank", _ModelCfg(3), dst)
    with pytest.raises(UserError, match=r"\(\{'n': 2, 'extra': 1\}\), got a bank checkpoint with "
                                        r"\{'extra': 0, 'n': 2\}"):  # a missing field is its default, not a wildcard
        init_from_checkpoint(tmp_path / "a.pt", "bank", _ModelCfg(2, extra=1), dst)


def test_side_paths_name_the_files_next_to_the_checkpoint(tmp_path):
    paths = side_paths(tmp_path / "runs" / "starry.pt")
    assert {k: p.name for k, p in paths.items()} == {"csv": "starry.losses.csv", "plot": "starry.losses.png",
                                                     "preview": "starry.preview.jpg"}
    assert replace(ToyConfig(), iters=1).model_config == ToyModel(3)
