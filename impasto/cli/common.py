"""Shared CLI plumbing: JSON output, user-error handling (torch-free)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


class CliError(Exception):
    """A usage error detected by the CLI itself (exit code 2)."""


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _number(text: str, cast: type, ok: Callable[[float], bool], expected: str) -> Any:
    """``cast(text)`` if it parses and passes ``ok``, else an argparse error saying what was ``expected``."""
    try:
        v = cast(text)
    except ValueError:
        v = None
    if v is None or not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return v


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def unit_float(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: v >= 0, "a non-negative number")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--fp16``, shared by every command that runs a model."""
    from impasto.runtime.backends.selection import BACKENDS

    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="inference backend (default auto: the fastest that opens here; fallbacks are reported)")
    p.add_argument("--fp16", action="store_true",
                   help="fp16 TensorRT engines for the ort-trt backend (an error elsewhere, never a silent change)")
