#!/usr/bin/env python
"""Photoreal at a working size + guided upsampling against the full-resolution run (CPU; a tool, not a test).

For each case (a content photo, a style photo, optionally an upscale factor), runs the
photowct graph twice with ``--smooth fast``: at full resolution (``work_size="full"``)
and at ``--work-size`` pixels carried back by the guided upsampling
(:mod:`impasto.runtime.pipelines.guided_upsample`); as a reference for what the
upsampling adds, the working-size output is also enlarged bilinearly. Reports per case:

- **edge SSIM** against the content (``tools/eval_photoreal.py``'s: SSIM of Sobel
  magnitudes of the luminance; 1 = the content's structure kept) for full, work and bilinear;
- **Gram distance** to the style (:func:`impasto.training.metrics.style_distance`, on
  the outputs and the content shrunk to ``--gram-side`` px on the longest side, so
  sizes compare) for content, full and work, and the ratio work / full;
- **colour error** of work (and bilinear) against full: mean, 99th percentile and max
  absolute difference over all pixels and channels, in 8-bit levels;
- seconds of each run.

Writes ``report.json`` and, per case, PNG crops at 100 % (``--crop`` px square, at the
centre and at the window of highest content gradient energy), content | full | work |
bilinear side by side, under ``--out``.

Example:
    D=$IMPASTO_SHARED/data
    python tools/compare_photoreal_work_size.py --out /tmp/cmp --work-size 0.1M \\
        --case $D/content/artflow_cre-times-square-1.jpg:$D/photoreal/dpst/style/tar1.jpg \\
        --case $D/photoreal/dpst/content/in5.jpg:$D/photoreal/dpst/style/tar5.jpg:2.5
    (a case is CONTENT:STYLE or CONTENT:STYLE:SCALE; SCALE enlarges the content, cubic)
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
sys.path.insert(0, str(ROOT / "tools"))

from eval_photoreal import edge_ssim  # noqa: E402

from impasto.runtime.io.images import read_image, write_image  # noqa: E402


def _shrink(img: np.ndarray, side: int) -> np.ndarray:
    import cv2

    s = side / max(img.shape[:2])
    if s >= 1:
        return img
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def _errors(x: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    d = np.abs(x.astype(np.int16) - ref.astype(np.int16))
    return {"mean": round(float(d.mean()), 3), "p99": float(np.percentile(d, 99)), "max": int(d.max())}


def _busiest_window(content: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square with the most gradient energy (edges: where halos would show)."""
    import cv2

    y = cv2.cvtColor(content, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = cv2.Sobel(y, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(y, cv2.CV_32F, 0, 1) ** 2
    e = cv2.boxFilter(g, -1, (size, size), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    h, w = content.shape[:2]
    e = e[:max(1, h - size + 1), :max(1, w - size + 1)]
    top, left = np.unravel_index(int(np.argmax(e)), e.shape)
    return int(top), int(left)


def _crops(images: list[np.ndarray], size: int, out: Path, stem: str) -> list[str]:
    h, w = images[0].shape[:2]
    size = min(size, h, w)
    corners = {"centre": ((h - size) // 2, (w - size) // 2), "edges": _busiest_window(images[0], size)}
    written = []
    for name, (top, left) in corners.items():
        tiles = [img[top:top + size, left:left + size] for img in images]
        gap = np.full((size, 4, 3), 255, np.uint8)
        row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
        path = out / f"{stem}_{name}_crop.png"
        write_image(path, row)
        written.append(str(path))
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", action="append", required=True, help="CONTENT:STYLE[:SCALE] (repeatable)")
    p.add_argument("--work-size", default="0.25M", help="working size of the second run (default 0.25M)")
    p.add_argument("--model", help="exported photowct graph (default: the built-in one)")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "compare_photoreal_work_size")
    p.add_argument("--crop", type=int, default=384, help="side of the 100 %% crops (default 384)")
    p.add_argument("--gram-side", type=int, default=700, help="longest side for the Gram distance (default 700)")
    p.add_argument("--vgg-weights", help="VGG16 weights for the Gram distance (default $IMPASTO_VGG16_WEIGHTS)")
    args = p.parse_args(argv)

    import cv2
    import torch

    from impasto.models.vgg import VGG16Features
    from impasto.runtime.pipelines.photoreal import WCTStylizer
    from impasto.training.metrics import style_distance

    args.out.mkdir(parents=True, exist_ok=True)
    vgg = VGG16Features(args.vgg_weights)
    rows = []
    with WCTStylizer.load(args.model, method="photowct", backend="ort-cpu") as model:
        for n, case in enumerate(args.case):
            parts = case.split(":")
            content, style = read_image(parts[0]), read_image(parts[1])
            if len(parts) > 2:
                s = float(parts[2])
                content = cv2.resize(content, (round(content.shape[1] * s), round(content.shape[0] * s)),
                                     interpolation=cv2.INTER_CUBIC)
            t0 = time.perf_counter()
            full = model.run(content, style, work_size="full")
            t1 = time.perf_counter()
            work = model.run(content, style, work_size=args.work_size)
            t2 = time.perf_counter()
            wh, ww = work["work_size"]
            low = cv2.resize(content, (ww, wh), interpolation=cv2.INTER_AREA)
            low_out = model.run(low, style, work_size="full")["image"]
            bilinear = cv2.resize(low_out, (content.shape[1], content.shape[0]), interpolation=cv2.INTER_LINEAR)
            with torch.no_grad():
                gram = {k: style_distance(_shrink(img, args.gram_side), style, vgg)
                        for k, img in (("content", content), ("full", full["image"]), ("work", work["image"]))}
            stem = f"case{n}_{Path(parts[0]).stem[:24]}"
            crops = _crops([content, full["image"], work["image"], bilinear], args.crop, args.out, stem)
            row = {"content": parts[0], "style": parts[1], "size": list(content.shape[:2]), "work_size": [wh, ww],
                   "edge_ssim": {"full": edge_ssim(full["image"], content), "work": edge_ssim(work["image"], content),
                                 "bilinear": edge_ssim(bilinear, content)},
                   "gram": {**gram, "ratio_work_to_full": gram["work"] / gram["full"]},
                   "error_vs_full": {"work": _errors(work["image"], full["image"]),
                                     "bilinear": _errors(bilinear, full["image"])},
                   "seconds": {"full": round(t1 - t0, 2), "work": round(t2 - t1, 2),
                               "work_upsample": work["seconds"]["upsample"]},
                   "crops": crops}
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("size", "work_size", "edge_ssim", "gram", "error_vs_full",
                                                  "seconds")}), flush=True)
    report = {"work_size": args.work_size, "cases": rows, "cores": os.cpu_count()}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out / 'report.json'} and {2 * len(rows)} crops (content | full | work | bilinear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
