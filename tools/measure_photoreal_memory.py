#!/usr/bin/env python
"""Peak memory of ``impasto photoreal`` at several sizes, against the planner's estimate (CPU; a tool, not a test).

Each case runs the whole command (decode, graph, guided upsampling, PNG encoding) in a
fresh Python subprocess and reads its peak resident set size with
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at exit; the row also shows
:func:`impasto.runtime.pipelines.work_size.estimate_peak_bytes` for that size and, with
``--fit``, the least-squares coefficients of ``base + a * work_pixels + b * style_pixels +
c * full_pixels`` (full pixels counted only where the working size is smaller).

A case is ``WIDTHxHEIGHT:WORK[:STYLE_SIDE]``: the content is a photo enlarged (cubic) to
that size, ``WORK`` is the ``--work-size`` (``full`` or a pixel count) and ``STYLE_SIDE``
(default: the DPST style photo as it is, 700x393) resizes the style photo to a square of
that side (before the runtime fits it to the working size).

Example:
    python tools/measure_photoreal_memory.py --fit 4000x3000:0.25M 4000x3000:0.7M 8000x6000:0.25M \\
        4000x3000:0.7M:1000 700x437:full
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime.io.images import read_image, write_image  # noqa: E402
from impasto.runtime.pipelines.work_size import estimate_peak_bytes, parse_work_size, working_shape  # noqa: E402

_CHILD = """
import resource, sys
from impasto.cli.main import main
code = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def shared_dir() -> Path:
    return Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))


def run_case(spec: str, photo: np.ndarray, style: np.ndarray, tmp: Path) -> dict:
    import cv2

    parts = spec.split(":")
    w, h = (int(v) for v in parts[0].lower().split("x"))
    work = parse_work_size(parts[1])
    if len(parts) > 2:
        side = int(parts[2])
        style = cv2.resize(style, (side, side), interpolation=cv2.INTER_AREA)
    content_path, style_path, out = tmp / f"c_{w}x{h}.png", tmp / "style.png", tmp / "out.png"
    if not content_path.exists():
        write_image(content_path, cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC))
    write_image(style_path, style)
    out.unlink(missing_ok=True)
    argv = ["photoreal", str(content_path), "--style-image", str(style_path), "-o", str(out), "--json",
            "--work-size", parts[1]]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{spec}: impasto photoreal failed: {proc.stderr.strip().splitlines()[-1]}")
    peak_kb = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("MAXRSS_KB")))
    report = json.loads(proc.stdout)
    work_hw = working_shape(h, w, work)
    style_hw = tuple(report["style_size"])
    return {"case": spec, "full": [h, w], "work": list(work_hw), "style": list(style_hw),
            "peak_mb": round(peak_kb / 1024), "estimate_mb": round(estimate_peak_bytes((h, w), work_hw, style_hw)
                                                                  / 2 ** 20),
            "wall_s": round(wall, 1), "seconds": report["seconds"]}


def fit(rows: list[dict]) -> dict:
    """Least squares of peak bytes on ``[1, work px, style px, full px (if upsampled)]``."""
    x = np.array([[1.0, r["work"][0] * r["work"][1], r["style"][0] * r["style"][1],
                   r["full"][0] * r["full"][1] if r["full"] != r["work"] else 0.0] for r in rows])
    y = np.array([r["peak_mb"] * 2.0 ** 20 for r in rows])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {"base_mb": round(coef[0] / 2 ** 20), "per_work_pixel": round(coef[1], 1),
            "per_style_pixel": round(coef[2], 1), "per_full_pixel": round(coef[3], 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cases", nargs="+", help="WIDTHxHEIGHT:WORK[:STYLE_SIDE]")
    p.add_argument("--photo", type=Path, default=shared_dir() / "data/content/artflow_cre-times-square-1.jpg")
    p.add_argument("--style", type=Path, default=shared_dir() / "data/photoreal/dpst/style/tar1.jpg")
    p.add_argument("--fit", action="store_true", help="also fit the estimate's coefficients to these cases")
    args = p.parse_args(argv)
    photo, style = read_image(args.photo), read_image(args.style)
    rows = []
    with tempfile.TemporaryDirectory(prefix="impasto_mem_") as tmp:
        for spec in args.cases:
            rows.append(run_case(spec, photo, style, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    if args.fit:
        print(json.dumps({"fit": fit(rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
