"""The console script's exit: fast, but with every output, exit code and exit handler intact."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def _entry(tmp_path: Path, argv: list[str], before: str = "") -> subprocess.CompletedProcess:
    """Run ``main_entry`` as the console script does, with an ``atexit`` handler that leaves a marker."""
    code = "\n".join([
        "import atexit, sys",
        f"atexit.register(lambda: open({str(tmp_path / 'atexit_ran')!r}, 'w').write('ran'))",
        before,
        f"sys.argv = ['impasto', *{argv!r}]",
        "from impasto.cli.main import main_entry",
        "main_entry()",
        "raise SystemExit('main_entry returned')",
    ])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_a_finished_command_delivers_its_whole_output_and_runs_exit_handlers(tmp_path):
    done = _entry(tmp_path, ["styles", "--json"])
    assert done.returncode == 0, done.stderr
    styles = json.loads(done.stdout)  # the whole document arrived through the pipe
    assert "starry_night" in json.dumps(styles)
    assert (tmp_path / "atexit_ran").read_text() == "ran"


def test_a_user_error_keeps_exit_code_two_and_its_one_line(tmp_path):
    done = _entry(tmp_path, ["stylize", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "out.png")])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("impasto: error:") and "missing.jpg" in lines[0]
    assert not (tmp_path / "out.png").exists()
    assert (tmp_path / "atexit_ran").read_text() == "ran"


def test_a_thread_still_running_is_waited_for(tmp_path):
    """With a non-daemon thread alive the normal exit runs, which lets the thread finish its work."""
    marker = tmp_path / "thread_done"
    before = textwrap.dedent(f"""
        import threading, time
        def work():
            time.sleep(0.5)
            open({str(marker)!r}, "w").write("done")
        threading.Thread(target=work).start()
    """)
    done = _entry(tmp_path, ["styles", "--json"], before=before)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"
    assert (tmp_path / "atexit_ran").read_text() == "ran"


def test_a_profiled_run_still_writes_its_profile(tmp_path):
    """``python -m cProfile -o F -m impasto.cli.main ...`` writes F after the program returns."""
    report = tmp_path / "profile.out"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(report), "-m", "impasto.cli.main", "styles",
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert report.stat().st_size > 1000
