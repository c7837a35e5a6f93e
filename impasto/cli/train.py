"""``impasto train feedforward`` (a feed-forward style network) and ``impasto train decoder`` (WCT/PhotoWCT).

The other methods register their own subcommands (:mod:`impasto.cli.train_bank`,
:mod:`impasto.cli.train_multimodal`, :mod:`impasto.cli.train_munit`,
:mod:`impasto.cli.train_warpnet`); every method's
flags come from its configuration dataclass (:mod:`impasto.cli.train_flags`).
"""

from __future__ import annotations

import argparse

from impasto.cli.train_flags import add_config_arguments, add_run_arguments, iterations_and_seconds, run_training
from impasto.training.configs import DecoderTrainConfig, FeedForwardConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a style network (needs the [train] extra)")
    tsub = p.add_subparsers(dest="train_kind", metavar="KIND", required=True)
    f = tsub.add_parser("feedforward", help="Johnson et al. feed-forward network for one style")
    add_config_arguments(f, FeedForwardConfig)
    add_run_arguments(f, "start from another feedforward checkpoint's weights (same model)")
    f.set_defaults(func=run_feedforward)

    d = tsub.add_parser("decoder", help="a WCT / PhotoWCT decoder that inverts VGG16 at one level")
    add_config_arguments(d, DecoderTrainConfig)
    add_run_arguments(d, "start from another decoder checkpoint's weights (same level and kind)")
    d.set_defaults(func=run_decoder)

    from impasto.cli.train_warpnet import register_train as register_warpnet
    register_warpnet(tsub)

    from impasto.cli.train_bank import register_train as register_bank
    register_bank(tsub)

    from impasto.cli.train_multimodal import register_train as register_multimodal
    register_multimodal(tsub)

    from impasto.cli.train_munit import register_train as register_munit
    register_munit(tsub)


def run_feedforward(args: argparse.Namespace) -> int:
    from impasto.training.feedforward import train_feedforward

    return run_training(args, FeedForwardConfig, train_feedforward, iterations_and_seconds)


def run_decoder(args: argparse.Namespace) -> int:
    from impasto.training.decoder import train_decoder

    return run_training(args, DecoderTrainConfig, train_decoder,
                        lambda s: f"{s['kind']} decoder {s['level']}, {iterations_and_seconds(s)}, "
                                  f"held-out PSNR {s.get('heldout_psnr_db')} dB")
