"""``impasto photoreal --work-size``: the working size in --json and the human line, and its parse errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "assets" / "chelsea.jpg"
STAGES = {"load", "read", "prepare", "graph", "smooth", "upsample", "total", "write", "wall"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photoreal_work_size_cli")
    photo = read_image(CHELSEA)
    paths = {"content": d / "content.png", "style": d / "style.png"}
    write_image(paths["content"], cv2.resize(photo, (240, 160), interpolation=cv2.INTER_AREA))
    write_image(paths["style"], cv2.resize(photo[:, ::-1], (96, 64), interpolation=cv2.INTER_AREA))
    return paths


def _run(files, out, graph, *extra) -> int:
    return main(["photoreal", str(files["content"]), "--style-image", str(files["style"]), "-o", str(out),
                 "--model", str(graph.path), *extra])


def test_json_reports_the_working_size_and_every_stage(photowct_graph, files, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert _run(files, out, photowct_graph, "--work-size", "20K", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["width"], report["height"]) == (240, 160)
    assert report["work_width"] * report["work_height"] <= 20_000
    assert abs(report["work_width"] / report["work_height"] - 1.5) < 0.02
    assert set(report["seconds"]) == STAGES and report["seconds"]["upsample"] > 0
    assert read_image(out).shape == (160, 240, 3)


def test_a_photo_that_fits_runs_as_it_is(photowct_graph, files, tmp_path, capsys):
    assert _run(files, tmp_path / "a.png", photowct_graph, "--json") == 0  # default: 0.6 MP
    report = json.loads(capsys.readouterr().out)
    assert (report["work_width"], report["work_height"]) == (240, 160) and report["seconds"]["upsample"] == 0
    assert _run(files, tmp_path / "b.png", photowct_graph, "--work-size", "full") == 0
    assert "worked at" not in capsys.readouterr().out
    assert _run(files, tmp_path / "c.png", photowct_graph, "--work-size", "20000") == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {tmp_path / 'c.png'} (240x160) in ") and ", worked at 173x115, upsampled " in line


@pytest.mark.parametrize("value", ["abc", "100", "0", "1G", "0.5MP", ""])
def test_bad_work_size_is_one_line_exit_2(photowct_graph, files, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:  # argparse's error: before any file is read
        _run(files, tmp_path / "o.png", photowct_graph, "--work-size", value)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("impasto: error: argument --work-size: expected ")
    assert repr(value) in err[0]
    assert not (tmp_path / "o.png").exists()


def test_a_photo_over_the_budget_is_refused_from_its_header_before_decoding(photowct_graph, files, tmp_path, capsys,
                                                                            monkeypatch):
    big = tmp_path / "big.png"  # 12 MP of one grey: a small file whose header says 4000x3000
    write_image(big, np.full((3000, 4000, 3), 128, np.uint8))
    decoded = []
    real = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1) or real(*a))
    out = tmp_path / "o.png"
    # 1 GB: the 20K working size fits (about 0.8 GB), with the photo's full-size arrays it does not
    code = main(["photoreal", str(big), "--style-image", str(files["style"]), "-o", str(out),
                 "--model", str(photowct_graph.path), "--work-size", "20K", "--max-memory", "1G"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "4000x3000" in err and "over the memory budget" in err and "the largest this size fits is" in err, err
    assert decoded == [] and not out.exists()  # neither the photo nor the style photo was decoded


def test_a_working_size_that_cannot_fit_says_so_instead_of_a_zero_size(photowct_graph, files, tmp_path, capsys):
    out = tmp_path / "o.png"
    assert _run(files, out, photowct_graph, "--max-memory", "100M") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "alone needs about" in err and "lower --work-size" in err, err
    assert "0x0" not in err and not out.exists()
