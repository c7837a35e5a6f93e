"""Shared CLI plumbing: JSON output, user-error handling (torch-free)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from impasto.errors import ImpastoError
from impasto.runtime.pipelines.tensors import MIN_SIDE


class CliError(Exception):
    """A usage error detected by the CLI itself (exit code 2)."""


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout: valid JSON only, so never ``NaN`` or ``Infinity``.

    Raises:
        ImpastoError: ``obj`` holds a non-finite number; the message names where (nothing is printed).
    """
    try:
        text = json.dumps(obj, indent=2, default=str, allow_nan=False)
    except ValueError:
        raise ImpastoError(f"the --json report holds a non-finite number at {_non_finite_at(obj) or '?'}, which "
                           "JSON cannot carry; please report this") from None
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _non_finite_at(obj: Any, path: str = "") -> str | None:
    """The path (``.images[0].seconds``) of the first NaN or infinite float in ``obj``, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else path or "the top level"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite_at(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        if found:
            return found
    return None


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


def image_side(text: str) -> int:
    """A size in pixels (``--max-size``, ``--tile``): at least the style networks' smallest side."""
    side = positive_int(text)
    if side < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"expected at least {MIN_SIDE} pixels (the smallest side the style networks "
                                         f"take), got {text!r}")
    return side


def unit_float(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a non-negative number")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--fp16``, shared by every command that runs a model."""
    from impasto.runtime.backends.selection import BACKENDS

    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="inference backend (default auto: the fastest that opens here; fallbacks are reported)")
    p.add_argument("--fp16", action="store_true",
                   help="fp16 TensorRT engines for the ort-trt backend (an error elsewhere, never a silent change)")


def add_memory_args(p: argparse.ArgumentParser, *, tile: bool = True) -> None:
    """``--max-memory`` (and ``--tile``): the memory planner's budget (:mod:`impasto.runtime.memory`)."""
    p.add_argument("--max-memory", metavar="SIZE",
                   help="memory budget, e.g. 2G or 512M (default: 55%% of the available RAM, or of the GPU's memory "
                        "on a GPU backend); larger images run tiled where the model can, else are refused before "
                        "any work")
    if tile:
        p.add_argument("--tile", type=image_side, metavar="N",
                       help="run the style network tile by tile, N px tiles (default: only when the image does not "
                            "fit the memory budget; needs the model's stats form, which the built-in bank has)")
