"""``impasto.scale.jobs``: what a batch job reads and writes, without a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.runtime.io.atomic import temp_beside
from impasto.runtime.io.images import write_image
from impasto.scale.jobs import ImageJob, list_sources, plan_batch, remove_leftovers, write_report


def _img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.full((8, 8, 3), 100, np.uint8))
    return path


def test_a_folder_is_listed_recursively_with_relative_outputs(tmp_path):
    _img(tmp_path / "src" / "a.png")
    _img(tmp_path / "src" / "sub" / "b.jpg")
    (tmp_path / "src" / "notes.txt").write_text("not an image")
    plan = plan_batch(str(tmp_path / "src"), str(tmp_path / "out"))
    assert [(Path(j.src).name, j.dst) for j in plan.jobs] == [
        ("a.png", str(tmp_path / "out" / "a.png")), ("b.jpg", str(tmp_path / "out" / "sub" / "b.jpg"))]
    assert plan.todo == plan.jobs and plan.done_before == 0


def test_finished_outputs_are_left_out_of_a_rerun(tmp_path):
    _img(tmp_path / "src" / "a.png")
    _img(tmp_path / "src" / "b.png")
    _img(tmp_path / "out" / "a.png")
    plan = plan_batch(str(tmp_path / "src"), str(tmp_path / "out"))
    assert [Path(j.dst).name for j in plan.todo] == ["b.png"] and plan.done_before == 1


def test_text_manifest_relative_absolute_and_uri_entries(tmp_path):
    a = _img(tmp_path / "data" / "x" / "a.png")
    b = _img(tmp_path / "data" / "y" / "b.png")
    c = _img(tmp_path / "data" / "y" / "c.png")
    manifest = tmp_path / "data" / "list.txt"
    manifest.write_text(f"# inputs\nx/a.png\n\n{b}\nfile://{c}\n")
    got = list_sources(str(manifest))
    assert [rel for _, rel in got] == ["x/a.png", "y/b.png", "y/c.png"]
    assert got[0][0] == str(a) and got[2][0] == f"file://{c}"


def test_parquet_manifest(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _img(tmp_path / "a.png")
    _img(tmp_path / "sub" / "b.png")
    pq.write_table(pa.table({"path": ["a.png", "sub/b.png"]}), tmp_path / "m.parquet")
    assert [rel for _, rel in list_sources(str(tmp_path / "m.parquet"))] == ["a.png", "sub/b.png"]
    pq.write_table(pa.table({"file": ["a.png"]}), tmp_path / "bad.parquet")
    with pytest.raises(UserError, match="expected a 'path' column"):
        list_sources(str(tmp_path / "bad.parquet"))


@pytest.mark.parametrize(("content", "message"), [
    ("a.png\na.png\n", "listed twice"),
    ("a.txt\n", "expected an image extension"),
    ("# nothing\n", "expected paths in the manifest"),
])
def test_bad_manifests_are_one_line_errors(tmp_path, content, message):
    (tmp_path / "m.txt").write_text(content)
    with pytest.raises(UserError, match=message):
        list_sources(str(tmp_path / "m.txt"))


def test_refusals_before_any_work(tmp_path):
    _img(tmp_path / "src" / "a.png")
    with pytest.raises(UserError, match="no such folder or manifest"):
        plan_batch(str(tmp_path / "missing"), str(tmp_path / "out"))
    with pytest.raises(UserError, match="inside the source folder"):
        plan_batch(str(tmp_path / "src"), str(tmp_path / "src" / "out"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="expected an output folder"):
        plan_batch(str(tmp_path / "src"), str(tmp_path / "file"))
    (tmp_path / "m.csv").write_text("a.png")
    with pytest.raises(UserError, match="expected a folder or a manifest"):
        plan_batch(str(tmp_path / "m.csv"), str(tmp_path / "out"))


def test_leftover_temporaries_of_planned_outputs_are_removed_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = temp_beside(out / "a.png")
    other = temp_beside(out / "keep.png")
    (out / "a.png.tmp").write_text("a user's file")
    jobs = [ImageJob("src/a.png", str(out / "a.png")), ImageJob("src/b.png", str(out / "sub" / "b.png"))]
    assert remove_leftovers(jobs) == 1
    assert not mine.exists() and other.exists() and (out / "a.png.tmp").exists()


def test_report_is_one_json_line_per_failure(tmp_path):
    write_report(tmp_path / "r.jsonl", [{"src": "a.png", "error": "a.png: not an image", "user_error": True}])
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"path": "a.png", "error": "a.png: not an image",
                                                     "user_error": True}]
    write_report(tmp_path / "empty.jsonl", [])
    assert (tmp_path / "empty.jsonl").read_text() == ""
