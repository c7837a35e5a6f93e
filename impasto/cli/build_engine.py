"""``impasto build-engine``: an ONNX model to a TensorRT engine + JSON sidecar (needs the [trt] extra).

Every argument is checked before TensorRT is imported. Exit codes: 0 built, 2 bad input
(missing model, bad ``--shapes``, ``--int8`` without ``--calib``, TensorRT or a GPU not
available, fp16/int8 on a GPU without it), 1 the build itself failed (parser errors, no
engine); nothing is written unless the build succeeds.
"""

from __future__ import annotations

import argparse
from typing import Any

from impasto.cli.common import emit_json, positive_float
from impasto.runtime.tensorrt.profile import DEFAULT_SHAPES, SHAPES_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-engine", help="build a TensorRT engine and its JSON sidecar from an ONNX model "
                                            "(needs the [trt] extra and an NVIDIA GPU)")
    p.add_argument("model", metavar="MODEL.onnx", help="ONNX model written by `impasto export`")
    p.add_argument("-o", "--output", required=True, metavar="NAME.engine",
                   help="engine to write; NAME.json (the sidecar) is written beside it")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true",
                           help="allow FP16 kernels (an error on GPUs without fast FP16)")
    precision.add_argument("--int8", action="store_true", help="INT8 with entropy calibration on --calib images")
    p.add_argument("--calib", metavar="DIR", help="calibration images for --int8 (recursive)")
    p.add_argument("--shapes", default=DEFAULT_SHAPES, metavar="MIN,OPT,MAX",
                   help=f"optimisation profile of the image input: {SHAPES_HELP} (default {DEFAULT_SHAPES})")
    p.add_argument("--timing-cache", metavar="PATH",
                   help="persistent timing cache, loaded if present and saved after the build "
                        "(default: timing.cache beside the engine)")
    p.add_argument("--workspace-gb", type=positive_float, metavar="N", help="TensorRT workspace limit in GiB")
    p.add_argument("--device", type=int, default=0, metavar="ID", help="CUDA device to build for (default 0)")
    p.add_argument("--json", action="store_true", help="print the build report as JSON on stdout")
    p.set_defaults(func=run_build_engine)


def format_report(report: dict[str, Any]) -> str:
    """The human-readable summary of a build."""
    prof = report["profile"]
    shape = "x".join
    timing = report["timing_cache"]
    lines = [
        f"built {report['engine']} ({report['precision']}, {report['engine_bytes'] / 1e6:.1f} MB, "
        f"{report['seconds']:.1f} s) for {report['gpu']} (compute capability {report['compute_capability']}), "
        f"TensorRT {report['tensorrt_version']}",
        f"  profile {prof['input']}: min {shape(map(str, prof['min']))}, opt {shape(map(str, prof['opt']))}, "
        f"max {shape(map(str, prof['max']))}",
        f"  sidecar {report['sidecar']}; timing cache {timing['path']} ({timing['status']})",
    ]
    calib = report.get("calibration")
    if calib:
        lines.append(f"  int8 calibration: {calib['images_used']} of {calib['images']} images from {calib['dir']}"
                     f"{' (cached table reused)' if calib['reused'] else ''}")
    return "\n".join(lines)


def run_build_engine(args: argparse.Namespace) -> int:
    from impasto.export.tensorrt_build import build_engine

    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    # a failed build (ExportError, BackendRuntimeError) exits 1 with one line from main; nothing is written
    report = build_engine(args.model, args.output, precision=precision, calib_dir=args.calib, shapes=args.shapes,
                          timing_cache=args.timing_cache, workspace_gb=args.workspace_gb, device_id=args.device)
    if args.json:
        emit_json(report)
    else:
        print(format_report(report))
    return 0
