"""Connect to a Ray cluster, or start a local one for the length of a command.

``--ray-address auto`` joins the cluster this machine belongs to, ``ray://HOST:10001`` a
remote one through Ray Client, ``HOST:6379`` a head node; without an address a local
cluster is started with ``num_cpus`` CPUs (no dashboard, quiet logs, a small object store:
the workers pass paths and statuses, not pixels) and stopped when the block ends. Inside
a process that already called ``ray.init`` (a notebook, a test), that session is used and
left running.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from impasto.errors import UserError

#: The local cluster's object store: enough for batches of paths and results.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20


@dataclass
class RaySession:
    """The cluster a command runs on.

    Attributes:
        address: what was asked (``None``: a local cluster).
        started_local: this command started the cluster (and stops it).
        startup_seconds: time to start or join it.
        cpus, gpus: the cluster's resources when it was joined.
    """

    address: str | None
    started_local: bool
    startup_seconds: float
    cpus: float
    gpus: float

    def to_dict(self) -> dict:
        return {"address": self.address or "local", "started_local": self.started_local,
                "startup_seconds": round(self.startup_seconds, 3), "cpus": self.cpus, "gpus": self.gpus}


def require_ray():
    """``import ray``, or a one-line :class:`UserError` naming the ``[scale]`` extra."""
    try:
        import ray
    except ModuleNotFoundError:
        raise UserError("this command needs the [scale] extra (ray is not installed): "
                        "pip install 'impasto[scale]'") from None
    return ray


def quiet_ray_logs() -> None:
    """Ray's own log lines off below ERROR (impasto reports progress and failures itself).

    ``RAY_BACKEND_LOG_LEVEL`` (Ray's C++ core) defaults to ``fatal`` here: its routine
    notices (actor restarts, constructor arguments in the object store) are not the
    user's concern; set it in the environment to see them.
    """
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in ("ray", "ray.data", "ray.serve"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[RaySession]:
    """Join ``address`` (or start a local cluster of ``num_cpus`` CPUs) for the block; stop what was started.

    Raises:
        UserError: Ray is not installed, or the address cannot be reached.
    """
    ray = require_ray()
    quiet_ray_logs()
    if ray.is_initialized():
        yield _describe(ray, address, started=False, seconds=0.0)
        return
    t0 = time.perf_counter()
    sigterm = signal.getsignal(signal.SIGTERM)  # ray.init replaces it with one that aborts the process
    try:
        if address is None:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level=logging.ERROR,
                     log_to_driver=False, configure_logging=True)
        else:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--ray-address {address or '(local)'}: cannot start or join a Ray cluster: {detail}") from None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, sigterm)  # the CLI's: SIGTERM unwinds, so the cluster is stopped below
    try:
        _configure_data_context(ray)
        yield _describe(ray, address, started=address is None, seconds=time.perf_counter() - t0)
    finally:
        ray.shutdown()


def _configure_data_context(ray) -> None:
    """No Ray Data progress bars, and its console lines below ERROR (its log file in the session folder stays)."""
    import ray.data

    for handler in logging.getLogger("ray.data").handlers:
        if "File" not in type(handler).__name__:  # the console handler, not its SessionFileHandler
            handler.setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


def _describe(ray, address: str | None, *, started: bool, seconds: float) -> RaySession:
    resources = ray.cluster_resources()
    return RaySession(address, started, seconds, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)))
