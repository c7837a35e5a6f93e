"""``impasto sheet``: every built-in style on one photo, as a labelled contact sheet (torch-free)."""

from __future__ import annotations

import argparse
import time

from impasto.cli.common import CliError, add_backend_args, image_side, positive_int
from impasto.cli.file_batch import STDIO, check_image_output, read_input, report, write_output


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sheet", help="render every built-in style on one photo as a labelled contact sheet")
    p.add_argument("photo", metavar="PHOTO", help="the photo to stylise (- for stdin)")
    p.add_argument("-o", "--output", required=True, help="the sheet to write (.jpg or .png), or - for stdout (PNG)")
    p.add_argument("--tile", type=image_side, default=320, help="longest side of each tile in pixels (default 320)")
    p.add_argument("--columns", type=positive_int, help="tiles per row (default: about square)")
    p.add_argument("--quality", type=positive_int, default=92, help="JPEG quality (default 92)")
    add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_sheet)


def run_sheet(args: argparse.Namespace) -> int:
    from impasto.runtime.pipelines.sheet import builtin_sheet

    check_image_output(args.output, args.photo)
    if args.fp16:
        raise CliError("--fp16: the contact sheet runs ONNX graphs, not fp16 TensorRT engines")
    photo = read_input(args.photo)
    t0 = time.perf_counter()
    sheet, names = builtin_sheet(photo, tile=args.tile, columns=args.columns, backend=args.backend)
    write_output(args.output, sheet, quality=args.quality)
    seconds = time.perf_counter() - t0
    report({"output": args.output, "photo": args.photo, "styles": names, "width": sheet.shape[1],
            "height": sheet.shape[0], "seconds": round(seconds, 3)},
           f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]}, {len(names)} styles) in {seconds:.2f} s",
           as_json=args.json, to_stdout=args.output == STDIO)
    return 0
