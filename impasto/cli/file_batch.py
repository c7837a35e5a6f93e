"""How image commands read inputs, write outputs and report (torch-free).

Every command that reads images and writes one (``stylize``, ``stylize --style-image``,
``photoreal``, ``warp``, ``sheet``, ``gatys``; ``keypoints`` for its inputs and report)
goes through this module, so they all behave alike:

- inputs: image files, ``-`` for stdin (at most once per command) and, for the commands
  that take several inputs, folders (recursive, relative names kept);
- outputs: checked before any work (an image extension; a path that can be written; never
  one of the inputs; never the output of another input: two inputs that would write the
  same file are refused, nothing is written), written atomically (temporary file +
  rename: never half-written), or ``-`` for stdout (PNG unless ``--format``);
- folder runs (:func:`run_batch`): a file that fails, in any way (a bad file, a backend
  error, a full disk), is one line on stderr and an entry in the ``--json`` report; the
  others are still written, a summary line follows, and the exit code is 2 if every
  failure was the input's fault, 1 if any was not (:func:`finish_batch`);
- the report (:func:`report`): ``--json`` on stdout, otherwise one human line; when stdout
  carries the image, ``--json`` goes to stderr and the human line is left out, so stdout
  holds the image and nothing else.

Convention:
    Images are ``HxWx3`` uint8 RGB (:mod:`impasto.runtime.io.images`). ``-`` (:data:`STDIO`)
    means stdin as an input and stdout as an output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.cli.common import CliError, emit_json
from impasto.errors import ImpastoError, UserError
from impasto.runtime.io.atomic import check_writable
from impasto.runtime.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    decode_image,
    encode_image,
    fit_max_size,
    fitted_shape,
    read_image,
    write_image,
)
from impasto.utils.progress import Progress

#: Stdin as an input, stdout as an output.
STDIO = "-"
_EXTENSIONS = ", ".join(sorted(IMAGE_SUFFIXES))


def check_image_output(path: str, *inputs: str | None, flag: str = "-o") -> None:
    """Refuse an output path without an image extension, one that is one of ``inputs``, or one that cannot be written.

    ``-`` (stdout) passes; ``None`` inputs (an optional flag not given) are skipped.

    Raises:
        CliError: naming ``flag`` and the path.
        OutputError: an existing folder, a name too long, a parent that is a file, a
            folder that is not writable (:func:`impasto.runtime.io.atomic.check_writable`).
    """
    if path == STDIO:
        return
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise CliError(f"{flag} {path}: expected an image extension ({_EXTENSIONS}), got {suffix or 'none'!r}")
    for src in inputs:
        if src and src != STDIO and Path(path).resolve() == Path(src).resolve():
            raise CliError(f"{flag} {path}: would overwrite its input")
    check_writable(path)


def check_stdin_once(*inputs: str | None) -> None:
    """Refuse ``-`` (stdin) given as more than one input.

    Raises:
        CliError: stdin named twice.
    """
    if sum(1 for src in inputs if src == STDIO) > 1:
        raise CliError("stdin (-) can be given once")


def read_input(src: str, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               before_decode: Callable[[int, int], None] | None = None) -> np.ndarray:
    """An image file, or ``-``: the image on stdin.

    Raises:
        ImageError: missing, unreadable, not an image, or over ``max_pixels``.
    """
    if src == STDIO:
        return decode_image(sys.stdin.buffer.read(), name="stdin", max_pixels=max_pixels, before_decode=before_decode)
    return read_image(src, max_pixels=max_pixels, before_decode=before_decode)


def write_output(dst: str, image: np.ndarray, *, fmt: str | None = None, quality: int = 95) -> None:
    """Write atomically to ``dst`` (format by its extension), or to stdout for ``-`` (``fmt``, default PNG)."""
    if dst == STDIO:
        sys.stdout.buffer.write(encode_image(image, "." + (fmt or "png"), quality=quality))
        sys.stdout.buffer.flush()
    else:
        write_image(dst, image, quality=quality)


def report(summary: dict[str, Any], line: str | None, *, as_json: bool, to_stdout: bool = False) -> None:
    """Print ``summary`` as JSON (``as_json``) or the human ``line``; never on stdout when it carries the image.

    Args:
        summary: the ``--json`` report.
        line: one human line (None: none).
        as_json: the command's ``--json``.
        to_stdout: the image went to stdout (``-o -``), which must stay a clean image:
            ``--json`` goes to stderr instead, the human line is left out.
    """
    if as_json:
        with contextlib.redirect_stdout(sys.stderr) if to_stdout else contextlib.nullcontext():
            emit_json(summary)
    elif line is not None and not to_stdout:
        print(line)


@dataclass(frozen=True)
class Job:
    """One input of a batch and where its result goes (``-``: stdin / stdout)."""

    src: str
    dst: str


def expand_inputs(inputs: Sequence[str]) -> list[tuple[str, Path | None]]:
    """``[(input, path relative to its folder's parent, or None)]``: files as given, folders recursively.

    Raises:
        CliError: a missing input, a folder without images, or stdin given twice.
    """
    found: list[tuple[str, Path | None]] = []
    for item in inputs:
        p = Path(item)
        if item == STDIO:
            found.append((item, None))
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise CliError(f"{item}: expected images ({_EXTENSIONS}) in the folder, got none")
            found += [(str(f), f.relative_to(p.parent)) for f in files]
        elif not p.exists():
            raise CliError(f"{item}: no such file or folder")
        else:
            found.append((item, None))
    check_stdin_once(*(src for src, _ in found))
    return found


def plan_jobs(inputs: list[tuple[str, Path | None]], output: str | None, tag: str, fmt: str | None) -> list[Job]:
    """Pair every input (from :func:`expand_inputs`) with its output.

    Args:
        inputs: the expanded inputs.
        output: ``-o``: a file (one input), a folder (several inputs, or an existing
            folder), ``-`` (stdout, one input) or None (``NAME_TAG.EXT`` beside each input;
            stdout for stdin).
        tag: the default output name's suffix (the style's name).
        fmt: ``--format``, which applies to stdout only.

    Raises:
        CliError: stdout for several images, a file where a folder is needed, an output
            without an image extension or one that would overwrite its input, ``--format``
            for a file.
    """
    many = len(inputs) > 1 or any(rel is not None for _, rel in inputs)
    if many and output == STDIO:
        raise CliError("-o -: stdout takes a single image, got several inputs")
    out_dir = Path(output) if output not in (None, STDIO) and (many or os.path.isdir(output)) else None
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CliError(f"-o {output}: expected a folder for several inputs, got an existing file")
    jobs = []
    for src, rel in inputs:
        if src == STDIO:
            dst = output or STDIO
        elif out_dir is not None:
            dst = str(out_dir / (rel if rel is not None else Path(src).name))
        elif output is not None:
            dst = output
        else:
            p = Path(src)
            dst = str(p.with_name(f"{p.stem}_{tag}{p.suffix}"))
        check_image_output(dst, src)
        jobs.append(Job(src, dst))
    if fmt and any(job.dst != STDIO for job in jobs):
        raise CliError("--format applies to stdout only; give the output file an extension instead")
    check_distinct_outputs(jobs)
    return jobs


def _same_file_key(path: str) -> str:
    return os.path.normcase(str(Path(path).resolve()))


def check_distinct_outputs(jobs: list[Job]) -> None:
    """Refuse, before anything is written, a batch in which one file would overwrite another's result or input.

    Two inputs with the same name (``a/x.png b/x.png -o res``, or two folders both called
    ``in``) would both be written to one output; an output may also be another input
    (``x.png x_STYLE.png`` without ``-o``). Either would lose a file, so the batch is refused.

    Raises:
        CliError: naming the output and both inputs.
    """
    inputs = {_same_file_key(job.src): job.src for job in jobs if job.src != STDIO}
    written: dict[str, Job] = {}
    for job in jobs:
        if job.dst == STDIO:
            continue
        key = _same_file_key(job.dst)
        first = written.setdefault(key, job)
        if first is not job:
            if first.src == STDIO or _same_file_key(first.src) != _same_file_key(job.src):
                raise CliError(f"{job.dst}: both {first.src} and {job.src} would be written there; "
                               "rename one, or stylise them in separate runs")
            raise CliError(f"{job.src}: given twice (as {first.src} and {job.src}); give each input once")
        if key in inputs:
            raise CliError(f"{job.dst}: the result of {job.src} would overwrite the input {inputs[key]}; "
                           "give -o a folder of its own")


@dataclass(frozen=True)
class BatchOptions:
    """How a batch reads and writes its images.

    Attributes:
        max_pixels: refuse larger inputs before decoding them.
        max_size: downscale inputs so the longest side is at most this (None: keep).
        fmt: stdout's image format (``png`` when None).
        quality: JPEG quality.
        progress: show a progress bar on stderr (runs of several images).
        precheck: called with an input's ``(height, width)`` after ``max_size`` (from the
            file's header, before decoding): the memory plan, which may refuse it.
        details: fields added to each written image's report (e.g. its memory plan).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_size: int | None = None
    fmt: str | None = None
    quality: int = 95
    progress: bool = True
    precheck: Callable[[int, int], Any] | None = None
    details: Callable[[], dict[str, Any]] | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, **more: Any) -> BatchOptions:
        """From a command's ``--max-pixels``, ``--max-size``, ``--format``, ``--quality`` and ``--json``; ``more``:
        ``precheck``, ``details``."""
        return cls(max_pixels=args.max_pixels, max_size=args.max_size, fmt=args.format, quality=args.quality,
                   progress=not args.json, **more)

    def before_decode(self) -> Callable[[int, int], None] | None:
        """:attr:`precheck` as :func:`~impasto.runtime.io.images.decode_image` calls it: ``(width, height)`` of the
        file, scaled to ``max_size``."""
        if self.precheck is None:
            return None
        precheck, max_size = self.precheck, self.max_size

        def check(width: int, height: int) -> None:
            precheck(*fitted_shape(height, width, max_size))

        return check


def run_batch(jobs: list[Job], render: Callable[[np.ndarray], np.ndarray], options: BatchOptions,
              what: str = "stylize") -> list[dict[str, Any]]:
    """Read, render and write every job; a file that fails does not stop the others.

    Args:
        jobs: from :func:`plan_jobs`.
        render: ``HxWx3`` uint8 RGB in, the result out.
        options: see :class:`BatchOptions`.
        what: the progress bar's label.

    Returns:
        One JSON-ready dict per job: ``input``, ``output`` and ``width``, ``height``,
        ``seconds`` (render time), or ``output`` None, ``error`` (also printed as one line
        on stderr) and ``user_error`` (True when the file or the request was at fault,
        False for a failure of the machine or the backend: a full disk, a runtime error).
        Ctrl-C and SIGTERM stop the batch (files already written stay).
    """
    results = []
    with Progress(len(jobs), what, enabled=options.progress and len(jobs) > 1) as bar:
        for job in jobs:
            results.append(_run_job(job, render, options))
            bar.update(1)
    return results


def _run_job(job: Job, render: Callable[[np.ndarray], np.ndarray], options: BatchOptions) -> dict[str, Any]:
    try:
        image = fit_max_size(read_input(job.src, max_pixels=options.max_pixels, before_decode=options.before_decode()),
                             options.max_size)
        t0 = time.perf_counter()
        out = render(image)
        seconds = time.perf_counter() - t0
        write_output(job.dst, out, fmt=options.fmt, quality=options.quality)
    except Exception as exc:  # noqa: BLE001 - this file's failure, whatever it is: report it, go on with the next
        message = _failure_message(job.src, exc)
        sys.stderr.write(f"impasto: error: {message}\n")
        return {"input": job.src, "output": None, "error": message, "user_error": isinstance(exc, UserError)}
    return {"input": job.src, "output": job.dst, "width": out.shape[1], "height": out.shape[0],
            "seconds": round(seconds, 4), **(options.details() if options.details else {})}


def _failure_message(src: str, exc: Exception) -> str:
    """impasto's own errors as they are (they name the file); anything else with the input and its type."""
    if isinstance(exc, ImpastoError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or src}: {exc.strerror}"
    detail = (str(exc).strip().splitlines() or [""])[0]
    return f"{src}: {type(exc).__name__}: {detail}" if detail else f"{src}: {type(exc).__name__}"


def finish_batch(jobs: list[Job], results: list[dict[str, Any]], summary: dict[str, Any], how: str, *,
                 as_json: bool) -> int:
    """Report a batch (``--json``: ``summary`` with ``images``, ``succeeded``, ``failed``) and give its exit code.

    Args:
        jobs: the batch.
        results: from :func:`run_batch`.
        summary: what ran (model, provider, settings).
        how: ends the human line, e.g. ``"with style 'la_muse' on CPUExecutionProvider"``.
        as_json: the command's ``--json``.

    Returns:
        0 if every image was written; 2 if some failed, all through their own fault
        (``user_error``); 1 if any failed for another reason (a full disk, a backend error).
    """
    ok = [r for r in results if r["output"]]
    if len(jobs) > 1:
        line = f"stylized {len(ok)}/{len(jobs)} images {how} in {sum(r['seconds'] for r in ok):.2f} s"
    elif ok:
        line = f"wrote {ok[0]['output']} ({ok[0]['width']}x{ok[0]['height']}) in {ok[0]['seconds']:.2f} s {how}"
    else:
        line = None
    report({**summary, "images": results, "succeeded": len(ok), "failed": len(results) - len(ok)}, line,
           as_json=as_json, to_stdout=any(job.dst == STDIO for job in jobs))
    failed = [r for r in results if not r["output"]]
    if not failed:
        return 0
    return 2 if all(r["user_error"] for r in failed) else 1
