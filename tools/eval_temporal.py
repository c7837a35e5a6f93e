#!/usr/bin/env python3
"""Temporal stability of video stylisation: warping error with and without ``--stabilize``.

Stylises a folder of consecutive frames once, then runs the temporal stabiliser at each
weight and reports, per weight:

* warping error: mean ``|O_t - warp(O_{t-1})|`` in 8-bit levels over pixels whose flow
  passes the forward-backward check, flow computed on the *content* frames
  (:func:`impasto.runtime.stream.temporal.warping_error`). The metric uses Farneback flow at
  full resolution by default, the stabiliser DIS at <= 320 px, so the score does not
  merely reward agreeing with the stabiliser's own flow;
* deviation: mean ``|O_t - S_t|`` from the per-frame stylisation ``S_t``, i.e. how much
  the stabiliser changed the frames (a stabiliser that froze the first frame would have
  a low warping error and a large deviation);
* the stabiliser's own time per frame (flow both ways, mask, warp, blend).

The content frames' own warping error is printed as the floor (flow errors, lighting).

Usage:
    python tools/eval_temporal.py [--frames-dir DIR] [--model PATH | --style NAME]
        [--weights 0,0.5,0.8] [--max-frames N] [--max-size N] [--json]

``--frames-dir`` defaults to ``$IMPASTO_SHARED/data/video/mountain_2``, else
``../shared/data/video/mountain_2`` relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime import Stylizer, read_image  # noqa: E402
from impasto.runtime.io.images import IMAGE_SUFFIXES, fit_max_size  # noqa: E402
from impasto.runtime.stream.temporal import (  # noqa: E402
    FLOW_METHODS,
    StabilizerConfig,
    TemporalStabilizer,
    content_motion,
    sequence_warping_error,
)


def default_frames_dir() -> Path:
    shared = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
    return shared / "data" / "video" / "mountain_2"


def load_frames(folder: Path, max_frames: int | None, max_size: int | None) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise SystemExit(f"eval_temporal: expected two or more frames in {folder}, got {len(files)}")
    return [fit_max_size(read_image(p), max_size) for p in files[:max_frames]]


def evaluate(frames: list[np.ndarray], stylizer: Stylizer, weights: list[float], flow: str) -> dict:
    t0 = time.perf_counter()
    stylised = [stylizer(f) for f in frames]
    stylise_ms = (time.perf_counter() - t0) * 1000 / len(frames)
    motions = [content_motion(frames[i - 1], frames[i], flow=flow) for i in range(1, len(frames))]
    rows = []
    for w in weights:
        stab = TemporalStabilizer(StabilizerConfig(weight=w))
        t0 = time.perf_counter()
        outputs = [stab(c, s) for c, s in zip(frames, stylised)]
        stab_ms = (time.perf_counter() - t0) * 1000 / len(frames)
        err = sequence_warping_error(frames, outputs, motions=motions)
        dev = float(np.mean([np.abs(o.astype(np.float32) - s.astype(np.float32)).mean()
                             for o, s in zip(outputs, stylised)]))
        rows.append({"stabilize": w, "warping_error": round(err, 3), "deviation": round(dev, 3),
                     "stabilizer_ms_per_frame": round(stab_ms, 1)})
    off = next((r["warping_error"] for r in rows if r["stabilize"] == 0.0), None)
    for r in rows:
        r["relative_to_off"] = round(r["warping_error"] / off, 3) if off else None
    floor = sequence_warping_error(frames, frames, motions=motions)
    mask_cover = float(np.mean([m.mask.mean() for m in motions]))
    h, w = frames[0].shape[:2]
    return {"frames": len(frames), "width": w, "height": h, "style": stylizer.name,
            "model": str(stylizer.backend.model_path), "provider": stylizer.provider, "metric_flow": flow,
            "stabilizer_flow": StabilizerConfig().flow, "trusted_pixels": round(mask_cover, 3),
            "content_warping_error": round(floor, 3), "stylize_ms_per_frame": round(stylise_ms, 1), "rows": rows}


def markdown(report: dict) -> str:
    lines = [f"{report['frames']} frames {report['width']}x{report['height']}, style {report['style']!r} "
             f"({report['model']}), metric flow {report['metric_flow']}, stabiliser flow "
             f"{report['stabilizer_flow']}; {report['trusted_pixels']:.0%} of pixels trusted per pair; "
             f"content frames' own warping error {report['content_warping_error']:.2f}",
             "",
             "| --stabilize | warping error (0-255) | vs. off | deviation from per-frame | stabiliser ms/frame |",
             "|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        rel = f"{r['relative_to_off']:.2f}x" if r["relative_to_off"] is not None else "-"
        lines.append(f"| {r['stabilize']:g} | {r['warping_error']:.2f} | {rel} | {r['deviation']:.2f} | "
                     f"{r['stabilizer_ms_per_frame']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames-dir", type=Path, default=default_frames_dir(), help="folder of consecutive frames")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", help="path to an .onnx style model")
    src.add_argument("--style", help="built-in style name (default: the default built-in)")
    ap.add_argument("--backend", default="ort-cpu", help="inference backend (default ort-cpu)")
    ap.add_argument("--weights", default="0,0.5,0.8", help="comma-separated --stabilize weights (default 0,0.5,0.8)")
    ap.add_argument("--flow", default="farneback", choices=FLOW_METHODS, help="flow for the metric")
    ap.add_argument("--max-frames", type=int, help="use the first N frames")
    ap.add_argument("--max-size", type=int, help="downscale frames so the longest side is at most N")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.frames_dir.is_dir():
        raise SystemExit(f"eval_temporal: frames folder {args.frames_dir} not found (set --frames-dir or "
                         "IMPASTO_SHARED)")
    weights = [float(w) for w in args.weights.split(",")]
    frames = load_frames(args.frames_dir, args.max_frames, args.max_size)
    with Stylizer.load(args.model or args.style, backend=args.backend) as stylizer:
        report = evaluate(frames, stylizer, weights, args.flow)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
