"""``impasto bench``: median and p95 latency and throughput per backend and size (torch-free)."""

from __future__ import annotations

import argparse
import platform
import sys

from impasto.cli.common import emit_json, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from impasto.runtime.backends.selection import BACKENDS

    p = sub.add_parser("bench", help="latency and throughput of a style model per backend and size (batch 1)")
    p.add_argument("model", nargs="?", metavar="MODEL", help="an .onnx model or .engine (default: --style)")
    p.add_argument("--style", help="built-in style name (default: the default style)")
    p.add_argument("--backend", default="auto",
                   help=f"comma-separated backends to compare, from {', '.join(BACKENDS)} (default auto)")
    p.add_argument("--sizes", default="256,512,1024", help="N (square) or WxH entries (default 256,512,1024)")
    p.add_argument("--runs", type=positive_int, default=20, help="timed runs per size (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs before them (default 3)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = its default)")
    p.add_argument("--image", help="a photo resized to each size (default: a synthetic test image)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from impasto import __version__
    from impasto.cli.common import CliError
    from impasto.runtime.backends.selection import BACKENDS
    from impasto.runtime.bench import markdown_table, parse_sizes, run_bench
    from impasto.runtime.io.images import read_image

    if args.model and args.style:
        raise CliError("give a MODEL path or --style, not both")
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if not backends or unknown:
        raise CliError(f"--backend: expected names from {', '.join(BACKENDS)}, got {args.backend!r}")
    sizes = parse_sizes(args.sizes)
    image = read_image(args.image) if args.image else None

    def note(label: str) -> None:
        if not args.json:
            sys.stderr.write(f"bench: {label} ...\n")

    rows, selections = run_bench(args.model or args.style, backends, sizes, runs=args.runs, warmup=args.warmup,
                                 image=image, threads=args.threads, progress=note)
    env = {"impasto": __version__, "onnxruntime": ort.__version__, "machine": platform.machine(),
           "processor": platform.processor() or platform.machine(), "model": args.model or args.style or "default",
           "runs": args.runs, "warmup": args.warmup, "batch": 1}
    if args.json:
        emit_json({"env": env, "backends": selections, "rows": [r.to_dict() for r in rows]})
        return 0
    print(f"impasto bench: {env['model']}, batch 1, median of {args.runs} runs after {args.warmup} warm-ups "
          f"(ONNX Runtime {ort.__version__}, {env['processor']})\n")
    print(markdown_table(rows))
    for name, sel in selections.items():
        if sel["fallbacks"]:
            passed = "; ".join(f"{fb['backend']} ({fb['reason']})" for fb in sel["fallbacks"])
            print(f"\nnote: --backend {name} ran on {sel['chosen']}, passing over {passed}")
    return 0
