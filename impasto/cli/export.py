"""``impasto export``: a trained checkpoint to a checked ONNX model (needs the [train] extra).

Three forms, picked by the first positional argument: ``impasto export CKPT -o MODEL.onnx``
(a feed-forward network, a style bank or an MT-Net: the checkpoint is read once and its
method's spec picks the export), ``impasto export photowct|wct DECODER.pt... -o
MODEL.onnx`` (the whole PhotoWCT / WCT pipeline: VGG16 encoder, decoders, WCT and
smoothing in one graph) and ``impasto export warpnet WARPNET.pt -o warpnet.onnx``; a MUNIT
checkpoint (``impasto export [munit] CKPT -o munit.onnx``) writes two graphs,
``munit.a2b.onnx`` and ``munit.b2a.onnx``. Every
form runs :mod:`impasto.export.pipeline`.

This module imports without torch; torch, onnx and onnxruntime load only when the
command runs. Exit codes: 0 written, 2 bad input (missing checkpoint, bad path or
opset), 1 the export or its parity check failed (nothing written).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from impasto.cli.common import CliError, emit_json, positive_float, positive_int
from impasto.cli.int8_flags import add_int8_args, format_quantize_report, int8_path, quantize_from_args

#: ``--shared-encoder``'s default file name (:data:`impasto.export.shared_encoder.DEFAULT_NAME`).
SHARED_DEFAULT = "vgg16_relu4_1.f16.bin"
#: First positional arguments that select the WCT pipeline export.
PIPELINES = ("photowct", "wct")
_WCT_SETTINGS = ("eps", "ns_iters", "smooth_radius", "smooth_eps", "staged")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint (or photowct|wct decoders) to ONNX, with a parity check "
                                      "(needs the [train] extra)",
                       description="impasto export CKPT -o MODEL.onnx | "
                                   "impasto export photowct|wct DECODER.pt... -o MODEL.onnx | "
                                   "impasto export warpnet WARPNET.pt -o warpnet.onnx | "
                                   "impasto export [munit] MUNIT.pt -o munit.onnx (writes munit.a2b.onnx and "
                                   "munit.b2a.onnx)")
    p.add_argument("checkpoint", nargs="+", metavar="CKPT",
                   help="checkpoint written by 'impasto train feedforward|bank|multimodal' (.pt); or photowct|wct "
                        "followed by decoder checkpoints from 'impasto train decoder' (one per level); or warpnet "
                        "followed by a checkpoint from 'impasto train warpnet'; or [munit] and a checkpoint from "
                        "'impasto train munit'")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX model to write")
    p.add_argument("--fp16", action="store_true",
                   help="float16 weights and activations (I/O stays float32); looser parity bound. photowct/wct/"
                        "warpnet: float16 weight storage only, and the fp32 parity bound still applies")
    p.add_argument("--opset", type=positive_int, default=18,
                   help="ONNX opset, >= 17 (photowct/wct/banks/MT-Nets: >= 18; warpnet: 18; default 18)")
    p.add_argument("--norm-stats", action="store_true",
                   help="feed-forward / bank: export the stats form (instance-norm statistics as inputs) that tiled "
                        "inference runs; name it MODEL.tiled.onnx beside MODEL.onnx")
    p.add_argument("--json", action="store_true", help="print the export report as JSON on stdout")
    q = p.add_argument_group("int8 (feed-forward / bank)")
    q.add_argument("--int8", action="store_true",
                   help="also write MODEL.int8.onnx: ONNX Runtime static quantization calibrated on --calib photos")
    add_int8_args(q, required=False)
    w = p.add_argument_group("photowct / wct / warpnet")
    w.add_argument("--vgg-weights",
                   help="VGG16 weights for the encoder (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    w.add_argument("--shared-encoder", nargs="?", const=SHARED_DEFAULT, default=None, metavar="NAME.bin",
                   help="keep the VGG16 encoder's weights (fp16) in one shared file beside -o, read by every graph "
                        f"of the folder through ONNX external data (default name {SHARED_DEFAULT}; reused when "
                        "present and identical, refused when different)")
    w.add_argument("--staged", action="store_const", const=True, default=None,
                   help="photowct / wct: write a staged set (-o is the encoder graph; one graph per level beside "
                        "it) and leave the WCT to the runtime, which takes the square roots with eigh: faster on "
                        "the CPU with several mask labels, fp32, ONNX Runtime only")
    w.add_argument("--eps", type=positive_float, help="relative covariance regularisation (default 1e-3)")
    w.add_argument("--ns-iters", type=positive_int, help="Newton-Schulz steps (default 25)")
    w.add_argument("--smooth-radius", type=positive_int, help="guided-filter radius in pixels (photowct; default 32)")
    w.add_argument("--smooth-eps", type=positive_float, help="guided-filter regularisation (photowct; default 1e-4)")
    p.set_defaults(func=run_export)


Column = tuple[str, str, Callable[[dict[str, Any]], Any]]
_SIZE: Column = ("size (HxW)", "<12", lambda r: f"{r['size'][0]}x{r['size'][1]}")
_ERROR: Column = ("max abs err", ">12", lambda r: f"{r['max_abs_error']:.2e}")
_PSNR: Column = ("PSNR (dB)", ">10", lambda r: f"{r['psnr_db']:.1f}")
#: The parity table's columns per method (header, alignment, cell); empty headers: no header line.
_TABLES: dict[str, tuple[Column, ...]] = {
    "feedforward": (_SIZE, _ERROR, _PSNR),
    "bank": (_SIZE, _ERROR, _PSNR),
    "multimodal": (_SIZE, ("output", "<14", lambda r: r["output"]), _ERROR,
                   ("bound", ">9", lambda r: f"{r['bound']:.1e}"),
                   ("fp32 noise", ">11", lambda r: f"{r['fp32_noise']:.2e}"), _PSNR),
    "photowct": (_SIZE, ("labels", ">6", lambda r: r["labels"]), ("output", "<11", lambda r: r["output"]), _ERROR,
                 _PSNR),
    "munit": (("direction", "<9", lambda r: r["direction"]), _SIZE, ("mode", "<9", lambda r: r["mode"]),
              ("output", "<15", lambda r: r["output"]), _ERROR),
    "warpnet": (("", "", lambda r: f"{r['size'][0]}x{r['size'][1]} (guide {r['guide_size'][0]}x{r['guide_size'][1]})"),
                ("", "<7", lambda r: r["output"]), ("", "", lambda r: f"{r['max_abs_error']:.2e}")),
}
_TABLES["wct"] = _TABLES["photowct"]


def format_report(report: dict[str, Any]) -> str:
    """The human-readable summary of an export report: what was written, the parity bound and table."""
    method, tol = report["method"], report["tolerance"]
    exporter = f"{report['exporter']} exporter, " if method in ("feedforward", "bank") else ""
    written = (f"{report['precision']}, opset {report['opset']}, {exporter}{report['onnx_bytes'] / 1e6:.2f} MB, "
               f"{report['seconds']:.1f} s")
    lines = [f"exported {method if 'settings' in report else repr(report['style_name'])} -> {report['output']} "
             + (f"(MT-Net, outputs {', '.join(report['outputs'])}; {written})" if method == "multimodal"
                else f"({written})")]
    if method == "munit":
        lines[0] = f"exported munit -> {', '.join(report['graphs'])} ({written})"
    if method in PIPELINES:
        st = report["settings"]
        roots = ("square roots by eigh in the runtime" if report.get("staged")
                 else f"{st['ns_iters']} Newton-Schulz steps")
        lines.append(f"  levels {', '.join(st['levels'])}; eps {st['eps']:g}, {roots}"
                     + (f"; guided filter r={st['smooth_radius']}, eps={st['smooth_eps']:g}"
                        if st["kind"] == "photo" else ""))
    bound = tol.get("rule") or f"max abs error <= {tol['max_abs_error']:g}" + (
        f", PSNR >= {tol['min_psnr_db']:g} dB" if tol.get("min_psnr_db") is not None else "")
    if report.get("shared_weights"):
        sw = report["shared_weights"]
        lines.append(f"  encoder: {sw['tensors']} tensors ({sw['bytes_moved'] / 1e6:.2f} MB fp32) read from "
                     f"{sw['file']} ({sw['bytes'] / 1e6:.2f} MB fp16, {'created' if sw['created'] else 'reused'})")
    if report.get("staged"):
        lines.append(f"  staged set: {report['output']} (encoder) + {', '.join(report['stages'].values())}; "
                     "each graph passed its own parity check; the whole set, run as the runtime runs it:")
    lines.append(f"parity vs PyTorch on ONNX Runtime CPU ({bound}): passed")
    columns = _TABLES[method]
    if columns[0][0]:
        lines.append("  " + " ".join(f"{head:{align}}" for head, align, _ in columns))
    lines += ["  " + " ".join(f"{cell(row):{align}}" for _, align, cell in columns) for row in report["parity"]]
    return "\n".join(lines)


def _refuse(args: argparse.Namespace, names: Sequence[str], form: str) -> None:
    given = [f"--{k.replace('_', '-')}" for k in names if getattr(args, k, None) is not None]
    if given:
        raise CliError(f"{', '.join(given)}: apply to {form} only")


def run_export(args: argparse.Namespace) -> int:

    first, rest = args.checkpoint[0], args.checkpoint[1:]
    # a failed export or parity check (ExportError) exits 1 with one line from main; nothing is written
    if args.norm_stats and (first in PIPELINES or first == "warpnet"):
        raise CliError(f"--norm-stats: applies to feed-forward and bank checkpoints, not to {first}")
    if args.int8 and (args.calib is None or first in (*PIPELINES, "warpnet", "munit") or args.norm_stats or args.fp16):
        raise CliError("--int8: expected --calib DIR and a feed-forward or bank checkpoint, exported in fp32 "
                       "without --norm-stats" if args.calib is not None else "--int8: expected --calib DIR")
    if args.calib is not None and not args.int8:
        raise CliError("--calib: applies with --int8 only")
    if first in PIPELINES:
        report = _export_pipeline(args, first, rest)
    elif first == "warpnet":
        report = _export_warpnet(args, rest)
    elif first == "munit":
        report = _export_munit(args, rest)
    else:
        report = _export_checkpoint(args, first, rest)
    if args.int8:
        report["int8"] = quantize_from_args(args, args.output, str(int8_path(args.output)))
    if args.json:
        emit_json(report)
    else:
        print(format_report(report))
        if args.int8:
            print(format_quantize_report(report["int8"]))
    return 0


def _export_checkpoint(args: argparse.Namespace, checkpoint: str, rest: list[str]) -> dict[str, Any]:
    """``impasto export CKPT``: read once, exported by its method (feed-forward, bank or MT-Net)."""
    if rest:
        raise CliError(f"export: expected one checkpoint, got {1 + len(rest)} (decoders go after 'photowct' or 'wct')")
    _refuse(args, ("vgg_weights", *_WCT_SETTINGS), "'impasto export photowct|wct'")
    _refuse(args, ("shared_encoder",), "'impasto export photowct|wct|warpnet'")
    from impasto.export.pipeline import export_checkpoint, load

    loaded = load(checkpoint)
    if loaded[1].method == "munit":
        return _export_munit(args, [checkpoint], loaded)
    if loaded[1].method == "warpnet":
        raise CliError(f"checkpoint {checkpoint!r}: a warp network exports with "
                       f"'impasto export warpnet {checkpoint} -o warpnet.onnx'")
    return export_checkpoint(checkpoint, args.output, loaded=loaded, fp16=args.fp16, opset=args.opset,
                             norm_stats=args.norm_stats)


def _export_warpnet(args: argparse.Namespace, checkpoints: list[str]) -> dict[str, Any]:
    """``impasto export warpnet CKPT``."""
    if len(checkpoints) != 1:
        raise CliError(f"export warpnet: expected one checkpoint from 'impasto train warpnet', got {len(checkpoints)}")
    _refuse(args, _WCT_SETTINGS, "'impasto export photowct|wct'")
    from impasto.export.pipeline import export_checkpoint

    return export_checkpoint(checkpoints[0], args.output, method="warpnet", vgg_weights=args.vgg_weights,
                             opset=args.opset, fp16=args.fp16, shared_encoder=args.shared_encoder)


def _export_munit(args: argparse.Namespace, checkpoints: list[str], loaded: Any = None) -> dict[str, Any]:
    """``impasto export munit CKPT -o munit.onnx``: two graphs, ``munit.a2b.onnx`` and ``munit.b2a.onnx``."""
    if len(checkpoints) != 1:
        raise CliError(f"export munit: expected one checkpoint from 'impasto train munit', got {len(checkpoints)}")
    _refuse(args, ("vgg_weights", "shared_encoder", *_WCT_SETTINGS), "'impasto export photowct|wct|warpnet'")
    if args.fp16:
        raise CliError("--fp16: a MUNIT model exports in fp32 only")
    from impasto.export.methods.munit import export_munit_checkpoint

    return export_munit_checkpoint(checkpoints[0], args.output, loaded=loaded, opset=args.opset)


def _export_pipeline(args: argparse.Namespace, method: str, decoders: list[str]) -> dict[str, Any]:
    """``impasto export photowct|wct DECODER.pt...``."""
    if not decoders:
        kind = "photo" if method == "photowct" else "artistic"
        raise CliError(f"export {method}: expected decoder checkpoints after {method!r} "
                       f"(one per level, from 'impasto train decoder --kind {kind}')")
    if method == "wct":
        _refuse(args, ("smooth_radius", "smooth_eps"), "photowct")
    if args.staged:
        _refuse(args, ("ns_iters",), "one-graph exports (a staged set takes its square roots with eigh)")
    from impasto.export.methods.wct import export_wct

    settings = {k: getattr(args, k) for k in _WCT_SETTINGS if getattr(args, k) is not None and k != "staged"}
    return export_wct(method, decoders, args.output, vgg_weights=args.vgg_weights, opset=args.opset, fp16=args.fp16,
                      shared_encoder=args.shared_encoder, staged=bool(args.staged), **settings)
