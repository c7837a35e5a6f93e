"""Shared CLI plumbing: JSON output, user-error handling (torch-free)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class CliError(Exception):
    """A usage error detected by the CLI itself (exit code 2)."""


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def unit_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return v


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--fp16``, shared by every command that runs a model."""
    from impasto.runtime.backends.selection import BACKENDS

    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="inference backend (default auto: the fastest that opens here; fallbacks are reported)")
    p.add_argument("--fp16", action="store_true",
                   help="fp16 TensorRT engines for the ort-trt backend (an error elsewhere, never a silent change)")
