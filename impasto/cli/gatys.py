"""``impasto gatys``: optimisation-based style transfer (Gatys et al. 2016), torch imported lazily."""

from __future__ import annotations

import argparse

from impasto.cli.common import positive_float, positive_int
from impasto.cli.file_batch import STDIO, check_image_output, check_stdin_once, read_input, report, write_output


def _layers(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gatys", help="optimise one image's pixels towards a style (slow; needs the [train] extra)",
                       description="Gatys et al. (2016) style transfer: L-BFGS on the pixels, coarse to fine.")
    p.add_argument("content", help="content photo (- for stdin)")
    p.add_argument("style", help="style image (a painting; - for stdin)")
    p.add_argument("-o", "--output", required=True, help="image to write (.jpg, .png, ...), or - for stdout (PNG)")
    p.add_argument("--size", type=positive_int, default=512, help="longest side of the result in pixels")
    p.add_argument("--scales", type=positive_int, default=1,
                   help="coarse-to-fine scales ending at --size, halving (3 with --size 512: 128, 256, 512)")
    p.add_argument("--iters", type=positive_int, default=300, help="loss evaluations per scale")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    p.add_argument("--lr", type=positive_float, default=0.02, help="Adam learning rate (pixels in [0, 1])")
    p.add_argument("--init", choices=["content", "noise", "style"], default="content")
    p.add_argument("--content-layers", type=_layers, default=None, help="comma-separated VGG16 taps (relu4_2)")
    p.add_argument("--style-layers", type=_layers, default=None,
                   help="comma-separated VGG16 taps (relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)")
    p.add_argument("--content-weight", type=positive_float, default=None, help="alpha (default 1)")
    p.add_argument("--style-weight", type=positive_float, default=None, help="beta (default 1000)")
    p.add_argument("--tv-weight", type=positive_float, default=None, help="total-variation weight (default 0)")
    p.add_argument("--style-scale", type=positive_float, default=None,
                   help="style image size relative to the content at each scale (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="transfer luminance only; keep the content's colours")
    p.add_argument("--pool", choices=["avg", "max"], default="avg", help="VGG pooling (the paper uses avg)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from impasto.optim.gatys import GatysConfig, run_gatys, scale_sizes

    check_image_output(args.output, args.content, args.style, flag="--output")  # before minutes of optimisation
    check_stdin_once(args.content, args.style)
    given = {"content_layers": args.content_layers, "style_layers": args.style_layers,
             "content_weight": args.content_weight, "style_weight": args.style_weight,
             "tv_weight": args.tv_weight, "style_scale": args.style_scale}
    cfg = GatysConfig(scales=scale_sizes(args.size, args.scales), iters=args.iters, optimizer=args.optimizer,
                      lr=args.lr, init=args.init, pool=args.pool, preserve_color=args.preserve_color,
                      seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    content, style = read_input(args.content), read_input(args.style)

    from impasto.models.vgg import VGG16Features  # torch: only now

    vgg = VGG16Features(args.vgg_weights, pool=cfg.pool)
    image, summary = run_gatys(content, style, cfg, vgg=vgg, progress=not args.json, device=args.device)
    write_output(args.output, image)
    summary = {"output": str(args.output), "content": str(args.content), "style": str(args.style), **summary}
    f = summary["final_losses"]
    report(summary, f"{args.output}: {image.shape[1]}x{image.shape[0]}, {summary['iterations']} iterations over "
           f"{len(cfg.scales)} scale(s) in {summary['seconds']} s; style loss {summary['initial_style_loss']:.3g} "
           f"-> {f['style']:.3g}, content loss {f['content']:.3g}", as_json=args.json, to_stdout=args.output == STDIO)
    return 0
