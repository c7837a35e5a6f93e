"""``impasto train multimodal``: an MT-Net (Wang et al. 2017) for one style.

Registered by :mod:`impasto.cli.train` through :func:`register_train` (deliberately not
named ``register``: modules with ``register`` are top-level commands). Torch loads only
when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.cli.common import CliError
from impasto.cli.train_flags import add_config_arguments, add_run_arguments, iterations_and_seconds, run_training
from impasto.training.configs import MultimodalTrainConfig


def register_train(tsub: argparse._SubParsersAction) -> None:
    """Add ``multimodal`` to the ``impasto train`` subcommands."""
    m = tsub.add_parser("multimodal", help="MT-Net: hierarchical 256/512/1024 px network for one style (Wang et al.)")
    add_config_arguments(m, MultimodalTrainConfig)
    add_run_arguments(m, "start from another multimodal checkpoint's weights (same preset)")
    m.set_defaults(func=run_multimodal)


def run_multimodal(args: argparse.Namespace) -> int:
    if not Path(args.style).is_file():
        raise CliError(f"--style: expected an image file, got {args.style!r} (no such file)")
    if not Path(args.data).is_dir():
        raise CliError(f"--data: expected a folder of images, got {args.data!r} (no such folder)")
    from impasto.training.multimodal import train_multimodal

    return run_training(args, MultimodalTrainConfig, train_multimodal, iterations_and_seconds)
