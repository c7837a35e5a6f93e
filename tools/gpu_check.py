#!/usr/bin/env python3
"""One-shot GPU check: build, test, time kernels, graphs and training on a CUDA machine; one report.

Steps (each fails softly into the report: one step's failure never stops the others):

1. ``build_ext``: ``setup.py build_ext --inplace`` with CUDA (``IMPASTO_BUILD_EXT=1``);
2. ``gpu_tests``: ``pytest -m gpu``;
3. ``kernels``: ``tools/bench_ops.py`` — correlation and TPS kernels, achieved GB/s against the
   device's peak DRAM bandwidth;
4. ``graphs_torch``: every shipped graph rebuilt in PyTorch from ``checkpoints/`` (the bank,
   PhotoWCT), fp32 and fp16 (autocast), at 512x512 and 1920x1080, median ms;
5. ``graphs_ort``: every shipped ``.onnx`` graph through the runtime on ONNX Runtime CUDA
   (when its provider is installed), same sizes;
6. ``train_bank`` / ``train_decoder``: a burst of ``impasto train bank`` and ``impasto train
   decoder`` on CUDA, about a minute each (images/s from the difference of a short and a
   long run, so start-up cancels out).

Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``; the report lists each step's
status (``ok``, ``failed`` with a one-line error, ``skipped`` with why) and seconds.

``--dry-run`` runs the same steps on the CPU at tiny sizes in well under a minute (the build
step only checks that ``impasto._C`` imports; the tests are collected, not run): ``make test``
runs it (``tests/tools/test_gpu_check.py``), so the script works the first time a GPU is lent.

Usage (see docs/gpu.md for the device tool):
    python tools/gpu_check.py --out DIR [--dry-run] [--data DIR --styles A.jpg,B.jpg]
        [--vgg-weights PTH] [--burst-seconds 60] [--budget-seconds 480] [--skip STEP,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("build_ext", "gpu_tests", "kernels", "graphs_torch", "graphs_ort", "train_bank", "train_decoder")


@dataclass(frozen=True)
class Settings:
    """What the steps run with. Convention: sizes are ``(height, width)``."""

    out: Path
    dry_run: bool
    data: Path
    styles: list[Path]
    vgg_weights: str | None
    burst_seconds: float
    sizes: tuple[tuple[int, int], ...]
    device: str


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:400]}"


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` from the repository root; a non-zero exit raises with the output's last line."""
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited {done.returncode}: {tail[0][:300]}")
    return done


def step_build_ext(s: Settings) -> dict[str, Any]:
    if not s.dry_run:
        t0 = time.perf_counter()
        _run([sys.executable, "setup.py", "build_ext", "--inplace"], 420,
             {"IMPASTO_BUILD_EXT": "1", "MAX_JOBS": str(os.cpu_count() or 4)})
        built = round(time.perf_counter() - t0, 1)
    else:
        built = None
    probe = _run([sys.executable, "-c", "from impasto import ops; ops.require_extension(); "
                  "print(ops.extension_has_cuda())"], 120)
    return {"build_seconds": built, "extension_has_cuda": probe.stdout.strip() == "True"}


def step_gpu_tests(s: Settings) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"]
    cmd += ["--collect-only", "tests/ops"] if s.dry_run else ["tests"]  # the dry run: collection of one folder
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    if done.returncode not in (0, 5):  # 5: nothing collected
        raise RuntimeError(f"pytest -m gpu exited {done.returncode}: {summary}")
    return {"summary": summary, "collected_only": s.dry_run}


def step_kernels(s: Settings) -> dict[str, Any]:
    args = ["--device", "cpu", "--runs", "1", "--warmup", "0"] if s.dry_run else ["--device", "cuda", "--preset",
                                                                                  "paper"]
    report = json.loads(_run([sys.executable, "tools/bench_ops.py", *args, "--json"], 240).stdout)
    rows = [r for r in report["rows"] if r["impl"] == "kernel"]
    return {"device": report["device"], "peak_gb_per_s": report["peak_gb_per_s"], "peak_source": report["peak_source"],
            "rows": [{k: r[k] for k in ("op", "shape", "pass_", "median_ms", "gb_per_s", "pct_peak")} for r in rows]}


def _time_ms(fn: Callable[[], Any], device: str, runs: int, warmup: int = 2) -> float:
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def _torch_plans(s: Settings) -> dict[str, Any]:
    """The shipped graphs' PyTorch modules and example inputs (export plans rebuilt from checkpoints/)."""
    from impasto.export.methods.bank import checkpoint_plan
    from impasto.export.methods.wct import build_pipeline, pipeline_plan
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    ckpt = load_checkpoint(ROOT / "checkpoints" / "bank.pt")
    plans = {"bank": checkpoint_plan(build_from_checkpoint(ckpt), ckpt, ROOT / "checkpoints" / "bank.pt")}
    decoders = [ROOT / "checkpoints" / f"photowct_relu{i}_1.pt" for i in (4, 3, 2, 1)]
    pipeline, sources = build_pipeline("photowct", decoders, vgg_weights=s.vgg_weights)
    plans["photowct"] = pipeline_plan(pipeline, "photowct", sources)
    return plans


def _resize_inputs(inputs: tuple, size: tuple[int, int], device: str) -> tuple:
    """Example inputs with every image-like (4-D) tensor resized to ``size``, batch 1."""
    from torch.nn import functional as F

    out = []
    for x in inputs:
        if x.ndim == 4:
            x = F.interpolate(x[:1], size=size, mode="nearest")
        out.append(x.to(device))
    return tuple(out)


def step_graphs_torch(s: Settings) -> dict[str, Any]:
    import torch

    rows = []
    for name, plan in _torch_plans(s).items():
        module = plan.module.to(s.device).eval()
        for size in s.sizes:
            inputs = _resize_inputs(plan.example_inputs(), size, s.device)
            for precision in ("fp32", "fp16"):
                row = {"graph": name, "size": f"{size[1]}x{size[0]}", "precision": precision}
                try:
                    dtype = torch.float16 if precision == "fp16" else torch.float32
                    enabled = precision == "fp16"
                    if s.device == "cpu" and enabled:
                        dtype = torch.bfloat16  # CPU autocast has no fp16: the dry run checks the path only

                    def call(module=module, inputs=inputs, dtype=dtype, enabled=enabled):
                        with torch.inference_mode(), torch.autocast(s.device, dtype=dtype, enabled=enabled):
                            return module(*inputs)

                    row["median_ms"] = _time_ms(call, s.device, 1 if s.dry_run else 10, 0 if s.dry_run else 3)
                except Exception as exc:  # one graph's failure (out of memory, an op without fp16) is a row
                    row["error"] = _one_line(exc)
                rows.append(row)
    return {"device": torch.cuda.get_device_name() if s.device == "cuda" else "cpu", "rows": rows,
            "not_timed": {"microast": "converted graph only: no PyTorch module in the repository"}}


def step_graphs_ort(s: Settings) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer
    from impasto.runtime.pipelines.photoreal import WCTStylizer
    from impasto.runtime.pipelines.stylizer import Stylizer

    providers = ort.get_available_providers()
    if not s.dry_run and "CUDAExecutionProvider" not in providers:
        return {"skipped": f"no CUDAExecutionProvider (providers: {providers}); install impasto[gpu]"}
    backend = "ort-cpu" if s.dry_run else "ort-cuda"
    rng = np.random.default_rng(0)
    opened = {"bank": lambda: Stylizer.load("starry_night", backend=backend),
              "microast": lambda: ArbitraryStylizer.load(backend=backend),
              "photowct": lambda: WCTStylizer.load(method="photowct", backend=backend)}
    rows = []
    for name, load in opened.items():
        for h, w in s.sizes:
            row = {"graph": name, "size": f"{w}x{h}", "backend": backend}
            try:
                image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                with load() as model:
                    fn = (lambda m=model, x=image: m(x)) if name == "bank" else (lambda m=model, x=image: m(x, x))
                    row["median_ms"] = _time_ms(fn, "cpu", 1 if s.dry_run else 5, 0 if s.dry_run else 2)
                    row["provider"] = model.provider
            except Exception as exc:
                row["error"] = _one_line(exc)
            rows.append(row)
    return {"providers": providers, "rows": rows}


def _train(kind: str, s: Settings, iters: int, out: Path) -> float:
    """Seconds of one ``impasto train KIND`` run of ``iters`` iterations (whole process)."""
    size, batch = (32, 1) if s.dry_run else (256, 8)
    cmd = [sys.executable, "-m", "impasto.cli.main", "train", kind, "--data", str(s.data), "-o", str(out),
           "--iters", str(iters), "--size", str(size), "--batch", str(batch), "--device", s.device, "--json"]
    cmd += ["--styles", ",".join(map(str, s.styles)), "--style-size", str(size)] if kind == "bank" else \
        ["--level", "relu4_1", "--kind", "photo", *(["--holdout", "1"] if s.dry_run else [])]
    cmd += ["--vgg-weights", s.vgg_weights] if s.vgg_weights else []
    t0 = time.perf_counter()
    _run(cmd, max(120.0, 3 * s.burst_seconds))
    return time.perf_counter() - t0


def _train_burst(kind: str, s: Settings) -> dict[str, Any]:
    batch = 1 if s.dry_run else 8
    work = s.out / f"train_{kind}"
    work.mkdir(parents=True, exist_ok=True)
    if s.dry_run:
        seconds = _train(kind, s, 2, work / "a.pt")
        return {"iterations": 2, "batch": batch, "seconds": round(seconds, 2),
                "images_per_s": round(2 * batch / seconds, 2), "note": "dry run: one tiny run, start-up included"}
    short = _train(kind, s, 20, work / "short.pt")
    rate = 20 / max(short, 1e-3)  # an underestimate (start-up included): the long run stays within the burst
    iters = max(40, int(rate * s.burst_seconds))
    long = _train(kind, s, iters, work / "long.pt")
    per_iter = (long - short) / (iters - 20)
    return {"iterations": iters, "batch": batch, "seconds": round(long, 1), "startup_seconds": round(short - 20 *
            per_iter, 1), "images_per_s": round(batch / per_iter, 1) if per_iter > 0 else None}


def step_train_bank(s: Settings) -> dict[str, Any]:
    return _train_burst("bank", s)


def step_train_decoder(s: Settings) -> dict[str, Any]:
    return _train_burst("decoder", s)


def run_steps(s: Settings, skip: set[str], budget_seconds: float) -> list[dict[str, Any]]:
    """Every step in order; each one's result, error or skip reason, and seconds.

    A step that would start after ``budget_seconds`` is skipped (the report says so).
    """
    results = []
    start = time.perf_counter()
    for name in STEPS:
        entry: dict[str, Any] = {"step": name}
        t0 = time.perf_counter()
        if name in skip:
            entry.update(status="skipped", reason="--skip")
        elif t0 - start > budget_seconds:
            entry.update(status="skipped", reason=f"the {budget_seconds:.0f}-s budget was spent")
        else:
            print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
            try:
                result = globals()[f"step_{name}"](s)
                entry.update(status="skipped" if "skipped" in result else "ok", result=result)
            except Exception as exc:  # a failed step goes into the report; the next one still runs
                entry.update(status="failed", error=_one_line(exc),
                             where=traceback.format_exc().strip().splitlines()[-3:-1])
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        results.append(entry)
    return results


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU check ({'dry run, CPU' if report['dry_run'] else report['device']})", "",
             f"{report['started']}, python {report['python']}, torch {report['torch']}", "",
             "| step | status | seconds | detail |", "|---|---|---:|---|"]
    for e in report["steps"]:
        detail = e.get("error") or e.get("reason") or (e.get("result") or {}).get("skipped", "")
        lines.append(f"| {e['step']} | {e['status']} | {e['seconds']} | {detail} |")
    for e in report["steps"]:
        rows = (e.get("result") or {}).get("rows")
        if rows:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            lines += ["", f"## {e['step']}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
        elif e.get("result"):
            lines += ["", f"## {e['step']}", "", "```", json.dumps(e["result"], indent=1), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at tiny sizes")
    carried = ROOT / ".carry" / "train512"
    shared = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared")) / "data" / "train512"
    base = carried if carried.is_dir() else shared
    ap.add_argument("--data", type=Path, default=base / "content", help="training photos (default .carry/train512)")
    ap.add_argument("--styles", help="comma-separated paintings for the bank burst (default: two of train512/style)")
    ap.add_argument("--vgg-weights", default=os.environ.get("IMPASTO_VGG16_WEIGHTS"))
    ap.add_argument("--burst-seconds", type=float, default=60.0,
                    help="length of each training burst (default 60: two minutes for both)")
    ap.add_argument("--budget-seconds", type=float, default=480.0,
                    help="steps that would start later than this are skipped (default 480)")
    ap.add_argument("--skip", default="", help=f"comma-separated steps to skip, of {','.join(STEPS)}")
    args = ap.parse_args(argv)
    skip = {x for x in args.skip.split(",") if x}
    if skip - set(STEPS):
        ap.error(f"--skip: expected steps of {','.join(STEPS)}, got {sorted(skip - set(STEPS))}")
    styles = [Path(p) for p in args.styles.split(",")] if args.styles else \
        [base / "style" / "msgnet_starry_night.jpg", base / "style" / "msgnet_candy.jpg"]
    import torch

    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: expected a CUDA device, got none (use --dry-run on a CPU)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = ((64, 64),) if args.dry_run else ((512, 512), (1080, 1920))
    s = Settings(args.out, args.dry_run, args.data, styles, args.vgg_weights, args.burst_seconds, sizes, device)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.perf_counter()
    steps = run_steps(s, skip, args.budget_seconds)
    report = {"dry_run": args.dry_run, "started": started, "seconds": round(time.perf_counter() - t0, 1),
              "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
              "python": platform.python_version(), "torch": torch.__version__, "steps": steps,
              "ran": [e["step"] for e in steps if e["status"] == "ok"]}
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
