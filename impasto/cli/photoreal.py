"""``impasto photoreal``: photorealistic style transfer (PhotoWCT) — torch-free.

Runs an exported graph (``impasto export photowct``, or the built-in one where the
package ships it) with ONNX Runtime; ``--smooth exact`` also needs scipy. Its artistic
sibling (WCT) is ``impasto stylize --style-image``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from impasto.cli.common import CliError, add_memory_args, image_side, positive_int, unit_float
from impasto.cli.file_batch import STDIO, check_image_output, check_stdin_once, read_input, report, write_output
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS, decode_image, fit_max_size, fitted_shape, read_image
from impasto.runtime.io.masks import KIND_NAMES, check_mask_size

_MASK_HELP = ("label mask of the {what} (same size as it): colour-coded (flat colours, one per region) or "
              "label-index (a single-channel 8/16-bit PNG, one integer per region); - for stdin")


def register(sub: argparse._SubParsersAction) -> None:
    from impasto.runtime.backends.selection import BACKENDS
    from impasto.runtime.pipelines.photoreal import SMOOTH_MODES
    from impasto.runtime.pipelines.work_size import DEFAULT_WORK_PIXELS

    p = sub.add_parser("photoreal", help="photorealistic style transfer (PhotoWCT) from a style photo")
    p.add_argument("content", metavar="CONTENT", help="the photo to restyle (- for stdin)")
    p.add_argument("--style-image", required=True, metavar="STYLE", help="the photo whose look to take (- for stdin)")
    p.add_argument("-o", "--output", required=True, help="output image file, or - for stdout (PNG)")
    p.add_argument("--content-mask", metavar="M", help=_MASK_HELP.format(what="content"))
    p.add_argument("--style-mask", metavar="M", help=_MASK_HELP.format(what="style"))
    p.add_argument("--smooth", choices=SMOOTH_MODES, default="fast",
                   help="fast: guided filter in the graph (default); exact: matting-affinity solve on the CPU "
                        "(slow, needs scipy, images up to 0.5 MP); none: the raw PhotoWCT output")
    p.add_argument("--alpha", type=unit_float, default=1.0, help="0 = content, 1 = full transfer (default 1)")
    p.add_argument("--model", help="an exported photowct .onnx graph (default: the built-in one)")
    p.add_argument("--work-size", type=_work_size, default="auto", metavar="PIXELS",
                   help="run PhotoWCT and its smoothing at most this many pixels (700000, 700K, 0.7M; default "
                        f"{DEFAULT_WORK_PIXELS / 1e6:g}M, the exact solve's limit with --smooth exact) and carry the "
                        "result to full size with a guided upsampling; 'full': the graph at full size "
                        "(about 4 GB per megapixel)")
    p.add_argument("--max-size", type=image_side, help="downscale the content so its longest side is at most N")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"reject larger images before decoding (default {DEFAULT_MAX_PIXELS})")
    p.add_argument("--exact-max-pixels", type=positive_int,
                   help="size limit of --smooth exact in pixels (default 500000: memory of the sparse solve)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="inference backend (default auto)")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: ONNX Runtime's default)")
    add_memory_args(p, tile=False)
    p.add_argument("--quality", type=positive_int, default=95, help="JPEG quality (default 95)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_photoreal)


def _work_size(text: str) -> str:
    """``--work-size``: checked here (one-line argparse error, exit 2), passed on as text."""
    from impasto.errors import UserError
    from impasto.runtime.pipelines.work_size import parse_work_size

    if text.strip().lower() != "auto":
        try:
            parse_work_size(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("work size: ")) from None
    return text


def _read_mask(src: str, max_pixels: int) -> np.ndarray:
    """A mask file (or ``-``: stdin) as stored: ``HxW`` for a single-channel (label-index) file, else RGB."""
    if src == STDIO:
        return decode_image(sys.stdin.buffer.read(), name="stdin", max_pixels=max_pixels, keep_single_channel=True)
    return read_image(src, max_pixels=max_pixels, keep_single_channel=True)


def _fit_mask(mask, image_before, image_after):
    """Resize a label mask (nearest) along with its image when --max-size shrank the image."""
    if mask is None or image_before.shape == image_after.shape:
        return mask
    import cv2

    return cv2.resize(mask, (image_after.shape[1], image_after.shape[0]), interpolation=cv2.INTER_NEAREST)


def run_photoreal(args: argparse.Namespace) -> int:
    from impasto.runtime.pipelines.photoreal import WCTStylizer

    t_start = time.perf_counter()
    if (args.content_mask is None) != (args.style_mask is None):
        raise CliError("--content-mask and --style-mask go together: give both or neither")
    sources = (args.content, args.style_image, args.content_mask, args.style_mask)
    check_image_output(args.output, *sources)
    check_stdin_once(*sources)
    with WCTStylizer.load(args.model, method="photowct", backend=args.backend, threads=args.threads) as model:
        model.set_memory_budget(args.max_memory)
        t_loaded = time.perf_counter()

        def plan_from_header(width: int, height: int) -> None:  # refuse what cannot fit before decoding it
            model.plan_for(*fitted_shape(height, width, args.max_size), smooth=args.smooth,
                           exact_max_pixels=args.exact_max_pixels, work_size=args.work_size)

        content = read_input(sources[0], max_pixels=args.max_pixels, before_decode=plan_from_header)
        style = read_input(sources[1], max_pixels=args.max_pixels)
        cmask, smask = (_read_mask(src, args.max_pixels) if src else None for src in sources[2:])
        if cmask is not None:  # before --max-size, so the message names the sizes the user gave
            check_mask_size(cmask, content, "content mask")
        fitted = fit_max_size(content, args.max_size)
        cmask = _fit_mask(cmask, content, fitted)
        t_read = time.perf_counter()
        result = model.run(fitted, style, content_mask=cmask, style_mask=smask, alpha=args.alpha, smooth=args.smooth,
                           exact_max_pixels=args.exact_max_pixels, work_size=args.work_size)
        t_write = time.perf_counter()
        write_output(args.output, result["image"], quality=args.quality)
        t_done = time.perf_counter()
        desc = {**model.describe(), "memory": model.last_plan.to_dict() if model.last_plan else None}
    (h, w), (wh, ww), sec = result["size"], result["work_size"], result["seconds"]
    sec = {"load": round(t_loaded - t_start, 4), "read": round(t_read - t_loaded, 4), **sec,
           "write": round(t_done - t_write, 4),
           "wall": round(t_done - t_start, 4)}
    smooth = {"fast": ", guided-filter smoothing inside", "none": "",
              "exact": f", exact smoothing {sec['smooth']:.2f} s"}[args.smooth]
    info = result["labels"]
    work = f", worked at {ww}x{wh}, upsampled {sec['upsample']:.2f} s" if (wh, ww) != (h, w) else ""
    labels = f", {info['count']} {KIND_NAMES[info['kind']]} mask label{'s' * (info['count'] != 1)}" if info else ""
    report({**desc, "content": args.content, "style_image": args.style_image, "output": args.output, "width": w,
            "height": h, "work_width": ww, "work_height": wh, "style_size": result["style_size"], "smooth": args.smooth,
            "alpha": args.alpha,
            "labels": info, "warnings": info["warnings"] if info else [], "seconds": sec},
           f"wrote {args.output} ({w}x{h}) in {sec['total']:.2f} s (graph {sec['graph']:.2f} s{smooth}{work}{labels}) "
           f"on {desc['provider']}", as_json=args.json, to_stdout=args.output == STDIO)
    return 0
