"""Worker of tests/training/test_distributed.py: a tiny bank run, then this rank's weights to ``OUT/weights.R.pt``.

Run as ``python -m torch.distributed.run --nproc-per-node N ddp_bank_worker.py OUT DATA STYLE... --batch B
--iters I [--content-weight W] [--resume-to J]`` (or plainly, as a single process: ``R`` is then ``single``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from impasto.training.bank import Bank
from impasto.training.configs import BankTrainConfig
from impasto.training.loop import train


def run(out: Path, data: str, styles: list[str], *, batch: int, iters: int, content_weight: float = 1.0,
        resume: bool = False, tag: str = "") -> dict[str, torch.Tensor]:
    """Train the tiny bank into ``out/bank.pt``; return this process's weights (also saved as ``weights.R{tag}.pt``)."""
    cfg = BankTrainConfig(styles=tuple(styles), style_names=("starry_night", "la_muse"), data=data, iters=iters,
                          size=32, batch=batch, widths=(4, 8), n_residual=1, hidden=4, content_weight=content_weight,
                          checkpoint_every=2, preview_every=iters)
    method = Bank(cfg)
    train(method, out / "bank.pt", resume=resume, progress=False, command="test",
          vgg_weights=os.environ.get("IMPASTO_VGG16_WEIGHTS"))
    weights = {k: v.detach().cpu().clone() for k, v in method.net.state_dict().items()}
    torch.save(weights, out / f"weights.{os.environ.get('RANK', 'single')}{tag}.pt")
    return weights


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("data")
    p.add_argument("styles", nargs="+")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--iters", type=int, required=True)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--resume-to", type=int, help="then resume the run up to this iteration (weights.R.resumed.pt)")
    a = p.parse_args()
    run(a.out, a.data, a.styles, batch=a.batch, iters=a.iters, content_weight=a.content_weight)
    if a.resume_to:
        run(a.out, a.data, a.styles, batch=a.batch, iters=a.resume_to, content_weight=a.content_weight, resume=True,
            tag=".resumed")


if __name__ == "__main__":
    main()
