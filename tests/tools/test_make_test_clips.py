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


def test_benchmark_variants_are_longer_or_larger_and_never_replace_the_test_clips(tmp_path, capsys):
    from impasto.runtime.io.video import VideoReader

    assert clips.main(["--out", str(tmp_path), "--frames", "6", "--size", "128x72"]) == 0
    for name in clips.CLIPS:
        with VideoReader(tmp_path / f"{name}.avi") as reader:
            frames = list(reader)
        assert len(frames) == 6 and frames[0].shape == (72, 128, 3)
    pan = clips.pan_frames(6, (128, 72))
    assert np.abs(pan[1][:20, :-2].astype(int) - pan[0][:20, 2:]).mean() < 1.0  # the sky pans 2 px per frame
    assert np.abs(pan[1][:20, :-1].astype(int) - pan[0][:20, 1:]).mean() > 1.0  # (not 1 px)
    for argv, message in ((["--frames", "1"], "expected an integer >= 2"), (["--size", "641x360"], "even sides"),
                          (["--frames", "240"], "give another --out than tests/data/video"),
                          (["--out", str(tmp_path), "--check", "--frames", "240"], "not with --frames")):
        with pytest.raises(SystemExit):
            clips.main(argv)
        assert message in capsys.readouterr().err
