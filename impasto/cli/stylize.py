"""``impasto stylize`` and ``impasto styles`` (torch-free)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from impasto.cli.common import (
    CliError,
    add_backend_args,
    add_memory_args,
    emit_json,
    image_side,
    positive_int,
    unit_float,
)
from impasto.cli.file_batch import (
    STDIO,
    BatchOptions,
    check_stdin_once,
    expand_inputs,
    finish_batch,
    plan_jobs,
    read_input,
    run_batch,
)
from impasto.errors import ImpastoError
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS

#: What ``--style-image`` runs: a MicroAST graph or an artistic WCT graph (each built in where installed).
STYLE_IMAGE_METHODS = ("microast", "wct")
#: The ``--style-image`` method when neither ``--method`` nor a ``--model`` graph says otherwise.
DEFAULT_STYLE_IMAGE_METHOD = "microast"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylize", help="stylise images, folders or stdin with a style model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or - for stdin")
    p.add_argument("-o", "--output", help="output file, folder, or - for stdout "
                   "(default: NAME_STYLE.EXT beside each input; PNG on stdout)")
    p.add_argument("--style", help="built-in style name (see `impasto styles`) or a mix of a bank's styles, "
                   "e.g. starry_night:0.6,la_muse:0.4 (with --model: styles of that bank)")
    p.add_argument("--model", help="path to an .onnx style model or a TensorRT .engine "
                   "(with --style-image: a converted microast graph or an exported wct graph; "
                   "default: the built-in graph of --method)")
    p.add_argument("--style-layer-weights", metavar="A,B,C,D",
                   help="style bank: weight of each VGG16 style layer "
                   "(relu1_2,relu2_2,relu3_3,relu4_3; default 1 each)")
    p.add_argument("--content-layer-weights", metavar="A",
                   help="style bank: weight of each VGG16 content layer (relu2_2; default 1)")
    p.add_argument("--style-image", metavar="PAINTING",
                   help="arbitrary style from a painting (- for stdin); see --method")
    p.add_argument("--method", choices=STYLE_IMAGE_METHODS,
                   help="with --style-image: microast (feed-forward) or wct (artistic WCT), each the built-in "
                        "graph unless --model names one; default: the --model graph's own method, else "
                        f"{DEFAULT_STYLE_IMAGE_METHOD}")
    p.add_argument("--scale", type=positive_int, metavar="256|512|1024",
                   help="multiscale model (MT-Net): which output, by nominal scale (default: the finest)")
    p.add_argument("--strength", type=unit_float, default=1.0, help="0 = content, 1 = full style (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--max-size", type=image_side, help="downscale so the longest side is at most N pixels")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"reject larger images before decoding (default {DEFAULT_MAX_PIXELS})")
    add_backend_args(p)
    add_memory_args(p)
    p.add_argument("--format", choices=["png", "jpg"], help="output format for stdout (default png)")
    p.add_argument("--quality", type=positive_int, default=95, help="JPEG quality (default 95)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_stylize)

    s = sub.add_parser("styles", help="list the built-in styles, one per line, name first")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_styles)


def run_stylize(args: argparse.Namespace) -> int:
    if args.style_image is not None:
        return _run_style_image(args)
    if args.method is not None:
        raise CliError("--method: applies to --style-image only")
    from impasto.runtime.pipelines.stylizer import Stylizer

    inputs = expand_inputs(args.inputs)  # a missing input fails before a model loads
    with Stylizer.load(args.model or args.style, backend=args.backend, fp16=args.fp16,
                       style=args.style if args.model else None, style_layer_weights=args.style_layer_weights,
                       content_layer_weights=args.content_layer_weights, scale=args.scale,
                       max_memory=args.max_memory, tile=args.tile) as stylizer:
        stylizer.progress = not args.json
        jobs = plan_jobs(inputs, args.output, stylizer.name, args.format)
        results = run_batch(jobs, lambda image: stylizer(image, strength=args.strength,
                                                         preserve_colors=args.preserve_color),
                            BatchOptions.from_args(args, precheck=stylizer.memory_plan,
                                                   details=lambda: {"memory": stylizer.last_plan.to_dict()}))
    return finish_batch(jobs, results, {**stylizer.describe(), "strength": args.strength,
                                        "preserve_color": args.preserve_color},
                        f"with style {stylizer.name!r} on {stylizer.provider}", as_json=args.json)


def _style_image_method(args: argparse.Namespace) -> str:
    """``--method``, else the ``--model`` graph's own (microast, or wct for anything else), else the default."""
    if args.method is not None:
        return args.method
    if args.model is None:
        return DEFAULT_STYLE_IMAGE_METHOD
    from impasto.runtime.builtins import read_metadata
    from impasto.runtime.pipelines.base import require_file

    path = require_file(args.model, "a microast or wct .onnx graph")
    if path.suffix.lower() != ".onnx":
        return "wct"
    return "microast" if read_metadata(path).get("impasto.method") == "microast" else "wct"


def _open_style_image_model(method: str, args: argparse.Namespace):
    from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer
    from impasto.runtime.pipelines.photoreal import WCTStylizer

    if method == "microast":
        return ArbitraryStylizer.load(args.model, backend=args.backend)
    return WCTStylizer.load(args.model, method="wct", backend=args.backend)


def _run_style_image(args: argparse.Namespace) -> int:
    """``impasto stylize INPUT... --style-image PAINTING``: arbitrary style with MicroAST or a WCT graph."""
    from impasto.runtime.pipelines.postprocess import preserve_color

    if args.scale is not None:
        raise CliError("--scale: applies to a multiscale model (MT-Net), not to --style-image")
    if args.style:
        raise CliError("--style-image takes the style from a painting; --style names a built-in model: choose one")
    if args.fp16:
        raise CliError("--fp16 applies to style models on the ort-trt backend, not to --style-image")
    if args.tile is not None:
        raise CliError("--tile applies to style models with a stats form, not to --style-image")
    method = _style_image_method(args)
    inputs = expand_inputs(args.inputs)
    check_stdin_once(args.style_image, *(src for src, _ in inputs))
    painting = "stdin" if args.style_image == STDIO else Path(args.style_image).name
    style = read_input(args.style_image, max_pixels=args.max_pixels)
    jobs = plan_jobs(inputs, args.output, Path(painting).stem, args.format)
    extra = {"smooth": "none"} if method == "wct" else {}
    with _open_style_image_model(method, args) as model:
        model.set_memory_budget(args.max_memory)

        def render(image: np.ndarray) -> np.ndarray:
            out = model(image, style, alpha=args.strength, **extra)
            return preserve_color(out, image) if args.preserve_color else out

        results = run_batch(jobs, render, BatchOptions.from_args(
            args, precheck=model.memory_plan, details=lambda: {"memory": model.last_plan.to_dict()}))
    return finish_batch(jobs, results, {**model.describe(), "style_image": args.style_image,
                                        "strength": args.strength, "preserve_color": args.preserve_color},
                        f"with the style of {painting} ({method}) on {model.provider}", as_json=args.json)


def run_styles(args: argparse.Namespace) -> int:
    """The built-in styles (``--style NAME``), then the built-in method graphs, which take their style as an input.

    ``--json``: one list; a style's entry as ever, a graph's with ``"graph": true`` and its card
    (:func:`impasto.runtime.builtin_graphs.describe_builtin_graph`).
    """
    from impasto.runtime.builtin_graphs import builtin_graph_cards
    from impasto.runtime.builtins import builtin_styles, default_style

    try:
        default = default_style()
    except ImpastoError:
        default = None
    styles = builtin_styles()
    graphs = builtin_graph_cards()
    if args.json:
        emit_json([{"name": s.name, "description": s.description, "source": s.source, "bank": s.bank,
                    "default": s.name == default, "path": str(s.path), "graph": False} for s in styles.values()]
                  + [{**g, "graph": True, "default": False} for g in graphs])
        return 0
    for s in styles.values():
        print(f"{s.name}\t{s.description}{'  (default)' if s.name == default else ''}")
    for g in graphs:
        where = f"run with: {g['command']}" if g["installed"] else f"MISSING: {g['build']}"
        print(f"{g['name']}\tbuilt-in graph, {g['kind']}; {where}")
    return 0
