"""Built-in style models shipped as package data (torch-free).

Each ``impasto/runtime/data/NAME.onnx`` is a built-in model file (the method graphs in
``data/vgg16/`` and ``data/arbitrary/``, which take their style as an input, are listed in
:mod:`impasto.runtime.builtin_graphs`). A single-style file
is one built-in style called ``NAME``; a style bank (``impasto.method`` ``"bank"``)
contributes every style it holds under the style's own name (``starry_night``,
``la_muse``, ...), and its file stem names the bank itself. Model cards live in the ONNX
``metadata_props`` (keys ``impasto.*``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from impasto.contracts import MODEL_SUFFIXES
from impasto.errors import ModelError
from impasto.runtime.onnx_metadata import read_onnx_metadata
from impasto.runtime.pipelines.bank import BankLayout, is_bank, is_style_mix, parse_style

MODELS_DIR = Path(__file__).resolve().parent / "data"
#: The style used when none is named.
DEFAULT_STYLE = "starry_night"


@dataclass(frozen=True)
class ModelCard:
    """What a model file says about itself (from its ``impasto.*`` metadata)."""

    name: str
    path: Path
    description: str = ""
    method: str = ""
    metadata: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def card(self) -> dict:
        try:
            return json.loads(self.metadata.get("impasto.card", "{}"))
        except json.JSONDecodeError:
            return {}

    @classmethod
    def from_metadata(cls, path: Path, metadata: dict[str, str]) -> ModelCard:
        return cls(name=metadata.get("impasto.style_name") or path.stem, path=path,
                   description=metadata.get("impasto.description", ""),
                   method=metadata.get("impasto.method", ""), metadata=dict(metadata))


#: Suffix of a model's stats form beside it (``bank.onnx`` -> ``bank.tiled.onnx``), run for tiled inference.
TILED_SUFFIX = ".tiled.onnx"


def builtin_paths() -> dict[str, Path]:
    """``{name: path}`` of every built-in model, sorted by name (stats forms, ``*.tiled.onnx``, are not models)."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.onnx")) if not p.name.endswith(TILED_SUFFIX)}


def tiled_companion(path: Path) -> Path | None:
    """The stats form beside a model file (``X.onnx`` -> ``X.tiled.onnx``), or None where there is none."""
    candidate = path.with_name(path.name[:-len(path.suffix)] + TILED_SUFFIX) if path.suffix else None
    return candidate if candidate is not None and candidate.is_file() and candidate != path else None


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ONNX ``metadata_props`` of a model, read from the file without building a session.

    Raises:
        ModelError: the file is missing or not an ONNX model.
    """
    return read_onnx_metadata(path)


def builtin_cards() -> list[ModelCard]:
    """Cards of every built-in model; a card's name is its file's stem."""
    return [replace(ModelCard.from_metadata(p, read_metadata(p)), name=n) for n, p in builtin_paths().items()]


@dataclass(frozen=True)
class BuiltinStyle:
    """One built-in style: the model file that renders it and where it came from.

    Attributes:
        name: the style's name (``--style NAME``).
        path: its model file (a bank holds several styles).
        description: one line for ``impasto styles``.
        source: the painting it was trained on (file name), if known.
        bank: whether ``path`` is a style bank.
    """

    name: str
    path: Path
    description: str
    source: str = ""
    bank: bool = False


def builtin_styles() -> dict[str, BuiltinStyle]:
    """Every built-in style by name: a bank's styles in bank order, then single-style files by name."""
    out: dict[str, BuiltinStyle] = {}
    for stem, path in builtin_paths().items():
        meta = read_metadata(path)
        if is_bank(meta):
            layout = BankLayout.from_metadata(meta, f"model {str(path)!r}")
            for i, (name, src) in enumerate(zip(layout.styles, layout.sources, strict=True)):
                out.setdefault(name, BuiltinStyle(name, path, f"{src or name} (style {i + 1}/{layout.n_styles} "
                                                              f"of the bank {path.name})", src, True))
        else:
            card = ModelCard.from_metadata(path, meta)
            out.setdefault(stem, BuiltinStyle(stem, path, card.description,
                                              str(card.card.get("style_image", "")), False))
    return out


def default_style() -> str:
    styles = builtin_styles()
    if not styles:
        raise ModelError(f"no built-in models are installed (expected .onnx files in {MODELS_DIR})")
    return DEFAULT_STYLE if DEFAULT_STYLE in styles else next(iter(styles))


def resolve_model(model: str | Path | None) -> tuple[Path, str]:
    """Map ``None`` (default style), a built-in style, a mix of a bank's styles
    (``"starry_night:0.6,la_muse:0.4"``), a built-in file stem or a model path to ``(path, name)``.

    For a bank's style or mix, ``name`` is the text itself: :class:`~impasto.runtime.pipelines.stylizer.Stylizer`
    turns it into the bank's style weights.

    Raises:
        ModelError: unknown name or missing file, listing the built-in names; a mix of
            styles that are not in one bank.
    """
    if model is None:
        model = default_style()
    text = str(model)
    paths = builtin_paths()
    styles = builtin_styles()
    if text in styles:
        return styles[text].path, text
    if is_style_mix(text) and not Path(text).exists():
        mix = parse_style(text)
        unknown = [n for n in mix if n not in styles]
        if unknown:
            raise ModelError(f"unknown style {unknown[0]!r} in {text!r}: expected names from {list(styles)}")
        files = {styles[n].path for n in mix}
        if len(files) != 1 or not styles[next(iter(mix))].bank:
            raise ModelError(f"--style {text!r}: only styles of one style bank can be mixed, got styles from "
                             f"{sorted(p.name for p in files)}")
        return files.pop(), text
    if text in paths:
        return paths[text], text
    p = Path(text).expanduser()
    if p.suffix.lower() in MODEL_SUFFIXES or p.exists():
        if not p.is_file():
            raise ModelError(f"model: expected an .onnx or .engine file, got {text!r} (no such file)")
        return p, p.stem
    raise ModelError(f"unknown style {text!r}: expected one of {list(styles)} or a path to an .onnx or .engine file")
