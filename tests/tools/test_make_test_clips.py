"""``tools/make_test_clips.py``: deterministic renders, identical bytes twice, the committed clips match."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from support import load_module

ROOT = Path(__file__).resolve().parents[2]
clips = load_module(ROOT / "tools" / "make_test_clips.py", "make_test_clips")


@pytest.mark.parametrize("name", sorted(clips.CLIPS))
def test_renders_are_deterministic_and_move(name):
    first, second = clips.CLIPS[name](), clips.CLIPS[name]()
    assert len(first) == clips.FRAMES and first[0].shape == (180, 320, 3) and first[0].dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    steps = [np.abs(first[i].astype(np.int16) - first[i - 1]).mean() for i in range(1, len(first))]
    assert min(steps) > 1.0  # every frame moves
    assert first[0].std() > 30  # textured, not flat


def test_writing_twice_gives_the_same_bytes(tmp_path):
    digests = []
    for run in ("a", "b"):
        assert clips.main(["--out", str(tmp_path / run)]) == 0
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / run).iterdir()})
    assert digests[0] == digests[1] and set(digests[0]) == {"pan_hills.avi", "zoom_blocks.avi"}


def test_committed_clips_match_the_generator_and_stay_small():
    folder = ROOT / "tests" / "data" / "video"
    assert clips.check(folder) == []
    assert all((folder / f"{n}.avi").stat().st_size < 1_000_000 for n in clips.CLIPS)


def test_check_reports_a_clip_that_differs(tmp_path):
    from impasto.runtime.io.video import write_video

    frames = clips.zoom_frames()
    write_video(tmp_path / "pan_hills.avi", frames, fps=clips.FPS)  # the wrong clip under the name
    problems = clips.check(tmp_path)
    assert len(problems) == 2 and "differs from the rendered frames" in problems[0] and "missing" in problems[1]
