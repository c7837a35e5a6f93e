"""``impasto batch`` on a real local Ray cluster (started once for this module): outputs, resume, faults.

The fault test kills one worker actor mid-job through the worker's test hook
(:data:`impasto.scale.batch.KILL_HOOK_ENV`): the first worker to have written 3 images
records them (inode, mtime) and dies (``os._exit``) half-way through writing its next one,
leaving a temporary file as a real kill would. Ray Data restarts the actor and retries
its batch; the job must finish with every output present, the dead worker's outputs
untouched (written once), and no temporary file left.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image
from impasto.scale.batch import KILL_HOOK_ENV

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20,
             logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def stylizer():
    from impasto.runtime import Stylizer

    with Stylizer.load(threads=1) as s:
        yield s


@pytest.fixture(scope="module")
def photos(shared) -> list[np.ndarray]:
    """Eight small content photos (48 px on the long side: the test is about the job, not the pixels)."""
    files = sorted((shared / "data" / "content").glob("*.jpg"))[:8]
    out = []
    for f in files:
        im = read_image(f)
        s = 48 / max(im.shape[:2])
        out.append(cv2.resize(im, (round(im.shape[1] * s), round(im.shape[0] * s)), interpolation=cv2.INTER_AREA))
    return out


def _source(root: Path, photos: list[np.ndarray], bad: bool = True) -> Path:
    src = root / "src"
    for i, im in enumerate(photos):
        write_image(src / ("sub" if i % 2 else "") / f"p{i}.png", im)
    if bad:
        (src / "broken.png").write_bytes(b"not an image at all")
    return src


def _run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["batch", *argv, "--json", "--workers", "2", "--batch-size", "2"])
    return code, json.loads(capsys.readouterr().out)


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.suffix == ".tmp"]


def test_batch_writes_each_image_keeps_the_layout_and_reports_bad_inputs(cluster, stylizer, photos, tmp_path,
                                                                         capsys):
    src = _source(tmp_path, photos)
    code, summary = _run(capsys, str(src), str(tmp_path / "out"))
    assert code == 2  # the broken file is the input's fault; every other image is written
    assert (summary["written"], summary["failed"], summary["images"]) == (8, 1, 9)
    for i, im in enumerate(photos):
        got = read_image(tmp_path / "out" / ("sub" if i % 2 else "") / f"p{i}.png")
        assert np.abs(got.astype(int) - stylizer(im)).max() <= 1  # what the Stylizer gives, up to rounding
    report = [json.loads(line) for line in Path(summary["report"]).read_text().splitlines()]
    assert [(Path(r["path"]).name, r["user_error"]) for r in report] == [("broken.png", True)]
    assert "not an image" in report[0]["error"]

    # a re-run redoes only what is missing: one deleted output and the broken input
    (tmp_path / "out" / "p0.png").unlink()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("p*.png")}
    code, summary = _run(capsys, str(src), str(tmp_path / "out"))
    assert code == 2 and (summary["done_before"], summary["written"], summary["failed"]) == (7, 1, 1)
    assert {p: p.stat().st_mtime_ns for p in before} == before and (tmp_path / "out" / "p0.png").is_file()


def test_a_manifest_with_a_style_and_strength(cluster, stylizer, photos, tmp_path, capsys):
    src = _source(tmp_path, photos[:3], bad=False)
    (src / "list.txt").write_text("p0.png\nsub/p1.png\n")
    code, summary = _run(capsys, str(src / "list.txt"), str(tmp_path / "out"), "--style", "la_muse:0.5,wave:0.5",
                         "--strength", "0.7")
    assert code == 0 and summary["written"] == 2 and summary["model"] == "la_muse:0.5,wave:0.5"
    want = stylizer(photos[1], style="la_muse:0.5,wave:0.5", strength=0.7)
    assert np.abs(read_image(tmp_path / "out" / "sub" / "p1.png").astype(int) - want).max() <= 1
    assert not (tmp_path / "out" / "p2.png").exists()


def test_a_killed_worker_loses_nothing_and_writes_nothing_twice(cluster, photos, tmp_path, capsys, monkeypatch):
    src = _source(tmp_path, photos, bad=False)
    marker = tmp_path / "killed.json"
    monkeypatch.setenv(KILL_HOOK_ENV, f"3:{marker}")
    code, summary = _run(capsys, str(src), str(tmp_path / "out"))
    assert marker.is_file(), "the hook did not kill a worker"
    assert code == 0 and summary["failed"] == 0
    assert summary["written"] + summary["existing"] == 8  # every input reported once
    outputs = sorted((tmp_path / "out").rglob("p*.png"))
    assert len(outputs) == 8 and all(read_image(p).shape[2] == 3 for p in outputs)
    for rec in json.loads(marker.read_text()):  # written by the dead worker: never written again
        st = Path(rec["dst"]).stat()
        assert (st.st_ino, st.st_mtime_ns) == (rec["ino"], rec["mtime_ns"])
    assert _temporaries(tmp_path / "out") == []  # the dead worker's half-written file was removed


def test_bad_flags_fail_before_a_cluster_is_needed(tmp_path, photos, capsys):
    src = _source(tmp_path, photos[:1], bad=False)
    assert main(["batch", str(src), str(tmp_path / "out"), "--style", "no_such_style"]) == 2
    assert "no_such_style" in capsys.readouterr().err
    assert main(["batch", str(src), str(src / "out")]) == 2
    assert "inside the source folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
