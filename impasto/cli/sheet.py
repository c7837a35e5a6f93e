"""``impasto sheet``: every built-in style on one photo, as a labelled contact sheet (torch-free)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from impasto.cli.common import CliError, add_backend_args, emit_json, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sheet", help="render every built-in style on one photo as a labelled contact sheet")
    p.add_argument("photo", metavar="PHOTO", help="the photo to stylise")
    p.add_argument("-o", "--output", required=True, help="the sheet to write (.jpg or .png)")
    p.add_argument("--tile", type=positive_int, default=320, help="longest side of each tile in pixels (default 320)")
    p.add_argument("--columns", type=positive_int, help="tiles per row (default: about square)")
    p.add_argument("--quality", type=positive_int, default=92, help="JPEG quality (default 92)")
    add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_sheet)


def run_sheet(args: argparse.Namespace) -> int:
    from impasto.runtime.io.images import IMAGE_SUFFIXES, read_image, write_image
    from impasto.runtime.pipelines.sheet import builtin_sheet

    out = Path(args.output)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise CliError(f"-o {args.output}: expected an image extension ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if out.exists() and out.resolve() == Path(args.photo).resolve():
        raise CliError(f"-o {args.output}: would overwrite its input")
    if args.fp16:
        raise CliError("--fp16: the contact sheet runs ONNX graphs, not fp16 TensorRT engines")
    photo = read_image(args.photo)
    t0 = time.perf_counter()
    sheet, names = builtin_sheet(photo, tile=args.tile, columns=args.columns, backend=args.backend)
    write_image(out, sheet, quality=args.quality)
    seconds = time.perf_counter() - t0
    if args.json:
        emit_json({"output": str(out), "photo": args.photo, "styles": names, "width": sheet.shape[1],
                   "height": sheet.shape[0], "seconds": round(seconds, 3)})
    else:
        print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(names)} styles) in {seconds:.2f} s")
    return 0
