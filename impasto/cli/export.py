"""``impasto export``: a trained checkpoint to a checked ONNX model (needs the [train] extra).

This module imports without torch; torch, onnx and onnxruntime load only when the
command runs. Exit codes: 0 written, 2 bad input (missing checkpoint, bad path or
opset), 1 the export or its parity check failed (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from impasto.cli.common import emit_json, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX, with a parity check (needs the [train] extra)")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint written by 'impasto train feedforward' (.pt)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX model to write")
    p.add_argument("--fp16", action="store_true",
                   help="float16 weights and activations (I/O stays float32); looser parity bound")
    p.add_argument("--opset", type=positive_int, default=18, help="ONNX opset, >= 17 (default: 18)")
    p.add_argument("--json", action="store_true", help="print the export report as JSON on stdout")
    p.set_defaults(func=run_export)


def format_report(report: dict[str, Any]) -> str:
    """The human-readable summary: output, settings and the parity table."""
    tol = report["tolerance"]
    bound = f"max abs error <= {tol['max_abs_error']:g}"
    if tol.get("min_psnr_db") is not None:
        bound += f", PSNR >= {tol['min_psnr_db']:g} dB"
    lines = [
        f"exported {report['style_name']!r} -> {report['output']} ({report['precision']}, opset {report['opset']}, "
        f"{report['exporter']} exporter, {report['onnx_bytes'] / 1e6:.2f} MB, {report['seconds']:.1f} s)",
        f"parity vs PyTorch on ONNX Runtime CPU ({bound}): passed",
        f"  {'size (HxW)':<12} {'max abs err':>12} {'PSNR (dB)':>10}",
    ]
    for row in report["parity"]:
        h, w = row["size"]
        lines.append(f"  {f'{h}x{w}':<12} {row['max_abs_error']:>12.2e} {row['psnr_db']:>10.1f}")
    return "\n".join(lines)


def run_export(args: argparse.Namespace) -> int:
    from impasto.errors import ExportError
    from impasto.export.onnx_export import export_onnx

    try:
        report = export_onnx(args.checkpoint, args.output, fp16=args.fp16, opset=args.opset)
    except ExportError as exc:  # not a user error: exit 1, still one line, no file written
        sys.stderr.write(f"impasto: error: {exc}\n")
        return 1
    if args.json:
        emit_json(report)
    else:
        print(format_report(report))
    return 0
