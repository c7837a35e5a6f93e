"""Atomic file output: write beside the target, then rename onto it (torch-free).

A reader of the target sees the old file or the finished new one, never a half-written
one; a failure (an exception, Ctrl-C, SIGTERM through the CLI) leaves the old file as it
was and no temporary file behind. Temporary files are hidden (``.NAME.XXXXXXXX.tmp``) in
the target's own folder, so the final ``os.replace`` never crosses file systems; ``NAME``
is shortened where needed so the temporary name fits the file system's name limit
(255 bytes) whenever the target's own name does.

Write failures are typed (:func:`output_error`): a path the user gave that cannot be
written (a read-only folder, a parent that is a file, a folder where a file is expected,
a name too long) is an :class:`~impasto.errors.OutputError` (exit 2 on the CLI); a full
disk, a quota or an I/O error is a :class:`~impasto.errors.StorageError` (exit 1). Both are
``OSError`` subclasses carrying ``errno``, ``filename`` and ``strerror``.

Example:
    >>> atomic_write_bytes("out/report.json", b"{}")
    >>> with atomic_path("out/clip.mp4", suffix=".mp4") as tmp:   # for writers that take a path
    ...     write_video(tmp, frames, fps)                          # published on success only
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from impasto.errors import OutputError, StorageError

#: errno values that say the machine failed (exit 1), not the path the user gave (exit 2).
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.ENOMEM})
#: Characters ``tempfile.mkstemp`` puts between the prefix and the suffix.
_RANDOM_CHARS = 8
_DEFAULT_NAME_MAX = 255


def output_error(path: str | os.PathLike, exc: OSError, doing: str = "write") -> OutputError | StorageError:
    """The typed error for an ``OSError`` met while writing ``path``.

    Args:
        path: the output (the target, not its temporary file).
        exc: what the system said.
        doing: what failed, for the message (``"write"``, ``"create its folder"``).

    Returns:
        A :class:`StorageError` for a full disk, a quota, an I/O error or a file too large
        (:data:`ENVIRONMENT_ERRNOS`), otherwise an :class:`OutputError`; the message is
        ``"PATH: cannot DOING: REASON"`` and names the target, never the temporary file.
    """
    cls = StorageError if exc.errno in ENVIRONMENT_ERRNOS else OutputError
    err = cls(f"{path}: cannot {doing}: {exc.strerror or exc}")
    err.errno, err.strerror, err.filename = exc.errno, exc.strerror, str(path)
    return err


def _refuse(path: Path, reason: str, code: int) -> OutputError:
    err = OutputError(f"{path}: cannot write: {reason}")
    err.errno, err.strerror, err.filename = code, os.strerror(code), str(path)
    return err


def name_max(folder: str | os.PathLike) -> int:
    """The longest file name (in bytes) the file system of ``folder`` takes (255 if it cannot say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return _DEFAULT_NAME_MAX


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (or whatever exists there: a file)."""
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:  # lexists: False, never raises
        folder = folder.parent
    return folder


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output path that cannot be written.

    Nothing is created. The path may not exist yet; missing folders above it are created
    when it is written.

    Raises:
        OutputError: ``path`` is an existing folder, its name is longer than the file
            system takes, a folder above it is a file, or the nearest existing folder
            above it is not writable (permissions, a read-only file system).
    """
    p = Path(path)
    folder = _existing_ancestor(p)
    limit = name_max(folder)
    if len(os.fsencode(p.name)) > limit:  # first: stat() of such a name fails
        raise _refuse(p, f"the file name is {len(os.fsencode(p.name))} bytes, the file system takes at most {limit}",
                      errno.ENAMETOOLONG)
    if p.is_dir():
        raise _refuse(p, "expected a file, got an existing folder", errno.EISDIR)
    if not folder.is_dir():
        raise _refuse(p, f"{folder} is a file, not a folder", errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(p, f"the folder {folder} is not writable (permissions or a read-only file system)",
                      errno.EACCES)


def _temp_prefix(p: Path, suffix: str) -> str:
    """``.NAME.``, with ``NAME`` shortened so ``.NAME.XXXXXXXX`` + ``suffix`` fits the name limit."""
    budget = name_max(p.parent) - _RANDOM_CHARS - len(os.fsencode(suffix)) - 2
    name = p.name
    while name and len(os.fsencode(name)) > budget:
        name = name[:-1]
    return f".{name}."


def temp_beside(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """Create an empty hidden temporary file in ``path``'s folder and return its path.

    The name is ``.NAME.XXXXXXXX`` + ``suffix`` (give ``suffix`` the target's extension
    where a writer picks its format by it), ``NAME`` shortened to fit the name limit. The
    caller either removes it or passes it to :func:`publish`.

    Raises:
        OutputError, StorageError: the folder does not take the file (see :func:`output_error`).
    """
    p = Path(path)
    try:
        fd, name = tempfile.mkstemp(dir=p.parent, prefix=_temp_prefix(p, suffix), suffix=suffix)
    except OSError as exc:
        raise output_error(p, exc) from None
    os.close(fd)
    return Path(name)


def is_temporary_of(name: str, path: str | os.PathLike, suffix: str = ".tmp") -> bool:
    """Whether the file ``name`` (in ``path``'s folder) is a temporary file of :func:`temp_beside` for ``path``.

    An exception, Ctrl-C or SIGTERM removes its own temporary file (:func:`atomic_path`);
    a writer killed outright (``kill -9``, a lost worker machine) cannot. A job that knows
    its outputs removes such leftovers once no writer of them runs (``impasto batch`` does,
    listing each output folder once).
    """
    prefix = _temp_prefix(Path(path), suffix)
    return (name.startswith(prefix) and name.endswith(suffix)
            and len(name) == len(prefix) + _RANDOM_CHARS + len(suffix))


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the usual permissions and rename it onto ``path``.

    ``tempfile.mkstemp`` creates files readable by their owner only; a published file
    gets ``0o666`` minus the process umask, like any file ``open()`` creates.

    Raises:
        OutputError, StorageError: the rename failed (``tmp`` is left for the caller to remove).
    """
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(path, exc) from None


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


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write; published onto ``path`` when the block ends without error.

    ``path`` is checked first (:func:`check_writable`) and its folder created if needed.
    On an exception the temporary file is removed and ``path`` is left as it was.

    Raises:
        OutputError, StorageError: ``path`` cannot be written (see :func:`output_error`).
    """
    p = Path(path)
    check_writable(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(p, exc, "create its folder") from None
    tmp = temp_beside(p, suffix)
    try:
        yield tmp
        publish(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written.

    Raises:
        OutputError, StorageError: ``path`` cannot be written, or the disk filled up
            (nothing is left behind, an existing ``path`` is kept).
    """
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise output_error(path, exc) from None
