"""Atomic file output: the old file or the finished new one, never half a file, no temporaries left."""

from __future__ import annotations

import os

import pytest

from impasto.runtime.io import atomic
from impasto.runtime.io.atomic import atomic_path, atomic_write_bytes, temp_beside


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left behind


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "report.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(target.parent) == ["report.json"]


def test_atomic_path_publishes_only_a_finished_block(tmp_path):
    target = tmp_path / "clip.mp4"
    with atomic_path(target, suffix=".mp4") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.mp4.") and tmp.suffix == ".mp4"
        assert not target.exists()  # nothing visible under the final name while writing
        tmp.write_bytes(b"frames")
    assert target.read_bytes() == b"frames" and os.listdir(tmp_path) == ["clip.mp4"]
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"frames" and os.listdir(tmp_path) == ["clip.mp4"]


def test_published_files_get_the_usual_permissions(tmp_path):
    """mkstemp makes owner-only files; a published output is 0o666 minus the umask, like open() makes."""
    umask = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "out.bin", b"x")
        tmp = temp_beside(tmp_path / "kept.bin")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o640
    assert tmp.stat().st_mode & 0o777 == 0o600 and tmp.name.startswith(".kept.bin.")  # unpublished: owner only
