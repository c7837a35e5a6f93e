"""Style-bank graphs in the runtime: which styles a bank holds and how a call conditions it (torch-free).

A bank graph (``impasto export`` of an ``impasto train bank`` checkpoint) takes, besides
``image``, three float32 vectors: ``style_weights`` (one per style), and the loss-weight
vectors ``content_layer_weights`` (α_c, one per VGG16 content layer) and
``style_layer_weights`` (α_s, one per style layer). This module reads a bank's layout
from its metadata, parses style selections (``"starry_night"``,
``"starry_night:0.6,la_muse:0.4"`` or a mapping) and validates every vector before it
reaches the graph, with messages that say what was expected and what was got.

Convention:
    Style weights are finite and non-negative and are normalised to sum 1 (``a:3,b:1`` is
    ``a:0.75,b:0.25``; only their ratios matter, so ``a:1e308,b:1e308`` is an even mix);
    layer weights are non-negative and finite in float32, the graph's dtype (at most
    about 3.4e38), 1 = the trained default; all vectors are float32 1-D arrays in the
    order of the metadata lists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from impasto.contracts import BANK_INPUTS as BANK_INPUTS
from impasto.errors import ModelError, UserError

StyleSelection = str | Mapping[str, float] | Sequence[float]


@dataclass(frozen=True)
class BankLayout:
    """What a bank graph holds: style names (with source files) and the α layer names."""

    styles: tuple[str, ...]
    sources: tuple[str, ...]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], where: str = "model") -> BankLayout:
        """Read ``impasto.styles``, ``impasto.content_layers``, ``impasto.style_layers``.

        Raises:
            ModelError: a key is missing or unreadable.
        """
        try:
            styles = json.loads(metadata["impasto.styles"])
            content = json.loads(metadata["impasto.content_layers"])
            style_layers = json.loads(metadata["impasto.style_layers"])
            names = tuple(str(s["name"]) for s in styles)
            sources = tuple(str(s.get("source", "")) for s in styles)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: expected a style bank's impasto.styles / impasto.content_layers / "
                             f"impasto.style_layers metadata, got an unreadable or missing entry ({exc})") from None
        if not names:
            raise ModelError(f"{where}: expected at least one style in impasto.styles, got none")
        return cls(names, sources, tuple(map(str, content)), tuple(map(str, style_layers)))

    @property
    def n_styles(self) -> int:
        return len(self.styles)


def is_bank(metadata: Mapping[str, str]) -> bool:
    """Whether a model's metadata describes a style bank."""
    return metadata.get("impasto.method") == "bank"


def parse_style(text: str) -> dict[str, float]:
    """``"a"`` -> ``{"a": 1}``; ``"a:0.6,b:0.4"`` -> ``{"a": 0.6, "b": 0.4}`` (not yet normalised).

    Raises:
        UserError: an empty part, a repeated name or a weight that is not a number.
    """
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition(":")
        name = name.strip()
        if not name:
            raise UserError(f"--style: expected NAME or NAME:WEIGHT,NAME:WEIGHT, got {text!r}")
        if name in out:
            raise UserError(f"--style: style {name!r} is given twice in {text!r}")
        try:
            out[name] = float(value) if sep else 1.0
        except ValueError:
            raise UserError(f"--style: expected a number after {name + ':'!r}, got {value!r}") from None
    return out


def is_style_mix(text: str) -> bool:
    """Whether ``text`` reads as a weighted selection (``a:0.6,b:0.4``) rather than a name or path."""
    return ":" in text and not text.lower().endswith((".onnx", ".engine", ".plan", ".trt"))


def style_vector(layout: BankLayout, style: StyleSelection | None) -> np.ndarray:
    """The normalised ``style_weights`` input for a selection.

    Args:
        layout: the bank.
        style: ``None`` (the first style), a name or ``"a:0.6,b:0.4"``, a ``{name: weight}``
            mapping, or one weight per style in the bank's order.

    Raises:
        UserError: an unknown name (the message lists the bank's styles), a wrong length,
            a negative or non-finite weight, or weights that sum to 0.
    """
    n = layout.n_styles
    if style is None:
        w = np.zeros(n, np.float64)
        w[0] = 1.0
    elif isinstance(style, str):
        return style_vector(layout, parse_style(style))
    elif isinstance(style, Mapping):
        unknown = [k for k in style if k not in layout.styles]
        if unknown:
            raise UserError(f"style {unknown[0]!r}: expected one of the bank's styles {list(layout.styles)}")
        w = np.zeros(n, np.float64)
        for k, v in style.items():
            w[layout.styles.index(k)] = _number(v, f"style weight of {k!r}")
    else:
        w = _numbers(style, "style weights")
        if w.shape != (n,):
            raise UserError(f"style weights: expected {n} values (one per style: {', '.join(layout.styles)}), "
                            f"got shape {w.shape}")
    _check_values(w, "style weights")
    top = float(w.max())
    if top <= 0:
        raise UserError(f"style weights: expected at least one positive weight, got {w.tolist()}")
    w = w / top  # in [0, 1] first: the sum of large weights would overflow
    return (w / w.sum()).astype(np.float32)


def layer_vector(values: Sequence[float] | str | None, layers: Sequence[str], flag: str) -> np.ndarray:
    """One loss weight per layer (``None``: all 1); ``values`` may be ``"a,b,c"`` text.

    Raises:
        UserError: a wrong length (the message names the layers), a negative,
            non-finite or non-numeric value.
    """
    if values is None:
        return np.ones(len(layers), np.float32)
    if isinstance(values, str):
        try:
            values = [float(v) for v in values.split(",")]
        except ValueError:
            raise UserError(f"{flag}: expected {len(layers)} comma-separated numbers, got {values!r}") from None
    w = _numbers(values, flag)
    if w.shape != (len(layers),):
        raise UserError(f"{flag}: expected {len(layers)} value{'s' if len(layers) != 1 else ''} "
                        f"(one per layer: {', '.join(layers)}), got shape {w.shape}")
    _check_values(w, flag)
    _check_float32(w, flag)
    return w.astype(np.float32)


def describe_style(layout: BankLayout, weights: np.ndarray) -> str:
    """A short name for a style vector: ``"la_muse"`` or ``"starry_night+la_muse"`` (used in file names)."""
    used = [layout.styles[i] for i in np.flatnonzero(weights > 0)]
    return "+".join(used)


def _numbers(values: object, what: str) -> np.ndarray:
    """``values`` as a float64 array; a string, None or a value too large for a float is a :class:`UserError`."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{what}: expected numbers, got {values!r}") from None


def _number(v: object, what: str) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{what}: expected a number, got {v!r}") from None


def _check_values(w: np.ndarray, what: str) -> None:
    bad = [float(v) for v in w if not (math.isfinite(v) and v >= 0)]
    if bad:
        raise UserError(f"{what}: expected finite non-negative values, got {bad[0]!r} in {w.tolist()}")


def _check_float32(w: np.ndarray, what: str) -> None:
    """Refuse values that overflow float32, the graph's dtype (finite in Python's float64, infinite in the graph)."""
    top = float(np.finfo(np.float32).max)
    bad = [float(v) for v in w if v > top]
    if bad:
        raise UserError(f"{what}: expected values the graph's float32 holds (at most {top:.4g}), got {bad[0]!r} "
                        f"in {w.tolist()}")
