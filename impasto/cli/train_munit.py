"""``impasto train munit``: MUNIT (Huang et al. 2018), multimodal translation between two image folders.

Registered by :mod:`impasto.cli.train` through :func:`register_train` (deliberately not
named ``register``: modules with ``register`` are top-level commands). Torch loads only
when the command runs.
"""

from __future__ import annotations

import argparse

from impasto.cli.train_flags import add_config_arguments, add_run_arguments, iterations_and_seconds, run_training
from impasto.training.configs import MunitTrainConfig


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``munit`` to the ``impasto train`` subcommands."""
    m = tsub.add_parser("munit", help="MUNIT: multimodal image-to-image translation between two folders "
                                      "(Huang et al. 2018)")
    add_config_arguments(m, MunitTrainConfig)
    add_run_arguments(m, "start from another munit checkpoint's generators (same generator settings; the "
                         "discriminators start afresh)")
    m.set_defaults(func=run_munit)


def run_munit(args: argparse.Namespace) -> int:
    from impasto.training.munit import train_munit

    return run_training(args, MunitTrainConfig, train_munit,
                        lambda s: f"{' <-> '.join(s['domains'])}, {iterations_and_seconds(s)}")
