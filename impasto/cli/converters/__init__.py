"""Per-format parsers of ``impasto convert`` (torch-free): each module has ``register(sub)``.

A format module adds its parser with :func:`add_format` and sets ``func`` to a function
that calls its converter in ``impasto.export.convert.<module>`` (imported lazily: this
package must import without torch).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from typing import Any


def add_format(sub: argparse._SubParsersAction, name: str, help: str, sources: str,
               run: Callable[[argparse.Namespace], dict[str, Any]]) -> argparse.ArgumentParser:
    """A format's parser with the flags every format shares: sources, ``-o``, ``--license``, ``--json``."""
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("sources", nargs="+", metavar="SRC", help=sources)
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the graph to write (atomically)")
    p.add_argument("--license", metavar="TEXT", help="the licence of the source model, recorded in the card")
    p.add_argument("--json", action="store_true", help="print the conversion report as JSON on stdout")
    p.set_defaults(func=lambda args: _finish(args, run(args)))
    return p


def command_line() -> str:
    """The command as typed, for the card."""
    return "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _finish(args: argparse.Namespace, report: dict[str, Any]) -> int:
    from impasto.cli.common import emit_json

    if args.json:
        emit_json(report)
    else:
        worst = max((r.get("max_abs_error", 0.0) for r in report.get("parity", [])), default=0.0)
        print(f"converted {report.get('format', '?')} -> {report['output']} ({report.get('onnx_bytes', 0) / 1e6:.2f} MB"
              f", {report.get('seconds', 0):.1f} s); parity vs the source model: max abs error {worst:.2e}")
    return 0
