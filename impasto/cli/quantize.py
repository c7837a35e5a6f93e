"""``impasto quantize GRAPH --calib DIR -o OUT.onnx``: an int8 (QDQ) graph for the CPU (needs the [train] extra).

Static quantization with ONNX Runtime, calibrated on the photos under ``DIR``
(:mod:`impasto.export.quantize`); the int8 graph keeps the fp32 graph's inputs, outputs and
metadata and runs wherever the fp32 one does (``impasto stylize --model OUT.onnx``). Exit
codes: 0 written, 2 bad input (no such graph, a folder without photos, a graph that is not
feed-forward), 1 the int8 graph is too far from the fp32 one (nothing written).
"""

from __future__ import annotations

import argparse

from impasto.cli.common import emit_json
from impasto.cli.int8_flags import add_int8_args, format_quantize_report, quantize_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="int8 (QDQ) form of a feed-forward graph or style bank, calibrated on photos "
                                        "(needs the [train] extra)")
    p.add_argument("graph", metavar="GRAPH", help="fp32 .onnx graph (a feed-forward network or a style bank)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="int8 graph to write")
    add_int8_args(p, required=True)
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=run_quantize)


def run_quantize(args: argparse.Namespace) -> int:
    report = quantize_from_args(args, args.graph, args.output)
    if args.json:
        emit_json(report)
    else:
        print(format_quantize_report(report))
    return 0
