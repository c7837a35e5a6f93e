"""``impasto info [MODEL...]``: versions, providers, built-in models, graphs and methods, VGG weights; named graphs.

A MODEL is an ``.onnx`` graph, or the stem of a MUNIT model (``munit.onnx`` for
``munit.a2b.onnx`` and ``munit.b2a.onnx``), listed with its method, description, inputs,
outputs and card (torch-free).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata

from impasto import __version__
from impasto.cli.common import emit_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, execution providers, built-in models and graphs, VGG16 weights; "
                                    "graphs given, with their cards")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="ONNX graphs to describe (a MUNIT model's stem lists both directions)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_info)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def collect() -> dict:
    import onnxruntime as ort

    from impasto.runtime.backends.selection import backend_status
    from impasto.runtime.builtin_graphs import builtin_graph_cards
    from impasto.runtime.builtins import builtin_paths, default_style
    from impasto.runtime.quilting import CARD as QUILTING_CARD
    from impasto.utils.weights import ENV_VAR, find_vgg16_weights

    path, source = find_vgg16_weights()
    weights = {"path": str(path) if path else None, "source": source, "resolves": bool(path and path.is_file()),
               "variable": ENV_VAR}
    if not weights["resolves"]:
        weights.update(_weights_search(source))
    packages = {d: _version(d) for d in ("numpy", "onnxruntime", "onnxruntime-gpu", "opencv-python",
                                          "opencv-python-headless", "torch", "onnx", "tensorrt", "cuda-python")}
    builtins = builtin_paths()
    return {
        "impasto": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {k: v for k, v in packages.items() if v},
        "providers": ort.get_available_providers(),
        "backends": backend_status(),
        "builtin_models": sorted(builtins),
        "default_style": default_style() if builtins else None,
        "builtin_graphs": builtin_graph_cards(),
        "builtin_methods": [QUILTING_CARD],
        "vgg16_weights": weights,
    }


def graph_line(graph: dict) -> str:
    """One line of ``impasto info`` about a built-in graph (``describe_builtin_graph``'s dict)."""
    head = f"built-in graph: {graph['name']}, {graph['kind']}"
    if not graph["installed"]:
        return f"{head}: MISSING ({graph['path']}; {graph['build']})"
    if "error" in graph:
        return f"{head}: UNREADABLE ({graph['error']})"
    return (f"{head}: {graph['path']}; {graph['command']}; card: {_summary_text(graph['summary']) or 'none'}; "
            f"licence: {graph['licence'] or 'not stated in the card'}")


def _summary_text(summary: dict) -> str:
    """A card summary's figures in words: ``iterations 1200, heldout_epe_px 3.1`` and ``relu4_1 (...)`` per level."""
    def figures(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("data", "hardware") and not isinstance(v, dict))

    parts = [figures(summary)] + [f"{k} ({figures(v)})" for k, v in summary.items() if isinstance(v, dict)]
    return "; ".join(p for p in parts if p)


def _weights_search(source: str) -> dict:
    """Where the VGG16 lookup looked when nothing resolved, and what training will do (for ``info``)."""
    from impasto.utils.weights import ENV_VAR, TORCHVISION_URL, hub_cache_file

    if source == "env":  # training refuses a variable naming no file; it does not download
        return {"searched": [f"${ENV_VAR}={os.environ.get(ENV_VAR, '')} (no such file)"],
                "training": f"will refuse it: point ${ENV_VAR} at a vgg16 .pth file, or unset it"}
    return {"searched": [f"${ENV_VAR} (not set)", f"{hub_cache_file()} (torch hub cache: no such file)"],
            "training": f"will try to download torchvision's file from {TORCHVISION_URL} into that cache "
                        f"(or set ${ENV_VAR}, or pass --vgg-weights, to use a vgg16 .pth file)"}


def graph_paths(model: str) -> list[str]:
    """``model`` if it is a file, else the existing direction graphs of a MUNIT stem.

    Raises:
        ModelError: neither.
    """
    from pathlib import Path

    from impasto.contracts import MUNIT_DIRECTIONS, munit_graph_path
    from impasto.errors import ModelError

    if Path(model).is_file():
        return [model]
    found = [str(p) for p in (munit_graph_path(model, s, t) for s, t in MUNIT_DIRECTIONS) if p.is_file()]
    if not found:
        raise ModelError(f"info: expected an .onnx graph or a MUNIT model's stem, got {model!r} (no such file)")
    return found


def describe_graph(path: str) -> dict:
    """A graph's method, description, inputs and outputs (name, shape) and its card, from ONNX Runtime."""
    import onnxruntime as ort

    from impasto.errors import ModelError
    from impasto.runtime.shared_weights import check_shared_weights, shared_weights_of

    shared = check_shared_weights(path)  # missing or truncated: one line naming it
    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"info: cannot open {path!r} as an ONNX graph ({str(exc).splitlines()[0][:200]})") from None
    meta = session.get_modelmeta().custom_metadata_map
    try:
        card = json.loads(meta.get("impasto.card", "{}"))
    except ValueError:
        card = meta.get("impasto.card")
    return {"path": path, "method": meta.get("impasto.method"), "description": meta.get("impasto.description"),
            "inputs": [{"name": i.name, "shape": i.shape} for i in session.get_inputs()],
            "outputs": [{"name": o.name, "shape": o.shape} for o in session.get_outputs()], "card": card,
            **({"shared_weights": {**shared_weights_of(path, meta), "path": str(shared)}} if shared else {})}


def run_info(args: argparse.Namespace) -> int:
    if args.models:
        graphs = [describe_graph(p) for m in args.models for p in graph_paths(m)]
        if args.json:
            emit_json({"graphs": graphs})
            return 0
        for g in graphs:
            shapes = lambda items: ", ".join(f"{t['name']} {t['shape']}" for t in items)  # noqa: E731
            print(f"{g['path']}: {g['method'] or 'no impasto.method'} — {g['description'] or ''}")
            print(f"  inputs: {shapes(g['inputs'])}")
            print(f"  outputs: {shapes(g['outputs'])}")
            if g.get("shared_weights"):
                sw = g["shared_weights"]
                print(f"  shared weights: {sw['path']} ({sw['bytes'] / 1e6:.2f} MB, sha256 {sw['sha256'][:12]})")
            print(f"  card: {json.dumps(g['card'], ensure_ascii=False)}")
        return 0
    info = collect()
    if args.json:
        emit_json(info)
        return 0
    print(f"impasto {info['impasto']} (Python {info['python']}, {info['platform']})")
    print("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    print("execution providers: " + ", ".join(info["providers"]))
    print("backends: " + ", ".join(f"{k} ({v})" for k, v in info["backends"].items()))
    print(f"built-in models: {', '.join(info['builtin_models']) or 'none'} (default: {info['default_style']})")
    for graph in info["builtin_graphs"]:
        print(graph_line(graph))
    for card in info["builtin_methods"]:
        print(f"built-in method: {card['name']} ({card['kind']}): {card['description']}; {card['command']}")
    w = info["vgg16_weights"]
    if w["resolves"]:
        print(f"VGG16 weights: resolves ({w['source']}: {w['path']}); set {w['variable']} to choose a file")
    else:
        print(f"VGG16 weights: NOT FOUND (looked at {'; '.join(w['searched'])}); training {w['training']}")
    return 0
