"""Built-in style models shipped as package data (torch-free).

Each ``impasto/runtime/models/NAME.onnx`` is one built-in style called ``NAME``; its
model card lives in the ONNX ``metadata_props`` (keys ``impasto.*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from impasto.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent / "models"
#: The style used when none is named.
DEFAULT_STYLE = "starry_night"
#: File suffixes taken as model paths: ONNX graphs and TensorRT engines.
MODEL_SUFFIXES = (".onnx", ".engine", ".plan", ".trt")


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


def builtin_paths() -> dict[str, Path]:
    """``{name: path}`` of every built-in model, sorted by name."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.onnx"))}


def read_metadata(path: Path) -> dict[str, str]:
    """The ONNX ``metadata_props`` of a model, read through ONNX Runtime."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"model {str(path)!r}: ONNX Runtime cannot load it: {str(exc).splitlines()[0]}") from None
    return dict(sess.get_modelmeta().custom_metadata_map)


def builtin_cards() -> list[ModelCard]:
    """Cards of every built-in model; a card's name is its file's stem."""
    return [replace(ModelCard.from_metadata(p, read_metadata(p)), name=n) for n, p in builtin_paths().items()]


def default_style() -> str:
    paths = builtin_paths()
    if not paths:
        raise ModelError(f"no built-in models are installed (expected .onnx files in {MODELS_DIR})")
    return DEFAULT_STYLE if DEFAULT_STYLE in paths else next(iter(paths))


def resolve_model(model: str | Path | None) -> tuple[Path, str]:
    """Map ``None`` (default style), a built-in name or a model path to ``(path, name)``.

    Raises:
        ModelError: unknown name or missing file, listing the built-in names.
    """
    if model is None:
        model = default_style()
    text = str(model)
    paths = builtin_paths()
    if text in paths:
        return paths[text], text
    p = Path(text).expanduser()
    if p.suffix.lower() in MODEL_SUFFIXES or p.exists():
        if not p.is_file():
            raise ModelError(f"model: expected an .onnx or .engine file, got {text!r} (no such file)")
        return p, p.stem
    raise ModelError(f"unknown style {text!r}: expected one of {sorted(paths)} or a path to an .onnx or .engine file")
