"""A dependency-free progress bar for long work (training, optimisation, folders, video).

On a terminal it redraws one line; elsewhere (logs, CI) it prints a line every
``log_every`` fraction of the work, so background runs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_time(s: float) -> str:
    s = int(max(0, s))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Progress over ``total`` steps.

    Args:
        total: number of steps (0 or None: unknown, shows a counter).
        desc: label in front of the bar.
        enabled: False silences it entirely (``--json`` output, library use).
        stream: where to draw; stderr by default so stdout stays clean.
        log_every: fraction of ``total`` between lines when ``stream`` is not a TTY.
    """

    def __init__(self, total: int | None, desc: str = "", *, enabled: bool = True,
                 stream: TextIO | None = None, log_every: float = 0.1) -> None:
        self.total = total or 0
        self.desc = desc
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = max(1, int(self.total * log_every)) if self.total else 50
        self.n = 0
        self.start = time.perf_counter()
        self.postfix = ""
        self._last_draw = 0.0

    def update(self, n: int = 1, **postfix: float | str) -> None:
        self.n += n
        if postfix:
            self.postfix = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in postfix.items())
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw > 0.1 or self.n >= self.total:
                self._draw(end="")
                self._last_draw = now
        elif self.n % self.log_every == 0 or self.n == self.total:
            self._draw(end="\n")

    def _draw(self, end: str) -> None:
        el = time.perf_counter() - self.start
        rate = self.n / el if el > 0 else 0.0
        if self.total:
            frac = min(1.0, self.n / self.total)
            bar = "#" * int(frac * 24)
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            line = (f"{self.desc} {frac * 100:3.0f}% |{bar:<24}| {self.n}/{self.total} "
                    f"[{_fmt_time(el)}<{_fmt_time(eta)}, {rate:.2f}/s] {self.postfix}")
        else:
            line = f"{self.desc} {self.n} [{_fmt_time(el)}, {rate:.2f}/s] {self.postfix}"
        prefix = "\r\x1b[2K" if self.tty else ""
        self.stream.write(prefix + line.rstrip() + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self._draw(end="\n")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
