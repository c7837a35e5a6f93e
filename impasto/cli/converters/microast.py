"""``impasto convert microast DIR -o microast.onnx`` (torch-free parser; the conversion imports torch lazily)."""

from __future__ import annotations

import argparse
from typing import Any

from impasto.cli.converters import add_format, command_line


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.export.convert.microast import convert

    return convert(args.sources, args.output, license=args.license, command=command_line())


def register(sub: argparse._SubParsersAction) -> None:
    add_format(sub, "microast", "MicroAST (EndyWon/MicroAST, AAAI 2023) -> one arbitrary-style graph "
               "(content, style, alpha -> stylized)",
               "the folder holding upstream's content_encoder, style_encoder, modulator and decoder .pth.tar files",
               _run)
