"""tools/bench_ops.py on tiny sizes: every op and pass timed for both paths, a well-formed table."""

from __future__ import annotations

from pathlib import Path

import torch
from support import load_module

ROOT = Path(__file__).resolve().parents[2]


def _load_tool():
    return load_module(ROOT / "tools" / "bench_ops.py", "bench_ops")  # registered: dataclasses look it up


def test_bench_ops_times_reference_and_kernel_for_every_op(ext):
    bench = _load_tool()
    tiny = {"corr": (1, 4, 3, 3), "local": (1, 4, 5, 5, 1), "tps": (1, 2, 6, 6, 4)}
    rows, peak, source = bench.run(torch.device("cpu"), torch.float64, tiny, runs=2, warmup=0, show_progress=False)
    assert peak > 0 and "measured" in source
    assert {(r.op, r.pass_, r.impl) for r in rows} == {
        (op, p, impl) for op in ("correlation4d", "local_correlation", "tps_warp")
        for p in ("forward", "fwd+bwd") for impl in ("reference", "kernel")}
    assert all(r.median_ms > 0 and r.p90_ms >= r.median_ms and r.gb_per_s > 0 for r in rows)
    table = bench.markdown(rows).splitlines()
    assert len(table) == 2 + 6 and table[2].startswith("| correlation4d | 1x4x3x3 | forward |")
