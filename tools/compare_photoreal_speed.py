#!/usr/bin/env python
"""Two photowct graphs on the same DPST pairs, alternating: speed, quality and how far apart (CPU; a tool).

For every selected pair (content, style and their segmentation masks, as
``tools/eval_photoreal.py`` reads them), runs :meth:`WCTStylizer.run` with ``--smooth fast``
once per graph, the graphs' order alternating from pair to pair (so a change in the
machine's load falls on both), after one warm-up run of each. Reports per graph the
median wall seconds of the whole run and of the graph, edge SSIM against the content and
the Gram distance to the style (``tools/eval_photoreal.py``'s metrics), and the largest
difference between the two graphs' outputs in 8-bit levels.

``--scale`` enlarges the contents (cubic) so that they exceed the working size and the
guided upsampling runs too.

Example:
    git show main:impasto/runtime/data/vgg16/photowct.onnx > /tmp/before.onnx
    python tools/compare_photoreal_speed.py --before /tmp/before.onnx --pairs every6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from eval_photoreal import edge_ssim, select, shared_dir  # noqa: E402
from profile_photoreal import load_pair  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, required=True, help="the reference photowct graph")
    p.add_argument("--after", type=Path, help="the graph to compare (default: the built-in one)")
    p.add_argument("--data", type=Path, default=shared_dir() / "data/photoreal/dpst")
    p.add_argument("--pairs", default="every6", help="all, everyK or a comma list of pair numbers")
    p.add_argument("--scale", type=float, default=1.0, help="enlarge the contents (cubic) by this factor")
    p.add_argument("--work-size", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the rows and medians here")
    args = p.parse_args(argv)

    import torch

    from impasto.models.vgg import VGG16Features
    from impasto.runtime.pipelines.photoreal import WCTStylizer, resolve_graph
    from impasto.training.metrics import style_distance

    ids = sorted(int(f.stem[2:]) for f in (args.data / "content").glob("in*.jpg"))
    pairs = select(args.pairs, ids)
    graphs = {"before": args.before, "after": resolve_graph(args.after, "photowct")}
    models = {k: WCTStylizer.load(v, method="photowct", backend="ort-cpu", threads=args.threads)
              for k, v in graphs.items()}
    vgg = VGG16Features()
    warm = load_pair(args.data, pairs[0], args.scale)
    for m in models.values():
        m.run(warm["content"], warm["style"], work_size=args.work_size)
    rows = []
    for n, i in enumerate(pairs):
        im = load_pair(args.data, i, args.scale)
        order = list(models) if n % 2 == 0 else list(reversed(models))
        row: dict = {"pair": i, "size": list(im["content"].shape[:2])}
        outs = {}
        for k in order:
            t0 = time.perf_counter()
            r = models[k].run(im["content"], im["style"], content_mask=im["content_mask"],
                              style_mask=im["style_mask"], smooth="fast", work_size=args.work_size)
            row[f"seconds_{k}"] = time.perf_counter() - t0
            row[f"graph_{k}"] = r["seconds"]["graph"]
            outs[k] = r["image"]
        with torch.no_grad():
            for k, img in outs.items():
                row[f"edge_ssim_{k}"] = edge_ssim(img, im["content"])
                row[f"gram_{k}"] = style_distance(img, im["style"], vgg)
        row["max_diff_levels"] = int(np.abs(outs["before"].astype(int) - outs["after"].astype(int)).max())
        rows.append(row)
        print(f"[{n + 1}/{len(pairs)}] in{i} {row['size'][1]}x{row['size'][0]} "
              f"before {row['seconds_before']:.2f}s after {row['seconds_after']:.2f}s | ssim "
              f"{row['edge_ssim_before']:.4f}/{row['edge_ssim_after']:.4f} gram {row['gram_before']:.4g}/"
              f"{row['gram_after']:.4g} | max diff {row['max_diff_levels']} levels", flush=True)
    for m in models.values():
        m.close()
    keys = [k for k in rows[0] if k not in ("pair", "size")]
    medians = {k: statistics.median(r[k] for r in rows) for k in keys}
    medians["speedup_median_of_ratios"] = statistics.median(r["seconds_before"] / r["seconds_after"] for r in rows)
    medians["edge_ssim_change"] = medians["edge_ssim_after"] / medians["edge_ssim_before"] - 1
    medians["gram_change"] = medians["gram_after"] / medians["gram_before"] - 1
    print(json.dumps({k: round(v, 4) for k, v in medians.items()}, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"graphs": {k: str(v) for k, v in graphs.items()}, "scale": args.scale,
                                         "medians": medians, "pairs": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
