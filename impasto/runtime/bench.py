"""Latency benchmark of a style model per backend and size (torch-free; ``impasto bench``).

Each measurement is one :class:`~impasto.runtime.Stylizer` call on one image (batch 1):
conversion to the model's input, inference, and conversion back to uint8, as an
application sees it. Warm-up runs come first (session initialisation, TensorRT engine
builds and CUDA-graph captures happen there) and are not counted.

Convention:
    Sizes are ``(height, width)`` in pixels; on the command line ``N`` means ``N x N`` and
    ``WxH`` means width ``W`` by height ``H`` (``1920x1080`` is landscape full HD).
    Latencies are milliseconds of wall-clock time (``time.perf_counter``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from impasto.errors import UserError


@dataclass(frozen=True)
class BenchRow:
    """One backend at one size (``requested``: the name asked for; ``backend``: the one that ran)."""

    requested: str
    backend: str
    provider: str
    height: int
    width: int
    runs: int
    median_ms: float
    p95_ms: float
    min_ms: float
    fps: float

    def to_dict(self) -> dict:
        return asdict(self)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"256,512,1920x1080"`` -> ``[(256, 256), (512, 512), (1080, 1920)]`` as ``(height, width)``.

    Raises:
        UserError: an entry that is not ``N`` or ``WxH`` with positive integers.
    """
    sizes = []
    for item in (t.strip().lower() for t in text.split(",")):
        parts = item.split("x")
        if not item or len(parts) > 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise UserError(f"--sizes: expected N or WxH entries like 256,1920x1080, got {item!r}")
        w, h = (int(parts[0]), int(parts[-1]))
        sizes.append((h, w))
    return sizes


def timings_ms(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Call ``fn`` ``warmup`` times, then time ``runs`` calls; milliseconds each."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def summarize(ms: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile (linear interpolation), minimum and frames per second."""
    median = statistics.median(ms)
    return {"median_ms": median, "p95_ms": float(np.percentile(ms, 95)), "min_ms": min(ms), "fps": 1000.0 / median}


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic ``HxWx3`` uint8 RGB picture: smooth gradients plus texture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    base = np.stack([xx / max(1, width - 1), yy / max(1, height - 1),
                     0.5 + 0.5 * np.sin((xx + yy) / 23.0)], axis=-1)
    noise = rng.normal(0, 0.05, (height, width, 3)).astype(np.float32)
    return np.clip(np.rint((base + noise) * 255), 0, 255).astype(np.uint8)


def run_bench(model: str | None, backends: Sequence[str], sizes: Sequence[tuple[int, int]], *, runs: int = 20,
              warmup: int = 3, image: np.ndarray | None = None, threads: int = 0,
              progress: Callable[[str], None] | None = None) -> tuple[list[BenchRow], dict[str, dict]]:
    """Time ``model`` on every backend at every size.

    Args:
        model: built-in name, model path, or None for the default style.
        backends: backend names (``auto`` allowed; the row records the one that ran).
        sizes: ``(height, width)`` pairs.
        runs: timed calls per size.
        warmup: untimed calls per size before them.
        image: a photo to resize to each size (default: :func:`synthetic_image`).
        threads: intra-op threads for ONNX Runtime (0 = its default).
        progress: called with a short label before each measurement.

    Returns:
        ``(rows, selections)``: one :class:`BenchRow` per backend and size, and each
        backend's :class:`~impasto.runtime.backends.selection.Selection` as a dict.

    Raises:
        UserError: ``runs`` < 1 or ``warmup`` < 0.
    """
    import cv2

    from impasto.runtime.pipelines.stylizer import Stylizer

    if runs < 1 or warmup < 0:
        raise UserError(f"bench: expected runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    rows: list[BenchRow] = []
    selections: dict[str, dict] = {}
    for name in backends:
        with Stylizer.load(model, backend=name, threads=threads) as stylizer:
            selections[name] = stylizer.selection.to_dict()
            for h, w in sizes:
                if progress:
                    progress(f"{stylizer.selection.chosen} {w}x{h}")
                img = (synthetic_image(h, w) if image is None
                       else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))
                stats = summarize(timings_ms(lambda img=img: stylizer(img), runs, warmup))
                rows.append(BenchRow(requested=name, backend=stylizer.selection.chosen, provider=stylizer.provider,
                                     height=h, width=w, runs=runs, **stats))
    return rows, selections


def markdown_table(rows: Sequence[BenchRow]) -> str:
    """Rows as a markdown table (one line per backend and size)."""
    lines = ["| backend | provider | size (WxH) | median ms | p95 ms | min ms | frames/s |",
             "|---|---|---:|---:|---:|---:|---:|"]

    def label(r: BenchRow) -> str:
        return r.backend if r.requested == r.backend else f"{r.requested} → {r.backend}"

    lines += [f"| {label(r)} | {r.provider} | {r.width}x{r.height} | {r.median_ms:.1f} | {r.p95_ms:.1f} | "
              f"{r.min_ms:.1f} | {r.fps:.1f} |" for r in rows]
    return "\n".join(lines)
