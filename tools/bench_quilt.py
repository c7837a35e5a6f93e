"""Benchmark image quilting on this CPU: 512x512 synthesis from a 200-px sample, transfer on a 512-px photo.

Prints the median of ``--repeats`` runs (5 by default) of each, and the load average at the
start (the figures depend on what else the machine runs). Targets (issue 15): synthesis
<= 2 s, transfer <= 20 s.

    IMPASTO_SHARED=../shared python tools/bench_quilt.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from impasto.runtime.io.images import fit_max_size, read_image
from impasto.runtime.quilting import QuiltConfig, TransferConfig, quilt_texture, transfer_texture

SHARED = Path(os.environ.get("IMPASTO_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TEXTURE = SHARED / "data" / "style" / "msgnet_mosaic_ducks_massimo.jpg"
PHOTO = SHARED / "data" / "content" / "adain_lenna.jpg"


def _median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(round(time.perf_counter() - t0, 3))
    return statistics.median(times), times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    texture = fit_max_size(read_image(TEXTURE), 400)
    sample = texture[:200, :200]
    photo = fit_max_size(read_image(PHOTO), 512)
    load = os.getloadavg()[0]
    synth, synth_all = _median_seconds(lambda i: quilt_texture(sample, (512, 512), QuiltConfig(), seed=i),
                                       args.repeats)
    transfer, transfer_all = _median_seconds(lambda i: transfer_texture(texture[:300, :300], photo,
                                                                        TransferConfig(), seed=i), args.repeats)
    out = {"load_average_1min": load, "cpus": os.cpu_count(),
           "synthesis_512_from_200": {"median_s": synth, "runs_s": synth_all, "patch": 32, "overlap": 5},
           "transfer_512": {"median_s": transfer, "runs_s": transfer_all, "texture": "300x300",
                            "target": f"{photo.shape[1]}x{photo.shape[0]}", "passes": 3, "patches": [36, 24, 16]}}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"load average {load:.2f} on {os.cpu_count()} CPUs")
        print(f"synthesis 512x512 from a 200-px sample: median {synth:.2f} s of {synth_all}")
        print(f"transfer {out['transfer_512']['target']} in a 300-px texture, 3 passes: median {transfer:.2f} s "
              f"of {transfer_all}")


if __name__ == "__main__":
    main()
