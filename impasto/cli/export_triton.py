"""``impasto export-triton MODEL… -o REPO/``: a Triton Inference Server model repository (torch-free).

Every model is checked (loadable, options Triton accepts, no existing folder without
``--force``) before anything is written; each model folder is built beside its place and
renamed in. See :mod:`impasto.export.triton` for the layout and docs/scale.md for the
``tritonserver`` command and a client call.
"""

from __future__ import annotations

import argparse

from impasto.cli.common import emit_json, positive_int
from impasto.utils.progress import Progress


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(positive_int(t) for t in text.split(",") if t.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-triton", help="write a Triton Inference Server model repository (config.pbtxt + "
                                             "version folder per model)")
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="built-in name (bank, starry_night, ...: a bank's style exports the whole bank), "
                        ".onnx graph or .engine (with its .json sidecar)")
    p.add_argument("-o", "--output", required=True, metavar="REPO", help="model repository folder")
    p.add_argument("--max-batch-size", type=int, metavar="N",
                   help="Triton's max_batch_size (default: 8 where every tensor has a batch dim, else 0)")
    p.add_argument("--instances", type=positive_int, default=1, metavar="N", help="instances per device (default 1)")
    p.add_argument("--kind", choices=("auto", "cpu", "gpu"), default="auto",
                   help="instance_group kind (default auto; engines always gpu)")
    p.add_argument("--dynamic-batching", action="store_true", help="let Triton batch queued same-size requests")
    p.add_argument("--preferred-batch-sizes", type=_sizes, default=(), metavar="B,B",
                   help="dynamic batching: preferred batch sizes")
    p.add_argument("--max-queue-delay-us", type=positive_int, default=100, metavar="US",
                   help="dynamic batching: longest wait for a fuller batch, microseconds (default 100)")
    p.add_argument("--force", action="store_true", help="replace existing model folders")
    p.add_argument("--json", action="store_true", help="print the reports as JSON on stdout")
    p.set_defaults(func=run_export_triton)


def run_export_triton(args: argparse.Namespace) -> int:
    from impasto.errors import UserError
    from impasto.export.triton import TritonOptions, export_triton

    if args.max_batch_size is not None and args.max_batch_size < 0:
        raise UserError(f"--max-batch-size: expected 0 or more, got {args.max_batch_size}")
    options = TritonOptions(max_batch_size=args.max_batch_size, instances=args.instances, kind=args.kind,
                            dynamic_batching=args.dynamic_batching, preferred_batch_sizes=args.preferred_batch_sizes,
                            max_queue_delay_us=args.max_queue_delay_us, force=args.force)
    bar = Progress(len(args.models), "export-triton", enabled=not args.json)
    try:
        reports = export_triton(args.models, args.output, options, progress=lambda _: bar.update(1))
    finally:
        bar.close()
    if args.json:
        emit_json({"repository": args.output, "models": reports})
    else:
        for r in reports:
            print(f"{r['folder']}: {r['platform']}, max_batch_size {r['max_batch_size']}, inputs "
                  + ", ".join(f"{t['name']}{list(t['dims'])}" for t in r["inputs"]))
        print(f"serve: tritonserver --model-repository={args.output}")
    return 0
