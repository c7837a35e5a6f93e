#!/usr/bin/env python
"""Evaluate photorealistic style transfer on the DPST benchmark pairs (CPU; a tool, not a test).

For every pair ``content/inN.jpg`` + ``style/tarN.jpg`` with ``segmentation/inN.png`` and
``tarN.png`` under ``--data`` (default ``$IMPASTO_SHARED/data/photoreal/dpst``), runs an
exported photowct graph once (``--smooth fast``: the guided filter in the graph) and, on
the pairs selected by ``--exact``, the exact matting-affinity smoothing of the graph's
unsmoothed output. Reports per pair and as medians:

- **edge SSIM** (:func:`impasto.training.metrics.edge_ssim`): SSIM (Wang et al. 2004, 11x11
  Gaussian window, σ = 1.5) between the Sobel
  gradient magnitudes of the luminance (BT.601 Y in ``[0, 1]``, magnitudes divided by 4
  and clipped to ``[0, 1]``) of the output and of the content: 1 = the content's
  structure is kept exactly;
- **Gram distance**: :func:`impasto.training.metrics.style_distance` — the relative
  VGG16 Gram-matrix error over relu1_2, relu2_2, relu3_3, relu4_3 — of the output to the
  style photo, next to the content's own distance to the style (how far the style moved);
- **seconds per image**: fast = decoding the masks and running the graph (images already
  read); exact = the same plus the sparse solve.

Masks whose size differs from their image's (a few DPST masks are one pixel off) are
resized with nearest-neighbour interpolation here and flagged in ``masks_resized``; the
runtime itself refuses them.

Writes ``results.csv``, ``results.json`` (per pair, medians, settings, machine), the
outputs under ``images/`` and ``contact_sheet.png``: one row per pair of ``--contact``,
content | style | output fast | output exact.

Example:
    python tools/eval_photoreal.py --out out/eval_photoreal --exact every4
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime.io.images import read_image, write_image  # noqa: E402
from impasto.training.metrics import edge_ssim  # noqa: E402  (one definition; compare_photoreal_work_size imports it from here)


def shared_dir() -> Path:
    return Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))


def select(spec: str, ids: list[int]) -> list[int]:
    if spec == "all":
        return list(ids)
    if spec == "none":
        return []
    if spec.startswith("every"):
        k = int(spec[5:])
        return [i for n, i in enumerate(ids) if n % k == 0]
    wanted = {int(v) for v in spec.split(",") if v}
    return [i for i in ids if i in wanted]


def contact_sheet(rows: list[list[np.ndarray]], path: Path, height: int = 180) -> None:
    import cv2

    out_rows = []
    for images in rows:
        tiles = []
        for img in images:
            s = height / img.shape[0]
            tiles.append(cv2.resize(img, (round(img.shape[1] * s), height), interpolation=cv2.INTER_AREA))
            tiles.append(np.full((height, 4, 3), 255, np.uint8))
        out_rows.append(np.concatenate(tiles[:-1], axis=1))
    width = max(r.shape[1] for r in out_rows)
    padded = []
    for r in out_rows:
        padded.append(np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255))
    write_image(path, np.concatenate(padded, axis=0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="exported photowct graph (default: the built-in one)")
    p.add_argument("--data", type=Path, default=shared_dir() / "data/photoreal/dpst")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "eval_photoreal")
    p.add_argument("--pairs", default="all", help="all, everyK or a comma list of pair numbers")
    p.add_argument("--exact", default="all", help="pairs that also get --smooth exact: all, none, everyK or a list")
    p.add_argument("--contact", default="1,5,9,25,29,41,49,57", help="pair numbers on the contact sheet")
    p.add_argument("--no-masks", action="store_true", help="ignore the segmentation masks")
    p.add_argument("--vgg-weights", help="VGG16 weights for the Gram distance (default $IMPASTO_VGG16_WEIGHTS)")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from impasto.models.vgg import VGG16Features
    from impasto.runtime.pipelines.photoreal import WCTStylizer
    from impasto.runtime.pipelines.smoothing import matting_smooth
    from impasto.training.metrics import style_distance

    ids = sorted(int(f.stem[2:]) for f in (args.data / "content").glob("in*.jpg"))
    pairs = select(args.pairs, ids)
    exact = set(select(args.exact, pairs))
    contact = [int(v) for v in args.contact.split(",") if v]
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    vgg = VGG16Features(args.vgg_weights)
    rows, sheet = [], {}
    model = WCTStylizer.load(args.model, method="photowct", backend="ort-cpu", threads=args.threads)
    # warm-up: the first run of an ONNX Runtime session allocates its arenas
    first = pairs[0]
    model.run(read_image(args.data / f"content/in{first}.jpg"), read_image(args.data / f"style/tar{first}.jpg"))
    t_all = time.perf_counter()
    for n, i in enumerate(pairs):
        content = read_image(args.data / f"content/in{i}.jpg")
        style = read_image(args.data / f"style/tar{i}.jpg")
        masks, fixed = {}, []
        if not args.no_masks:
            import cv2

            masks = {"content_mask": read_image(args.data / f"segmentation/in{i}.png"),
                     "style_mask": read_image(args.data / f"segmentation/tar{i}.png")}
            for key, img in (("content_mask", content), ("style_mask", style)):
                m = masks[key]
                if m.shape[:2] != img.shape[:2]:  # a few DPST masks are a pixel off; the runtime would refuse them
                    fixed.append(f"{key} {m.shape[1]}x{m.shape[0]}->{img.shape[1]}x{img.shape[0]}")
                    masks[key] = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
        r = model.run(content, style, smooth="fast", **masks)
        fast, raw = r["image"], r["unsmoothed"]
        row = {"pair": i, "width": content.shape[1], "height": content.shape[0],
               "labels": r["labels"]["count"] if r["labels"] else 1,
               "seconds_fast": r["seconds"]["total"], "seconds_graph": r["seconds"]["graph"],
               "edge_ssim_fast": edge_ssim(fast, content), "edge_ssim_none": edge_ssim(raw, content),
               "masks_resized": "; ".join(fixed)}
        write_image(args.out / "images" / f"in{i}_fast.jpg", fast, quality=92)
        ex = None
        if i in exact:
            t0 = time.perf_counter()
            ex = matting_smooth(raw, content)
            row["seconds_exact"] = round(r["seconds"]["total"] + time.perf_counter() - t0, 3)
            row["edge_ssim_exact"] = edge_ssim(ex, content)
            write_image(args.out / "images" / f"in{i}_exact.jpg", ex, quality=92)
        with torch.no_grad():
            row["gram_content"] = style_distance(content, style, vgg)
            row["gram_fast"] = style_distance(fast, style, vgg)
            row["gram_none"] = style_distance(raw, style, vgg)
            if ex is not None:
                row["gram_exact"] = style_distance(ex, style, vgg)
        rows.append(row)
        if i in contact:
            sheet[i] = [content, style, fast, ex if ex is not None else np.full_like(fast, 255)]
        print(f"[{n + 1}/{len(pairs)}] in{i} {content.shape[1]}x{content.shape[0]} labels={row['labels']} "
              f"fast {row['seconds_fast']:.2f}s ssim {row['edge_ssim_fast']:.3f} gram {row['gram_fast']:.3g}"
              + (f" | exact {row['seconds_exact']:.1f}s ssim {row['edge_ssim_exact']:.3f} gram {row['gram_exact']:.3g}"
                 if ex is not None else "") + f" | content gram {row['gram_content']:.3g}", flush=True)
    model.close()
    keys = ["edge_ssim_fast", "edge_ssim_exact", "edge_ssim_none", "gram_content", "gram_fast", "gram_exact",
            "gram_none", "seconds_fast", "seconds_exact", "width", "height", "labels"]
    medians = {k: statistics.median(r[k] for r in rows if k in r) for k in keys if any(k in r for r in rows)}
    medians["pairs"] = len(rows)
    medians["pairs_exact"] = sum("seconds_exact" in r for r in rows)
    cols = ["pair", "width", "height", "labels", *[k for k in keys if k not in ("width", "height", "labels")],
            "seconds_graph", "masks_resized"]
    with (args.out / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items() if k in cols})
    meta = model.describe()
    report = {"model": meta["model"], "description": meta["description"], "masks": not args.no_masks,
              "data": str(args.data), "exact_pairs": sorted(exact), "medians": medians, "pairs": rows,
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "provider": meta["provider"], "threads": args.threads or "onnxruntime default"},
              "wall_seconds": round(time.perf_counter() - t_all, 1)}
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    ordered = [sheet[i] for i in contact if i in sheet]
    if ordered:
        contact_sheet(ordered, args.out / "contact_sheet.png")
    print(json.dumps(medians, indent=2))
    print(f"wrote {args.out / 'results.csv'}, results.json, contact_sheet.png ({len(ordered)} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
