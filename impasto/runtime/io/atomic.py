"""Atomic file output: write beside the target, then rename onto it (torch-free).

A reader of the target sees the old file or the finished new one, never a half-written
one; a failure (an exception, Ctrl-C) leaves the old file as it was and no temporary
file behind. Temporary files are hidden (``.NAME.XXXX.tmp``) in the target's own
folder, so the final ``os.replace`` never crosses file systems.

Example:
    >>> atomic_write_bytes("out/report.json", b"{}")
    >>> with atomic_path("out/clip.mp4", suffix=".mp4") as tmp:   # for writers that take a path
    ...     write_video(tmp, frames, fps)                          # published on success only
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (thread-safe)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_beside(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """Create an empty hidden temporary file in ``path``'s folder and return its path.

    The name is ``.NAME.XXXX`` + ``suffix`` (give ``suffix`` the target's extension where
    a writer picks its format by it). The caller either removes it or passes it to :func:`publish`.
    """
    p = Path(path)
    fd, name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=suffix)
    os.close(fd)
    return Path(name)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the usual permissions and rename it onto ``path``.

    ``tempfile.mkstemp`` creates files readable by their owner only; a published file
    gets ``0o666`` minus the process umask, like any file ``open()`` creates.
    """
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write; published onto ``path`` when the block ends without error.

    The folder of ``path`` is created if needed. On an exception the temporary file is
    removed and ``path`` is left as it was.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(p, suffix)
    try:
        yield tmp
        publish(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
