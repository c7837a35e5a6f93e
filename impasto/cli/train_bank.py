"""``impasto train bank``: an adjustable style bank (N styles, per-layer loss weights as inputs).

Registered under ``impasto train`` by :func:`register_train` (this module has no
``register``, so it is not a top-level command of its own).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from impasto.cli.common import emit_json, positive_float, positive_int


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``bank`` to the ``impasto train`` sub-parsers."""
    b = tsub.add_parser("bank", help="adjustable style bank: N styles in one network, loss weights as inputs")
    b.add_argument("--styles", required=True, help="comma-separated style images (paintings)")
    b.add_argument("--style-names", help="comma-separated names, one per style (default: the files' stems)")
    b.add_argument("--data", required=True, help="folder of content photos (recursive)")
    b.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    b.add_argument("--iters", type=positive_int, default=4000)
    b.add_argument("--size", type=positive_int, default=160, help="training crop size in pixels")
    b.add_argument("--batch", type=positive_int, default=2)
    b.add_argument("--lr", type=positive_float, default=2e-3)
    b.add_argument("--content-weight", type=positive_float, default=1.0)
    b.add_argument("--style-weight", type=positive_float, default=1.0)
    b.add_argument("--tv-weight", type=positive_float, default=0.1)
    b.add_argument("--alpha-max", type=positive_float, default=2.0, help="loss weights are sampled in [0, alpha-max]")
    b.add_argument("--p-default", type=positive_float, default=0.25,
                   help="probability that a batch uses the default loss weights (all 1)")
    b.add_argument("--style-size", type=positive_int, help="longest side of the style images (default 1.5 x size)")
    b.add_argument("--widths", default="16,48", help="channels at 1/2 and 1/4 resolution")
    b.add_argument("--n-residual", type=int, default=3)
    b.add_argument("--upsample", choices=("bilinear", "nearest"), default="bilinear",
                   help="resize mode before each upsampling convolution")
    b.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                   help="cosine: from --lr down to --lr / 20 over --iters")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--checkpoint-every", type=positive_int, default=200)
    b.add_argument("--preview-every", type=positive_int, default=200)
    b.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    b.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    b.add_argument("--init", metavar="CKPT", help="start from another bank checkpoint's weights (same architecture)")
    b.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    b.set_defaults(func=run_bank)


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def run_bank(args: argparse.Namespace) -> int:
    from impasto.errors import UserError
    from impasto.training.bank import BankTrainConfig, train_bank

    try:
        widths = tuple(int(v) for v in args.widths.split(","))
    except ValueError:
        raise UserError(f"--widths: expected two integers like 16,48, got {args.widths!r}") from None
    if len(widths) != 2 or min(widths) < 1:
        raise UserError(f"--widths: expected two positive integers like 16,48, got {args.widths!r}")
    cfg = BankTrainConfig(
        styles=_split(args.styles), style_names=_split(args.style_names), data=args.data, iters=args.iters,
        size=args.size, batch=args.batch, lr=args.lr, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, alpha_max=args.alpha_max, p_default=args.p_default,
        style_size=args.style_size, widths=widths, n_residual=args.n_residual, seed=args.seed,
        upsample=args.upsample, lr_schedule=args.lr_schedule,
        checkpoint_every=args.checkpoint_every, preview_every=args.preview_every)
    command = "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = train_bank(cfg, args.output, resume=args.resume, progress=True, command=command,
                         vgg_weights=args.vgg_weights, init=args.init)
    if args.json:
        emit_json(summary)
    else:
        print(f"checkpoint: {summary['checkpoint']} ({len(summary['styles'])} styles, "
              f"{summary['iterations']} iterations, {summary['seconds']} s)")
        print(f"losses: {summary['log']}  preview: {summary['preview']}")
    return 0
