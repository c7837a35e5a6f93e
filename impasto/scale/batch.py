"""Stylise a batch plan on Ray Data: a pool of actors, each holding one open ``Stylizer``.

:func:`run_batch_job` turns the plan's missing outputs into a Ray dataset of
``{src, dst}`` rows and maps :class:`StylizeWorker` over it with an actor pool
(``ActorPoolStrategy(size=workers)``): each actor loads the model once and, for each
row, reads the input, stylises it and writes the output atomically. The driver only sees
one small status row per image.

Exactly once:
    Ray Data restarts an actor that dies and retries its unfinished batch on another
    (``max_restarts=-1``, ``max_task_retries=-1``). A retried batch may hold images the
    dead actor already wrote: a worker checks for the output before writing and reports
    it ``existing`` instead of writing it again, so every output is written once. A
    killed writer can leave a hidden temporary file (never a half-written output):
    :func:`impasto.scale.jobs.remove_leftovers` removes those when the job ends.

A failing input (unreadable, not an image, too large) is one ``failed`` row with a
one-line error; it never stops the job.

Convention:
    Status rows are ``{"src", "dst", "status": "written" | "existing" | "failed",
    "error": "" or one line, "user_error": bool, "seconds": float}``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from impasto.errors import ImageError, UserError
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS, decode_image, fit_max_size, read_image, write_image
from impasto.scale.jobs import ImageJob, is_uri

#: Test hook (``K:MARKER``): the first worker to write K images records them in MARKER
#: (JSON: dst, inode, mtime) and dies mid-write of the next one (``os._exit``), once per MARKER.
KILL_HOOK_ENV = "IMPASTO_BATCH_TEST_KILL_WORKER"


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker loads and how it renders (the flags of ``impasto batch``).

    Attributes:
        model: a built-in style or style mix (``--style``) or a model path (``--model``).
        style: a bank's style with ``--model`` (None: the model's own).
        strength: 0 = content, 1 = full style.
        preserve_color: keep the content's colours.
        backend: inference backend name.
        threads: ONNX Runtime intra-op threads per worker (0: its default).
        max_pixels: refuse larger inputs before decoding.
        max_size: downscale so the longest side is at most this (None: keep).
        quality: JPEG quality.
    """

    model: str | None = None
    style: str | None = None
    strength: float = 1.0
    preserve_color: bool = False
    backend: str = "auto"
    threads: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_size: int | None = None
    quality: int = 95


class StylizeWorker:
    """A Ray Data actor: one open ``Stylizer``; ``__call__`` renders a batch of ``{src, dst}`` rows."""

    def __init__(self, config: dict, kill_hook: str | None = None) -> None:
        from impasto.runtime.pipelines.stylizer import Stylizer

        self.config = WorkerConfig(**config)
        c = self.config
        self.stylizer = Stylizer.load(c.model, backend=c.backend, threads=c.threads, style=c.style)
        self._kill_after, self._marker = _parse_kill_hook(kill_hook)
        self._written: list[str] = []

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        rows = [self.render_one(ImageJob(str(s), str(d))) for s, d in zip(batch["src"], batch["dst"], strict=True)]
        return {key: [row[key] for row in rows] for key in ("src", "dst", "status", "error", "user_error", "seconds")}

    def render_one(self, job: ImageJob) -> dict:
        """Read, stylise and write one image; any failure becomes a ``failed`` row."""
        if os.path.exists(job.dst):  # written by an actor that died before reporting it
            return _row(job, "existing")
        t0 = time.perf_counter()
        try:
            c = self.config
            image = fit_max_size(_read(job.src, c.max_pixels), c.max_size)
            out = self.stylizer(image, strength=c.strength, preserve_colors=c.preserve_color)
            self._maybe_die(job)
            write_image(job.dst, out, quality=c.quality)
        except Exception as exc:  # noqa: BLE001 - this input's failure, whatever it is: report it, go on
            return _row(job, "failed", error=_one_line(job.src, exc), user_error=isinstance(exc, UserError))
        self._written.append(job.dst)
        return _row(job, "written", seconds=time.perf_counter() - t0)

    def _maybe_die(self, job: ImageJob) -> None:
        """The test hook: after K writes, record them and die half-way through writing this one."""
        if self._kill_after is None or len(self._written) < self._kill_after:
            return
        try:
            fd = os.open(self._marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            self._kill_after = None  # another worker already died for this marker
            return
        stats = [{"dst": d, "ino": os.stat(d).st_ino, "mtime_ns": os.stat(d).st_mtime_ns} for d in self._written]
        os.write(fd, json.dumps(stats).encode())
        os.close(fd)
        from impasto.runtime.io.atomic import temp_beside

        os.makedirs(os.path.dirname(job.dst) or ".", exist_ok=True)
        temp_beside(job.dst).write_bytes(b"\x89PNG half")  # what a kill mid-write leaves
        os._exit(1)


def _parse_kill_hook(hook: str | None) -> tuple[int | None, str | None]:
    if not hook:
        return None, None
    count, _, marker = hook.partition(":")
    return int(count), marker


def _read(src: str, max_pixels: int) -> np.ndarray:
    """A local image, or one behind a URI through ``pyarrow.fs`` (``s3://``, ``gs://``, ``file://``)."""
    if not is_uri(src):
        return read_image(src, max_pixels=max_pixels)
    from pyarrow import fs

    try:
        filesystem, path = fs.FileSystem.from_uri(src)
        with filesystem.open_input_stream(path) as stream:
            data = stream.read()
    except (OSError, ValueError) as exc:
        raise ImageError(f"{src}: cannot read: {_first_line(exc)}") from None
    return decode_image(data, name=src, max_pixels=max_pixels)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _one_line(src: str, exc: Exception) -> str:
    """impasto's errors as they are (they name the file); anything else with the input and its type."""
    from impasto.errors import ImpastoError

    if isinstance(exc, ImpastoError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{src}: {type(exc).__name__}: {_first_line(exc)}"


def _row(job: ImageJob, status: str, *, error: str = "", user_error: bool = False, seconds: float = 0.0) -> dict:
    return {"src": job.src, "dst": job.dst, "status": status, "error": error, "user_error": user_error,
            "seconds": round(seconds, 4)}


@dataclass(frozen=True)
class PoolConfig:
    """The actor pool: ``workers`` actors, each reserving ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs.

    Attributes:
        workers: actors in the pool.
        batch_size: rows per call of a worker (one Ray task).
        cpus_per_worker: CPUs each actor reserves.
        gpus_per_worker: GPUs each actor reserves (0 on a CPU cluster).
    """

    workers: int
    batch_size: int
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0


def run_batch_job(jobs: list[ImageJob], worker: WorkerConfig, pool: PoolConfig) -> Iterator[dict]:
    """Stylise ``jobs`` on the connected Ray cluster; yields one status row per job as they finish.

    The caller holds a :func:`impasto.scale.cluster.ray_session`.
    """
    import ray.data

    if not jobs:
        return
    blocks = max(1, min(len(jobs), pool.workers * 4, (len(jobs) + pool.batch_size - 1) // pool.batch_size))
    ds = ray.data.from_items([{"src": j.src, "dst": j.dst} for j in jobs], override_num_blocks=blocks)
    ds = ds.map_batches(StylizeWorker, fn_constructor_kwargs={"config": asdict(worker),
                                                              "kill_hook": os.environ.get(KILL_HOOK_ENV)},
                        batch_size=pool.batch_size, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=pool.workers),
                        num_cpus=pool.cpus_per_worker, num_gpus=pool.gpus_per_worker or None)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["src"])):
            yield {key: _plain(batch[key][i]) for key in batch}


def _plain(value: object) -> object:
    """A numpy scalar from a Ray batch as the Python value."""
    return value.item() if hasattr(value, "item") else value


def count_statuses(rows: list[dict]) -> dict[str, int]:
    """``{"written": n, "existing": n, "failed": n}`` over status ``rows``."""
    counts = {"written": 0, "existing": 0, "failed": 0}
    for row in rows:
        counts[row["status"]] += 1
    return counts
