"""Measure each shipped graph's memory cost and write the card the planner reads (impasto/runtime/data/memory.json).

Each graph runs once per size in a fresh process (so ``ru_maxrss`` is that run's peak) on a
smooth random image through its runtime pipeline; the peaks are fitted as
``fixed + per_pixel * pixels`` and the line is raised until no measured point lies above
it (the card over-, never under-estimates the measured runs).

    python tools/measure_memory.py                 # every shipped graph, writes the card
    python tools/measure_memory.py --only bank.onnx --dry-run

Run it on an idle machine after re-exporting a shipped graph; the figures depend on ONNX
Runtime's CPU provider (its arena), not on the graph's weights.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "impasto" / "runtime" / "data"
#: graph (relative to the data folder) -> sizes (h, w) measured.
GRAPHS: dict[str, tuple[tuple[int, int], ...]] = {
    "bank.onnx": ((384, 512), (768, 1024), (1536, 2048), (2400, 3200)),
    "bank.tiled.onnx": ((384, 512), (768, 1024), (1536, 2048)),
    "arbitrary/microast.onnx": ((384, 512), (768, 1024), (1200, 1600)),
    "photoreal/photowct.onnx": ((240, 320), (384, 512), (576, 768)),
}

CHILD = r"""
import sys, numpy as np
from pathlib import Path
from impasto.runtime.memory import peak_rss
graph, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
import cv2
img = cv2.resize(rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, 3), dtype=np.uint8), (w, h),
                 interpolation=cv2.INTER_CUBIC)
style = cv2.resize(img, (512, 384))
base = peak_rss()
path = Path(graph)
if path.name.endswith(".tiled.onnx"):
    from impasto.runtime.pipelines.tiled_graph import TiledGraph
    from impasto.runtime.pipelines.tiled import to_nchw
    g = TiledGraph(path, "ort-cpu"); b = g._open()
    n = 8
    feed = {"image": to_nchw(img), "style_weights": np.eye(n, dtype=np.float32)[0],
            "content_layer_weights": np.ones(1, np.float32), "style_layer_weights": np.ones(4, np.float32),
            "norm_stats": np.zeros((1, 2, g.channels), np.float32), "stats_from_image": np.ones(1, np.float32)}
    b.run(feed)
elif "microast" in graph:
    from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer
    m = ArbitraryStylizer.load(graph, backend="ort-cpu"); m.set_memory_budget("1T"); m(img, style)
elif "photowct" in graph:
    from impasto.runtime.pipelines.photoreal import WCTStylizer
    m = WCTStylizer.load(graph, backend="ort-cpu"); m.set_memory_budget("1T"); m(img, style)
else:
    from impasto.runtime.pipelines.stylizer import Stylizer
    m = Stylizer.load(graph, backend="ort-cpu", max_memory="1T"); m(img)
print(peak_rss(), base)
"""


def measure(graph: str, h: int, w: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(DATA / graph), str(h), str(w)], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-2])


def fit(pixels: list[int], peaks: list[int]) -> tuple[int, float]:
    """``(fixed, per_pixel)``: the least-squares line raised to lie on or above every point."""
    slope, intercept = np.polyfit(np.asarray(pixels, float), np.asarray(peaks, float), 1)
    slope = max(float(slope), 0.0)
    intercept = max(p - slope * x for x, p in zip(pixels, peaks))
    return int(np.ceil(intercept)), round(slope, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="graphs to measure (default: all)")
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the card")
    args = ap.parse_args()
    card_path = DATA / "memory.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {"graphs": {}}
    for graph, sizes in GRAPHS.items():
        if args.only and graph not in args.only:
            continue
        pixels, peaks = [], []
        for h, w in sizes:
            t0 = time.perf_counter()
            peaks.append(measure(graph, h, w))
            pixels.append(h * w)
            print(f"{graph} {w}x{h}: peak {peaks[-1] / 2**20:.0f} MiB ({time.perf_counter() - t0:.1f} s)", flush=True)
        fixed, per_pixel = fit(pixels, peaks)
        print(f"{graph}: fixed {fixed / 2**20:.0f} MiB + {per_pixel:.0f} B/pixel")
        card["graphs"][Path(graph).name] = {
            "fixed_bytes": fixed, "bytes_per_pixel": per_pixel, "measured": time.strftime("%Y-%m-%d"),
            "sizes": [[h, w] for h, w in sizes], "peak_bytes": peaks}
    card["about"] = ("peak RSS of one run through the runtime pipeline, fitted as fixed + per_pixel * pixels "
                     "and raised over every point (tools/measure_memory.py)")
    if not args.dry_run:
        card_path.write_text(json.dumps(card, indent=1) + "\n")
        print(f"wrote {card_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
