"""``impasto`` entry point: one command, many subcommands.

Exit codes, mapped here once for every command (a command returns 0, or 2 / 1 when some
files of a folder run failed, see :func:`impasto.cli.file_batch.finish_batch`, and raises for
the rest):

- 0: done;
- 2: a user error (:class:`impasto.errors.UserError`, :class:`impasto.cli.common.CliError`,
  a bad flag, a missing ``[train]`` extra, an output path that cannot be written:
  :class:`impasto.errors.OutputError`): one line on stderr;
- 1: a failure that is not the input's fault (:class:`impasto.errors.ExportError`, a backend
  or stream failing at run time, a full disk: :class:`impasto.errors.StorageError`, any
  other :class:`impasto.errors.ImpastoError` or ``OSError``): one line on stderr;
- 130: interrupted (Ctrl-C); 143: terminated (SIGTERM), 129: hung up (SIGHUP). The two
  signals stop a command the way Ctrl-C does (:class:`Terminated` is a
  ``KeyboardInterrupt``), so its temporary files are removed and a previous output is kept.

Nothing is left half-written: outputs are written atomically. The console script ends the
process without the interpreter's teardown once a command has finished (see
:func:`exit_now`).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

from impasto import __version__
from impasto.cli.common import CliError
from impasto.errors import ImpastoError, UserError


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C (``finally`` blocks remove temporary files)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a second signal must not cut the clean-up short
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def _stop_signals_unwind() -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP raise :class:`Terminated` instead of killing the process at once."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        sys.stderr.write(f"impasto: error: {message}\n")
        raise SystemExit(2)


# Subcommands in the order ``impasto --help`` lists them; any other module of
# ``impasto.cli`` with a ``register(sub)`` function is added after them, so a new
# subcommand is one new file.
_ORDER = ("stylize", "info", "gatys", "train", "export", "build_engine", "bench", "video", "webcam", "photoreal")
_NOT_COMMANDS = {"common", "file_batch", "main"}
#: Packages of the ``[train]`` extra: a command that needs one that is missing is a user error.
_TRAIN_EXTRA = ("torch", "onnx", "onnxscript", "matplotlib", "torchfile")


def _command_modules() -> list[str]:
    import impasto.cli

    found = {m.name for m in pkgutil.iter_modules(impasto.cli.__path__) if m.name not in _NOT_COMMANDS}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``impasto`` parser; given ``argv``, only the command it names where one module registers it.

    Registering a subcommand imports its module (and what that imports), so
    ``impasto stylize ...`` imports ``impasto.cli.stylize`` alone: the module named like the
    command (dashes as underscores). When ``argv`` names no command (``--help``, ``--version``)
    or one that module does not register (``styles`` lives in ``stylize.py``), every module
    is registered, as with ``argv=None``.
    """
    names = _command_modules()
    command = argv[0] if argv and not argv[0].startswith("-") else None  # the top level has only options
    module = command.replace("-", "_") if command else None
    if module in names:
        parser, sub = _new_parser()
        _register(sub, module)
        if command in sub.choices:
            return parser
    parser, sub = _new_parser()
    for name in names:
        _register(sub, name)
    return parser


def _new_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = _Parser(prog="impasto", description="Neural style transfer: train, export, stylize.")
    parser.add_argument("--version", action="version", version=f"impasto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    return parser, sub


def _register(sub: argparse._SubParsersAction, name: str) -> None:
    register = getattr(importlib.import_module(f"impasto.cli.{name}"), "register", None)
    if register is not None:
        register(sub)


def _configure_logging() -> None:
    """impasto's warnings (a backend fallback, a model without metadata) as one stderr line each."""
    log = logging.getLogger("impasto")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("impasto: %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        with _stop_signals_unwind():
            return int(args.func(args) or 0)
    except (UserError, CliError) as exc:
        return _fail(str(exc), 2)
    except ModuleNotFoundError as exc:
        if exc.name not in _TRAIN_EXTRA:
            raise
        return _fail(f"this command needs the [train] extra ({exc.name} is not installed): "
                     "pip install 'impasto[train]'", 2)
    except (ImpastoError, OSError) as exc:  # export, backend, stream or environment failures
        return _fail(str(exc), 1)
    except Terminated as exc:
        sys.stderr.write(f"impasto: terminated ({signal.Signals(exc.signum).name})\n")
        return 128 + exc.signum
    except KeyboardInterrupt:
        sys.stderr.write("impasto: interrupted\n")
        return 130


def _fail(message: str, code: int) -> int:
    """One line on stderr, then the exit code."""
    sys.stderr.write(f"impasto: error: {message}\n")
    return code


def main_entry() -> None:
    """Console-script entry point."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` without tearing the interpreter down.

    The teardown (every module's objects, then ONNX Runtime's and OpenCV's C++ destructors)
    took 40–90 ms of a 0.8-s ``impasto video`` or ``impasto stylize`` run on a 2-core CPU;
    the operating system reclaims the same memory at once. What must happen still happens:
    standard output and error are flushed and the ``atexit`` handlers run (logging, the
    finalizers of temporary folders, coverage). Every command has closed its files and
    joined its threads by the time it returns (daemon threads, such as tqdm's monitor, end with
    the process either way); if a non-daemon thread is still alive, a profiler or debugger
    is attached (``python -m cProfile`` writes its report after the program returns), or a
    flush fails (a closed pipe), the normal ``sys.exit`` runs instead.
    """
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    watched = sys.getprofile() is not None or sys.gettrace() is not None  # cProfile, a debugger: let them finish
    if busy or watched or run_exit_handlers is None:
        sys.exit(code)
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)
    run_exit_handlers()
    os._exit(code)


if __name__ == "__main__":
    main_entry()
