"""``impasto warp``: geometric style — warp a content image towards a guide's shape, then render a texture.

``--method network`` (default) runs a Learning-to-Warp graph with ONNX Runtime (torch-free):
the built-in one, or ``--model warpnet.onnx`` from ``impasto export warpnet``; the texture then
comes from a built-in feed-forward style (``--style NAME``, torch-free) or a painting
(``--texture T.jpg``, Gatys optimisation: needs torch), or is left out (warp only).
``--method dst`` runs Deformable Style Transfer (torch): NBB keypoints and a joint
optimisation of the image and the keypoint displacements, with the style of
``--texture`` or, without it, of the guide itself.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from impasto.cli.common import CliError, add_backend_args, add_memory_args, positive_int
from impasto.cli.file_batch import STDIO, check_image_output, check_stdin_once, read_input, report, write_output


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warp", help="warp a content image towards a guide's geometry, then apply a texture",
                       description="impasto warp CONTENT --geometry G.jpg [--texture T.jpg | --style NAME] -o OUT "
                                   "[--method network|dst] [--json]")
    p.add_argument("content", help="content image (- for stdin)")
    p.add_argument("--geometry", required=True, metavar="G.jpg",
                   help="geometric guide: the shape to warp towards (- for stdin)")
    tex = p.add_mutually_exclusive_group()
    tex.add_argument("--texture", metavar="T.jpg",
                     help="texture guide (a painting), rendered with Gatys / inside DST (- for stdin)")
    tex.add_argument("--style", metavar="NAME", help="built-in feed-forward style for the texture (network method)")
    p.add_argument("-o", "--output", required=True, help="image to write (.jpg, .png, ...), or - for stdout (PNG)")
    p.add_argument("--method", choices=["network", "dst"], default="network",
                   help="network: the exported warp graph (fast, torch-free); dst: Deformable Style Transfer (slow)")
    p.add_argument("--model", metavar="warpnet.onnx",
                   help="exported warp graph (impasto export warpnet; default: the built-in one)")
    p.add_argument("--max-size", type=positive_int, default=512,
                   help="shrink the content so its longest side is at most this (default 512)")
    p.add_argument("--size", type=positive_int, default=256, help="dst / Gatys: longest side of the result")
    p.add_argument("--iters", type=positive_int, default=150, help="dst / Gatys: optimisation steps")
    p.add_argument("--k", type=positive_int, default=16, help="dst: NBB keypoint pairs")
    p.add_argument("--no-prune", action="store_true",
                   help="dst: keep every NBB pair (default: drop crowded, outlying and folding pairs)")
    p.add_argument("--vgg-weights", help="VGG16 weights for dst / Gatys (default: $IMPASTO_VGG16_WEIGHTS)")
    add_backend_args(p)
    add_memory_args(p, tile=False)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    check_image_output(args.output, args.content, args.geometry, args.texture, flag="--output")
    check_stdin_once(args.content, args.geometry, args.texture)
    if args.method == "dst":
        if args.style:
            raise CliError("--style: applies to --method network; dst renders the texture of --texture (or of "
                           "the guide) itself")
        if args.model:
            raise CliError("--model: applies to --method network only")


def run(args: argparse.Namespace) -> int:
    from impasto.runtime.io.images import fit_max_size

    _check(args)
    graph = None
    if args.method == "network":  # a missing built-in graph is named before any image is decoded
        from impasto.runtime.pipelines.warp import resolve_graph

        graph = resolve_graph(args.model)
    t0 = time.perf_counter()
    content = fit_max_size(read_input(args.content), args.max_size)
    guide = read_input(args.geometry)
    texture = read_input(args.texture) if args.texture else None
    summary: dict[str, Any] = {"method": args.method, "content": args.content, "geometry": args.geometry,
                               "texture": args.texture, "style": args.style, "output": args.output}
    if args.method == "network":
        from impasto.runtime.pipelines.warp import Warper

        with Warper.load(graph, backend=args.backend) as warper:
            warper.set_memory_budget(args.max_memory)
            res = warper.run(content, guide)
            summary.update(model=str(graph), provider=warper.provider, warp_seconds=res["seconds"]["total"],
                           memory=warper.last_plan.to_dict() if warper.last_plan else None)
        image = res["warped"]
        t1 = time.perf_counter()
        if args.style:
            from impasto.runtime import Stylizer

            with Stylizer.load(args.style, backend=args.backend, max_memory=args.max_memory) as stylize:
                image = stylize(image)
        elif texture is not None:
            image = _gatys(image, texture, args)
        summary["texture_seconds"] = round(time.perf_counter() - t1, 3)
    else:
        from impasto.optim.dst import DSTConfig, run_dst

        image, info = run_dst(content, guide, DSTConfig(size=args.size, iters=args.iters, k=args.k,
                                                          prune=not args.no_prune),
                              texture=texture, vgg_weights=args.vgg_weights, progress=not args.json)
        summary.update({k: info[k] for k in ("seconds_keypoints", "seconds_optimisation", "point_distance_before",
                                             "point_distance_after", "final_losses", "keypoints_content",
                                             "keypoints_guide", "pruning")})
    write_output(args.output, image)
    summary.update(size=list(image.shape[:2]), seconds=round(time.perf_counter() - t0, 3))
    report(summary, f"{args.output}: {image.shape[1]}x{image.shape[0]}, {args.method} in {summary['seconds']} s",
           as_json=args.json, to_stdout=args.output == STDIO)
    return 0


def _gatys(image: Any, texture: Any, args: argparse.Namespace) -> Any:
    from impasto.optim.gatys import GatysConfig, run_gatys

    cfg = GatysConfig(scales=(min(args.size, max(image.shape[:2])),), iters=args.iters)
    out, _ = run_gatys(image, texture, cfg, progress=not args.json, vgg_weights=args.vgg_weights)
    return out
