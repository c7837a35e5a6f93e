"""Class 7: several inputs never write one output, and no output overwrites another input.

On main at 973f7ac (and still at 510d13f) ``impasto stylize a/x.png b/x.png -o res``
reported 2/2 and left one file, two folders of the same name merged into one, the same
file given twice was stylised twice into one output, and ``x.png x_starry_night.png``
without ``-o`` overwrote the second input with the first one's result before reading it.
Now such a batch is refused before anything is written (one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from impasto.cli.common import CliError
from impasto.cli.file_batch import Job, check_distinct_outputs, expand_inputs, plan_jobs
from impasto.cli.main import main


@pytest.mark.parametrize("files, inputs, output, message", [
    (["a/x.png", "b/x.png"], ["a/x.png", "b/x.png"], "res", "res/x.png: both a/x.png and b/x.png would be written"),
    (["p/in/x.png", "q/in/x.png"], ["p/in", "q/in"], "res", "res/in/x.png: both p/in/x.png and q/in/x.png"),
    (["x.png"], ["x.png", "x.png"], "res", "x.png: given twice"),
    (["x.png", "x_starry_night.png"], ["x.png", "x_starry_night.png"], None,
     "x_starry_night.png: the result of x.png would overwrite the input x_starry_night.png"),
])
def test_colliding_batches_are_refused_before_anything_is_written(tmp_path, monkeypatch, capfd, write_photo, files,
                                                                  inputs, output, message):
    monkeypatch.chdir(tmp_path)
    for seed, name in enumerate(files):
        write_photo(tmp_path / name, seed=seed)
    before = {name: (tmp_path / name).read_bytes() for name in files}
    argv = ["stylize", *inputs, "--style", "starry_night"] + (["-o", output] if output else [])
    assert main(argv) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("impasto: error: ") and message in err[0], err
    assert not (tmp_path / "res").exists()  # nothing written ...
    assert {name: (tmp_path / name).read_bytes() for name in files} == before  # ... and no input touched
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(n.split("/")[-1] for n in files)


def test_check_distinct_outputs_compares_resolved_paths(tmp_path):
    (tmp_path / "d").mkdir()
    jobs = [Job(str(tmp_path / "a.png"), str(tmp_path / "d" / ".." / "o.png")), Job("b.png", str(tmp_path / "o.png"))]
    with pytest.raises(CliError, match="o.png: both .*a.png and b.png would be written there"):
        check_distinct_outputs(jobs)
    check_distinct_outputs([Job("-", "-"), Job(str(tmp_path / "a.png"), str(tmp_path / "b.png"))])


def test_plan_refuses_only_real_collisions(tmp_path, write_photo):
    """Same names are refused; same stems with other extensions, x.png beside sub/x.png, a folder and one of its
    files given again (each with an output of its own) are all kept."""
    for seed, name in enumerate(["a/x.png", "b/x.png", "c/x.jpg", "in/y.png", "in/sub/y.png"]):
        write_photo(tmp_path / name, seed=seed)
    with pytest.raises(CliError, match="would be written there"):
        plan_jobs(expand_inputs([str(tmp_path / "a/x.png"), str(tmp_path / "b/x.png")]), str(tmp_path / "o"), "t",
                  None)
    jobs = plan_jobs(expand_inputs([str(tmp_path / n) for n in ("a/x.png", "c/x.jpg", "in", "in/y.png")]),
                     str(tmp_path / "o"), "t", None)
    assert sorted(str(Path(job.dst).relative_to(tmp_path / "o")) for job in jobs) == [
        "in/sub/y.png", "in/y.png", "x.jpg", "x.png", "y.png"]
