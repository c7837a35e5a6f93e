"""``impasto train bank``: an adjustable style bank (N styles, per-layer loss weights as inputs).

Registered under ``impasto train`` by :func:`register_train` (this module has no
``register``, so it is not a top-level command of its own).
"""

from __future__ import annotations

import argparse

from impasto.cli.train_flags import add_config_arguments, add_run_arguments, iterations_and_seconds, run_training
from impasto.training.configs import BankTrainConfig


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``bank`` to the ``impasto train`` sub-parsers."""
    b = tsub.add_parser("bank", help="adjustable style bank: N styles in one network, loss weights as inputs")
    add_config_arguments(b, BankTrainConfig)
    add_run_arguments(b, "start from another bank checkpoint's weights (same architecture)")
    b.set_defaults(func=run_bank)


def run_bank(args: argparse.Namespace) -> int:
    from impasto.training.bank import train_bank

    return run_training(args, BankTrainConfig, train_bank,
                        lambda s: f"{len(s['styles'])} styles, {iterations_and_seconds(s)}")
