"""``impasto.cli.file_batch`` (inputs, outputs, reports shared by the image commands) and main's exit-code mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import load_module

from impasto.cli import file_batch
from impasto.cli.common import CliError
from impasto.cli.file_batch import Job, check_image_output, expand_inputs, plan_jobs
from impasto.cli.main import main
from impasto.errors import BackendRuntimeError, ExportError, ModelError
from impasto.runtime.io.images import decode_image, encode_image, read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "assets" / "chelsea.jpg"


def test_plan_pairs_inputs_with_outputs(tmp_path):
    src = tmp_path / "in"
    write_image(src / "a.jpg", np.zeros((4, 4, 3), np.uint8))
    write_image(src / "sub" / "b.png", np.zeros((4, 4, 3), np.uint8))
    single = tmp_path / "cat.jpg"
    single.write_bytes(CHELSEA.read_bytes())
    assert plan_jobs(expand_inputs([str(src)]), str(tmp_path / "out"), "tiny", None) == [
        Job(str(src / "a.jpg"), str(tmp_path / "out" / "in" / "a.jpg")),
        Job(str(src / "sub" / "b.png"), str(tmp_path / "out" / "in" / "sub" / "b.png"))]
    assert plan_jobs(expand_inputs([str(single)]), None, "tiny", None) == [
        Job(str(single), str(tmp_path / "cat_tiny.jpg"))]
    assert plan_jobs(expand_inputs(["-"]), None, "tiny", "jpg") == [Job("-", "-")]


@pytest.mark.parametrize("inputs, output, fmt, message", [
    (["-", "-"], None, None, "stdin (-) can be given once"),
    (["{a}", "{a}"], "-", None, "stdout takes a single image"),
    (["{a}", "{a}"], "{a}", None, "expected a folder for several inputs, got an existing file"),
    (["{a}"], "{tmp}/o.gif", None, "expected an image extension"),
    (["{a}"], "{a}", None, "would overwrite its input"),
    (["{a}"], "{tmp}/o.png", "jpg", "--format applies to stdout only"),
    (["{tmp}/missing.jpg"], None, None, "missing.jpg: no such file or folder"),
    (["{tmp}/empty"], None, None, "expected images (.bmp, "),
])
def test_plan_refusals(tmp_path, inputs, output, fmt, message):
    (tmp_path / "empty").mkdir()
    a = tmp_path / "a.png"
    write_image(a, np.zeros((4, 4, 3), np.uint8))
    fill = {"a": str(a), "tmp": str(tmp_path)}
    with pytest.raises(CliError) as exc:
        plan_jobs(expand_inputs([i.format(**fill) for i in inputs]), output and output.format(**fill), "t", fmt)
    assert message in str(exc.value)


def test_check_image_output_names_the_flag():
    check_image_output("-", "-")  # stdout never collides with an input
    with pytest.raises(CliError, match=r"^--output o.txt: expected an image extension \(.*\), got '.txt'$"):
        check_image_output("o.txt", flag="--output")
    with pytest.raises(CliError, match="^-o x: expected an image extension .*, got 'none'$"):
        check_image_output("x")


def test_report_keeps_stdout_for_the_image(capsys):
    file_batch.report({"a": 1}, "human", as_json=True, to_stdout=True)
    file_batch.report({"a": 1}, "human", as_json=False, to_stdout=True)
    assert capsys.readouterr().out == ""
    file_batch.report({"a": 1}, "human", as_json=True)
    file_batch.report({"a": 1}, "human", as_json=False)
    file_batch.report({"a": 1}, None, as_json=False)
    out = capsys.readouterr().out
    assert json.loads(out[:out.index("}") + 1]) == {"a": 1} and out.endswith("}\nhuman\n")


def test_a_failing_file_does_not_stop_the_batch(tmp_path, capsys):
    jobs = [Job(str(tmp_path / f"{n}.png"), str(tmp_path / "out" / f"{n}.png")) for n in ("a", "b", "c")]
    for job in jobs:
        write_image(job.src, np.full((6, 8, 3), 100, np.uint8))
    (tmp_path / "b.png").write_bytes(b"broken")

    def render(image):
        return 255 - image

    results = file_batch.run_batch(jobs, render, file_batch.BatchOptions(progress=False))
    assert [r["output"] for r in results] == [jobs[0].dst, None, jobs[2].dst]
    assert "b.png: not an image" in results[1]["error"]
    assert capsys.readouterr().err.count("impasto: error: ") == 1
    assert file_batch.finish_batch(jobs, results, {"model": "m"}, "with m", as_json=True) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "m" and report["succeeded"] == 2 and report["failed"] == 1
    assert read_image(jobs[2].dst).max() == 155 and not Path(jobs[1].dst).exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]  # no temporaries
    assert file_batch.finish_batch(jobs[:1], results[:1], {}, "with m", as_json=False) == 0
    assert capsys.readouterr().out.startswith(f"wrote {jobs[0].dst} (8x6) in ")


def _cli(*args: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "impasto", *args], input=stdin, capture_output=True, cwd=ROOT,
                          timeout=300)


def test_stdin_and_stdout_for_a_single_image_command(tmp_path):
    """``impasto warp`` (like photoreal, sheet and gatys) reads - from stdin and writes -o - to stdout."""
    mod = load_module(ROOT / "tests" / "runtime" / "test_warp.py", "_warp_graph")  # for write_shift_graph
    graph = mod.write_shift_graph(tmp_path / "shift.onnx", shift_x=0.0)
    photo = cv2.resize(read_image(CHELSEA), (64, 48), interpolation=cv2.INTER_AREA)
    guide = tmp_path / "guide.png"
    write_image(guide, photo)
    r = _cli("warp", "-", "--geometry", str(guide), "--model", str(graph), "-o", "-", "--json",
             stdin=encode_image(photo, ".png"))
    assert r.returncode == 0, r.stderr
    assert r.stdout[:8] == b"\x89PNG\r\n\x1a\n"  # only the image: no JSON report mixed into it
    assert np.abs(decode_image(r.stdout).astype(int) - photo.astype(int)).mean() < 2  # zero shift
    r = _cli("warp", "-", "--geometry", "-", "--model", str(graph), "-o", "-", stdin=b"")
    assert r.returncode == 2 and r.stderr.decode().strip() == "impasto: error: stdin (-) can be given once"


@pytest.mark.parametrize("exc, code, line", [
    (ExportError("export: parity failed"), 1, "impasto: error: export: parity failed"),
    (BackendRuntimeError("cudaMalloc failed"), 1, "impasto: error: cudaMalloc failed"),
    (OSError(28, "No space left on device"), 1, "impasto: error: [Errno 28] No space left on device"),
    (ModelError("model: bad"), 2, "impasto: error: model: bad"),
    (CliError("--x: bad"), 2, "impasto: error: --x: bad"),
    (KeyboardInterrupt(), 130, "impasto: interrupted"),
])
def test_main_maps_every_failure_to_one_line_and_an_exit_code(monkeypatch, capsys, exc, code, line):
    import impasto.cli.info

    def fail(args):
        raise exc

    monkeypatch.setattr(impasto.cli.info, "run_info", fail)
    assert main(["info"]) == code
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""


def test_main_lets_bugs_raise(monkeypatch):
    import impasto.cli.info

    def bug(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(impasto.cli.info, "run_info", bug)
    with pytest.raises(ZeroDivisionError):
        main(["info"])
