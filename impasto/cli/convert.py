"""``impasto convert FORMAT SRC... -o OUT.onnx``: models trained elsewhere -> checked impasto graphs.

Each format is one module of :mod:`impasto.cli.converters` (its flags) and one of
:mod:`impasto.export.convert` (the conversion, needs the [train] extra). This module
imports without torch.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(sub: argparse._SubParsersAction) -> None:
    import impasto.cli.converters as converters

    p = sub.add_parser("convert", help="convert a model trained elsewhere to a checked impasto graph "
                                       "(needs the [train] extra)",
                       description="impasto convert FORMAT SRC... -o OUT.onnx [--license TEXT] [--json]; "
                                   "see docs/convert.md")
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True, parser_class=type(p))
    for m in sorted(pkgutil.iter_modules(converters.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"impasto.cli.converters.{m.name}")
        module.register(formats)
