"""``impasto train warpnet``: the Learning-to-Warp network, self-supervised on photos (needs the [train] extra).

Hooked into ``impasto train`` by :func:`register_train` (called from :mod:`impasto.cli.train`);
this module has no ``register`` on purpose, so it is not a top-level command.
"""

from __future__ import annotations

import argparse

from impasto.cli.train_flags import add_config_arguments, add_run_arguments, iterations_and_seconds, run_training
from impasto.training.configs import WarpNetTrainConfig


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``warpnet`` to the ``impasto train`` subcommands."""
    w = tsub.add_parser("warpnet", help="Learning-to-Warp network: dense warp fields towards a guide's geometry",
                        description="Self-supervised training on random TPS + affine warps of photos "
                                    "(window-softmax matching loss + known-field loss); only the head f learns.")
    add_config_arguments(w, WarpNetTrainConfig)
    add_run_arguments(w, "start from another warpnet checkpoint's head (same model)")
    w.set_defaults(func=run_warpnet)


def run_warpnet(args: argparse.Namespace) -> int:
    from impasto.training.warpnet import train_warpnet

    return run_training(args, WarpNetTrainConfig, train_warpnet,
                        lambda s: f"{iterations_and_seconds(s)}, held-out EPE {s.get('heldout_epe_px')} px "
                                  f"vs {s.get('identity_epe_px')} px unwarped")
