"""MT-Net against a single-scale feed-forward network at full size: a side-by-side figure and style losses.

The paper's claim (Wang et al. 2017): a network trained at 256 px, applied to a 1024 px
photo, paints brush strokes that are too small for the picture; MT-Net's refine output
reproduces the painting's stroke scale at 1024 px. This tool shows both on a photo that
neither network was trained on... as far as the data allow (see ``docs/multimodal.md``).

Usage::

    python tools/compare_multimodal.py --multimodal runs/mt_starry.pt --baseline runs/starry_night.pt \\
        --style /work/shared/data/style/msgnet_starry_night.jpg \\
        --photo /work/shared/data/content/artflow_el-capitan-and-merced-river-in-the-mighty-yosemite.jpg

Writes under ``--out`` (default ``out/compare_multimodal``): ``side_by_side.png`` (top: the
first photo, the baseline and MT-Net at ``--side``; bottom: the same ``--zoom`` window of
each, enlarged), every photo's images (``STEM_NAME.png``), and ``report.json`` with each
photo's measures and their medians. ``--side 512`` compares a 128/256/512 MT-Net.

Convention:
    Each test image is a photo scaled so its shorter side is ``--side`` (1024), centre
    cropped to ``side x side``: the geometry of MT-Net's training crops. Both networks run
    on exactly that image in PyTorch (float32, CPU). Style loss =
    :func:`impasto.training.metrics.style_distance` (the training's Gram loss over relu1_2,
    relu2_2, relu3_3, relu4_3 of VGG16 on the whole image, with the style image resized to
    the image's longest side, i.e. the style at the full scale); content loss =
    :func:`impasto.training.metrics.content_distance` (relu2_2). Lower is closer.
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

SHARED = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
DEFAULT_PHOTO = SHARED / "data/content/artflow_el-capitan-and-merced-river-in-the-mighty-yosemite.jpg"
DEFAULT_STYLE = SHARED / "data/style/msgnet_starry_night.jpg"


def square_crop(image: np.ndarray, side: int) -> np.ndarray:
    """Scale so the shorter side is ``side``, then take the centre ``side x side`` window."""
    import cv2

    h, w = image.shape[:2]
    s = side / min(h, w)
    nh, nw = max(side, round(h * s)), max(side, round(w * s))
    image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    y, x = (nh - side) // 2, (nw - side) // 2
    return image[y:y + side, x:x + side]


def label(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with ``text`` on a dark band at the top-left."""
    import cv2

    out = image.copy()
    scale = max(0.5, image.shape[1] / 1400)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(out, (0, 0), (tw + 16, th + 18), (0, 0, 0), -1)
    cv2.putText(out, text, (8, th + 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def zoom(image: np.ndarray, box: tuple[int, int, int], size: int) -> np.ndarray:
    """The ``(y, x, side)`` window of ``image`` enlarged to ``size`` px, nearest neighbour (pixels stay visible)."""
    import cv2

    y, x, s = box
    return cv2.resize(image[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_NEAREST)


def load_networks(multimodal: str, baseline: str) -> tuple[object, object]:
    """``(baseline, MT-Net)`` built from their checkpoints, once for every photo."""
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    return (build_from_checkpoint(load_checkpoint(baseline), method="feedforward"),
            build_from_checkpoint(load_checkpoint(multimodal), method="multimodal"))


def run_networks(content: np.ndarray, base: object, mt: object) -> dict[str, np.ndarray]:
    """Baseline and MT-Net outputs (uint8 RGB) for ``content``, named by role (``full`` = ``content``'s size)."""
    import torch
    from torch.nn import functional as F

    from impasto.models.imaging import to_image, to_tensor

    x = to_tensor(content)[None]
    with torch.no_grad():
        y_base = base.stylize(x)
        # the baseline at the coarse level's size (a quarter), bicubically enlarged to full size
        quarter = F.interpolate(x, scale_factor=0.25, mode="area")
        y_base_up = F.interpolate(base.stylize(quarter), size=x.shape[-2:], mode="bicubic").clamp(0, 1)
        y1, y2, y3 = mt.stylize(x)
    return {"baseline_full": to_image(y_base), "baseline_quarter_enlarged": to_image(y_base_up),
            "mt_quarter": to_image(y1), "mt_half": to_image(y2), "mt_full": to_image(y3)}


def measure(content: np.ndarray, images: dict[str, np.ndarray], style: np.ndarray, vgg: object) -> dict:
    """Style and content losses of one photo's outputs (see the module docstring)."""
    import cv2

    from impasto.training.metrics import content_distance, style_distance

    side = content.shape[0]
    measures: dict[str, dict[str, float]] = {}
    for name in ("baseline_full", "baseline_quarter_enlarged", "mt_full"):
        measures[name] = {"style_loss_full": style_distance(images[name], style, vgg),
                          "content_loss": content_distance(images[name], content, vgg)}
    # the coarse scale too: each full-size result area-downscaled to a quarter vs MT-Net's own quarter output
    quarter = side // 4
    for name in ("baseline_full", "mt_full"):
        small = cv2.resize(images[name], (quarter, quarter), interpolation=cv2.INTER_AREA)
        measures[name]["style_loss_quarter_downscaled"] = style_distance(small, style, vgg)
    measures["mt_quarter"] = {"style_loss_quarter": style_distance(images["mt_quarter"], style, vgg)}
    measures["content"] = {"style_loss_full": style_distance(content, style, vgg)}
    return measures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--multimodal", default=str(ROOT / "runs/mt_starry.pt"), help="MT-Net checkpoint")
    p.add_argument("--baseline", default=str(ROOT / "runs/starry_night.pt"),
                   help="single-scale feed-forward checkpoint (impasto train feedforward)")
    p.add_argument("--style", default=str(DEFAULT_STYLE), help="the painting both were trained on")
    p.add_argument("--photo", nargs="+", default=[str(DEFAULT_PHOTO)],
                   help="test photos (held out of both trainings); the figure shows the first, the report "
                        "gives each photo's measures and their medians")
    p.add_argument("--side", type=int, default=1024, help="test image side in pixels (default 1024)")
    p.add_argument("--zoom", type=int, nargs=3, metavar=("Y", "X", "SIDE"),
                   help="window of the full-size images shown enlarged (default: the centre quarter)")
    p.add_argument("--out", default=str(ROOT / "out/compare_multimodal"), help="output folder")
    p.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.side < 64 or args.side % 4:
        p.error(f"--side: expected a multiple of 4 of at least 64, got {args.side}")

    import torch

    from impasto.models.vgg import VGG16Features
    from impasto.runtime.io.images import read_image, write_image

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    style = read_image(args.style)
    vgg = VGG16Features(args.vgg_weights)
    base, mt = load_networks(args.multimodal, args.baseline)
    per_photo = {}
    s = args.side
    box = tuple(args.zoom) if args.zoom else (s // 2 - s // 8, s // 2 - s // 8, s // 4)
    for i, photo in enumerate(args.photo):
        content = square_crop(read_image(photo), s)
        images = run_networks(content, base, mt)
        per_photo[photo] = measure(content, images, style, vgg)
        stem = Path(photo).stem
        for name, im in (("content", content), *images.items()):
            write_image(out / f"{stem}_{name}.png", im)
        if i == 0:
            panels = [("content (held-out photo)", content), (f"single-scale baseline at {s}", images["baseline_full"]),
                      (f"MT-Net {s} output", images["mt_full"])]
            top = np.concatenate([label(im, t) for t, im in panels], axis=1)
            bottom = np.concatenate([label(zoom(im, box, s), f"zoom x{s // box[2]}: {t.split(' (')[0]}")
                                     for t, im in panels], axis=1)
            write_image(out / "side_by_side.png", np.concatenate([top, bottom], axis=0))
    first = next(iter(per_photo.values()))
    medians = {k: {m: round(float(np.median([r[k][m] for r in per_photo.values()])), 4) for m in d}
               for k, d in first.items()}
    report = {"photos": args.photo, "style": args.style, "side": s, "zoom_window_yx_side": list(box),
              "multimodal": args.multimodal, "baseline": args.baseline,
              "measure": "impasto.training.metrics.style_distance / content_distance (VGG16, whole image, "
                         "style resized to the image's longest side); quarter = side / 4",
              "medians": medians,
              "per_photo": {ph: {k: {m: round(v, 4) for m, v in d.items()} for k, d in r.items()}
                            for ph, r in per_photo.items()},
              "seconds": round(time.perf_counter() - t0, 1)}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("side", "medians", "seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
