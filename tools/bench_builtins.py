"""Time every built-in graph at one size on this machine (ONNX Runtime, torch-free): load, then median run.

Each graph runs through its runtime pipeline on the same photo (and painting / guide
where it takes one), resized so its longest side is ``--side`` (512 by default):

- ``bank``: the default built-in style (:class:`impasto.runtime.Stylizer`);
- ``microast`` and ``wct``: arbitrary style from a painting (:class:`ArbitraryStylizer`,
  :class:`WCTStylizer` with ``method="wct"``, no smoothing);
- ``photowct``: PhotoWCT with the fast smoothing (:class:`WCTStylizer`), at ``--side`` (no
  working-size reduction);
- ``warpnet``: the warp network (:class:`Warper`).

Usage::

    python tools/bench_builtins.py --photo P.jpg --painting S.jpg [--side 512] [--runs 5] [--json]

Session creation (``load``) and the median / min / max of ``--runs`` runs after one warm-up
are printed as a markdown table; a graph missing from this install is listed as missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from impasto.runtime.builtin_graphs import builtin_graph


def _read(path: Path, side: int) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"bench_builtins: cannot read {path}")
    h, w = bgr.shape[:2]
    k = side / max(h, w)
    return cv2.cvtColor(cv2.resize(bgr, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


Runner = tuple[Callable[[], object], Callable[[object], None]]


def _runners(photo: np.ndarray, painting: np.ndarray) -> dict[str, Runner]:
    from impasto.runtime import Stylizer, WCTStylizer
    from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer
    from impasto.runtime.pipelines.warp import Warper

    return {
        "bank": (lambda: Stylizer.load(), lambda m: m(photo)),
        "microast": (lambda: ArbitraryStylizer.load(), lambda m: m(photo, painting)),
        "wct": (lambda: WCTStylizer.load(method="wct"), lambda m: m.run(photo, painting, smooth="none")),
        "photowct": (lambda: WCTStylizer.load(method="photowct"),
                     lambda m: m.run(photo, painting, smooth="fast", work_size=None)),
        "warpnet": (lambda: Warper.load(), lambda m: m(photo, painting)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", type=Path, required=True)
    ap.add_argument("--painting", type=Path, required=True, help="style image / geometric guide")
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated graph names (default: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    photo, painting = _read(args.photo, args.side), _read(args.painting, args.side)
    runners = _runners(photo, painting)
    names = [n for n in (args.only.split(",") if args.only else runners) if n]
    rows = []
    for name in names:
        graph = name if name != "bank" else None
        if graph is not None and builtin_graph(graph) is None:
            rows.append({"graph": name, "missing": True})
            continue
        load, run = runners[name]
        t0 = time.perf_counter()
        model = load()
        load_s = time.perf_counter() - t0
        run(model)  # warm-up
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run(model)
            times.append(time.perf_counter() - t0)
        rows.append({"graph": name, "load_s": round(load_s, 3), "median_s": round(statistics.median(times), 3),
                     "min_s": round(min(times), 3), "max_s": round(max(times), 3), "runs": args.runs,
                     "size": list(photo.shape[:2])})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"| graph ({photo.shape[1]}x{photo.shape[0]}) | load s | median s | min s | max s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        if r.get("missing"):
            print(f"| {r['graph']} | missing | | | |")
        else:
            print(f"| {r['graph']} | {r['load_s']:.2f} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
