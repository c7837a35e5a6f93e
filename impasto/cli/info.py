"""``impasto info``: versions, providers, built-in models and methods, VGG weights (torch-free)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata

from impasto import __version__
from impasto.cli.common import emit_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, execution providers, built-in models, VGG16 weights")
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
        "builtin_methods": [QUILTING_CARD],
        "vgg16_weights": weights,
    }


def _weights_search(source: str) -> dict:
    """Where the VGG16 lookup looked when nothing resolved, and what training will do (for ``info``)."""
    from impasto.utils.weights import ENV_VAR, TORCHVISION_URL, hub_cache_file

    if source == "env":  # training refuses a variable naming no file; it does not download
        return {"searched": [f"${ENV_VAR}={os.environ.get(ENV_VAR, '')} (no such file)"],
                "training": f"will refuse it: point ${ENV_VAR} at a vgg16 .pth file, or unset it"}
    return {"searched": [f"${ENV_VAR} (not set)", f"{hub_cache_file()} (torch hub cache: no such file)"],
            "training": f"will try to download torchvision's file from {TORCHVISION_URL} into that cache "
                        f"(or set ${ENV_VAR}, or pass --vgg-weights, to use a vgg16 .pth file)"}


def run_info(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        emit_json(info)
        return 0
    print(f"impasto {info['impasto']} (Python {info['python']}, {info['platform']})")
    print("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    print("execution providers: " + ", ".join(info["providers"]))
    print("backends: " + ", ".join(f"{k} ({v})" for k, v in info["backends"].items()))
    print(f"built-in models: {', '.join(info['builtin_models']) or 'none'} (default: {info['default_style']})")
    for card in info["builtin_methods"]:
        print(f"built-in method: {card['name']} ({card['kind']}): {card['description']}; {card['command']}")
    w = info["vgg16_weights"]
    if w["resolves"]:
        print(f"VGG16 weights: resolves ({w['source']}: {w['path']}); set {w['variable']} to choose a file")
    else:
        print(f"VGG16 weights: NOT FOUND (looked at {'; '.join(w['searched'])}); training {w['training']}")
    return 0
