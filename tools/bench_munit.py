"""Export a MUNIT network with random weights and time ``MUNITTranslator.run`` on the CPU (docs/munit.md figures).

Usage: ``python tools/bench_munit.py [--out DIR] [--size 256] [--runs 5]``; default: the official
configuration (dim 64, n_res 4, style_dim 8). Prints the export time, graph bytes, worst parity
error and the median (and all) run times for 1 and 4 random codes.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", help="folder for the graphs (default: a temporary one)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    import torch

    from impasto.export.methods.munit import export_network
    from impasto.models.munit import MUNIT, MUNITConfig
    from impasto.runtime.pipelines.translate import MUNITTranslator

    out = args.out or tempfile.mkdtemp(prefix="bench-munit-")
    torch.manual_seed(0)
    report = export_network(MUNIT(MUNITConfig()).eval(), f"{out}/munit.onnx", card={}, source_sha256="random")
    print(f"export {report['seconds']} s, {report['onnx_bytes'] / 1e6:.1f} MB, worst parity "
          f"{max(r['max_abs_error'] for r in report['parity']):.2e}")
    img = (np.random.default_rng(0).random((args.size, args.size, 3)) * 255).astype(np.uint8)
    with MUNITTranslator.load(f"{out}/munit.onnx", to="b", backend="ort-cpu") as model:
        model.run(img, random=1, seed=0)  # warm-up
        for n in (1, 4):
            times = []
            for i in range(args.runs):
                t = time.perf_counter()
                model.run(img, random=n, seed=i)
                times.append(time.perf_counter() - t)
            print(f"{args.size}x{args.size}, {n} code(s): median {np.median(times):.3f} s, all "
                  f"{[round(t, 3) for t in times]}")


if __name__ == "__main__":
    main()
