"""``impasto translate`` and ``impasto info MODEL``: files, sheets, --json, one-line errors, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image


@pytest.fixture
def photo_file(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "in.png"
    write_image(path, (rng.random((40, 52, 3)) * 255).astype(np.uint8))
    return path


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_random_styles_go_to_numbered_files_and_repeat_with_a_seed(munit_model, photo_file, tmp_path, capsys) -> None:
    out = tmp_path / "bag.png"
    code, stdout, _ = _run(["translate", str(photo_file), "--model", str(munit_model.path), "--to", "b", "-o",
                            str(out), "--random", "3", "--seed", "4", "--json"], capsys)
    assert code == 0
    report = json.loads(stdout)
    names = [Path(p).name for p in report["outputs"]]
    assert names == ["bag_01.png", "bag_02.png", "bag_03.png"] and report["seed"] == 4
    assert (report["source"], report["target"]) == ("edges", "bags") and len(report["codes"]) == 3
    images = [read_image(tmp_path / n) for n in names]
    assert images[0].shape == (40, 52, 3) and not np.array_equal(images[0], images[1])
    _run(["translate", str(photo_file), "--model", str(munit_model.path), "--to", "b", "-o",
          str(tmp_path / "again.png"), "--random", "3", "--seed", "4"], capsys)
    assert np.array_equal(read_image(tmp_path / "again_02.png"), images[1])


def test_sheet_and_reference(munit_model, photo_file, tmp_path, capsys) -> None:
    sheet = tmp_path / "sheet.png"
    assert _run(["translate", str(photo_file), "--model", str(munit_model.path), "--to", "a", "-o", str(sheet),
                 "--random", "4", "--seed", "1", "--sheet"], capsys)[0] == 0
    assert read_image(sheet).shape[1] > 2 * 52  # input + 4 tiles on one sheet
    ref_out = tmp_path / "ref.png"
    code, stdout, _ = _run(["translate", str(photo_file), "--model", str(munit_model.path.with_name("munit.b2a.onnx")),
                            "-o", str(ref_out), "--reference", str(photo_file), "--json"], capsys)
    report = json.loads(stdout)
    assert code == 0 and report["reference_style"] == report["codes"][0] and ref_out.is_file()


@pytest.mark.parametrize(("extra", "message"), [
    (["--to", "shoes"], "--to: expected 'a', 'b' or a domain name"),
    (["--to", "b", "--reference", "REF", "--seed", "1"], "--seed/--sheet: apply to --random"),
    (["--to", "b", "--random", "2", "-o", "-"], "-o -: one image goes to stdout"),
    (["--to", "b", "-o", "out.txt"], "expected an image extension"),
])
def test_bad_usage_is_one_line_and_writes_nothing(munit_model, photo_file, tmp_path, capsys, extra, message) -> None:
    argv = ["translate", str(photo_file), "--model", str(munit_model.path), "-o", str(tmp_path / "o.png"),
            *[str(photo_file) if a == "REF" else a for a in extra]]
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_info_lists_both_graphs_with_their_card(munit_model, capsys) -> None:
    code, stdout, _ = _run(["info", str(munit_model.path), "--json"], capsys)
    graphs = json.loads(stdout)["graphs"]
    assert code == 0 and [Path(g["path"]).name for g in graphs] == ["munit.a2b.onnx", "munit.b2a.onnx"]
    assert graphs[0]["method"] == "munit" and graphs[0]["card"]["command"] == "test fixture"
    assert [i["name"] for i in graphs[0]["inputs"]] == ["image", "reference", "style", "reference_weight"]
