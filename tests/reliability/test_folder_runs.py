"""Folder runs: a file that fails, in any way, is one line and a report entry; every good file is still written.

On main at 973f7ac (and at 510d13f) only ``UserError`` and ``OSError`` were caught per
file: an error raised inside ONNX Runtime (a 1x1 photo sorting first in the folder), or
any other exception of one file, ended the whole run with a traceback, before any good
file was written and without the summary the README promises. Now the run goes on, the
summary lists the failures, and the exit code says whose fault they were: 2 when every
failure was the input's, 1 when any was not (a backend error, a full disk).
"""

from __future__ import annotations

import json

import numpy as np

from impasto.cli import file_batch
from impasto.cli.file_batch import Job
from impasto.errors import BackendRuntimeError, StorageError


def test_a_tiny_file_first_and_a_broken_one_do_not_stop_the_folder(tmp_path, impasto_cli, write_photo,
                                                                     error_lines):
    """A 1x1 photo sorting first (at 973f7ac: a crash inside ONNX Runtime, nothing written) is padded and stylised;
    a truncated file is one line; the good files are written and the summary follows."""
    write_photo(tmp_path / "in" / "0_tiny.png", 1, 1)
    write_photo(tmp_path / "in" / "a.png", seed=1)
    (tmp_path / "in" / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    write_photo(tmp_path / "in" / "c.png", seed=2)
    r = impasto_cli("stylize", "in", "-o", "res", cwd=tmp_path)
    assert r.returncode == 2, r.stderr  # every failure was the input's
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("impasto: error: ") and "b_broken.png" in lines[0], lines
    assert "Traceback" not in r.stderr.decode() and "onnxruntime" not in r.stderr.decode()
    assert r.stdout.decode().startswith("stylized 3/4 images")
    assert sorted(p.name for p in (tmp_path / "res" / "in").iterdir()) == ["0_tiny.png", "a.png", "c.png"]


def test_any_exception_of_one_file_is_reported_and_the_others_written(tmp_path, capsys, write_photo):
    jobs = [Job(str(write_photo(tmp_path / f"{n}.png", seed=i)), str(tmp_path / "out" / f"{n}.png"))
            for i, n in enumerate("abcde")]
    failures = {1: RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : bad pad\nsecond line"),
                2: BackendRuntimeError("cudaMalloc failed: cudaErrorMemoryAllocation"),
                3: StorageError("out/d.png: cannot write: No space left on device")}
    calls = []

    def render(image: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) - 1 in failures:
            raise failures[len(calls) - 1]
        return 255 - image

    results = file_batch.run_batch(jobs, render, file_batch.BatchOptions(progress=False))
    err = capsys.readouterr().err.splitlines()
    assert err == [f"impasto: error: {jobs[1].src}: RuntimeError: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : bad pad",
                   "impasto: error: cudaMalloc failed: cudaErrorMemoryAllocation",
                   "impasto: error: out/d.png: cannot write: No space left on device"]
    assert [r["output"] is not None for r in results] == [True, False, False, False, True]
    assert [r.get("user_error") for r in results] == [None, False, False, False, None]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "e.png"]
    assert file_batch.finish_batch(jobs, results, {"model": "m"}, "with m", as_json=True) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["succeeded"] == 2 and report["failed"] == 3
    assert report["images"][1]["error"].startswith(f"{jobs[1].src}: RuntimeError: ")


def test_exit_code_is_2_when_every_failure_was_the_input(tmp_path, impasto_cli, write_photo, error_lines):
    write_photo(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.png").write_bytes(b"not a png")
    big = write_photo(tmp_path / "in" / "c.png", 64, 64)
    r = impasto_cli("stylize", "in", "-o", "res", "--max-pixels", "3500", "--json", cwd=tmp_path)
    assert big.exists() and r.returncode == 2, r.stderr
    report = json.loads(r.stdout)
    assert (report["succeeded"], report["failed"]) == (1, 2)
    assert [img["user_error"] for img in report["images"] if img["output"] is None] == [True, True]
    assert len(error_lines(r.stderr)) == 2
