"""``tools/compare_arbitrary.py``: the photo and painting rule, the report, and a missing peer, on tiny fake inputs.

The methods' processes are replaced by a fake runner (one method returns the photo itself,
the other a flat grey image), so only the selection, the scoring through ``impasto eval``'s
machinery at 64 px and the table/JSON assembly run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import load_module

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
tool = load_module(ROOT / "tools" / "compare_arbitrary.py", "compare_arbitrary_tool")


def _images(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    from impasto.runtime.io.images import write_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        base = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
        write_image(folder / name, np.kron(base, np.ones((5, 5, 1), np.uint8)))  # 30x40, blocky: has edges
    return [folder / n for n in names]


@pytest.fixture
def data(tmp_path) -> dict[str, Path]:
    names = [f"photo{i:02d}.png" for i in range(14)]
    _images(tmp_path / "train512", names)
    _images(tmp_path / "content", names, seed=1)
    _images(tmp_path / "style", [f"painting{i:02d}.png" for i in range(12)], seed=2)
    return {"holdout": tmp_path / "train512", "content": tmp_path / "content", "style": tmp_path / "style"}


def test_photos_are_the_decoders_held_out_originals(data):
    from impasto.training.data import list_images, split_holdout

    held = [p.name for p in split_holdout(list_images(data["holdout"]), 10)[1]]
    photos = tool.select_photos(data["holdout"], data["content"], 10)
    assert [p.name for p in photos] == held and all(p.parent == data["content"] for p in photos)
    assert len(held) == 10 and held != [f"photo{i:02d}.png" for i in range(10)]  # evenly spaced, not the first ten
    few = tool.select_photos(data["holdout"], data["content"], 3)
    assert len(few) == 3 and {p.name for p in few} <= set(held)
    with pytest.raises(tool.UserError, match="expected 1 to 10"):
        tool.select_photos(data["holdout"], data["content"], 11)
    (data["content"] / held[0]).unlink()
    with pytest.raises(tool.UserError, match=held[0]):
        tool.select_photos(data["holdout"], data["content"], 10)


def test_paintings_are_evenly_spaced_over_the_sorted_folder(data):
    assert [p.name for p in tool.select_paintings(data["style"], 6)] == \
        [f"painting{i:02d}.png" for i in (1, 3, 5, 7, 9, 11)]  # item int(i * 2 + 1) of 12
    picked = tool.select_paintings(data["style"], 6, exclude=["painting01.png"])
    assert "painting01.png" not in [p.name for p in picked] and len(picked) == 6
    assert len(tool.select_paintings(data["style"], 12)) == 12
    for bad in (0, 13):
        with pytest.raises(tool.UserError, match=f"expected 1 to 12 .*got {bad}"):
            tool.select_paintings(data["style"], bad)


def test_run_scores_fake_methods_and_reports_the_missing_peer(data, tmp_path, monkeypatch, vgg_weights, capsys):
    from impasto.runtime.io.images import read_image, write_image

    calls: list[list[str]] = []

    def fake_run(argv: list[str]) -> tuple[float, dict]:
        calls.append(argv)
        content, out = Path(argv[4]), Path(argv[argv.index("-o") + 1])
        image = read_image(content)
        write_image(out, image if "wct" in argv else np.full_like(image, 128))
        return 0.5, {"images": [{"seconds": 0.25}]}

    monkeypatch.setattr(tool, "run_command", fake_run)
    graph = tmp_path / "wct.onnx"
    graph.write_bytes(b"not read: the runner is fake")
    out = tmp_path / "out"
    argv = ["--photos", "2", "--paintings", "2", "--holdout-dir", str(data["holdout"]), "--content-dir",
            str(data["content"]), "--style-dir", str(data["style"]), "--wct", str(graph), "--peer",
            str(tmp_path / "no_such_peer"), "--side", "64", "--tile", "48", "--vgg-weights", vgg_weights,
            "--out", str(out)]
    assert tool.main(argv) == 0
    printed = capsys.readouterr()
    assert "skipping magenta-peer: no executable at" in printed.err
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"] == {"magenta-peer": f"no executable at {tmp_path / 'no_such_peer'}"}
    assert len(calls) == 2 * 2 * 2 and all(read_image(Path(c[4])).shape[:2] == (48, 64) for c in calls)
    rows = {r["method"]: r for r in report["methods"]}
    assert list(rows) == ["impasto-wct", "impasto-microast"]
    wct, grey = rows["impasto-wct"], rows["impasto-microast"]
    assert wct["n"] == grey["n"] == 4 and len(wct["pairs"]) == 4
    assert wct["style_ratio"] == pytest.approx(1.0, abs=1e-3) and wct["content_distance"] == pytest.approx(0, abs=1e-3)
    assert wct["edge_ssim"] == pytest.approx(1.0, abs=1e-3)
    assert grey["content_distance"] > 0.5 and grey["edge_ssim"] < 0.5
    assert (wct["process_seconds"], wct["graph_seconds"]) == (0.5, 0.25)
    table = (out / "report.md").read_text()
    assert "| impasto-wct | 4 | 1.000 | 0.000 |" in table and "skipped magenta-peer: no executable" in table
    assert "not met" in table and "| impasto-microast | 4 |" in printed.out
    for name in rows:  # a header row of paintings + one row per photo, 3 tiles wide
        sheet = read_image(out / f"sheet_{name}.png")
        assert sheet.shape[0] >= 3 * 48 and sheet.shape[1] >= 3 * 48
    assert tool.main(argv) == 2  # a second run into the same folder is refused without --overwrite
    assert tool.main([*argv, "--overwrite"]) == 0
