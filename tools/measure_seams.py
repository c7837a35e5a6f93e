"""Measure the seams of tiled inference: tiled against untiled output, and gradient energy along tile borders.

    python tools/measure_seams.py PHOTO --size 1600x1200 --tile 512 [--style starry_night] [--crop out.png]
    python tools/measure_seams.py BIG.jpg --tile 1024 --no-untiled      # too big to run whole: border energy only

Figures (JSON on stdout):
- ``diff_max`` / ``diff_mean``: |tiled - untiled| in 8-bit levels (only where both fit);
- ``border_energy_ratio``: the mean squared luminance gradient across the tile borders
  (the centre lines of the overlaps, where the blend is half and half) over its mean
  elsewhere, for the tiled output; ``untiled_border_energy_ratio`` the same lines in the
  untiled output (a seam shows as a tiled ratio above the untiled one, and above 1).
``--crop`` writes a 100 % crop across a tile border: tiled on top, untiled below (or the
tiled crop alone with ``--no-untiled``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.memory import peak_rss
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.pipelines.tiled import border_energy_ratio as energy_ratio
from impasto.runtime.pipelines.tiled import border_lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo")
    ap.add_argument("--size", help="resize to WxH first")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--style", default=None)
    ap.add_argument("--no-untiled", action="store_true")
    ap.add_argument("--crop", help="write a 100 %% crop across a tile border here (PNG)")
    ap.add_argument("--tiled-output", help="write the whole tiled result here")
    args = ap.parse_args()
    import cv2

    image = read_image(args.photo, max_pixels=10**9)
    if args.size:
        w, h = map(int, args.size.lower().split("x"))
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC if w > image.shape[1] else cv2.INTER_AREA)
    h, w = image.shape[:2]
    rows, cols = border_lines(h, args.tile), border_lines(w, args.tile)
    report: dict = {"size": [h, w], "tile": args.tile, "border_rows": rows, "border_cols": cols}
    with Stylizer.load(args.style, backend="ort-cpu", tile=args.tile, max_memory="1T") as tiled:
        t0 = time.perf_counter()
        a = tiled(image)
        report.update(tiled_seconds=round(time.perf_counter() - t0, 2), plan=tiled.last_plan.to_dict())
    report["border_energy_ratio"] = round(energy_ratio(a, rows, cols), 4)
    if args.tiled_output:
        write_image(args.tiled_output, a)
    b = None
    if not args.no_untiled:
        with Stylizer.load(args.style, backend="ort-cpu", max_memory="1T") as whole:
            t0 = time.perf_counter()
            b = whole(image)
            report["untiled_seconds"] = round(time.perf_counter() - t0, 2)
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        report.update(diff_max=int(d.max()), diff_mean=round(float(d.mean()), 4),
                      diff_p999=float(np.percentile(d, 99.9)),
                      untiled_border_energy_ratio=round(energy_ratio(b, rows, cols), 4))
    if args.crop and cols:
        c, r = cols[0], rows[0] if rows else h // 2
        y0, x0 = max(0, r - 128), max(0, c - 192)
        crops = [a[y0:y0 + 256, x0:x0 + 384]] + ([b[y0:y0 + 256, x0:x0 + 384]] if b is not None else [])
        write_image(args.crop, np.concatenate(crops, axis=0))
        report["crop"] = {"file": args.crop, "x": x0, "y": y0, "border_col": c, "border_row": r}
    report["peak_rss_mib"] = round(peak_rss() / 2**20)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
