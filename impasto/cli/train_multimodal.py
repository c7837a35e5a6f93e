"""``impasto train multimodal``: an MT-Net (Wang et al. 2017) for one style.

Registered by :mod:`impasto.cli.train` through :func:`register_train` (deliberately not
named ``register``: modules with ``register`` are top-level commands). Torch loads only
when the command runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from impasto.cli.common import CliError, emit_json, positive_float, positive_int


def _scale_weights(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(values) != 3 or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected three non-negative comma-separated numbers, got {text!r}")
    return values  # type: ignore[return-value]


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``multimodal`` to the ``impasto train`` subcommands."""
    m = tsub.add_parser("multimodal", help="MT-Net: hierarchical 256/512/1024 px network for one style (Wang et al.)")
    m.add_argument("--style", required=True, help="style image (a painting)")
    m.add_argument("--data", required=True, help="folder of content photos (recursive; >= 1024 px ones are best)")
    m.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    m.add_argument("--iters", type=positive_int, default=1000)
    m.add_argument("--size", type=positive_int, default=1024,
                   help="training crop side = finest output's side; the others are size/2 and size/4 (default 1024)")
    m.add_argument("--loss-crop", type=int, default=256,
                   help="side of the window the VGG losses see at each scale; 0 = whole outputs (default 256)")
    m.add_argument("--batch", type=positive_int, default=1)
    m.add_argument("--lr", type=positive_float, default=1e-3)
    m.add_argument("--preset", choices=["cpu", "paper"], default="cpu",
                   help="network widths: 'paper' (32 channels everywhere) or the CPU-trainable 'cpu'")
    m.add_argument("--content-weight", type=positive_float, default=1.0)
    m.add_argument("--style-weight", type=positive_float, default=5.0)
    m.add_argument("--tv-weight", type=positive_float, default=0.1)
    m.add_argument("--scale-weights", type=_scale_weights, default=(1.0, 0.5, 0.25), metavar="L1,L2,L3",
                   help="lambda_k of the 256/512/1024 outputs' losses (default 1,0.5,0.25 as in the paper)")
    m.add_argument("--style-scale", type=positive_float, default=1.0,
                   help="style image's longest side as a multiple of each output's side (default 1)")
    m.add_argument("--max-scale", type=positive_float, default=1.25, help="largest random zoom of the photos")
    m.add_argument("--style-name", help="name recorded in the model card (default: the style file's stem)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--checkpoint-every", type=positive_int, default=50)
    m.add_argument("--preview-every", type=positive_int, default=100)
    m.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    m.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    m.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    m.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    m.set_defaults(func=run_multimodal)


def run_multimodal(args: argparse.Namespace) -> int:
    if args.threads < 0:
        raise CliError(f"--threads: expected an integer >= 0, got {args.threads}")
    if not Path(args.style).is_file():
        raise CliError(f"--style: expected an image file, got {args.style!r} (no such file)")
    if not Path(args.data).is_dir():
        raise CliError(f"--data: expected a folder of images, got {args.data!r} (no such folder)")
    import torch

    from impasto.training.multimodal import MultimodalTrainConfig, train_multimodal

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = MultimodalTrainConfig(
        style=args.style, data=args.data, iters=args.iters, size=args.size, loss_crop=args.loss_crop,
        batch=args.batch, lr=args.lr, content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, scale_weights=tuple(args.scale_weights), style_scale=args.style_scale,
        max_scale=args.max_scale, preset=args.preset, seed=args.seed, checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, style_name=args.style_name)
    command = "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = train_multimodal(cfg, args.output, resume=args.resume, progress=not args.json, command=command,
                               vgg_weights=args.vgg_weights)
    if args.json:
        emit_json(summary)
    else:
        print(f"checkpoint: {summary['checkpoint']} ({summary['iterations']} iterations, {summary['seconds']} s)")
        print(f"losses: {summary['log']}  plot: {summary['plot']}  preview: {summary['preview']}")
    return 0
