"""``impasto convert torch7 MODEL.t7 -o OUT.onnx``: Johnson's original fast-neural-style Torch7 models."""

from __future__ import annotations

import argparse
from typing import Any

from impasto.cli.converters import add_format, command_line


def register(sub: argparse._SubParsersAction) -> None:
    add_format(sub, "torch7",
               "a jcjohnson/fast-neural-style Torch7 model (.t7, caffe-style VGG or ResNet preprocessing) "
               "-> a stylize graph (needs torchfile)",
               "the .t7 checkpoint ({model, opt}) saved by train.lua", _run)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.export.convert.torch7 import convert

    return convert(args.sources, args.output, license=args.license, command=command_line())
