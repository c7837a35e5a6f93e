"""``impasto convert fast-neural-style MODEL.pth -o OUT.onnx``: pytorch/examples ``TransformerNet`` state dicts."""

from __future__ import annotations

import argparse
from typing import Any

from impasto.cli.converters import add_format, command_line


def register(sub: argparse._SubParsersAction) -> None:
    add_format(sub, "fast-neural-style",
               "a pytorch/examples fast_neural_style TransformerNet state dict (inputs 0-255) -> a stylize graph",
               "the state dict saved by neural_style.py train (.pth/.model)", _run)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.export.convert.fast_neural_style import convert

    return convert(args.sources, args.output, license=args.license, command=command_line())
