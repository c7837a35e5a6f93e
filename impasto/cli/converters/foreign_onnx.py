"""``impasto convert onnx MODEL.onnx -o OUT.onnx --input-range 0-255 [--layout nchw|nhwc] [--channels rgb|bgr]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from impasto.cli.converters import add_format, command_line


def run(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.export.convert.foreign_onnx import convert

    report = convert(args.sources, args.output, license=args.license, command=command_line(),
                     input_range=args.input_range, layout=args.layout, channels=args.channels,
                     style_name=args.style_name)
    for note in (report["opset"]["note"], report["dims_note"]):
        if note:
            print(f"impasto: note: {note}", file=sys.stderr)
    return report


def register(sub: argparse._SubParsersAction) -> None:
    p = add_format(sub, "onnx", "a foreign ONNX style graph (image in, image out; e.g. the ONNX model zoo's "
                   "fast-neural-style) -> a stylize graph with dynamic sizes where the graph allows, checked "
                   "against the source in ONNX Runtime", "the source .onnx file", run)
    p.add_argument("--input-range", required=True, choices=("0-1", "0-255"),
                   help="the value range the source takes and returns")
    p.add_argument("--layout", default="nchw", choices=("nchw", "nhwc"), help="the source's layout (default nchw)")
    p.add_argument("--channels", default="rgb", choices=("rgb", "bgr"),
                   help="the source's channel order (default rgb)")
    p.add_argument("--style-name", metavar="NAME", help="impasto.style_name (default the source file's stem)")
