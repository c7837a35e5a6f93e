"""``impasto sheet``: every built-in style on one photo, labelled; bad input is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from impasto.cli.main import main
from impasto.runtime.builtins import builtin_styles
from impasto.runtime.io.images import read_image
from impasto.runtime.pipelines.sheet import GAP, LABEL_HEIGHT, contact_sheet

ROOT = Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "assets" / "chelsea.jpg"


def test_sheet_has_one_labelled_tile_per_builtin_style(tmp_path, capsys):
    out = tmp_path / "sheet.jpg"
    assert main(["sheet", str(CHELSEA), "-o", str(out), "--tile", "120", "--columns", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = list(builtin_styles())
    assert report["styles"] == names and len(names) >= 8
    sheet = read_image(out)
    rows = -(-(len(names) + 1) // 3)
    tile_h = 80  # chelsea is 451x300: the 120-px tile is 120x80
    assert sheet.shape == (GAP + rows * (tile_h + LABEL_HEIGHT + GAP), GAP + 3 * (120 + GAP), 3)
    # the tiles differ from one another (every style renders differently) and labels are drawn
    tiles = [sheet[GAP + (i // 3) * (tile_h + LABEL_HEIGHT + GAP):][:tile_h, GAP + (i % 3) * (120 + GAP):][:, :120]
             for i in range(len(names) + 1)]
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for i, a in enumerate(tiles) for b in tiles[i + 1:]]
    assert min(diffs) > 5, min(diffs)
    label = sheet[GAP + tile_h:GAP + tile_h + LABEL_HEIGHT, GAP:GAP + 120]
    assert (label < 128).any() and (label > 200).mean() > 0.5  # dark text on white


def test_contact_sheet_rejects_mixed_tile_sizes():
    import pytest

    from impasto.errors import UserError

    with pytest.raises(UserError, match="expected tiles of one size"):
        contact_sheet([("a", np.zeros((4, 4, 3), np.uint8)), ("b", np.zeros((5, 4, 3), np.uint8))])


def test_bad_output_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "impasto", "sheet", str(CHELSEA), "-o", str(tmp_path / "s.gif")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().startswith("impasto: error: -o ")
    assert "expected an image extension" in r.stderr and not list(tmp_path.iterdir())
    r = subprocess.run([sys.executable, "-m", "impasto", "sheet", str(tmp_path / "missing.jpg"), "-o",
                        str(tmp_path / "s.jpg")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and not list(tmp_path.iterdir())
    assert r.stderr.strip().splitlines() == [f"impasto: error: {str(tmp_path / 'missing.jpg')!r}: no such file"]
