"""``impasto batch SRC DST``: stylise a folder or a manifest of images on Ray Data (the ``[scale]`` extra).

A pool of actors, each holding one open ``Stylizer`` (one per GPU on a GPU cluster,
``--workers`` CPU actors otherwise), reads the inputs, stylises them and writes
``DST/REL`` atomically. A re-run skips finished outputs; a failing input is a line of the
run's report (``DST/impasto-batch-*.jsonl``) and never stops the job. Without
``--ray-address`` a local Ray cluster is started and stopped by the command. See
:mod:`impasto.scale.jobs` for the inputs and outputs, :mod:`impasto.scale.batch` for the
workers.

Exit codes as for folder runs of ``impasto stylize``: 0 every image written, 2 some failed
through their own fault, 1 some failed for another reason; 130 on Ctrl-C (finished outputs
stay, nothing is half-written, a re-run goes on).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from impasto.cli.common import CliError, add_backend_args, emit_json, image_side, positive_int, unit_float
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS
from impasto.utils.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="stylise a folder or manifest of images on Ray Data (resumable; [scale] extra)")
    p.add_argument("source", metavar="SRC", help="a folder (recursive) or a manifest: .txt / .lst (one path per "
                   "line) or .parquet (a 'path' column); local paths or URIs the cluster reaches")
    p.add_argument("output", metavar="DST", help="output folder: DST/REL for each input, same extension")
    p.add_argument("--style", help="built-in style or a mix of the bank's styles, e.g. starry_night:0.6,la_muse:0.4 "
                   "(with --model: styles of that bank)")
    p.add_argument("--model", help="path to an .onnx style model (or a TensorRT .engine on GPU workers)")
    p.add_argument("--strength", type=unit_float, default=1.0, help="0 = content, 1 = full style (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--max-size", type=image_side, help="downscale so the longest side is at most N pixels")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"reject larger images before decoding (default {DEFAULT_MAX_PIXELS})")
    p.add_argument("--quality", type=positive_int, default=95, help="JPEG quality (default 95)")
    add_backend_args(p)
    p.add_argument("--ray-address", metavar="auto|ray://HOST:PORT",
                   help="join this Ray cluster (default: start a local one for the run and stop it after)")
    p.add_argument("--workers", type=positive_int,
                   help="actors in the pool (default: one per GPU on a GPU cluster, else one per CPU)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="ONNX Runtime threads per CPU worker (default: the cluster's CPUs / workers)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per worker call (default 8)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_batch_command)


def run_batch_command(args: argparse.Namespace) -> int:
    from impasto.scale.batch import count_statuses
    from impasto.scale.jobs import plan_batch, remove_leftovers, report_path, write_report

    if args.fp16:
        raise CliError("--fp16: impasto batch runs ONNX models; build a TensorRT engine and pass it as --model")
    if args.threads < 0:
        raise CliError(f"--threads: expected 0 (automatic) or a positive integer, got {args.threads}")
    plan = plan_batch(args.source, args.output)  # a bad source fails before any cluster starts
    _check_model(args)
    report = report_path(args.output)
    rows: list[dict] = []
    summary: dict = {"source": args.source, "output": args.output, "model": args.model or args.style,
                     "style": args.style if args.model else None, "strength": args.strength,
                     "preserve_color": args.preserve_color, "backend": args.backend}
    t0 = time.perf_counter()
    try:
        if plan.todo:
            summary.update(_run_on_ray(args, list(plan.todo), rows))
    finally:
        remove_leftovers(plan.todo)  # the cluster stopped (or we left it): no worker of ours still writes
        os.makedirs(args.output, exist_ok=True)
        write_report(report, [r for r in rows if r["status"] == "failed"])  # also after Ctrl-C
    counts = count_statuses(rows)
    run_seconds = summary.get("run_seconds", 0.0)
    done = counts["written"] + counts["existing"]
    summary.update({"images": len(plan.jobs), "done_before": plan.done_before, **counts, "report": str(report),
                    "total_seconds": round(time.perf_counter() - t0, 3),
                    "images_per_second": round(done / run_seconds, 3) if run_seconds else None})
    if args.json:
        emit_json(summary)
    else:
        ray = summary.get("ray") or {}
        print(f"stylized {counts['written']} of {len(plan.jobs)} images ({plan.done_before} done before, "
              f"{counts['failed']} failed: see {report}) on {summary.get('workers', 0)} workers in {run_seconds:.2f} s "
              f"({summary['images_per_second']} images/s; Ray start-up {ray.get('startup_seconds', 0):.2f} s)")
    failed = [r for r in rows if r["status"] == "failed"]
    if not failed:
        return 0
    return 2 if all(r["user_error"] for r in failed) else 1


def _run_on_ray(args: argparse.Namespace, todo: list, rows: list[dict]) -> dict:
    """Run ``todo`` on the cluster, appending each status row to ``rows`` as it arrives; the run's settings."""
    from impasto.scale.batch import WorkerConfig, run_batch_job
    from impasto.scale.cluster import ray_session
    from impasto.scale.jobs import remove_leftovers

    # Ray prints its workers' notices (a retried task) on stdout: keep stdout for --json and the summary
    with contextlib.redirect_stdout(sys.stderr), ray_session(args.ray_address, num_cpus=args.workers) as session:
        pool = _pool(args, session.cpus, session.gpus, len(todo))
        worker = WorkerConfig(model=args.model or args.style, style=args.style if args.model else None,
                              strength=args.strength, preserve_color=args.preserve_color, backend=args.backend,
                              threads=args.threads or max(1, int(session.cpus // pool.workers)),
                              max_pixels=args.max_pixels, max_size=args.max_size, quality=args.quality)
        remove_leftovers(todo)  # left by a run killed outright
        t0 = time.perf_counter()
        with Progress(len(todo), "batch", enabled=not args.json and len(todo) > 1) as bar:
            for row in run_batch_job(todo, worker, pool):
                rows.append(row)
                if row["status"] == "failed":
                    sys.stderr.write(f"impasto: error: {row['error']}\n")
                bar.update(1)
        return {"workers": pool.workers, "threads_per_worker": worker.threads, "batch_size": pool.batch_size,
                "ray": session.to_dict(), "run_seconds": round(time.perf_counter() - t0, 3)}


def _check_model(args: argparse.Namespace) -> None:
    """Open an ONNX model here once, so a bad --style or --model is one line before any cluster starts."""
    from impasto.runtime.pipelines.stylizer import Stylizer

    if (args.model or "").endswith(".engine"):  # a TensorRT engine opens on the GPU workers only
        return
    with Stylizer.load(args.model or args.style, backend="ort-cpu", style=args.style if args.model else None,
                       threads=1):
        pass


def _pool(args: argparse.Namespace, cpus: float, gpus: float, todo: int):
    """One worker per GPU on a GPU cluster (unless --backend ort-cpu), else one per CPU; ``--workers`` overrides;
    never more workers than batches to do."""
    from impasto.scale.batch import PoolConfig

    use_gpus = gpus > 0 and args.backend != "ort-cpu"
    batches = max(1, -(-todo // args.batch_size))
    workers = min(args.workers or int(gpus if use_gpus else max(1, cpus)), batches)
    if not use_gpus and workers > max(1, cpus):
        sys.stderr.write(f"impasto: warning: --workers {workers} on a cluster of {cpus:g} CPUs: "
                         "the extra actors wait for a CPU\n")
    return PoolConfig(workers=workers, batch_size=args.batch_size, cpus_per_worker=1.0,
                      gpus_per_worker=min(1.0, gpus / workers) if use_gpus else 0.0)
