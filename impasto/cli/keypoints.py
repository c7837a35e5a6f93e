"""``impasto keypoints A B -o pts.json``: Neural Best Buddies keypoint pairs and a picture of them (needs torch)."""

from __future__ import annotations

import argparse

from impasto.cli.common import positive_int, unit_float
from impasto.cli.file_batch import check_stdin_once, read_input, report

CONVENTION = ("(x, y) in pixels of each original image, origin at its top-left corner, x right, y down; "
              "pixel (row i, col j) has its centre at (j + 0.5, i + 0.5); x_norm = 2x/W - 1 (align_corners=False)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keypoints", help="Neural Best Buddies keypoint pairs between two images (needs torch)",
                       description="Mutual nearest neighbours of VGG16 features from relu5_1 down to relu1_1, "
                                   "filtered by activation, clustered to k pairs.")
    p.add_argument("image_a", metavar="A", help="first image (e.g. the content; - for stdin)")
    p.add_argument("image_b", metavar="B", help="second image (e.g. the geometry guide; - for stdin)")
    p.add_argument("-o", "--output", required=True, metavar="PTS.json", help="keypoints to write (.json)")
    p.add_argument("--k", type=positive_int, default=8, help="number of keypoint pairs (default 8)")
    p.add_argument("--size", type=positive_int, default=224, help="longest side of each image for the features")
    p.add_argument("--activation", type=unit_float, default=0.05,
                   help="minimum normalised activation of both points of a pair (default 0.05)")
    p.add_argument("--png", help="visualisation to write (default: next to the JSON, .png)")
    p.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from impasto.errors import UserError
    from impasto.runtime.io.atomic import atomic_write_bytes
    from impasto.runtime.io.images import write_image

    out = Path(args.output)
    if out.suffix.lower() != ".json":
        raise UserError(f"--output: expected a .json path, got {str(out)!r}")
    png = Path(args.png) if args.png else out.with_suffix(".png")
    if png.suffix.lower() != ".png":
        raise UserError(f"--png: expected a .png path, got {str(png)!r}")
    if args.size < 64:
        raise UserError(f"--size: expected at least 64 pixels, got {args.size}")
    check_stdin_once(args.image_a, args.image_b)
    image_a, image_b = read_input(args.image_a), read_input(args.image_b)

    from impasto.optim.nbb import NBBConfig, best_buddies, draw_matches  # torch: only now

    cfg = NBBConfig(k=args.k, size=args.size, activation_threshold=args.activation)
    import time

    t0 = time.perf_counter()
    res = best_buddies(image_a, image_b, cfg, vgg_weights=args.vgg_weights)
    seconds = round(time.perf_counter() - t0, 2)
    doc = {"image_a": str(args.image_a), "image_b": str(args.image_b), "convention": CONVENTION,
           "size_a": res["size_a"], "size_b": res["size_b"],
           "points_a": [[round(float(v), 2) for v in p] for p in res["points_a"]],
           "points_b": [[round(float(v), 2) for v in p] for p in res["points_b"]],
           "scores": [round(float(s), 4) for s in res["scores"]], "pairs_per_level": res["pairs_per_level"],
           "config": res["config"], "seconds": seconds}
    write_image(png, draw_matches(image_a, image_b, res["points_a"], res["points_b"]))
    atomic_write_bytes(out, (json.dumps(doc, indent=2) + "\n").encode())
    levels = ", ".join(f"{k} {v}" for k, v in res["pairs_per_level"].items())
    report({"output": str(out), "png": str(png), **doc},
           f"{out}: {len(doc['points_a'])} keypoint pairs in {seconds} s (best buddies per level: {levels}); "
           f"picture: {png}", as_json=args.json)
    return 0
