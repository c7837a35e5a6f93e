"""Multi-process training under ``torchrun``: process group, DDP step, sharded draws, rank-0 side effects.

:func:`impasto.training.loop.train` uses this module so that every trainer runs under
``torchrun --nproc-per-node N`` without code of its own:

- :func:`process_group` reads torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``,
  initialises ``torch.distributed`` once per process (NCCL on a CUDA device, gloo on the
  CPU), pins rank ``r`` to ``cuda:LOCAL_RANK`` and destroys the group at exit, or at once
  on an error.
  Without ``WORLD_SIZE`` (or with ``WORLD_SIZE=1``) it does nothing at all: a single
  process runs exactly the code it ran before (same losses bit for bit).
- :func:`ddp_step` wraps a method's whole ``step`` in :class:`~torch.nn.parallel.DistributedDataParallel`:
  the step runs inside DDP's ``forward``, so the gradients of every trained parameter are
  averaged across ranks during ``backward`` whichever submodules or methods the step calls.
- :func:`shard` tells samplers which slice of a global batch is this rank's (used by
  :class:`impasto.training.data.AugmentedImages`); :func:`mean_across` averages a tensor
  over the ranks (logged losses, batch statistics such as the bank's loss EMA).

Convention:
    ``--batch`` is per process: a run on ``N`` processes trains on a global batch of
    ``N × batch`` images per iteration. The global batch is drawn from one seeded stream
    (identical on every rank) and rank ``r`` takes samples ``r·batch … (r+1)·batch − 1``,
    so the ranks' shards are disjoint and a run on ``N`` processes sees the images a
    single process with ``N × batch`` sees. Per-rank losses are means over the rank's
    shard; DDP averages the gradients, and the logged losses are the ranks' mean. Rank 0
    alone writes checkpoints, loss logs, plots and previews; the other ranks wait at a
    barrier. Every rank reads the same checkpoint on ``--resume``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from impasto.errors import UserError

#: torchrun's environment variables read by :func:`processes_from_env`.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Processes:
    """This process's place in a run.

    Attributes:
        rank: global rank (0 writes the files).
        world: number of processes (1: not distributed).
        local_rank: rank on this machine (the CUDA device index under NCCL).
        backend: ``"nccl"``, ``"gloo"`` or None when not distributed.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = Processes()


def processes_from_env(env: dict[str, str] | None = None) -> Processes:
    """``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` as torchrun sets them (all absent: one process).

    Raises:
        UserError: a value that is not a non-negative integer, or a rank outside the world.
    """
    env = dict(os.environ if env is None else env)
    if "WORLD_SIZE" not in env:
        return SINGLE
    values = {}
    for name in ENV_VARS:
        text = env.get(name, "0")
        if not text.isdigit():
            raise UserError(f"torchrun: expected {name} to be a non-negative integer, got {text!r}")
        values[name] = int(text)
    world, rank = values["WORLD_SIZE"], values["RANK"]
    if world < 1 or rank >= world:
        raise UserError(f"torchrun: expected 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return Processes(rank, world, values["LOCAL_RANK"])


def process_device(name: str, procs: Processes) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA ``--device`` under torchrun, else ``name``."""
    device = torch.device(name)
    if procs.active and device.type == "cuda":
        return torch.device("cuda", procs.local_rank)
    return device


@contextlib.contextmanager
def process_group(device: torch.device, procs: Processes) -> Iterator[Processes]:
    """Join torchrun's process group for the ``with`` block (nothing when ``procs`` is a single process).

    The group is initialised once per process (``env://``: torchrun's ``MASTER_ADDR`` and
    ``MASTER_PORT``) and kept for later runs in the same process, because torch cannot
    initialise the default group again after destroying it under torchrun. It is destroyed
    at interpreter exit, or at once when the block raises, so that the other ranks,
    blocked in a collective, fail straight away instead of waiting for the timeout.
    A group the caller initialised is used as it is and never destroyed here.

    Yields:
        ``procs`` with its backend (``"nccl"`` on CUDA, ``"gloo"`` otherwise).
    """
    if not procs.active:
        yield procs
        return
    import torch.distributed as dist

    global _OWNED
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://",
                                rank=procs.rank, world_size=procs.world)
        if not _OWNED:
            atexit.register(_destroy)
        _OWNED = True
    try:
        yield Processes(procs.rank, procs.world, procs.local_rank, dist.get_backend())
    except BaseException:
        if _OWNED:
            _destroy()
        raise


_OWNED = False  # whether this module initialised the default process group


def _destroy() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> tuple[int, int]:
    """``(rank, world size)`` of the running process group, ``(0, 1)`` outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(n: int) -> range:
    """This rank's indices in a global batch of ``n × world`` samples (``range(n)`` outside a group)."""
    rank, size = world()
    return range(rank * n, (rank + 1) * n) if size > 1 else range(n)


def mean_across(value: torch.Tensor) -> torch.Tensor:
    """``value`` averaged over the ranks (a new tensor, no gradient); ``value`` itself outside a group."""
    _, size = world()
    if size == 1:
        return value
    import torch.distributed as dist

    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / size


def barrier() -> None:
    """Wait for every rank (nothing outside a group)."""
    if world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


class _Step(nn.Module):
    """A module whose ``forward(it)`` is a method's ``step(it)``; it holds the trained parameters."""

    def __init__(self, trained: nn.Module, step: Callable[[int], dict[str, Any]]) -> None:
        super().__init__()
        self.trained = trained
        self._step = step

    def forward(self, it: int) -> dict[str, Any]:
        return self._step(it)


def ddp_step(trained: nn.Module, step: Callable[[int], dict[str, Any]], device: torch.device) -> nn.Module:
    """``step`` inside DistributedDataParallel over ``trained``'s parameters.

    Calling the result with ``it`` runs ``step(it)`` as DDP's forward: rank 0's parameters
    and buffers are broadcast when it is built (and the buffers before each step), and the
    ``backward`` of the returned loss averages every parameter's gradient over the ranks.
    ``find_unused_parameters`` is on, because a step may leave some parameters out (a
    method's submodule used every other iteration); the graph walk it costs is small
    beside the VGG loss network.
    """
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(_Step(trained, step), device_ids=ids, find_unused_parameters=True)
