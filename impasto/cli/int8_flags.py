"""The int8 flags shared by ``impasto quantize`` and ``impasto export --int8`` (no register: not a command)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from impasto.cli.common import CliError, image_side, positive_int


def add_int8_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    """``--calib`` and the calibration settings (shared with ``impasto export --int8``)."""
    p.add_argument("--calib", required=required, metavar="DIR", help="folder of photos to calibrate on (recursive)")
    p.add_argument("--calib-size", type=image_side, default=256,
                   help="longest side the photos are resized to for calibration (default 256)")
    p.add_argument("--calib-images", type=positive_int, default=32, help="use at most N photos (default 32)")
    p.add_argument("--quantize-ends", action="store_true",
                   help="quantize the first and last convolution too (slower and less exact on the CPU)")


def quantize_from_args(args: argparse.Namespace, graph: str, output: str) -> dict[str, Any]:
    """Run :func:`impasto.export.quantize.quantize_graph` with the flags of :func:`add_int8_args`."""
    from impasto.export.quantize import QuantizeConfig, quantize_graph

    if Path(output).suffix.lower() != ".onnx":
        raise CliError(f"-o: expected a path ending in .onnx, got {output!r}")
    if not Path(graph).is_file():
        raise CliError(f"GRAPH: expected an .onnx file, got {graph!r} (no such file)")
    config = QuantizeConfig(Path(args.calib), size=args.calib_size, max_images=args.calib_images,
                            keep_ends_fp32=not args.quantize_ends)
    return quantize_graph(graph, output, config, progress=not args.json)


def format_quantize_report(report: dict[str, Any]) -> str:
    q = report["quantization"]
    worst = min(report["parity"], key=lambda r: r["psnr_db"])
    sizes = f"{report['fp32_bytes'] / 1e6:.2f} -> {report['int8_bytes'] / 1e6:.2f} MB"
    return (f"quantized {report['input']} -> {report['output']} ({q['format']}, {q['weights']} weights, "
            f"{q['activations']} activations; {sizes})\n"
            f"  calibrated on {q['images']} photos at {q['size']} px; vs fp32 on them: "
            f"PSNR >= {worst['psnr_db']:.1f} dB, max abs error {max(r['max_abs_error'] for r in report['parity']):.3f}")


def int8_path(fp32_path: str) -> Path:
    """Where ``impasto export --int8`` writes the int8 graph: ``MODEL.onnx`` -> ``MODEL.int8.onnx``."""
    p = Path(fp32_path)
    return p.with_name(p.name[:-len(p.suffix)] + ".int8" + p.suffix)
