#!/usr/bin/env python3
"""Time the temporal stabiliser alone (flow both ways, mask, warp, blend), in ms per frame.

Runs :class:`impasto.runtime.stream.temporal.TemporalStabilizer` over a folder of
consecutive frames resized so the longest side is each ``--sizes`` value; the
"stylised" frame is the content frame itself (the stabiliser's cost does not depend on
what the pixels are). Prints the median over frames (the first frame, which only seeds
the state, is not counted) after one warm-up pass.

Usage:
    python tools/bench_stabilizer.py [--frames-dir DIR] [--sizes 480,1280] [--weight 0.5]
        [--flow-max-side N] [--json]

``--frames-dir`` defaults to ``$IMPASTO_SHARED/data/video/mountain_2``. Sizes are the
longest side: on the 1024x436 clip, 1280 is the 720p width (1280x545).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime import read_image  # noqa: E402
from impasto.runtime.io.images import IMAGE_SUFFIXES  # noqa: E402
from impasto.runtime.stream.temporal import StabilizerConfig, TemporalStabilizer  # noqa: E402


def default_frames_dir() -> Path:
    shared = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
    return shared / "data" / "video" / "mountain_2"


def resized(frames: list[np.ndarray], side: int) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    scale = side / max(h, w)
    size = (round(w * scale), round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return [cv2.resize(f, size, interpolation=interp) for f in frames]


def bench(frames: list[np.ndarray], config: StabilizerConfig) -> float:
    """Median ms per frame of the stabiliser over ``frames`` (after a warm-up pass)."""
    stab = TemporalStabilizer(config)
    for f in frames[:3]:
        stab(f, f)
    stab.reset()
    times = []
    for i, f in enumerate(frames):
        t0 = time.perf_counter()
        stab(f, f)
        if i:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames-dir", type=Path, default=default_frames_dir())
    ap.add_argument("--sizes", default="480,1280", help="longest sides to test (default 480,1280 = 480 px, 720p)")
    ap.add_argument("--weight", type=float, default=0.5)
    ap.add_argument("--flow-max-side", type=int, help="override StabilizerConfig.flow_max_side")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    files = sorted(p for p in args.frames_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise SystemExit(f"bench_stabilizer: expected two or more frames in {args.frames_dir}, got {len(files)}")
    frames = [read_image(p) for p in files]
    extra = {} if args.flow_max_side is None else {"flow_max_side": args.flow_max_side}
    config = StabilizerConfig(weight=args.weight, **extra)
    rows = []
    for side in (int(s) for s in args.sizes.split(",")):
        clip = resized(frames, side)
        h, w = clip[0].shape[:2]
        rows.append({"size": f"{w}x{h}", "ms_per_frame": round(bench(clip, config), 1)})
    report = {"frames": len(frames), "weight": args.weight, "flow_max_side": config.flow_max_side, "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in rows:
            print(f"{r['size']}: {r['ms_per_frame']:.1f} ms/frame (flow_max_side {config.flow_max_side})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
