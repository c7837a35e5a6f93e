"""Run bookkeeping shared by the trainers: resume checks and the loss log."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from impasto.errors import UserError
from impasto.training.checkpoint import check_resume_settings, open_loss_log


@dataclass(frozen=True)
class _Cfg:
    lr: float = 1e-3
    sizes: tuple[int, ...] = (256, 512)
    iters: int = 100
    checkpoint_every: int = 10
    preview_every: int = 10


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


def test_resume_run_starts_refuses_or_restores(tmp_path):
    import torch

    from impasto.models.checkpoint import save_checkpoint
    from impasto.training.checkpoint import resume_run

    out = tmp_path / "run.pt"
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    assert resume_run(out, _Cfg(), True, net, opt) == (None, 0, 0.0)  # nothing to resume: a new run

    save_checkpoint(out, {"state_dict": {k: torch.full_like(v, 3.0) for k, v in net.state_dict().items()},
                          "optimizer": opt.state_dict(), "iteration": 40, "card": {"seconds": 12.5},
                          "train_config": {"lr": 1e-3, "sizes": [256, 512], "iters": 40}})
    with pytest.raises(UserError, match="exists: pass --resume"):
        resume_run(out, _Cfg(), False, net, opt)
    ckpt, start, seconds = resume_run(out, _Cfg(), True, net, opt)
    assert (start, seconds) == (40, 12.5) and ckpt["iteration"] == 40
    assert torch.all(net.weight == 3.0)
    with pytest.raises(UserError, match="other settings: lr="):
        resume_run(out, _Cfg(lr=5e-4), True, net, opt)


def test_init_from_checkpoint_loads_weights_and_refuses_another_model(tmp_path):
    import torch

    from impasto.models.checkpoint import save_checkpoint
    from impasto.training.checkpoint import init_from_checkpoint

    src = torch.nn.Linear(3, 2)
    card = {"seconds": 1.5, "command": "impasto train bank", "init_from": {"x": 1}}
    save_checkpoint(tmp_path / "a.pt", {"method": "bank", "model": {"config": {"n": 2}}, "state_dict": src.state_dict(),
                                        "iteration": 7, "train_config": {"lr": 1e-3}, "card": card})
    dst = torch.nn.Linear(3, 2)
    card = init_from_checkpoint(tmp_path / "a.pt", "bank", {"n": 2}, dst)
    assert torch.equal(dst.weight, src.weight)
    assert card == {"checkpoint": "a.pt", "iterations": 7, "train_config": {"lr": 1e-3}, "seconds": 1.5,
                    "command": "impasto train bank", "init_from": {"x": 1}}
    with pytest.raises(UserError, match=r"--init: expected a warpnet checkpoint with this model \(\{'n': 2\}\)"):
        init_from_checkpoint(tmp_path / "a.pt", "warpnet", {"n": 2}, dst, what="model")
    with pytest.raises(UserError, match=r"with this architecture \(\{'n': 3\}\), got \{'n': 2\}"):
        init_from_checkpoint(tmp_path / "a.pt", "bank", {"n": 3}, dst)
