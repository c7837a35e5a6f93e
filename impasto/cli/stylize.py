"""``impasto stylize`` and ``impasto styles`` (torch-free)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from impasto.cli.common import CliError, add_backend_args, emit_json, positive_int, unit_float
from impasto.errors import ImpastoError, UserError
from impasto.runtime.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    decode_image,
    encode_image,
    fit_max_size,
    read_image,
    write_image,
)
from impasto.utils.progress import Progress

STDIO = "-"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylize", help="stylise images, folders or stdin with a style model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or - for stdin")
    p.add_argument("-o", "--output", help="output file, folder, or - for stdout "
                   "(default: NAME_STYLE.EXT beside each input; PNG on stdout)")
    p.add_argument("--style", help="built-in style name (see `impasto styles`) or a mix of a bank's styles, "
                   "e.g. starry_night:0.6,la_muse:0.4 (with --model: styles of that bank)")
    p.add_argument("--model", help="path to an .onnx style model or a TensorRT .engine "
                   "(with --style-image: an exported wct graph)")
    p.add_argument("--style-layer-weights", metavar="A,B,C,D",
                   help="style bank: weight of each VGG16 style layer "
                   "(relu1_2,relu2_2,relu3_3,relu4_3; default 1 each)")
    p.add_argument("--content-layer-weights", metavar="A",
                   help="style bank: weight of each VGG16 content layer (relu2_2; default 1)")
    p.add_argument("--style-image", metavar="PAINTING",
                   help="arbitrary style from a painting (WCT graph: --model, else the built-in one)")
    p.add_argument("--scale", type=positive_int, metavar="256|512|1024",
                   help="multiscale model (MT-Net): which output, by nominal scale (default: the finest)")
    p.add_argument("--strength", type=unit_float, default=1.0, help="0 = content, 1 = full style (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--max-size", type=positive_int, help="downscale so the longest side is at most N pixels")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"reject larger images before decoding (default {DEFAULT_MAX_PIXELS})")
    add_backend_args(p)
    p.add_argument("--format", choices=["png", "jpg"], help="output format for stdout (default png)")
    p.add_argument("--quality", type=positive_int, default=95, help="JPEG quality (default 95)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_stylize)

    s = sub.add_parser("styles", help="list the built-in styles, one per line, name first")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_styles)


def _expand(inputs: list[str]) -> list[tuple[str, Path | None]]:
    """``[(input, relative path under its folder or None)]``; folders expand recursively."""
    jobs: list[tuple[str, Path | None]] = []
    for item in inputs:
        p = Path(item)
        if item == STDIO:
            jobs.append((item, None))
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise CliError(f"{item}: expected images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder, got none")
            jobs += [(str(f), f.relative_to(p.parent)) for f in files]
        elif not p.exists():
            raise CliError(f"{item}: no such file or folder")
        else:
            jobs.append((item, None))
    if sum(1 for j in jobs if j[0] == STDIO) > 1:
        raise CliError("stdin (-) can be given once")
    return jobs


def _plan(jobs: list[tuple[str, Path | None]], output: str | None, style: str,
          fmt: str | None) -> list[tuple[str, str]]:
    """Pair every input with its output path (or ``-``)."""
    many = len(jobs) > 1 or any(rel is not None for _, rel in jobs)
    out_dir = Path(output) if output not in (None, STDIO) and (many or Path(output).is_dir()) else None
    if many and output == STDIO:
        raise CliError("-o -: stdout takes a single image, got several inputs")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"-o {output}: expected a folder for several inputs, got an existing file")
    plan = []
    for src, rel in jobs:
        if src == STDIO:
            dst = output or STDIO
        elif out_dir is not None:
            dst = str(out_dir / (rel if rel is not None else Path(src).name))
        elif output is not None:
            dst = output
        else:
            p = Path(src)
            dst = str(p.with_name(f"{p.stem}_{style}{p.suffix}"))
        if dst != STDIO and Path(dst).suffix.lower() not in IMAGE_SUFFIXES:
            raise CliError(f"output {dst!r}: expected an image extension ({', '.join(sorted(IMAGE_SUFFIXES))})")
        if dst != STDIO and src != STDIO and Path(dst).resolve() == Path(src).resolve():
            raise CliError(f"output {dst!r} would overwrite its input")
        plan.append((src, dst))
    if fmt and any(d != STDIO for _, d in plan):
        raise CliError("--format applies to stdout only; give the output file an extension instead")
    return plan


def run_plan(plan: list[tuple[str, str]], args: argparse.Namespace, render: Callable[[np.ndarray], np.ndarray],
             how: Callable[[], str]) -> tuple[list[dict[str, Any]], int]:
    """Read, render and write every ``(input, output)`` of ``plan``; a bad file does not stop the others.

    Args:
        plan: from :func:`_plan` (``-`` is stdin / stdout).
        args: the command's arguments (``max_pixels``, ``max_size``, ``format``, ``quality``, ``json``).
        render: HxWx3 uint8 RGB in, the stylised image out.
        how: the end of the one-line report of a single image ("with style ... on ...").

    Returns:
        ``(results, failures)``: one JSON-ready dict per input, and how many failed (each
        failure printed as one line on stderr).
    """
    results: list[dict[str, Any]] = []
    failures = 0
    bar = Progress(len(plan), "stylize", enabled=not args.json and len(plan) > 1)
    for src, dst in plan:
        try:
            if src == STDIO:
                image = decode_image(sys.stdin.buffer.read(), name="stdin", max_pixels=args.max_pixels)
            else:
                image = read_image(src, max_pixels=args.max_pixels)
            image = fit_max_size(image, args.max_size)
            t0 = time.perf_counter()
            out = render(image)
            seconds = time.perf_counter() - t0
            if dst == STDIO:
                sys.stdout.buffer.write(encode_image(out, "." + (args.format or "png"), quality=args.quality))
                sys.stdout.buffer.flush()
            else:
                write_image(dst, out, quality=args.quality)
        except UserError as exc:
            failures += 1
            sys.stderr.write(f"impasto: error: {exc}\n")
            results.append({"input": src, "output": None, "error": str(exc)})
            bar.update(1)
            continue
        results.append({"input": src, "output": dst, "width": out.shape[1], "height": out.shape[0],
                        "seconds": round(seconds, 4)})
        bar.update(1)
        if not args.json and dst != STDIO and len(plan) == 1:
            print(f"wrote {dst} ({out.shape[1]}x{out.shape[0]}) in {seconds:.2f} s {how()}")
    bar.close()
    return results, failures


def run_stylize(args: argparse.Namespace) -> int:
    if getattr(args, "style_image", None) is not None and args.scale is not None:
        raise CliError("--scale: applies to a multiscale model (MT-Net), not to --style-image")
    if getattr(args, "style_image", None) is not None:  # arbitrary style (WCT): see impasto.cli.photoreal
        from impasto.cli.photoreal import run_stylize_wct

        return run_stylize_wct(args)
    from impasto.runtime.pipelines.stylizer import Stylizer

    jobs = _expand(args.inputs)
    stylizer = Stylizer.load(args.model or args.style, backend=args.backend, fp16=args.fp16,
                             style=args.style if args.model else None,
                             style_layer_weights=args.style_layer_weights,
                             content_layer_weights=args.content_layer_weights, scale=args.scale)
    plan = _plan(jobs, args.output, stylizer.name, args.format)
    with stylizer:
        results, failures = run_plan(
            plan, args, lambda image: stylizer(image, strength=args.strength, preserve_colors=args.preserve_color),
            lambda: f"with style {stylizer.name!r} on {stylizer.provider}")
    ok = [r for r in results if r.get("output")]
    if args.json and args.output != STDIO:
        emit_json({**stylizer.describe(), "strength": args.strength, "preserve_color": args.preserve_color,
                   "images": results, "succeeded": len(ok), "failed": failures})
    elif len(plan) > 1:
        secs = sum(r["seconds"] for r in ok)
        print(f"stylized {len(ok)}/{len(plan)} images with {stylizer.name!r} on {stylizer.provider} in {secs:.2f} s")
    return 2 if failures else 0


def run_styles(args: argparse.Namespace) -> int:
    from impasto.runtime.builtins import builtin_styles, default_style

    try:
        default = default_style()
    except ImpastoError:
        default = None
    styles = builtin_styles()
    if args.json:
        emit_json([{"name": s.name, "description": s.description, "source": s.source, "bank": s.bank,
                    "default": s.name == default, "path": str(s.path)} for s in styles.values()])
        return 0
    for s in styles.values():
        print(f"{s.name}\t{s.description}{'  (default)' if s.name == default else ''}")
    return 0
