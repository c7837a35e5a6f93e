"""Class 9: SIGTERM stops a command the way Ctrl-C does: temporary files removed, previous outputs kept.

On main at 973f7ac (and at 510d13f) SIGTERM killed ``impasto video`` at once (exit -15),
leaving ``.NAME.XXXX.video.mp4`` (partial) and a 0-byte ``.NAME.XXXX.muxed.mp4`` beside
the output. Now SIGTERM (and SIGHUP) unwind like Ctrl-C: one line, exit 143, nothing
left. A hard kill (SIGKILL) can still leave temporary files; later runs do not trip on them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from impasto.runtime.stream.live import StreamPipeline


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "impasto", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "IMPASTO_FFMPEG": "none"})


def _wait_for(found, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not found():
        if proc.poll() is not None:
            pytest.fail(f"the command ended (exit {proc.returncode}) before {what}: {proc.stderr.read().decode()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.02)


def _video_started(folder: Path):
    def found() -> bool:
        return any(p.name.endswith(".video.mp4") and p.stat().st_size > 0 for p in folder.glob(".*"))
    return found


@pytest.mark.parametrize("previous", [False, True])
def test_sigterm_mid_video_leaves_no_temporary_file(tmp_path, write_clip, error_lines, hidden_files, previous):
    write_clip(tmp_path / "in.mp4", frames=2000, w=256, h=192)
    out = tmp_path / "out.mp4"
    if previous:
        write_clip(out, frames=3)
    before = out.read_bytes() if previous else None
    proc = _start(["video", "in.mp4", "-o", "out.mp4", "--style", "starry_night"], tmp_path)
    _wait_for(_video_started(tmp_path), proc, "frames written")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert error_lines(err) == ["impasto: terminated (SIGTERM)"]
    assert hidden_files(tmp_path) == []
    assert (out.read_bytes() == before) if previous else not out.exists()


def test_sigterm_mid_folder_run_keeps_finished_files_and_leaves_no_temporary_file(tmp_path, write_photo, error_lines,
                                                                                  hidden_files):
    for i in range(30):
        write_photo(tmp_path / "in" / f"{i:02d}.png", 480, 640, seed=i)
    proc = _start(["stylize", "in", "-o", "res"], tmp_path)
    _wait_for(lambda: any((tmp_path / "res").rglob("*.png")), proc, "a first output")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert error_lines(err) == ["impasto: terminated (SIGTERM)"]
    written = sorted((tmp_path / "res").rglob("*.png"))
    assert 1 <= len(written) < 30 and all(cv2.imread(str(p)) is not None for p in written)
    assert hidden_files(tmp_path) == []


def test_after_a_hard_kill_later_runs_neither_trip_on_nor_touch_the_leftovers(tmp_path, write_clip, hidden_files):
    """SIGKILL cannot be caught: its temporary files stay (unique, hidden). A later run stopped by SIGTERM removes
    its own temporary files only, and a later complete run writes the output."""
    write_clip(tmp_path / "in.mp4", frames=2000, w=256, h=192)
    proc = _start(["video", "in.mp4", "-o", "out.mp4", "--style", "starry_night"], tmp_path)
    _wait_for(_video_started(tmp_path), proc, "frames written")
    proc.kill()
    proc.communicate(timeout=60)
    leftovers = hidden_files(tmp_path)
    assert leftovers and not (tmp_path / "out.mp4").exists()

    proc = _start(["video", "in.mp4", "-o", "out.mp4", "--style", "starry_night"], tmp_path)
    _wait_for(lambda: len(hidden_files(tmp_path)) > len(leftovers) and _video_started(tmp_path)(), proc,
              "frames written by the second run")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143 and hidden_files(tmp_path) == leftovers

    write_clip(tmp_path / "short.mp4", frames=12)
    r = subprocess.run([sys.executable, "-m", "impasto", "video", "short.mp4", "-o", "out.mp4", "--style",
                        "starry_night", "--json"], cwd=tmp_path, capture_output=True, timeout=300,
                       env={**os.environ, "IMPASTO_FFMPEG": "none"})
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    cap.release()
    assert hidden_files(tmp_path) == leftovers


def test_main_maps_sigterm_and_sighup_to_their_exit_codes(monkeypatch, capsys):
    """In-process: the signal arrives while the command runs; the handlers in place before are restored afterwards."""
    import impasto.cli.info
    from impasto.cli.main import main

    class NotHandledByImpasto(Exception):
        pass

    def outer(signum, frame):  # stands in for the default action (which would end this test run)
        raise NotHandledByImpasto(signum)

    for sig, code, name in ((signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")):
        before = signal.signal(sig, outer)
        try:
            def stopped(args, sig=sig):
                os.kill(os.getpid(), sig)
                time.sleep(5)  # interrupted by the handler's exception
                raise AssertionError("the signal did not stop the command")

            monkeypatch.setattr(impasto.cli.info, "run_info", stopped)
            assert main(["info"]) == code
            assert capsys.readouterr().err == f"impasto: terminated ({name})\n"
            assert signal.getsignal(sig) is outer
        finally:
            signal.signal(sig, before)


class _EndlessSource:
    name, fps, is_live = "endless", 0.0, False

    def __init__(self) -> None:
        self.closed = False

    def read(self) -> np.ndarray | None:
        time.sleep(0.001)
        return np.zeros((8, 8, 3), np.uint8)

    def close(self) -> None:
        self.closed = True


class _Identity:
    name, provider = "identity", "FakeProvider"

    def __call__(self, image, *, strength=1.0, preserve_colors=False):
        return image

    def close(self) -> None:
        pass


def test_a_signal_while_the_stream_threads_start_still_stops_and_joins_them(monkeypatch):
    """The race behind a rare abort at exit ("terminate called without an active exception"): SIGTERM arriving
    while the pipeline started its threads left the first one running while the model was closed under it."""
    import threading

    real_start = threading.Thread.start

    def start(thread):
        real_start(thread)
        if thread.name == "impasto-capture":
            raise KeyboardInterrupt  # what the SIGTERM handler raises, at the worst moment

    monkeypatch.setattr(threading.Thread, "start", start)
    source = _EndlessSource()
    pipeline = StreamPipeline(source, _Identity())
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    monkeypatch.undo()
    assert not [t for t in threading.enumerate() if t.name.startswith("impasto-")]
    assert source.closed and pipeline.summary is not None
