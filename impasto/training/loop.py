"""The one training run loop: resume or ``--init``, device, seeds, loss log, plot, preview, model card, checkpoints.

A method supplies hooks (:class:`Method`: data and losses, one step, preview, card
entries, extra state); its network comes from its registry spec
(:mod:`impasto.models.registry`). :func:`train` does the rest::

    device -> check -> seed -> build -> optimizer (Adam) -> resume (weights, optimizer, RNG, state) or --init
    -> setup -> every iteration: step -> finite? -> backward -> lr -> Adam step -> log row
       every checkpoint_every: evaluate + checkpoint; every preview_every: preview + plot

Convention:
    Next to the checkpoint ``x.pt`` a run writes ``x.losses.csv`` (``iteration``, the
    method's columns, ``seconds``: one row per iteration; a resumed run keeps the rows up
    to its checkpoint), ``x.losses.png`` and ``x.preview.jpg``. Both cadences also fire at
    the last iteration. A checkpoint (written atomically by
    :func:`impasto.models.checkpoint.save_checkpoint`) holds ``method``, ``model``
    (``arch`` and ``config`` from the spec), ``state_dict`` (the spec's ``stored`` part),
    ``optimizer``, ``iteration``, ``train_config``, ``card``, ``rng`` (``torch``,
    ``cuda`` on a GPU, and the method's own generators) and the method's extra state.
    The card, the summary and the progress bar show exponentially smoothed losses.
    Under ``torchrun`` (:mod:`impasto.training.distributed`) the step runs inside DDP,
    the logged losses are the ranks' mean, rank 0 alone writes these files (the others
    wait at a barrier), and the card and summary record ``processes``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import os
import platform
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from impasto import __version__
from impasto.errors import TrainingDivergedError, UserError
from impasto.models.checkpoint import load_checkpoint, save_checkpoint
from impasto.models.registry import ModelSpec, get_spec
from impasto.training import distributed
from impasto.training.distributed import SINGLE, Processes
from impasto.utils.progress import Progress

#: Settings a resumed run may change: its length, the checkpoint/preview cadences and the device.
RESUMABLE_CHANGES = ("iters", "checkpoint_every", "preview_every", "device")


class Method(ABC):
    """One training method's hooks for :func:`train`; one instance per run.

    Args:
        cfg: the run's frozen configuration (:mod:`impasto.training.configs`), with at least
            ``iters``, ``batch``, ``lr``, ``seed``, ``device``, ``checkpoint_every``,
            ``preview_every`` and a ``model_config`` property.

    Attributes:
        name: the registry method (:func:`impasto.models.registry.get_spec`).
        columns: the loss-log columns between ``iteration`` and ``seconds``.
        plot_columns: the columns the loss plot draws.
        progress_keys: progress-bar label -> smoothed loss it shows.
        label: the progress bar's label.
        log_every: the progress bar's line interval off a terminal, as a fraction of the run.
        smoothing: weight of the newest value in the smoothed losses.
        digits: decimals of the smoothed losses in the card and the summary.
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    plot_columns: ClassVar[tuple[str, ...]]
    progress_keys: ClassVar[dict[str, str]] = {"content": "content", "style": "style"}
    label: str = "train"
    log_every: ClassVar[float] = 0.02
    smoothing: ClassVar[float] = 0.1
    digits: ClassVar[int] = 4

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @property
    def spec(self) -> ModelSpec:
        return get_spec(self.name)

    @property
    def model_config(self) -> Any:
        return self.cfg.model_config

    @property
    def plot_title(self) -> str:
        return f"{self.name} training"

    def check(self) -> None:
        """Refuse bad inputs before anything is built."""
        return None

    @abstractmethod
    def setup(self, net: nn.Module, device: torch.device, start: int, vgg_weights: str | None) -> None:
        """Load data, loss targets and preview inputs; ``start`` is the resumed iteration (0: a new run)."""

    @abstractmethod
    def step(self, it: int) -> dict[str, Any]:
        """The losses of iteration ``it`` (tensors or floats): ``"total"`` is back-propagated, all are logged."""

    @abstractmethod
    def preview(self, path: Path) -> None:
        """Write the preview image to ``path`` (in eval mode, without gradients)."""

    def log_row(self, values: dict[str, float]) -> list[str]:
        """The loss-log cells of :attr:`columns` for one iteration's losses."""
        return [f"{values[c]:.6g}" for c in self.columns]

    def lr_at(self, it: int) -> float:
        """The learning rate of iteration ``it``."""
        return self.cfg.lr

    def optimizer(self, params: Any) -> torch.optim.Optimizer:
        """The optimizer of the stored network's ``params`` (default: Adam with ``cfg.lr`` and torch's betas)."""
        return torch.optim.Adam(params, lr=self.cfg.lr)

    def evaluate(self) -> dict[str, Any]:
        """Scores measured at every checkpoint (in eval mode, without gradients), for the card and the summary."""
        return {}

    def card(self) -> dict[str, Any]:
        """The method's model-card entries (``data`` and what else it records)."""
        return {}

    def summary(self) -> dict[str, Any]:
        """The method's entries in the returned summary."""
        return {}

    def state(self) -> dict[str, Any]:
        """Extra checkpoint entries."""
        return {}

    def rng_state(self) -> dict[str, Any]:
        """The method's own random generators, stored under the checkpoint's ``rng``."""
        return {}

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Take :meth:`state` and :meth:`rng_state` back from a resumed checkpoint (before :meth:`setup`)."""
        return None


@dataclass
class _Run:
    """A run in progress."""

    method: Method
    out: Path
    device: torch.device
    net: nn.Module
    opt: torch.optim.Optimizer
    command: str
    start: int = 0
    seconds_before: float = 0.0
    init_from: dict[str, Any] | None = None
    saved: int | None = None  # iteration of the last checkpoint written
    procs: Processes = SINGLE
    ddp: nn.Module | None = None  # the method's step inside DistributedDataParallel (several processes only)

    @property
    def stored(self) -> nn.Module:
        return self.method.spec.stored(self.net)


def train(method: Method, out: str | os.PathLike, *, resume: bool = False, init: str | os.PathLike | None = None,
          progress: bool = True, command: str | None = None, vgg_weights: str | None = None) -> dict[str, Any]:
    """Train (or resume) ``method``; write the checkpoint, loss log, loss plot and preview.

    Args:
        method: the method's hooks with the run's configuration.
        out: checkpoint path (``.pt``).
        resume: continue the run stored at ``out``; its configuration must match except
            :data:`RESUMABLE_CHANGES`. Without it an existing ``out`` is refused.
        init: start a new run from another checkpoint's weights (same method and model
            configuration; optimizer and method state start afresh), recorded in the card
            as ``init_from``. A resumed run keeps its own.
        progress: draw a progress bar on stderr.
        command: the command line recorded in the card (default: ``sys.argv``).
        vgg_weights: explicit VGG16 weights path.

    Returns:
        A summary: checkpoint, iterations, seconds, final (smoothed) losses, the method's
        entries and scores, throughput and the side files.

    Raises:
        UserError: an existing ``out`` without ``resume``, changed settings, a bad ``init``
            or an unavailable device.
        TrainingDivergedError: a loss that is not finite.
    """
    procs = distributed.processes_from_env()
    device = distributed.process_device(str(training_device(method.cfg.device)), procs)
    with distributed.process_group(device, procs) as procs:
        return _train(method, Path(out), device, procs, resume, init, progress, command or " ".join(sys.argv),
                      vgg_weights)


def _train(method: Method, out: Path, device: torch.device, procs: Processes, resume: bool,
           init: str | os.PathLike | None, progress: bool, command: str, vgg_weights: str | None) -> dict[str, Any]:
    """The run of :func:`train` on ``device``, as rank ``procs.rank`` of ``procs.world``."""
    run = _start(method, out, device, resume, init, command, vgg_weights)
    method.setup(run.net, run.device, run.start, vgg_weights)
    run.procs = procs
    if procs.active:
        run.ddp = distributed.ddp_step(run.stored, method.step, run.device)
    cfg, paths = method.cfg, side_paths(run.out)
    log_f, log = (open_loss_log(paths["csv"], ("iteration", *method.columns, "seconds"), resume_at=run.start or None)
                  if procs.main else (None, None))
    bar = Progress(cfg.iters, method.label, enabled=progress and procs.main, log_every=method.log_every)
    bar.n = run.start
    smooth: dict[str, float] = {}
    scores: dict[str, Any] = {}
    it = run.start
    run.net.train()
    t0 = time.perf_counter()
    try:
        for it in range(run.start + 1, cfg.iters + 1):
            values = _step(run, it)
            a = method.smoothing
            smooth = {k: v if k not in smooth else (1 - a) * smooth[k] + a * v for k, v in values.items()}
            secs = run.seconds_before + time.perf_counter() - t0
            bar.update(1, **{label: smooth[key] for label, key in method.progress_keys.items()})
            saving, previewing = it % cfg.checkpoint_every == 0 or it == cfg.iters, it % cfg.preview_every == 0 \
                or it == cfg.iters
            if not procs.main:  # rank 0 writes; the others wait for it at the barrier below
                run.saved = it if saving else run.saved
                if saving or previewing:
                    distributed.barrier()
                continue
            log.writerow([it, *method.log_row(values), f"{secs:.1f}"])
            if saving:
                log_f.flush()
                scores = _save(run, it, secs, _rounded(smooth, method.digits))
            if previewing:
                with _evaluating(run.net):
                    method.preview(paths["preview"])
                log_f.flush()
                plot_losses(paths["csv"], paths["plot"], method.plot_columns, f"{run.out.stem} — {method.plot_title}")
            if procs.active and (saving or previewing):
                distributed.barrier()
    finally:
        if log_f is not None:
            log_f.close()
        bar.close()
    elapsed, done = time.perf_counter() - t0, it - run.start
    return {"checkpoint": str(run.out), "iterations": it, "seconds": round(run.seconds_before + elapsed, 1),
            "final_losses": _rounded(smooth, method.digits), **method.summary(), **scores,
            **({"processes": procs.world, "rank": procs.rank} if procs.active else {}),
            "images_per_second": round(done * cfg.batch * procs.world / max(1e-9, elapsed), 2),
            "seconds_per_iteration": round(elapsed / max(1, done), 3),
            "log": str(paths["csv"]), "plot": str(paths["plot"]), "preview": str(paths["preview"])}


def _start(method: Method, out: Path, device: torch.device, resume: bool, init: str | os.PathLike | None,
           command: str, vgg_weights: str | None) -> _Run:
    """Seed, build the network and its optimizer, then resume ``out`` or start from ``init``."""
    cfg, spec = method.cfg, method.spec
    method.check()
    torch.manual_seed(cfg.seed)
    net = spec.build(method.model_config, vgg_weights=vgg_weights).to(device)
    run = _Run(method, out, device, net, method.optimizer(spec.stored(net).parameters()), command)
    if out.exists():
        _resume(run, resume)
    elif init is not None:
        run.init_from = init_from_checkpoint(init, spec.method, method.model_config, run.stored)
    return run


def _resume(run: _Run, resume: bool) -> None:
    """Restore weights, optimizer, iteration, seconds, random states and the method's state from ``run.out``."""
    if not resume:
        raise UserError(f"output {str(run.out)!r} exists: pass --resume to continue it, or choose another path")
    ckpt = load_checkpoint(run.out)
    method = ckpt.get("method", "feedforward")  # the first checkpoints had no method key
    if method != run.method.name:
        raise UserError(f"--resume: expected a {run.method.name} checkpoint in {str(run.out)!r}, got a {method} one")
    check_resume_settings(run.out, run.method.cfg, ckpt.get("train_config"))
    if not ckpt.get("optimizer"):
        raise UserError(f"--resume: expected a training checkpoint with its optimizer state in {str(run.out)!r}, got "
                        f"weights only; start a new run from it with --init")
    run.stored.load_state_dict(ckpt["state_dict"])
    run.opt.load_state_dict(ckpt["optimizer"])
    run.start = run.saved = ckpt["iteration"]
    run.seconds_before = ckpt["card"].get("seconds", 0.0)
    run.init_from = ckpt["card"].get("init_from")
    rng = ckpt.get("rng", {})
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and run.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], run.device)
    run.method.restore(ckpt)


def _step(run: _Run, it: int) -> dict[str, float]:
    """One optimisation step; the iteration's losses as floats (the ranks' mean under torchrun)."""
    losses = run.method.step(it) if run.ddp is None else run.ddp(it)
    total = losses["total"]
    values = {k: _float(v) for k, v in losses.items()} if run.ddp is None else _mean_losses(losses, run.device)
    if not math.isfinite(values["total"]):  # every rank sees the same mean: all of them stop here together
        got = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        last = (f"the last checkpoint ({run.out}) holds iteration {run.saved}" if run.saved is not None
                else "no checkpoint was written")
        raise TrainingDivergedError(f"training diverged at iteration {it}: expected finite losses, got {got}; {last}")
    run.opt.zero_grad(set_to_none=True)
    total.backward()
    for group in run.opt.param_groups:
        group["lr"] = run.method.lr_at(it)
    run.opt.step()
    return values


def _float(value: Any) -> float:
    return value.item() if isinstance(value, torch.Tensor) else float(value)


def _mean_losses(losses: dict[str, Any], device: torch.device) -> dict[str, float]:
    """The losses averaged over the ranks, with one all-reduce (float64, on ``device`` for NCCL)."""
    values = torch.tensor([_float(v) for v in losses.values()], dtype=torch.float64, device=device)
    mean = distributed.mean_across(values)
    return dict(zip(losses, mean.tolist(), strict=True))


def _save(run: _Run, it: int, secs: float, losses: dict[str, float]) -> dict[str, Any]:
    """Evaluate and write the checkpoint of iteration ``it``; return the scores."""
    method, spec = run.method, run.method.spec
    with _evaluating(run.net):
        scores = method.evaluate()
    card = {"command": run.command, **method.card(), **scores, "iterations": it, "batch": method.cfg.batch,
            **({"processes": run.procs.world} if run.procs.active else {}),
            "hardware": hardware_summary(run.device), "seconds": round(secs, 1), "final_losses": losses,
            "torch": str(torch.__version__), "impasto": __version__,
            **({"init_from": run.init_from} if run.init_from else {})}
    rng = {"torch": torch.get_rng_state(), **method.rng_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(run.device)
    model = {"arch": spec.arch, "config": method.model_config.to_dict()}
    save_checkpoint(run.out, {"method": spec.method, "model": model, **method.state(),
                              "state_dict": run.stored.state_dict(), "optimizer": run.opt.state_dict(), "iteration": it,
                              "train_config": dataclasses.asdict(method.cfg), "card": card, "rng": rng})
    run.saved = it
    return scores


@contextlib.contextmanager
def _evaluating(net: nn.Module):
    """Eval mode without gradients for previews and scores, then back to training."""
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train()


def _rounded(values: dict[str, float], digits: int) -> dict[str, float]:
    return {k: round(v, digits) for k, v in values.items()}


def training_device(name: str) -> torch.device:
    """``--device``: the torch device, refused with a message when CUDA is asked for but absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: expected a CUDA device, got none (torch {torch.__version__} sees no GPU); "
                        "use --device cpu")
    return device


def hardware_summary(device: torch.device) -> str:
    """The card's ``hardware``: the GPU and CUDA version, or the CPU and torch's thread count."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.machine()} x{os.cpu_count()} ({torch.get_num_threads()} torch threads)"


def check_resume_settings(out: str | os.PathLike, cfg: Any, old: dict[str, Any] | None) -> None:
    """Refuse to resume a run whose stored configuration differs from ``cfg``.

    Args:
        out: the checkpoint being resumed (for the message).
        cfg: the new run's configuration (a dataclass).
        old: the checkpoint's stored ``train_config``. Tuples and lists compare equal,
            because a stored configuration round-trips tuples as lists.

    Raises:
        UserError: naming every setting that differs (but :data:`RESUMABLE_CHANGES`), with its stored and new value.
    """
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, (tuple, list)) else v

    old = old or {}
    now = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    mismatched = [k for k, v in now.items() if k not in RESUMABLE_CHANGES and plain(old.get(k)) != plain(v)]
    if mismatched:
        raise UserError(f"--resume: checkpoint {str(out)!r} was trained with other settings: "
                        + ", ".join(f"{k}={old.get(k)!r} (now {now[k]!r})" for k in mismatched))


def init_from_checkpoint(path: str | os.PathLike, method: str, config: Any, module: nn.Module) -> dict[str, Any]:
    """Load another run's weights into ``module`` for ``--init``; return the card's ``init_from``.

    Args:
        path: the checkpoint to start from.
        method: the ``method`` it must have.
        config: the new run's model configuration (a frozen dataclass with ``to_dict()``). A
            field the checkpoint's configuration lacks (written before the field existed)
            counts as the field's default, as when the checkpoint is exported.
        module: receives the checkpoint's ``state_dict`` (the spec's ``stored`` part).

    Raises:
        UserError: another method or another model configuration.
    """
    src = load_checkpoint(path)
    got = (src.get("model") or {}).get("config")
    want = config.to_dict()
    if isinstance(got, dict) and dataclasses.is_dataclass(config):
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
        got = {**{k: v for k, v in defaults.items() if k not in got}, **got}
    if src.get("method") != method or got != want:
        raise UserError(f"--init: expected a {method} checkpoint with this model configuration ({want}), got a "
                        f"{src.get('method')} checkpoint with {got!r}")
    module.load_state_dict(src["state_dict"])
    card = src["card"]
    return {"checkpoint": Path(path).name, "iterations": src["iteration"], "train_config": src["train_config"],
            "seconds": card.get("seconds"), "command": card.get("command"),
            **({"init_from": card["init_from"]} if card.get("init_from") else {})}


def side_paths(ckpt: str | os.PathLike) -> dict[str, Path]:
    """Files written next to a checkpoint ``x.pt``: ``x.losses.csv``, ``x.losses.png``, ``x.preview.jpg``."""
    stem = Path(ckpt).with_suffix("")
    return {"csv": Path(f"{stem}.losses.csv"), "plot": Path(f"{stem}.losses.png"),
            "preview": Path(f"{stem}.preview.jpg")}


def open_loss_log(path: str | os.PathLike, columns: tuple[str, ...], *, resume_at: int | None = None):
    """Open a run's CSV loss log for writing, with its header.

    Args:
        path: the CSV file (its folder is created).
        columns: header row; the first column is the iteration.
        resume_at: keep the existing rows up to this iteration (a resumed run) and drop
            the later ones; None starts a fresh log.

    Returns:
        ``(file, csv_writer)``; the caller flushes and closes the file.
    """
    p = Path(path)
    rows: list[list[str]] = []
    if resume_at is not None and p.exists():
        with p.open() as fh:
            rows = [r for r in csv.reader(fh) if r and r[0].isdigit() and int(r[0]) <= resume_at]
    p.parent.mkdir(parents=True, exist_ok=True)
    fh = p.open("w", newline="")
    writer = csv.writer(fh)
    writer.writerow(columns)
    writer.writerows(rows)
    return fh, writer


def plot_losses(csv_path: Path, png_path: Path, columns: tuple[str, ...], title: str) -> None:
    """Loss curves of ``columns`` (log scale) from the CSV log, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    it = [int(r["iteration"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for k in columns:
        ax.plot(it, [max(1e-12, float(r[k])) for r in rows], label=k, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("weighted loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, png_path)
