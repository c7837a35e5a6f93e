"""``impasto quilt``: image quilting (Efros & Freeman 2001), texture synthesis and transfer, torch-free.

``impasto quilt TEXTURE -o OUT --size WxH`` tiles a new texture of that size from the
sample; ``impasto quilt TEXTURE --transfer TARGET -o OUT`` renders the target image in the
texture (3 passes by default, blocks a third smaller each pass).
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from impasto.cli.common import CliError, positive_float, positive_int, unit_float
from impasto.cli.file_batch import STDIO, check_image_output, check_stdin_once, read_input, report, write_output

#: The texture is shrunk to this longest side unless --texture-max-size says otherwise.
TEXTURE_MAX_SIZE = 400


def size_arg(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. ``512x384``) as ``(height, width)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 512x512, got {text!r}")
    return int(m.group(2)), int(m.group(1))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quilt", help="image quilting: synthesise a texture, or render an image in it (torch-free)",
                       description="impasto quilt TEXTURE -o OUT --size WxH [--patch P --overlap O --tolerance T "
                                   "--seed S] | impasto quilt TEXTURE --transfer TARGET -o OUT [--alpha A --passes N]")
    p.add_argument("texture", help="the sample texture (- for stdin)")
    p.add_argument("-o", "--output", required=True, help="image to write (.png, .jpg, ...), or - for stdout (PNG)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--size", type=size_arg, metavar="WxH", help="synthesis: the size of the new texture")
    mode.add_argument("--transfer", metavar="TARGET", help="transfer: render this image in the texture (- for stdin)")
    p.add_argument("--patch", type=positive_int,
                   help="block side in pixels (default 32 for synthesis, 36 for the first transfer pass)")
    p.add_argument("--overlap", type=positive_int,
                   help="synthesis: overlap between blocks in pixels (default: a sixth of the block)")
    p.add_argument("--tolerance", type=positive_float, default=0.1,
                   help="draw blocks within (1 + T) times the best overlap error (default 0.1, the paper's)")
    p.add_argument("--alpha", type=unit_float, default=0.9,
                   help="transfer: texture weight of the last pass; passes rise from 0.1 to it (default 0.9)")
    p.add_argument("--passes", type=positive_int, default=3, help="transfer: passes, 1-5 (default 3)")
    p.add_argument("--max-size", type=positive_int, default=512,
                   help="transfer: shrink the target so its longest side is at most this (default 512)")
    p.add_argument("--texture-max-size", type=positive_int, default=TEXTURE_MAX_SIZE,
                   help=f"shrink the texture so its longest side is at most this (default {TEXTURE_MAX_SIZE}; "
                        "the time per block grows with the texture's area)")
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed, so a run can be repeated)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    check_image_output(args.output, args.texture, args.transfer, flag="--output")
    check_stdin_once(args.texture, args.transfer)
    if args.seed is not None and args.seed < 0:
        raise CliError(f"--seed: expected an integer >= 0, got {args.seed}")
    if args.transfer is None:
        for flag, value, default in (("--alpha", args.alpha, 0.9), ("--passes", args.passes, 3)):
            if value != default:
                raise CliError(f"{flag}: applies to --transfer only")
    elif args.overlap is not None:
        raise CliError("--overlap: applies to synthesis (--size) only; transfer uses a sixth of each pass's block")


def run(args: argparse.Namespace) -> int:
    from impasto.runtime.io.images import fit_max_size
    from impasto.runtime.quilting import QuiltConfig, TransferConfig, quilt_texture, transfer_texture

    _check(args)
    t0 = time.perf_counter()
    texture = fit_max_size(read_input(args.texture), args.texture_max_size)
    summary: dict[str, Any] = {"texture": args.texture, "texture_size": [texture.shape[1], texture.shape[0]],
                               "output": args.output}
    if args.transfer is None:
        config = QuiltConfig(patch=args.patch or 32, overlap=args.overlap, tolerance=args.tolerance)
        result = quilt_texture(texture, args.size, config, seed=args.seed, progress=not args.json)
        summary.update(mode="synthesis", tolerance=config.tolerance)
    else:
        target = fit_max_size(read_input(args.transfer), args.max_size)
        config = TransferConfig(patch=args.patch or 36, passes=args.passes, alpha=args.alpha,
                                tolerance=args.tolerance)
        result = transfer_texture(texture, target, config, seed=args.seed, progress=not args.json)
        summary.update(mode="transfer", target=args.transfer, tolerance=config.tolerance,
                       alphas=result.extra["alphas"])
    write_output(args.output, result.image)
    image = result.image
    summary.update(size=[image.shape[1], image.shape[0]], seed=result.seed,
                   patch=result.patches[0] if len(result.patches) == 1 else result.patches,
                   overlap=result.overlaps[0] if len(result.overlaps) == 1 else result.overlaps,
                   blocks=result.blocks, mean_boundary_error=round(result.mean_boundary_error, 6),
                   quilt_seconds=round(result.seconds, 3), seconds=round(time.perf_counter() - t0, 3))
    report(summary, f"{args.output}: {image.shape[1]}x{image.shape[0]} {summary['mode']} in {summary['seconds']} s "
                    f"(seed {result.seed}, patch {summary['patch']}, overlap {summary['overlap']})",
           as_json=args.json, to_stdout=args.output == STDIO)
    return 0
