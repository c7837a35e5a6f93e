"""Training-run bookkeeping around checkpoints: loss logs, resume checks, ``--init``, ``--resume``, ``--device``.

Reading and writing checkpoint files is :mod:`impasto.models.checkpoint`'s; rebuilding a network from one
is :func:`impasto.models.registry.build_from_checkpoint`'s.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from impasto.errors import UserError
from impasto.models.checkpoint import load_checkpoint


def open_loss_log(path: str | os.PathLike, columns: tuple[str, ...], *, resume_at: int | None = None):
    """Open a training run's CSV loss log for writing, with its header.

    Args:
        path: the CSV file (its folder is created).
        columns: header row; the first column is the iteration.
        resume_at: keep the existing rows up to this iteration (a resumed run) and drop
            the later ones; None starts a fresh log.

    Returns:
        ``(file, csv_writer)``; the caller flushes and closes the file.
    """
    import csv

    p = Path(path)
    rows: list[list[str]] = []
    if resume_at is not None and p.exists():
        rows = [r for r in csv.reader(p.open()) if r and r[0].isdigit() and int(r[0]) <= resume_at]
    p.parent.mkdir(parents=True, exist_ok=True)
    fh = p.open("w", newline="")
    writer = csv.writer(fh)
    writer.writerow(columns)
    writer.writerows(rows)
    return fh, writer


#: Settings a resumed run may change: the length and the checkpoint/preview intervals.
RESUMABLE_CHANGES = ("iters", "checkpoint_every", "preview_every")


def check_resume_settings(out: str | os.PathLike, cfg: Any, old: dict[str, Any] | None) -> None:
    """Refuse to resume a run whose stored configuration differs from ``cfg``.

    Args:
        out: the checkpoint being resumed (for the message).
        cfg: the new run's configuration (a dataclass).
        old: the checkpoint's stored ``train_config``. Tuples and lists compare equal,
            because a stored configuration round-trips tuples as lists.

    Raises:
        UserError: naming every setting that differs, with its stored and new value.
    """
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, (tuple, list)) else v

    old = old or {}
    now = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    mismatched = [k for k, v in now.items() if k not in RESUMABLE_CHANGES and plain(old.get(k)) != plain(v)]
    if mismatched:
        raise UserError(f"--resume: checkpoint {str(out)!r} was trained with other settings: "
                        + ", ".join(f"{k}={old.get(k)!r} (now {now[k]!r})" for k in mismatched))


def init_from_checkpoint(path: str | os.PathLike, method: str, config: dict[str, Any], module: torch.nn.Module,
                         what: str = "architecture") -> dict[str, Any]:
    """Load another run's weights into ``module`` for ``--init``; return the model card's ``init_from``.

    Args:
        path: the checkpoint to start from.
        method: the ``method`` it must have (``"bank"``, ``"warpnet"``, ...).
        config: the model configuration it must have (``config.to_dict()`` of the new run).
        module: receives the checkpoint's ``state_dict``.
        what: how the message names ``config`` ("architecture", "model").

    Raises:
        UserError: another method or another model configuration.
    """
    src = load_checkpoint(path)
    if src.get("method") != method or src["model"]["config"] != config:
        raise UserError(f"--init: expected a {method} checkpoint with this {what} ({config}), got "
                        f"{src.get('model', {}).get('config')!r}")
    module.load_state_dict(src["state_dict"])
    card = src["card"]
    return {"checkpoint": Path(path).name, "iterations": src["iteration"], "train_config": src["train_config"],
            "seconds": card.get("seconds"), "command": card.get("command"),
            **({"init_from": card["init_from"]} if card.get("init_from") else {})}


def resume_run(out: Path, cfg: Any, resume: bool, module: torch.nn.Module,
               opt: torch.optim.Optimizer) -> tuple[dict[str, Any] | None, int, float]:
    """Start or continue the run stored at ``out``.

    Args:
        out: the run's checkpoint path.
        cfg: the run's configuration (checked with :func:`check_resume_settings`).
        resume: continue ``out`` if it exists.
        module: receives the checkpoint's ``state_dict``.
        opt: receives the checkpoint's optimizer state.

    Returns:
        ``(checkpoint, start_iteration, seconds_before)``; ``(None, 0, 0.0)`` for a new run.
        The caller restores its own random states and extra state from the checkpoint.

    Raises:
        UserError: ``out`` exists without ``resume``, or was trained with other settings.
    """
    if not out.exists():
        return None, 0, 0.0
    if not resume:
        raise UserError(f"output {str(out)!r} exists: pass --resume to continue it, or choose another path")
    ckpt = load_checkpoint(out)
    check_resume_settings(out, cfg, ckpt.get("train_config"))
    module.load_state_dict(ckpt["state_dict"])
    opt.load_state_dict(ckpt["optimizer"])
    return ckpt, ckpt["iteration"], ckpt["card"].get("seconds", 0.0)


def training_device(name: str) -> torch.device:
    """``--device``: the torch device, refused with a message when CUDA is asked for but absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: this torch build has no CUDA device; use --device cpu")
    return device
