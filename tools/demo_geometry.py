#!/usr/bin/env python
"""Geometric style on the shared geometry examples: the warp network against DST, timed in one run (CPU).

Content ``clock.png``, geometry guide ``dali_melting_clock.png`` (under ``--data``,
default ``$IMPASTO_SHARED/data/geometry``). In one process, on the same images:

1. **network**: the exported Learning-to-Warp graph (``--model``, from ``impasto export
   warpnet``) through the torch-free runtime (:class:`impasto.runtime.pipelines.warp.Warper`):
   one warm-up run, then the median of ``--repeats`` timed runs. The content is shrunk
   to ``--max-size`` first.
2. **DST**: :func:`impasto.optim.dst.run_dst` — NBB keypoints plus ``--dst-iters`` Adam
   steps at ``--dst-size`` (its own style: the guide's), timed as keypoints and optimisation.
3. **texture**: the network's warped content rendered with the guide's texture by Gatys
   (``--gatys-iters`` L-BFGS evaluations at ``--dst-size``), timed.

Also warps the content towards ``warped_clock.png`` (the same clock, warped by hand: a
same-appearance guide) with the network, and shows that file as the reference shape.

Writes ``OUT/demo.png`` (row 1: content, guide, network warp, DST result, DST's warp of
the photo, network warp + Gatys texture, reference; row 2: guide ``warped_clock.png``
and the network's warp towards it), ``OUT/demo.json`` (timings, sizes, settings,
machine) and ``OUT/keypoints.png`` (DST's NBB pairs).

Example:
    python tools/demo_geometry.py --model runs/warpnet192.onnx --out out/geometry
"""

from __future__ import annotations

import argparse
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

TILE = 256


def _tile(image: np.ndarray, label: str) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = TILE / h
    t = cv2.resize(image, (max(1, round(w * s)), TILE), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    t = np.ascontiguousarray(t)
    cv2.rectangle(t, (0, 0), (t.shape[1], 22), (255, 255, 255), -1)
    cv2.putText(t, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.48, (0, 0, 0), 1, cv2.LINE_AA)
    return t


def _row(tiles: list[np.ndarray], width: int | None = None) -> np.ndarray:
    row = np.concatenate(tiles, axis=1)
    if width is not None and row.shape[1] < width:
        row = np.concatenate([row, np.full((TILE, width - row.shape[1], 3), 255, np.uint8)], axis=1)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported warp graph (impasto export warpnet)")
    p.add_argument("--data", default=os.path.join(os.environ.get("IMPASTO_SHARED", str(ROOT.parent / "shared")),
                                                  "data", "geometry"))
    p.add_argument("--out", default=str(ROOT / "out" / "geometry"))
    p.add_argument("--max-size", type=int, default=512, help="longest side of the content for the network")
    p.add_argument("--repeats", type=int, default=5, help="timed network runs (after one warm-up)")
    p.add_argument("--dst-size", type=int, default=192, help="longest side of DST's and Gatys's result")
    p.add_argument("--dst-iters", type=int, default=120)
    p.add_argument("--dst-no-prune", action="store_true", help="keep every NBB pair (default: prune them)")
    p.add_argument("--gatys-iters", type=int, default=80)
    p.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from impasto.models.vgg import VGG16Features
    from impasto.optim.dst import DSTConfig, apply_displacements, run_dst
    from impasto.optim.gatys import GatysConfig, run_gatys
    from impasto.optim.nbb import draw_matches
    from impasto.runtime.io.images import fit_max_size, read_image, write_image
    from impasto.runtime.pipelines.warp import Warper

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content = read_image(data / "clock.png")
    guide = read_image(data / "dali_melting_clock.png")
    reference = read_image(data / "warped_clock.png")
    small = fit_max_size(content, args.max_size)

    with Warper.load(args.model, backend="ort-cpu", threads=args.threads) as warper:
        warper.run(small, guide)  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            res = warper.run(small, guide)
            times.append(time.perf_counter() - t)
        net_seconds = statistics.median(times)
        to_reference = warper.run(small, reference)["warped"]
        provider = warper.provider
    warped = res["warped"]
    write_image(out / "network_warp.png", warped)
    print(f"network: {net_seconds:.3f} s median of {args.repeats} ({small.shape[1]}x{small.shape[0]}, {provider})")

    vgg = VGG16Features()
    cfg = DSTConfig(size=args.dst_size, iters=args.dst_iters, prune=not args.dst_no_prune)
    dst_image, dst = run_dst(content, guide, cfg, vgg=vgg, progress=True)
    dst_warp = apply_displacements(fit_max_size(content, args.dst_size), dst)
    write_image(out / "dst.png", dst_image)
    write_image(out / "keypoints.png", draw_matches(content, guide, np.array(dst["keypoints_content"]),
                                                    np.array(dst["keypoints_guide"])))
    print(f"dst: {dst['seconds']:.1f} s (keypoints {dst['seconds_keypoints']} s, optimisation "
          f"{dst['seconds_optimisation']} s), points {dst['point_distance_before']} -> {dst['point_distance_after']}"
          + (f", {len(dst['pruning']['dropped'])} pairs pruned" if dst["pruning"] else ", no pruning"))

    t = time.perf_counter()
    gvgg = VGG16Features(pool="avg")
    textured, _ = run_gatys(warped, guide, GatysConfig(scales=(args.dst_size,), iters=args.gatys_iters), vgg=gvgg,
                            progress=True)
    gatys_seconds = time.perf_counter() - t
    write_image(out / "network_textured.png", textured)

    row1 = [_tile(content, "content"), _tile(guide, "geometry guide"), _tile(warped, "network warp"),
            _tile(dst_image, "DST result"), _tile(dst_warp, "DST warp of the photo"),
            _tile(textured, "network warp + Gatys texture"), _tile(reference, "reference shape")]
    row2 = [_tile(reference, "guide: warped_clock.png"), _tile(to_reference, "network warp towards it")]
    top = _row(row1)
    write_image(out / "demo.png", np.concatenate([top, _row(row2, top.shape[1])], axis=0))
    report = {
        "network": {"seconds_median": round(net_seconds, 4), "seconds_all": [round(x, 4) for x in times],
                    "content_size": list(small.shape[:2]), "provider": provider, "model": args.model},
        "dst": {k: dst[k] for k in ("seconds", "seconds_keypoints", "seconds_optimisation", "size",
                                    "point_distance_before", "point_distance_after", "initial_losses",
                                    "final_losses", "pruning", "config")},
        "gatys_texture": {"seconds": round(gatys_seconds, 2), "iters": args.gatys_iters, "size": args.dst_size},
        "speedup_dst_over_network": round(dst["seconds"] / net_seconds, 1),
        "machine": f"{platform.machine()} x{os.cpu_count()} CPUs, {args.threads} thread(s), "
                   f"load average {os.getloadavg()[0]:.1f} at the end (shared machine)",
    }
    (out / "demo.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'demo.png'} and {out / 'demo.json'}; DST / network = {report['speedup_dst_over_network']}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
