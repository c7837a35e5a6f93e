"""The built-in method graphs: one list of what the package ships besides its styles (torch-free).

A method graph takes its style (or its geometric guide) as an input, so it is not a
style: ``impasto styles`` lists it apart, ``impasto info`` lists it with its card, and the
pipelines open it when no ``--model`` is given. Every one of these consults
:data:`BUILTIN_GRAPHS`; nothing else names the files.

Example:
    >>> from impasto.runtime.builtin_graphs import builtin_graph, require_builtin_graph
    >>> builtin_graph("wct")               # Path, or None where this install has none
    >>> require_builtin_graph("warpnet")   # Path, or a one-line ModelError saying how to build one

Convention:
    A graph ``NAME`` is the file ``FOLDER/NAME.onnx`` where FOLDER is :data:`VGG16_DIR` (the
    VGG16-based graphs: photowct, wct, warpnet) or :data:`ARBITRARY_DIR` (microast). The
    folders are read when a path is asked for, so a test can point them at a temporary
    folder (``monkeypatch.setattr(builtin_graphs, "VGG16_DIR", tmp_path)``). A trimmed
    install may lack any of the files: it is then reported as missing, never crashed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.errors import ImpastoError, ModelError
from impasto.runtime.builtins import MODELS_DIR, read_metadata

#: The built-in VGG16-based graphs (photowct, wct, warpnet), which share one encoder weights file.
VGG16_DIR = MODELS_DIR / "vgg16"
#: The built-in feed-forward arbitrary-style graph (MicroAST) and its upstream licence.
ARBITRARY_DIR = MODELS_DIR / "arbitrary"
#: Card fields worth a line (looked for in the card and, for a per-level card such as WCT's, in each level's).
SUMMARY_KEYS = ("data", "iterations", "heldout_psnr_db", "heldout_epe_px", "identity_epe_px", "hardware")


@dataclass(frozen=True)
class BuiltinGraph:
    """One method graph the package may ship.

    Attributes:
        name: the method, also the file's stem (``wct`` -> ``vgg16/wct.onnx``).
        folder: ``"vgg16"`` (:data:`VGG16_DIR`) or ``"arbitrary"`` (:data:`ARBITRARY_DIR`).
        kind: what it does, in a few words.
        command: how it runs with no ``--model``.
        build: how to make one where the install has none (completes "...: build one with ...").
        licence: the licence where the graph's card states none (None: not stated).
    """

    name: str
    folder: str
    kind: str
    command: str
    build: str
    licence: str | None = None

    @property
    def path(self) -> Path:
        """Where the file is (or would be); the folder is read now (see the module's Convention)."""
        folders = {"vgg16": VGG16_DIR, "arbitrary": ARBITRARY_DIR}
        return folders[self.folder] / f"{self.name}.onnx"


#: The VGG16 graphs' encoder weights (the shared ``vgg16_relu4_1.f16.bin``) and their own, trained by this project.
VGG16_LICENCE = ("VGG16 encoder: Oxford VGG weights (Simonyan & Zisserman), CC BY 4.0; "
                 "decoders / head: trained by impasto on the shared data (see the card)")

#: Every built-in method graph, by name: the one list that info, styles and the pipelines use.
BUILTIN_GRAPHS: dict[str, BuiltinGraph] = {g.name: g for g in (
    BuiltinGraph("microast", "arbitrary", "arbitrary style from a painting (feed-forward)",
                 "impasto stylize PHOTO --style-image PAINTING",
                 "convert one with 'impasto convert microast DIR -o microast.onnx'",
                 "MIT, Copyright (c) 2022 Zhizhong Wang (arbitrary/MICROAST_LICENSE)"),
    BuiltinGraph("wct", "vgg16", "arbitrary style from a painting (artistic WCT)",
                 "impasto stylize PHOTO --style-image PAINTING --method wct",
                 "build one with 'impasto export wct DECODER.pt ... -o wct.onnx' "
                 "(decoders from 'impasto train decoder --kind artistic')",
                 VGG16_LICENCE),
    BuiltinGraph("photowct", "vgg16", "photorealistic style from a photo (PhotoWCT)",
                 "impasto photoreal PHOTO --style-image STYLE_PHOTO -o OUT",
                 "build one with 'impasto export photowct DECODER.pt ... -o photowct.onnx' "
                 "(decoders from 'impasto train decoder --kind photo')",
                 VGG16_LICENCE),
    BuiltinGraph("warpnet", "vgg16", "geometric style: warp towards a guide's shape (Learning-to-Warp)",
                 "impasto warp PHOTO --geometry GUIDE --method network -o OUT",
                 "build one with 'impasto export warpnet CKPT -o warpnet.onnx' "
                 "(a checkpoint from 'impasto train warpnet')",
                 VGG16_LICENCE),
)}


def _entry(name: str) -> BuiltinGraph:
    try:
        return BUILTIN_GRAPHS[name]
    except KeyError:
        raise ModelError(f"built-in graph: expected one of {list(BUILTIN_GRAPHS)}, got {name!r}") from None


def builtin_graph(name: str) -> Path | None:
    """The shipped graph ``name``, or None where this install has none.

    Raises:
        ModelError: ``name`` is not a built-in graph's name.
    """
    path = _entry(name).path
    return path if path.is_file() else None


def require_builtin_graph(name: str) -> Path:
    """The shipped graph ``name``.

    Raises:
        ModelError: the file is missing; the one line names it and says how to build one.
    """
    graph = _entry(name)
    path = graph.path
    if not path.is_file():
        raise ModelError(f"no built-in {name} graph is installed ({str(path)!r} is missing): {graph.build} "
                         f"and pass it with --model")
    return path


def card_summary(card: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SUMMARY_KEYS` of a card: top-level ones, then each level's of a per-level card (``{level: card}``)."""
    out = {k: card[k] for k in SUMMARY_KEYS if k in card}
    for level, sub in card.items():
        if isinstance(sub, dict) and any(k in sub for k in SUMMARY_KEYS):
            out[level] = {k: sub[k] for k in SUMMARY_KEYS if k in sub}
    return out


def _licence(card: dict[str, Any], default: str | None) -> str | None:
    """The card's ``license`` (a converted graph keeps it under ``converted_from``), else ``default``."""
    converted = card.get("converted_from")
    stated = card.get("license") or (converted.get("license") if isinstance(converted, dict) else None)
    return stated or default


def describe_builtin_graph(graph: BuiltinGraph) -> dict[str, Any]:
    """What ``impasto info`` / ``styles --json`` say about one built-in graph.

    Returns:
        ``{"name", "kind", "command", "path", "installed", "method", "description", "summary",
        "card", "licence"}``; a missing file has ``installed`` False and ``build`` (how to make
        one); a file that cannot be read has ``error`` (one line) instead of its card.
    """
    path = graph.path
    out: dict[str, Any] = {"name": graph.name, "kind": graph.kind, "command": graph.command, "path": str(path),
                           "installed": path.is_file(), "method": None, "description": None, "summary": {},
                           "card": {}, "licence": graph.licence}
    if not out["installed"]:
        return {**out, "build": graph.build}
    try:
        meta = read_metadata(path)
    except ImpastoError as exc:
        return {**out, "error": str(exc)}
    try:
        card = json.loads(meta.get("impasto.card", "{}"))
    except ValueError:
        card = {}
    card = card if isinstance(card, dict) else {}
    return {**out, "method": meta.get("impasto.method"), "description": meta.get("impasto.description"),
            "summary": card_summary(card), "card": card, "licence": _licence(card, graph.licence)}


def builtin_graph_cards() -> list[dict[str, Any]]:
    """:func:`describe_builtin_graph` of every built-in graph, in :data:`BUILTIN_GRAPHS` order."""
    return [describe_builtin_graph(g) for g in BUILTIN_GRAPHS.values()]
