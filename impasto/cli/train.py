"""``impasto train feedforward`` (a feed-forward style network) and ``impasto train decoder`` (WCT/PhotoWCT)."""

from __future__ import annotations

import argparse
import shlex
import sys

from impasto.cli.common import emit_json, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a style network (needs the [train] extra)")
    tsub = p.add_subparsers(dest="train_kind", metavar="KIND", required=True)
    f = tsub.add_parser("feedforward", help="Johnson et al. feed-forward network for one style")
    f.add_argument("--style", required=True, help="style image (a painting)")
    f.add_argument("--data", required=True, help="folder of content photos (recursive)")
    f.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    f.add_argument("--iters", type=positive_int, default=2000)
    f.add_argument("--size", type=positive_int, default=256, help="training crop size in pixels")
    f.add_argument("--batch", type=positive_int, default=4)
    f.add_argument("--lr", type=positive_float, default=1e-3)
    f.add_argument("--preset", choices=["johnson", "fast"], default="johnson",
                   help="network size; 'fast' is the CPU-friendly variant")
    f.add_argument("--width", type=positive_int, help="override the preset's base width")
    f.add_argument("--n-residual", type=int, help="override the preset's residual block count")
    f.add_argument("--content-weight", type=positive_float, default=1.0)
    f.add_argument("--style-weight", type=positive_float, default=5.0)
    f.add_argument("--tv-weight", type=positive_float, default=0.1)
    f.add_argument("--style-size", type=positive_int, help="longest side of the style image (default 1.5 x size)")
    f.add_argument("--style-name", help="name recorded in the model card (default: the style file's stem)")
    f.add_argument("--device", default="cpu", help="cpu or cuda")
    f.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--checkpoint-every", type=positive_int, default=200)
    f.add_argument("--preview-every", type=positive_int, default=500)
    f.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    f.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    f.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    f.set_defaults(func=run_feedforward)

    d = tsub.add_parser("decoder", help="a WCT / PhotoWCT decoder that inverts VGG16 at one level")
    d.add_argument("--level", required=True, choices=["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    d.add_argument("--kind", choices=["photo", "artistic"], default="photo",
                   help="photo: unpools with the encoder's pooling indices (PhotoWCT); artistic: upsamples (WCT)")
    d.add_argument("--data", required=True, help="folder of content photos (recursive)")
    d.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    d.add_argument("--iters", type=positive_int, default=1500)
    d.add_argument("--size", type=positive_int, default=192, help="training crop size in pixels")
    d.add_argument("--batch", type=positive_int, default=4)
    d.add_argument("--lr", type=positive_float, default=1e-3)
    d.add_argument("--pixel-weight", type=positive_float, default=1.0, help="weight of the pixel MSE")
    d.add_argument("--feature-weight", type=positive_float, default=0.02,
                   help="weight of the relative feature error at the decoder's level (0: pixel loss only)")
    d.add_argument("--holdout", type=int, default=10, help="images of --data never trained on (held-out PSNR)")
    d.add_argument("--device", default="cpu", help="cpu or cuda")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--checkpoint-every", type=positive_int, default=100)
    d.add_argument("--preview-every", type=positive_int, default=100)
    d.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    d.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    d.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    d.set_defaults(func=run_decoder)

    from impasto.cli.train_warpnet import register_train as register_warpnet
    register_warpnet(tsub)

    from impasto.cli.train_bank import register_train as register_bank
    register_bank(tsub)

    from impasto.cli.train_multimodal import register_train as register_multimodal
    register_multimodal(tsub)


def run_feedforward(args: argparse.Namespace) -> int:
    from impasto.training.feedforward import FeedForwardConfig, train_feedforward

    cfg = FeedForwardConfig(
        style=args.style, data=args.data, iters=args.iters, size=args.size, batch=args.batch, lr=args.lr,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        style_size=args.style_size, preset=args.preset, width=args.width, n_residual=args.n_residual,
        device=args.device, amp=not args.no_amp, seed=args.seed, checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, style_name=args.style_name)
    command = "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = train_feedforward(cfg, args.output, resume=args.resume, progress=True, command=command,
                                vgg_weights=args.vgg_weights)
    if args.json:
        emit_json(summary)
    else:
        print(f"checkpoint: {summary['checkpoint']} ({summary['iterations']} iterations, {summary['seconds']} s)")
        print(f"losses: {summary['log']}  plot: {summary['plot']}  preview: {summary['preview']}")
    return 0


def run_decoder(args: argparse.Namespace) -> int:
    from impasto.training.decoder import DecoderTrainConfig, train_decoder

    cfg = DecoderTrainConfig(
        level=args.level, kind=args.kind, data=args.data, iters=args.iters, size=args.size, batch=args.batch,
        lr=args.lr, pixel_weight=args.pixel_weight, feature_weight=args.feature_weight, holdout=args.holdout,
        device=args.device, seed=args.seed, checkpoint_every=args.checkpoint_every, preview_every=args.preview_every)
    command = "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = train_decoder(cfg, args.output, resume=args.resume, progress=True, command=command,
                            vgg_weights=args.vgg_weights)
    if args.json:
        emit_json(summary)
    else:
        print(f"checkpoint: {summary['checkpoint']} ({summary['kind']} decoder {summary['level']}, "
              f"{summary['iterations']} iterations, {summary['seconds']} s, "
              f"held-out PSNR {summary['heldout_psnr_db']} dB)")
        print(f"losses: {summary['log']}  plot: {summary['plot']}  preview: {summary['preview']}")
    return 0
