"""Load test for ``impasto serve`` on loopback: throughput, p50/p95 latency, errors, and outputs vs the Stylizer.

Sends ``--requests`` POSTs from ``--clients`` concurrent clients (threads, plain
``urllib``), cycling through ``--images`` (a folder; default: the shared content photos
resized to ``--size``), and checks every 200 response against a local ``Stylizer`` run on
the same image with the same settings (at most ``--tolerance`` levels apart per channel:
dynamic batching may sum in another order). Prints one JSON report.

Usage:
    impasto serve --port 8000 &
    python tools/load_test_serve.py --url http://127.0.0.1:8000/ --requests 500 --clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from impasto.runtime.io.images import decode_image, encode_image, fit_max_size, read_image


def load_images(folder: Path, size: int, count: int) -> list[np.ndarray]:
    """Up to ``count`` images of ``folder``, downscaled to ``size`` px on the long side."""
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    return [fit_max_size(read_image(f), size) for f in files]


def post(url: str, body: bytes, timeout: float = 60.0) -> tuple[int, bytes, float]:
    """``(status, body, seconds)`` of one POST."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "image/png"}, method="POST")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), time.perf_counter() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.perf_counter() - t0
    except OSError as exc:
        return 0, str(exc).encode(), time.perf_counter() - t0


def run_load_test(url: str, images: list[np.ndarray], requests: int, clients: int, *,
                  query: str = "", style: str | None = None, strength: float = 1.0, tolerance: int = 1) -> dict:
    """Send the requests and check the answers; the JSON-ready report."""
    from impasto.runtime import Stylizer

    bodies = [encode_image(im, ".png") for im in images]
    target = url + (("&" if "?" in url else "?") + query if query else "")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda i: post(target, bodies[i % len(bodies)]), range(requests)))
    wall = time.perf_counter() - t0
    ok = [(i, r) for i, r in enumerate(results) if r[0] == 200]
    latencies = sorted(r[2] for r in results)
    with Stylizer.load(style, backend="ort-cpu") as stylizer:
        reference = [stylizer(im, strength=strength) for im in images]
    worst = 0
    mismatched = 0
    for i, (_, body, _) in ok:
        got = decode_image(body)
        want = reference[i % len(images)]
        diff = int(np.abs(got.astype(int) - want).max()) if got.shape == want.shape else 255
        worst = max(worst, diff)
        mismatched += diff > tolerance
    errors = [r for r in results if r[0] != 200]
    return {"url": target, "requests": requests, "clients": clients, "images": len(images),
            "image_sizes": sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images}),
            "seconds": round(wall, 3), "throughput_rps": round(requests / wall, 2),
            "latency_p50_ms": round(1000 * statistics.median(latencies), 1),
            "latency_p95_ms": round(1000 * latencies[max(0, int(0.95 * len(latencies)) - 1)], 1),
            "errors": len(errors), "error_samples": sorted({f"{r[0]} {r[1][:120]!r}" for r in errors})[:3],
            "max_abs_diff_vs_stylizer": worst, "mismatched": mismatched}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000/")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--images", type=Path, help="folder of images (default: $IMPASTO_SHARED/data/content)")
    ap.add_argument("--count", type=int, default=8, help="distinct images to cycle through (default 8)")
    ap.add_argument("--size", type=int, default=256, help="long side of the images sent (default 256)")
    ap.add_argument("--style", help="?style= sent, and the reference Stylizer's style")
    ap.add_argument("--tolerance", type=int, default=1)
    args = ap.parse_args()
    folder = args.images or Path(os.environ.get("IMPASTO_SHARED", "../shared")) / "data" / "content"
    images = load_images(folder, args.size, args.count)
    report = run_load_test(args.url, images, args.requests, args.clients, style=args.style,
                           query=f"style={args.style}" if args.style else "", tolerance=args.tolerance)
    print(json.dumps(report, indent=2))
    return 0 if report["errors"] == 0 and report["mismatched"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
