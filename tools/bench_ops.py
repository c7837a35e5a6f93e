#!/usr/bin/env python3
"""Benchmark impasto's compiled ops against their pure-PyTorch references.

For each op (correlation4d, local_correlation, tps_warp) and pass (forward; forward +
backward) it times the reference and the kernel on the same inputs and prints a
markdown table: median time in ms (and p90), the speed-up, and the achieved memory
bandwidth against a peak.

Convention:
    Bytes are the op's compulsory traffic, each input read once and each output written
    once (forward: features/image in, result out; backward adds the incoming gradient and
    the saved output read and the input gradients written); real kernels move more, so the
    figure is a lower bound of the traffic and "% of peak" says how close an op is to being
    memory-bound. Peak: on CUDA the device's theoretical DRAM bandwidth (2 x memory clock x
    bus width from the device properties); on CPU there is no reliable spec figure, so the
    peak is *measured* as the bandwidth of a 256 MiB tensor copy on the same threads.
    CUDA timings use CUDA events after warm-up; CPU timings use perf_counter.

Usage:
    python tools/bench_ops.py [--device cpu|cuda] [--dtype float32|float64] [--threads 1]
        [--runs 20] [--warmup 3] [--preset small|paper] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto import ops  # noqa: E402
from impasto.ops import reference  # noqa: E402
from impasto.utils.progress import Progress  # noqa: E402

#: Problem sizes: (B, C, H, W) features / images, the local radius, the TPS control points.
PRESETS = {
    # Small enough for a shared 2-core CPU.
    "small": {"corr": (1, 256, 24, 24), "local": (1, 256, 48, 48, 4), "tps": (1, 3, 256, 256, 16)},
    # Learning to Warp / DST scale: VGG pool4 of a 512 px image, relu3 features, a 512 px photo.
    "paper": {"corr": (2, 512, 32, 32), "local": (2, 256, 128, 128, 4), "tps": (4, 3, 512, 512, 16)},
}


@dataclass(frozen=True)
class Row:
    """One benchmark line: an op, a pass, an implementation."""

    op: str
    shape: str
    pass_: str
    impl: str
    median_ms: float
    p90_ms: float
    gbytes: float
    gb_per_s: float
    pct_peak: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device, runs: int, warmup: int) -> list[float]:
    """Wall times of ``fn`` in ms (CUDA events on a GPU, perf_counter on CPU), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(runs):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def peak_gb_per_s(device: torch.device) -> tuple[float, str]:
    """The bandwidth peak and where it comes from (see the module docstring)."""
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        clock_khz = getattr(p, "memory_clock_rate", 0)
        bus_bits = getattr(p, "memory_bus_width", 0)
        if clock_khz and bus_bits:
            return 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9, f"{p.name}: theoretical DRAM bandwidth"
    x = torch.empty(64 * 1024 * 1024, dtype=torch.float32, device=device).fill_(1.0)  # 256 MiB
    y = torch.empty_like(x)
    ms = statistics.median(time_ms(lambda: y.copy_(x), device, runs=10, warmup=2))
    return 2 * x.numel() * 4 / (ms * 1e-3) / 1e9, "measured 256 MiB tensor copy (read + write)"


def _cases(preset: dict, device: torch.device, dtype: torch.dtype) -> list[tuple]:
    """(op, shape text, kernel fn, reference fn, inputs, forward bytes, backward bytes)."""
    g = torch.Generator().manual_seed(0)
    s = torch.tensor([], dtype=dtype).element_size()

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype).to(device)

    b, c, h, w = preset["corr"]
    fc, fg = rnd(b, c, h, w), rnd(b, c, h, w)
    corr_in, corr_out = 2 * b * c * h * w * s, b * (h * w) ** 2 * s
    cases = [("correlation4d", f"{b}x{c}x{h}x{w}", ops.correlation4d, reference.correlation4d, (fc, fg),
              corr_in + corr_out, 2 * corr_out + 2 * corr_in)]
    b, c, h, w, r = preset["local"]
    la, lb = rnd(b, c, h, w), rnd(b, c, h, w)
    loc_in, loc_out = 2 * b * c * h * w * s, b * (2 * r + 1) ** 2 * h * w * s
    cases.append(("local_correlation", f"{b}x{c}x{h}x{w} r={r}", lambda x, y: ops.local_correlation(x, y, r),
                  lambda x, y: reference.local_correlation(x, y, r), (la, lb), loc_in + loc_out,
                  2 * loc_out + 2 * loc_in))
    b, c, h, w, k = preset["tps"]
    img = rnd(b, c, h, w)
    dst = (torch.rand(b, k, 2, generator=g, dtype=dtype) * 1.8 - 0.9).to(device)
    src = dst + 0.05 * rnd(b, k, 2)
    img_bytes = b * c * h * w * s
    cases.append(("tps_warp", f"{b}x{c}x{h}x{w} K={k}", ops.tps_warp, reference.tps_warp, (img, src, dst),
                  2 * img_bytes, 3 * img_bytes))
    return cases


def run(device: torch.device, dtype: torch.dtype, preset: dict, runs: int, warmup: int,
        show_progress: bool) -> tuple[list[Row], float, str]:
    """Benchmark every case; returns the rows, the peak in GB/s and the peak's source."""
    peak, peak_src = peak_gb_per_s(device)
    rows: list[Row] = []
    cases = _cases(preset, device, dtype)
    with Progress(len(cases) * 4, "bench_ops", enabled=show_progress) as bar:
        for op, shape, kernel_fn, ref_fn, inputs, fwd_bytes, bwd_bytes in cases:
            for impl, fn in (("reference", ref_fn), ("kernel", kernel_fn)):
                with torch.no_grad():
                    fwd = time_ms(lambda fn=fn, inputs=inputs: fn(*inputs), device, runs, warmup)
                leaves = [t.detach().clone().requires_grad_() for t in inputs]

                def fwd_bwd(fn=fn, leaves=leaves):
                    fn(*leaves).sum().backward()

                both = time_ms(fwd_bwd, device, runs, warmup)
                for pass_, times, nbytes in (("forward", fwd, fwd_bytes), ("fwd+bwd", both, fwd_bytes + bwd_bytes)):
                    med = statistics.median(times)
                    p90 = sorted(times)[max(0, int(round(0.9 * len(times))) - 1)]
                    gbs = nbytes / (med * 1e-3) / 1e9
                    rows.append(Row(op, shape, pass_, impl, med, p90, nbytes / 1e9, gbs, 100 * gbs / peak))
                    bar.update(1)
    return rows, peak, peak_src


def markdown(rows: list[Row]) -> str:
    """The table: one line per op and pass, reference and kernel side by side."""
    lines = ["| op | shape | pass | reference ms (p90) | kernel ms (p90) | speed-up | kernel GB/s | % of peak |",
             "|---|---|---|---|---|---|---|---|"]
    by_key = {(r.op, r.pass_, r.impl): r for r in rows}
    for r in rows:
        if r.impl != "kernel":
            continue
        ref = by_key[(r.op, r.pass_, "reference")]
        lines.append(f"| {r.op} | {r.shape} | {r.pass_} | {ref.median_ms:.2f} ({ref.p90_ms:.2f}) | "
                     f"{r.median_ms:.2f} ({r.p90_ms:.2f}) | {ref.median_ms / r.median_ms:.2f}x | "
                     f"{r.gb_per_s:.1f} | {r.pct_peak:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads); default 1")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--json", action="store_true", help="print JSON instead of the markdown table")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_ops: --device cuda: expected a CUDA device, got none", file=sys.stderr)
        return 2
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        print("bench_ops: expected --runs >= 1, --warmup >= 0, --threads >= 1", file=sys.stderr)
        return 2
    ops.require_extension()
    if device.type == "cuda" and not ops.extension_has_cuda():
        print("bench_ops: expected impasto._C built with CUDA kernels, got a CPU-only build", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rows, peak, peak_src = run(device, dtype, PRESETS[args.preset], args.runs, args.warmup, not args.json)
    info = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "dtype": args.dtype, "preset": args.preset, "runs": args.runs,
            "peak_gb_per_s": round(peak, 1), "peak_source": peak_src, "torch": torch.__version__}
    if args.json:
        print(json.dumps({**info, "rows": [asdict(r) for r in rows]}, indent=2))
    else:
        print(f"device {info['device']}, {info['threads']} thread(s), {args.dtype}, preset {args.preset}, "
              f"median of {args.runs} runs; peak {peak:.1f} GB/s ({peak_src})\n")
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
