"""Progress bars for long work (training, optimisation, folder runs, video), drawn by tqdm.

On a terminal the bar redraws one line (at most every 0.1 s); elsewhere (logs, CI) it
writes a whole line every ``log_every`` fraction of the work, so background runs stay
readable. ``enabled=False`` (``--json`` output, library use) silences it. Torch-free.

Example:
    >>> with Progress(len(files), "stylize") as bar:
    ...     for f in files:
    ...         bar.update(1, loss=0.25)      # postfix: loss=0.25
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

#: Bar layout, e.g. ``video  42% |##########              | 5/12 [00:01<00:02, 3.40it/s], loss=0.25``.
BAR_FORMAT = "{desc} {percentage:3.0f}% |{bar:24}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"
#: Counter layout when the total is unknown.
COUNTER_FORMAT = "{desc} {n_fmt} [{elapsed}, {rate_fmt}]{postfix}"
#: Steps between log lines when the total is unknown.
UNKNOWN_TOTAL_LOG_STEPS = 50


class _LogLines:
    """A text stream for tqdm that turns each redraw (``"\\r"`` + bar) into one line of a log."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


class _NoBar:
    """What a disabled :class:`Progress` draws with: nothing (and tqdm is not imported, for a fast start)."""

    n = initial = last_print_n = 0
    leave = False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


class Progress:
    """Progress over ``total`` steps.

    Args:
        total: number of steps (0 or None: unknown, shows a counter).
        desc: label in front of the bar.
        enabled: False silences it entirely (``--json`` output, library use).
        stream: where to draw; stderr by default so stdout stays clean.
        log_every: fraction of ``total`` between lines when ``stream`` is not a TTY.

    Attributes:
        n: steps done so far; set it to resume (e.g. ``bar.n = start_step``).
        postfix: the ``key=value`` text after the bar.
    """

    def __init__(self, total: int | None, desc: str = "", *, enabled: bool = True,
                 stream: TextIO | None = None, log_every: float = 0.1) -> None:
        self.total = total or 0
        self.desc = desc
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = max(1, int(self.total * log_every)) if self.total else UNKNOWN_TOTAL_LOG_STEPS
        self.postfix = ""
        self._n = 0
        layout = {"total": self.total or None, "desc": desc, "disable": not enabled, "leave": True,
                  "bar_format": BAR_FORMAT if self.total else COUNTER_FORMAT}
        self._bar: Any
        if not enabled:
            self._bar = _NoBar()
            return
        from tqdm import tqdm

        if self.tty:
            self._bar = tqdm(file=self.stream, mininterval=0.1, **layout)
        else:
            # A line every log_every steps however fast (mininterval 0), never sooner from tqdm's monitor
            # thread (maxinterval inf), none for the empty bar (delay), always on the log's own line (position 0).
            self._bar = tqdm(file=_LogLines(self.stream), ascii=" #", mininterval=0, miniters=self.log_every,
                             maxinterval=float("inf"), delay=1e-9, position=0, **layout)

    @property
    def n(self) -> int:
        return self._n

    @n.setter
    def n(self, value: int) -> None:
        self._n = value
        self._bar.n = self._bar.initial = self._bar.last_print_n = value  # as tqdm(initial=value) sets them

    def update(self, n: int = 1, **postfix: float | str) -> None:
        """Count ``n`` more steps; ``postfix`` values (floats to 4 significant digits) follow the bar."""
        self._n += n
        if postfix:
            self.postfix = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in postfix.items())
            self._bar.set_postfix_str(self.postfix, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        """Draw the final state (unless a log line already shows it) and end the bar's line."""
        if not self.tty and getattr(self._bar, "last_print_n", None) == self._bar.n:
            self._bar.leave = False
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
