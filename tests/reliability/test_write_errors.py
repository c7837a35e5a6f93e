"""Class 10: an output that cannot be written is one line (exit 2 for the path given, 1 for a full disk), nothing left.

On main at 973f7ac a read-only folder, an output whose parent is a file, ``sheet -o``
naming an existing folder, a full disk (stylize, sheet, photoreal) and a legal
249-character file name (the temporary name added 14 characters, past the 255-byte
limit) all ended in a traceback with exit 1. At 510d13f they were one line, but with
``[Errno N]``, the temporary file's name, exit 1 for the user's own path and exit 2 for a
full disk in stylize. Now paths are checked before any work, temporary names fit the
name limit, and write failures are typed (``OutputError``: exit 2; ``StorageError``: exit 1).
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from impasto.cli.main import main
from impasto.errors import OutputError, StorageError, UserError
from impasto.runtime.io import atomic
from impasto.runtime.io.atomic import atomic_write_bytes, output_error, temp_beside

ROOT = Path(__file__).resolve().parents[2]
CHELSEA = ROOT / "assets" / "chelsea.jpg"


def _argv(command: str, tmp_path: Path, out: str) -> list[str]:
    photo, style, clip = tmp_path / "photo.png", tmp_path / "style.png", tmp_path / "clip.mp4"
    return {"stylize": ["stylize", str(photo), "-o", out],
            "sheet": ["sheet", str(photo), "-o", out, "--tile", "64"],
            "photoreal": ["photoreal", str(photo), "--style-image", str(style), "-o", out],
            "video": ["video", str(clip), "-o", out, "--style", "starry_night"]}[command]


@pytest.fixture
def inputs(tmp_path, write_photo, write_clip) -> Path:
    write_photo(tmp_path / "photo.png", 96, 128)
    write_photo(tmp_path / "style.png", 96, 128, seed=1)
    write_clip(tmp_path / "clip.mp4", frames=4)
    return tmp_path


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_line(capfd) -> str:
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("impasto: error: "), err
    assert ".tmp" not in err[0] and ".video." not in err[0]  # names the output, never a temporary file
    return err[0].removeprefix("impasto: error: ")


@pytest.mark.parametrize("command, ext", [("stylize", "png"), ("sheet", "png"), ("photoreal", "png"),
                                          ("video", "mp4")])
def test_an_output_under_a_file_is_one_line_and_exit_2(inputs, capfd, command, ext):
    (inputs / "taken").write_bytes(b"a file")
    before = _files(inputs)
    out = str(inputs / "taken" / f"out.{ext}")
    assert main(_argv(command, inputs, out)) == 2
    assert _one_line(capfd) == f"{out}: cannot write: {inputs / 'taken'} is a file, not a folder"
    assert _files(inputs) == before and (inputs / "taken").read_bytes() == b"a file"


@pytest.mark.parametrize("command, name", [("sheet", "s.png"), ("photoreal", "p.png")])
def test_an_existing_folder_as_the_output_file_is_refused_before_any_work(inputs, capfd, command, name):
    (inputs / name).mkdir()
    assert main(_argv(command, inputs, str(inputs / name))) == 2
    assert _one_line(capfd) == f"{inputs / name}: cannot write: expected a file, got an existing folder"
    assert list((inputs / name).iterdir()) == [] and not [p for p in inputs.glob(".*")]


@pytest.mark.parametrize("command, ext", [("stylize", "png"), ("sheet", "png"), ("video", "mp4")])
def test_a_folder_that_is_not_writable_is_refused_before_any_work(inputs, capfd, monkeypatch, command, ext):
    """``os.access`` says no for the folder (a read-only mount, or permissions; works for root too)."""
    locked = inputs / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real_access(p, mode, **kw))
    out = str(locked / f"out.{ext}")
    assert main(_argv(command, inputs, out)) == 2
    assert _one_line(capfd) == (f"{out}: cannot write: the folder {locked} is not writable "
                                "(permissions or a read-only file system)")
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_for_real(inputs, capfd):
    locked = inputs / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(_argv("stylize", inputs, str(locked / "o.png"))) == 2
        assert "is not writable" in _one_line(capfd)
    finally:
        locked.chmod(0o755)


def test_a_write_refused_by_the_system_names_the_output(inputs, capfd, monkeypatch):
    """Permissions that the pre-check could not see (e.g. an ACL) fail at the temporary file: same one line, exit 2."""
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(inputs / ".o.png.abcdefgh.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(_argv("sheet", inputs, str(inputs / "o.png"))) == 2
    assert _one_line(capfd) == f"{inputs / 'o.png'}: cannot write: Permission denied"


@pytest.mark.parametrize("command, args", [
    ("stylize", ["stylize", "big.png", "-o", "out/o.png"]),
    ("sheet", ["sheet", str(CHELSEA), "-o", "out/s.png", "--tile", "160"]),
    ("photoreal", ["photoreal", "big.png", "--style-image", "style.png", "-o", "out/p.png", "--smooth", "none"]),
])
def test_a_full_disk_is_one_line_exit_1_and_leaves_nothing(inputs, impasto_cli, write_photo, error_lines, command,
                                                          args):
    write_photo(inputs / "big.png", 300, 400, seed=3)
    (inputs / "out").mkdir()
    r = impasto_cli(*args, cwd=inputs, max_file_bytes=20_000)  # writes past 20 KB fail (EFBIG), like a full disk
    assert r.returncode == 1, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"impasto: error: {args[args.index('-o') + 1]}: cannot write: "), \
        lines
    assert os.strerror(errno.EFBIG) in lines[0] and r.stdout == b""
    assert list((inputs / "out").iterdir()) == []


def test_a_full_disk_in_a_folder_run_reports_every_file_and_exits_1(inputs, impasto_cli, write_photo, error_lines):
    for i in range(3):
        write_photo(inputs / "in" / f"{i}.png", 300, 400, seed=i)
    r = impasto_cli("stylize", "in", "-o", "out", cwd=inputs, max_file_bytes=20_000)
    assert r.returncode == 1, r.stderr
    assert [line.split(": cannot write: ")[0] for line in error_lines(r.stderr)] == [
        f"impasto: error: out/in/{i}.png" for i in range(3)]
    assert r.stdout.decode().startswith("stylized 0/3 images")
    assert [p for p in (inputs / "out").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("command, ext", [("stylize", "png"), ("sheet", "png"), ("video", "mp4")])
def test_a_249_character_name_is_written(inputs, capfd, command, ext):
    name = "a" * (248 - len(ext)) + "." + ext
    assert len(name) == 249
    assert main(_argv(command, inputs, str(inputs / name))) == 0
    assert (inputs / name).stat().st_size > 0 and not [p for p in inputs.glob(".*")]


def test_a_name_over_the_limit_is_one_line_and_exit_2(inputs, capfd):
    name = "b" * 252 + ".png"
    assert main(_argv("stylize", inputs, str(inputs / name))) == 2
    assert _one_line(capfd) == f"{inputs / name}: cannot write: the file name is 256 bytes, the file system takes " \
                               "at most 255"


@pytest.mark.parametrize("name", ["c" * 251 + ".png", "é" * 125 + ".png"])
def test_temporary_names_fit_the_limit(tmp_path, name):
    tmp = temp_beside(tmp_path / name, ".video.mp4")
    assert len(os.fsencode(tmp.name)) <= 255 and tmp.name.startswith("." + name[:3]) and tmp.name.endswith(".video.mp4")
    atomic_write_bytes(tmp_path / name, b"data")
    assert (tmp_path / name).read_bytes() == b"data"


def test_write_failures_are_typed_by_cause(tmp_path, monkeypatch):
    full = output_error("o.png", OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(full, StorageError) and not isinstance(full, UserError) and isinstance(full, OSError)
    assert str(full) == "o.png: cannot write: No space left on device" and full.errno == errno.ENOSPC
    denied = output_error("o.png", PermissionError(errno.EACCES, "Permission denied"))
    assert isinstance(denied, OutputError) and isinstance(denied, UserError) and denied.filename == "o.png"

    def fail_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "o.png").write_bytes(b"old")
    monkeypatch.setattr(atomic.os, "fsync", fail_fsync)
    with pytest.raises(StorageError, match="o.png: cannot write: No space left on device"):
        atomic_write_bytes(tmp_path / "o.png", b"new")
    assert (tmp_path / "o.png").read_bytes() == b"old" and os.listdir(tmp_path) == ["o.png"]
