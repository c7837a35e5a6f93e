"""``impasto train warpnet``: the Learning-to-Warp network, self-supervised on photos (needs the [train] extra).

Hooked into ``impasto train`` by :func:`register_train` (called from :mod:`impasto.cli.train`);
this module has no ``register`` on purpose, so it is not a top-level command.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from impasto.cli.common import emit_json, positive_float, positive_int


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``warpnet`` to the ``impasto train`` subcommands."""
    w = tsub.add_parser("warpnet", help="Learning-to-Warp network: dense warp fields towards a guide's geometry",
                        description="Self-supervised training on random TPS + affine warps of photos "
                                    "(window-softmax matching loss + known-field loss); only the head f learns.")
    w.add_argument("--data", required=True, help="folder of content photos (recursive)")
    w.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    w.add_argument("--iters", type=positive_int, default=600)
    w.add_argument("--size", type=positive_int, default=192,
                   help="working square side in pixels, a multiple of 16 (pool4 grid = size/16)")
    w.add_argument("--steps", type=positive_int, default=3, help="refinement steps K")
    w.add_argument("--hidden", type=positive_int, default=128, help="width of the head CNN f")
    w.add_argument("--batch", type=positive_int, default=4)
    w.add_argument("--lr", type=positive_float, default=5e-4)
    w.add_argument("--field-weight", type=positive_float, default=1.0, help="weight of the known-field L1 loss")
    w.add_argument("--window-weight", type=positive_float, default=0.1,
                   help="weight of the window-softmax matching loss (-log p over a 9x9 window)")
    w.add_argument("--smooth-weight", type=float, default=0.2,
                   help="weight of the field's total variation (0 turns it off)")
    w.add_argument("--holdout", type=int, default=8, help="images of --data never trained on (held-out EPE)")
    w.add_argument("--device", default="cpu", help="cpu or cuda")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--checkpoint-every", type=positive_int, default=50)
    w.add_argument("--preview-every", type=positive_int, default=100)
    w.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    w.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    w.add_argument("--init", metavar="CKPT", help="start from another warpnet checkpoint's head (same model)")
    w.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    w.set_defaults(func=run_warpnet)


def run_warpnet(args: argparse.Namespace) -> int:
    from impasto.training.warpnet import WarpNetTrainConfig, train_warpnet

    cfg = WarpNetTrainConfig(
        data=args.data, iters=args.iters, size=args.size, steps=args.steps, hidden=args.hidden, batch=args.batch,
        lr=args.lr, field_weight=args.field_weight, window_weight=args.window_weight,
        smooth_weight=args.smooth_weight, holdout=args.holdout,
        device=args.device, seed=args.seed, checkpoint_every=args.checkpoint_every, preview_every=args.preview_every)
    command = "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = train_warpnet(cfg, args.output, resume=args.resume, progress=not args.json, command=command,
                            vgg_weights=args.vgg_weights, init=args.init)
    if args.json:
        emit_json(summary)
    else:
        print(f"checkpoint: {summary['checkpoint']} ({summary['iterations']} iterations, {summary['seconds']} s, "
              f"held-out EPE {summary.get('heldout_epe_px')} px vs {summary.get('identity_epe_px')} px unwarped)")
        print(f"losses: {summary['log']}  preview: {summary['preview']}")
    return 0
