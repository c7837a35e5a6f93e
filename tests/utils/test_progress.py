"""``impasto.utils.progress.Progress`` (tqdm underneath): a line every N% in logs, one redrawn line on a terminal."""

from __future__ import annotations

import io

from impasto.utils.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_a_whole_line_every_tenth_and_the_end():
    log = io.StringIO()
    with Progress(23, "train", stream=log) as bar:
        for _ in range(23):
            bar.update(1, loss=0.123456, step="a")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 12  # every 2 steps (10% of 23), then 23/23 at close
    assert [ln.split("|")[2].split()[0] for ln in lines] == [f"{n}/23" for n in range(2, 23, 2)] + ["23/23"]
    assert lines[-1].startswith("train 100% |" + "#" * 24 + "| 23/23 [") and lines[-1].endswith("loss=0.1235 step=a")


def test_log_line_is_not_repeated_when_the_last_step_was_logged():
    log = io.StringIO()
    with Progress(20, "x", stream=log) as bar:
        for _ in range(20):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("x 100% |") and "20/20" in lines[-1]


def test_resume_counts_from_the_step_set():
    log = io.StringIO()
    bar = Progress(100, "resume", stream=log)
    bar.n = 50
    for _ in range(50):
        bar.update(1)
    bar.close()
    assert bar.n == 100
    assert [ln.split("| ")[1].split()[0] for ln in log.getvalue().splitlines()] == [f"{n}/100" for n in
                                                                                    range(60, 101, 10)]


def test_unknown_total_is_a_counter():
    log = io.StringIO()
    with Progress(None, "frames", stream=log) as bar:
        for _ in range(120):
            bar.update(1)
    assert [ln.split()[:2] for ln in log.getvalue().splitlines()] == [["frames", "50"], ["frames", "100"],
                                                                       ["frames", "120"]]


def test_disabled_writes_nothing_but_counts():
    log = io.StringIO()
    with Progress(10, "quiet", stream=log, enabled=False) as bar:
        for _ in range(4):
            bar.update(1, loss=1.0)
    assert log.getvalue() == "" and bar.n == 4 and bar.postfix == "loss=1"


def test_terminal_redraws_one_line_and_ends_it():
    term = _Terminal()
    with Progress(5, "tty", stream=term) as bar:
        for _ in range(5):
            bar.update(1)
    text = term.getvalue()
    assert text.startswith("\rtty   0% |")  # drawn at once, then redrawn in place
    assert text.count("\n") == 1 and text.endswith("\n")
    last = text.rstrip().rsplit("\r", 1)[1]
    assert last.startswith("tty 100% |") and "| 5/5 [" in last
