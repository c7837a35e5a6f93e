"""Training on two processes (torchrun, gloo): identical ranks, the doubled batch's result, resume, rank-0 files.

Tolerance of the doubled-batch comparison: the test trains with ``content_weight=0``.
The bank's style and TV losses are means of per-image terms, so two ranks of batch 1 with
DDP's gradient averaging compute the same gradient as one process with batch 2, up to float
summation order (VGG convolutions at batch 1 vs 2, the all-reduce). Measured: the logged
losses agree to 6 significant digits and the two networks' outputs on random images differ
by at most 2.5e-6 (values in [0, 1]); the test allows 1e-4 and 1e-5 relative. The content
loss is a ratio of batch means (``mean((F-P)^2) / mean(P^2)``), which is not a mean of
per-image terms, so with it switched on the two runs differ by design (measured: outputs
up to 0.02 apart after 4 iterations), not by rounding.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import free_port, load_module

from impasto.errors import UserError
from impasto.models.checkpoint import load_checkpoint
from impasto.models.registry import build_from_checkpoint
from impasto.training import data as data_module
from impasto.training import distributed
from impasto.training.data import AugmentedImages
from impasto.training.distributed import Processes, processes_from_env

WORKER = Path(__file__).with_name("ddp_bank_worker.py")
STYLES = ("msgnet_starry_night.jpg", "msgnet_la_muse.jpg")


def _worker():
    return load_module(WORKER, "ddp_bank_worker")


def _torchrun(out: Path, data: Path, styles: list[str], *extra: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}", str(WORKER), str(out),
           str(data), *styles, "--batch", "1", "--content-weight", "0", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: a hung run is killed with its workers
    try:
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-3000:]


def _rows(csv: Path) -> list[list[str]]:
    return [r.split(",") for r in csv.read_text().splitlines()[1:]]


def test_two_gloo_processes_match_one_process_with_the_doubled_batch(shared, photo_folder, tmp_path, vgg_weights):
    data = photo_folder(4)
    styles = [str(shared / "data/train512/style" / s) for s in STYLES]
    multi, single = tmp_path / "multi", tmp_path / "single"
    multi.mkdir()
    single.mkdir()
    _torchrun(multi, data, styles, "--iters", "4", "--resume-to", "6")  # both runs in the same two processes
    rank0, rank1 = (torch.load(multi / f"weights.{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # DDP: the same averaged step on both ranks
    one = _worker().run(single, str(data), styles, batch=2, iters=4, content_weight=0.0)
    multi_rows, single_rows = _rows(multi / "bank.losses.csv")[:4], _rows(single / "bank.losses.csv")
    for m, s in zip(multi_rows, single_rows, strict=True):
        assert m[:2] == s[:2]  # iteration and style
        for col in (3, 4, 5):  # style, tv and total losses: the ranks' mean == the doubled batch's
            assert float(m[col]) == pytest.approx(float(s[col]), rel=1e-5)
    ckpt = load_checkpoint(multi / "bank.pt")
    nets = [build_from_checkpoint(ckpt, method="bank") for _ in range(2)]
    nets[0].load_state_dict(rank0)
    nets[1].load_state_dict(one)
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for style in torch.eye(2):
            y0, y1 = (n(x, style, torch.ones(1), torch.ones(4)) for n in nets)
            assert (y0 - y1).abs().max() < 1e-4

    # resumed to 6: every rank loaded the same checkpoint and the ranks stay identical
    rank0, rank1 = (torch.load(multi / f"weights.{r}.resumed.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    assert ckpt["iteration"] == 6 and ckpt["card"]["processes"] == 2 and ckpt["card"]["batch"] == 1
    assert all(torch.equal(ckpt["state_dict"][k], rank0[k]) for k in rank0)  # rank 0 wrote its weights
    assert [r[0] for r in _rows(multi / "bank.losses.csv")] == [str(i) for i in range(1, 7)]


def test_a_rank_renders_its_own_slice_of_the_global_batch(photo_folder, monkeypatch):
    folder = photo_folder(3)
    ref = AugmentedImages(folder, 24, seed=5)
    wholes = [ref.batch(6), ref.batch(6)]  # one process, global batches of 6
    for rank in range(3):
        monkeypatch.setattr(distributed, "world", lambda r=rank: (r, 3))
        monkeypatch.setattr(data_module, "world", lambda r=rank: (r, 3))
        part = AugmentedImages(folder, 24, seed=5)
        for whole in wholes:  # rank r of 3 with batch 2: samples 2r, 2r+1 of each global batch
            assert torch.equal(part.batch(2), whole[2 * rank:2 * rank + 2])


def test_torchrun_environment_is_read_and_checked():
    assert processes_from_env({}) == Processes()
    assert processes_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == Processes(1, 2, 1)
    with pytest.raises(UserError, match="expected 0 <= RANK < WORLD_SIZE, got RANK=2, WORLD_SIZE=2"):
        processes_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(UserError, match="expected WORLD_SIZE to be a non-negative integer, got 'two'"):
        processes_from_env({"RANK": "0", "WORLD_SIZE": "two"})
