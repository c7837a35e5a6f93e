"""``impasto export``: a trained checkpoint to a checked ONNX model (needs the [train] extra).

Two forms: ``impasto export CKPT -o MODEL.onnx`` (a feed-forward style network) and
``impasto export photowct|wct DECODER.pt... -o MODEL.onnx`` (the whole PhotoWCT / WCT
pipeline: VGG16 encoder, decoders, WCT and smoothing in one graph; see
:mod:`impasto.export.wct_export`). The first positional argument picks the form.

This module imports without torch; torch, onnx and onnxruntime load only when the
command runs. Exit codes: 0 written, 2 bad input (missing checkpoint, bad path or
opset), 1 the export or its parity check failed (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from impasto.cli.common import CliError, emit_json, positive_float, positive_int

#: First positional arguments that select the WCT pipeline export.
PIPELINES = ("photowct", "wct")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint (or photowct|wct decoders) to ONNX, with a parity check "
                                      "(needs the [train] extra)",
                       description="impasto export CKPT -o MODEL.onnx | "
                                   "impasto export photowct|wct DECODER.pt... -o MODEL.onnx | "
                                   "impasto export warpnet WARPNET.pt -o warpnet.onnx")
    p.add_argument("checkpoint", nargs="+", metavar="CKPT",
                   help="checkpoint written by 'impasto train feedforward' (.pt); or photowct|wct followed by "
                        "decoder checkpoints from 'impasto train decoder' (one per level)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX model to write")
    p.add_argument("--fp16", action="store_true",
                   help="float16 weights and activations (I/O stays float32); looser parity bound. photowct/wct: "
                        "float16 weight storage only, and the fp32 parity bound still applies")
    p.add_argument("--opset", type=positive_int, default=18, help="ONNX opset, >= 17 (photowct/wct: >= 18; default 18)")
    p.add_argument("--json", action="store_true", help="print the export report as JSON on stdout")
    w = p.add_argument_group("photowct / wct")
    w.add_argument("--vgg-weights",
                   help="VGG16 weights for the encoder (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    w.add_argument("--eps", type=positive_float, help="relative covariance regularisation (default 1e-3)")
    w.add_argument("--ns-iters", type=positive_int, help="Newton-Schulz steps (default 25)")
    w.add_argument("--smooth-radius", type=positive_int, help="guided-filter radius in pixels (photowct; default 32)")
    w.add_argument("--smooth-eps", type=positive_float, help="guided-filter regularisation (photowct; default 1e-3)")
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


def format_wct_report(report: dict[str, Any]) -> str:
    """The human-readable summary of a photowct / wct export."""
    st = report["settings"]
    lines = [
        f"exported {report['method']} -> {report['output']} ({report['precision']}, opset {report['opset']}, "
        f"{report['onnx_bytes'] / 1e6:.2f} MB, {report['seconds']:.1f} s)",
        f"  levels {', '.join(st['levels'])}; eps {st['eps']:g}, {st['ns_iters']} Newton-Schulz steps"
        + (f"; guided filter r={st['smooth_radius']}, eps={st['smooth_eps']:g}" if st["kind"] == "photo" else ""),
        f"parity vs PyTorch on ONNX Runtime CPU (max abs error <= {report['tolerance']['max_abs_error']:g}): passed",
        f"  {'size (HxW)':<12} {'labels':>6} {'output':<11} {'max abs err':>12} {'PSNR (dB)':>10}",
    ]
    for row in report["parity"]:
        h, w = row["size"]
        lines.append(f"  {f'{h}x{w}':<12} {row['labels']:>6} {row['output']:<11} {row['max_abs_error']:>12.2e} "
                     f"{row['psnr_db']:>10.1f}")
    return "\n".join(lines)


def run_export(args: argparse.Namespace) -> int:
    from impasto.errors import ExportError

    first = args.checkpoint[0]
    if first == "warpnet":
        from impasto.cli.warp import run_export_warpnet

        return run_export_warpnet(args, args.checkpoint[1:])
    if first in PIPELINES:
        return _run_export_pipeline(args, first, args.checkpoint[1:])
    if len(args.checkpoint) > 1:
        raise CliError(f"export: expected one checkpoint, got {len(args.checkpoint)} "
                       f"(decoders go after 'photowct' or 'wct')")
    wct_only = [f"--{k.replace('_', '-')}" for k in ("vgg_weights", "eps", "ns_iters", "smooth_radius", "smooth_eps")
                if getattr(args, k) is not None]
    if wct_only:
        raise CliError(f"{', '.join(wct_only)}: apply to 'impasto export photowct|wct' only")
    from impasto.export.bank_export import export_bank, is_bank_checkpoint
    from impasto.export.multimodal_export import export_multimodal, is_multimodal_checkpoint
    from impasto.export.onnx_export import export_onnx

    args.checkpoint = first
    try:
        if is_bank_checkpoint(first):  # impasto train bank: conditioning inputs, see impasto.export.bank_export
            if args.fp16:
                raise CliError("--fp16: a style bank exports in fp32 only")
            report = export_bank(first, args.output, opset=args.opset)
        elif is_multimodal_checkpoint(first):  # impasto train multimodal: 3 outputs, see multimodal_export
            if args.fp16:
                raise CliError("--fp16: an MT-Net exports in fp32 only")
            report = export_multimodal(first, args.output, opset=args.opset)
        else:
            report = export_onnx(args.checkpoint, args.output, fp16=args.fp16, opset=args.opset)
    except ExportError as exc:  # not a user error: exit 1, still one line, no file written
        sys.stderr.write(f"impasto: error: {exc}\n")
        return 1
    if args.json:
        emit_json(report)
    elif "outputs" in report:  # an MT-Net: one parity row per output
        from impasto.export.multimodal_export import format_multimodal_report

        print(format_multimodal_report(report))
    else:
        print(format_report(report))
    return 0


def _run_export_pipeline(args: argparse.Namespace, method: str, decoders: list[str]) -> int:
    from impasto.errors import ExportError
    from impasto.export.wct_export import export_wct

    if not decoders:
        kind = "photo" if method == "photowct" else "artistic"
        raise CliError(f"export {method}: expected decoder checkpoints after {method!r} "
                       f"(one per level, from 'impasto train decoder --kind {kind}')")
    if method == "wct" and (args.smooth_radius is not None or args.smooth_eps is not None):
        raise CliError("--smooth-radius, --smooth-eps: apply to photowct only")
    settings = {k: getattr(args, k) for k in ("eps", "ns_iters", "smooth_radius", "smooth_eps")
                if getattr(args, k) is not None}
    try:
        report = export_wct(method, decoders, args.output, vgg_weights=args.vgg_weights, opset=args.opset,
                            fp16=args.fp16, **settings)
    except ExportError as exc:
        sys.stderr.write(f"impasto: error: {exc}\n")
        return 1
    if args.json:
        emit_json(report)
    else:
        print(format_wct_report(report))
    return 0
