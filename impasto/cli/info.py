"""``impasto info``: versions, providers, built-in models, VGG weights (torch-free)."""

from __future__ import annotations

import argparse
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
    from impasto.utils.weights import ENV_VAR, find_vgg16_weights

    path, source = find_vgg16_weights()
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
        "vgg16_weights": {"path": str(path) if path else None, "source": source,
                          "resolves": bool(path and path.is_file()), "variable": ENV_VAR},
    }


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
    w = info["vgg16_weights"]
    state = "resolves" if w["resolves"] else "NOT FOUND"
    print(f"VGG16 weights: {state} ({w['source']}: {w['path']}); set {w['variable']} to choose a file")
    return 0
