"""Which images a batch job reads and where each result goes (Ray-free).

``impasto batch SRC DST`` plans its work here before any cluster starts:

- ``SRC`` is a folder (its images, recursively) or a manifest of paths: a text file
  (``.txt``, ``.lst``: one path per line; blank lines and lines starting with ``#`` are
  skipped) or a Parquet file (``.parquet``: a string column ``path``). Relative paths in a
  manifest are relative to the manifest's folder; URIs (``s3://…``, ``gs://…``,
  ``file://…``) are read by the workers through ``pyarrow.fs`` where the cluster reaches them.
- Each result is ``DST/REL`` with the input's extension: ``REL`` is the path under the
  folder, or, for a manifest, under the deepest folder that holds every listed path.
- **Resumable**: an output that exists is finished (every output is written atomically),
  so a re-run plans only the missing ones; :func:`remove_leftovers` deletes the hidden
  temporary files a killed worker may have left beside its outputs.
- The run's report (:func:`write_report`): one JSON line per input that failed,
  ``{"path", "error", "user_error"}``, written atomically in ``DST``.

Convention:
    Paths are strings as the workers open them; ``rel`` uses ``/`` on every platform.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from impasto.errors import UserError
from impasto.runtime.io.atomic import atomic_write_bytes, check_writable, is_temporary_of
from impasto.runtime.io.images import IMAGE_SUFFIXES

#: Manifest suffixes: text (one path per line) and Parquet (a ``path`` column).
TEXT_MANIFESTS = (".txt", ".lst")
PARQUET_MANIFESTS = (".parquet",)
#: The Parquet manifest's column of paths.
PATH_COLUMN = "path"
_EXTENSIONS = ", ".join(sorted(IMAGE_SUFFIXES))


@dataclass(frozen=True)
class ImageJob:
    """One input and its output.

    Attributes:
        src: a local path or a URI, as the workers open it.
        dst: the local (or shared file system) output path.
    """

    src: str
    dst: str


@dataclass(frozen=True)
class BatchPlan:
    """A batch job's work: every input found, and the ones whose outputs are still missing.

    Attributes:
        jobs: every input with its output, in a stable order.
        todo: the jobs whose output does not exist yet (the whole batch on a first run).
    """

    jobs: tuple[ImageJob, ...]
    todo: tuple[ImageJob, ...]

    @property
    def done_before(self) -> int:
        """Outputs that already existed (finished by an earlier run)."""
        return len(self.jobs) - len(self.todo)


def is_uri(path: str) -> bool:
    return "://" in path


def list_sources(src: str) -> list[tuple[str, str]]:
    """``[(input, rel)]`` for a folder or a manifest (see the module docstring), sorted by ``rel``.

    Raises:
        UserError: a missing source, an unknown manifest type, an empty folder or
            manifest, a listed path without an image extension or listed twice.
    """
    p = Path(src)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"{src}: expected images ({_EXTENSIONS}) in the folder, got none")
        return [(str(f), f.relative_to(p).as_posix()) for f in files]
    if not p.is_file():
        raise UserError(f"{src}: no such folder or manifest")
    suffix = p.suffix.lower()
    if suffix in TEXT_MANIFESTS:
        entries = _read_text_manifest(p)
    elif suffix in PARQUET_MANIFESTS:
        entries = _read_parquet_manifest(p)
    else:
        raise UserError(f"{src}: expected a folder or a manifest ({', '.join(TEXT_MANIFESTS + PARQUET_MANIFESTS)}), "
                        f"got a {suffix or 'suffix-less'} file")
    if not entries:
        raise UserError(f"{src}: expected paths in the manifest, got none")
    return _relative_to_common_root(entries, p.parent, src)


def _read_text_manifest(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: expected a UTF-8 text manifest, one path per line; got binary data") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _read_parquet_manifest(path: Path) -> list[str]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise UserError(f"{path}: a Parquet manifest needs pyarrow: pip install 'impasto[scale]'") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise UserError(f"{path}: expected a Parquet file, got one pyarrow cannot read ({exc})") from None
    if PATH_COLUMN not in table.column_names:
        raise UserError(f"{path}: expected a {PATH_COLUMN!r} column of paths, got columns {table.column_names}")
    values = table.column(PATH_COLUMN).to_pylist()
    bad = next((v for v in values if not isinstance(v, str) or not v.strip()), 0)
    if bad != 0:
        raise UserError(f"{path}: expected every {PATH_COLUMN!r} to be a non-empty string, got {bad!r}")
    return [v.strip() for v in values]


def _relative_to_common_root(entries: list[str], base: Path, src: str) -> list[tuple[str, str]]:
    """Resolve local entries against ``base``; ``rel``: each entry under the deepest folder holding them all."""
    resolved = [e if is_uri(e) else str((base / e).resolve()) for e in entries]
    keys = [_key(e) for e in resolved]
    for e, k in zip(entries, keys, strict=True):
        if posixpath.splitext(k)[1].lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{src}: {e}: expected an image extension ({_EXTENSIONS})")
    seen: dict[str, str] = {}
    for e, k in zip(entries, keys, strict=True):
        if seen.setdefault(k, e) is not e:
            raise UserError(f"{src}: {e} is listed twice (also as {seen[k]}); list each input once")
    root = posixpath.dirname(keys[0]) if len(keys) == 1 else posixpath.commonpath(keys)
    pairs = [(e, posixpath.relpath(k, root)) for e, k in zip(resolved, keys, strict=True)]
    return sorted(pairs, key=lambda pair: pair[1])


def _key(entry: str) -> str:
    """A URI as ``/scheme/host/path`` (``file://``: its path) or a local path, in ``/`` form, to relate entries."""
    if is_uri(entry):
        scheme, rest = entry.split("://", 1)
        return "/" + rest.lstrip("/") if scheme == "file" else f"/{scheme}/{rest.lstrip('/')}"
    return Path(entry).as_posix()


def plan_batch(src: str, dst: str) -> BatchPlan:
    """List ``src``'s inputs, map them under ``dst``, and leave out the outputs that exist.

    Raises:
        UserError: see :func:`list_sources`; ``dst`` is a file, lies inside the source
            folder (a re-run would read the results as inputs) or cannot be written.
    """
    out = Path(dst)
    if out.exists() and not out.is_dir():
        raise UserError(f"{dst}: expected an output folder, got an existing file")
    if Path(src).is_dir() and out.resolve().is_relative_to(Path(src).resolve()):
        raise UserError(f"{dst}: the output folder lies inside the source folder {src}; a re-run would read the "
                        "results as inputs: choose a folder outside it")
    check_writable(out / "probe.png")
    jobs = tuple(ImageJob(s, str(out / rel)) for s, rel in list_sources(src))
    return BatchPlan(jobs, tuple(job for job in jobs if not os.path.exists(job.dst)))


def remove_leftovers(jobs: Iterable[ImageJob]) -> int:
    """Delete the hidden temporary files that killed writers left beside these outputs; each folder is listed once.

    Call it when no worker of the job can still be writing (before the job starts, after
    it ended). Returns how many files were removed.
    """
    by_folder: dict[str, list[str]] = defaultdict(list)
    for job in jobs:
        by_folder[os.path.dirname(job.dst)].append(job.dst)
    removed = 0
    for folder, outputs in by_folder.items():
        try:
            names = [n for n in os.listdir(folder or ".") if n.startswith(".") and n.endswith(".tmp")]
        except OSError:
            continue
        for name in names:
            if any(is_temporary_of(name, out) for out in outputs):
                Path(folder, name).unlink(missing_ok=True)
                removed += 1
    return removed


def report_path(dst: str) -> Path:
    """Where this run's report goes: ``DST/impasto-batch-YYYYmmdd-HHMMSS.jsonl`` (UTC; ``-N`` added if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = Path(dst) / f"impasto-batch-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = Path(dst) / f"impasto-batch-{stamp}-{n}.jsonl"
    return path


def write_report(path: Path, failures: list[dict]) -> None:
    """One JSON line per failed input (``path``, ``error``, ``user_error``), written atomically."""
    lines = [json.dumps({"path": f["src"], "error": f["error"], "user_error": bool(f["user_error"])})
             for f in failures]
    atomic_write_bytes(path, ("\n".join(lines) + "\n" if lines else "").encode())
