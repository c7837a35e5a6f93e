"""``impasto serve``: stylisation over HTTP on Ray Serve, with dynamic batching (the ``[scale]`` extra).

``POST /`` an image (settings in the query string or a JSON body, see
:mod:`impasto.scale.requests`) and get the stylised image back; ``GET /healthz`` says the
server is up. Without ``--ray-address`` a local Ray cluster is started for the server and
stopped when it exits (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from impasto.cli.common import CliError, positive_float, positive_int
from impasto.runtime.io.images import DEFAULT_MAX_PIXELS


def register(sub: argparse._SubParsersAction) -> None:
    from impasto.runtime.backends.selection import BACKENDS

    p = sub.add_parser("serve", help="serve stylisation over HTTP on Ray Serve (dynamic batching; [scale] extra)")
    p.add_argument("--style", help="built-in style or mix served by default (requests may pick another of the bank)")
    p.add_argument("--model", help="path to an .onnx style model (with --style: its default style)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=positive_int, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--max-batch-size", type=positive_int, default=8,
                   help="requests stylised together at most (same size and settings; default 8)")
    p.add_argument("--batch-wait-ms", type=positive_float, default=10.0,
                   help="how long a batch waits for more requests (default 10 ms)")
    p.add_argument("--replicas", type=positive_int, default=1, help="replicas, one CPU each (default 1)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="ONNX Runtime threads per replica (default 0: its own default)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="inference backend (default auto)")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger images with 413 (default {DEFAULT_MAX_PIXELS})")
    p.add_argument("--max-bytes", type=positive_int, default=32 * 2**20,
                   help="refuse larger bodies with 413 (default 32 MiB)")
    p.add_argument("--ray-address", metavar="auto|ray://HOST:PORT",
                   help="run on this Ray cluster (default: start a local one, stopped on exit)")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from impasto.runtime.pipelines.stylizer import Stylizer
    from impasto.scale.cluster import ray_session, require_ray

    if args.threads < 0:
        raise CliError(f"--threads: expected 0 (automatic) or a positive integer, got {args.threads}")
    require_ray()
    from impasto.scale.serve import ServeConfig, build_app

    config = ServeConfig(model=args.model or args.style, style=args.style if args.model else None,
                         backend=args.backend, threads=args.threads, max_batch_size=args.max_batch_size,
                         batch_wait_ms=args.batch_wait_ms, max_pixels=args.max_pixels, max_bytes=args.max_bytes)
    with Stylizer.load(config.model, backend="ort-cpu", style=config.style, threads=1):
        pass  # a bad --style or --model is one line before any cluster starts
    from ray import serve

    # Ray prints its workers' notices on stdout; the server's own lines go there, the rest to stderr
    with contextlib.redirect_stdout(sys.stderr), ray_session(args.ray_address) as session:
        serve.start(http_options={"host": args.host, "port": args.port}, logging_config={"log_level": "WARNING"})
        try:
            serve.run(build_app(config, args.replicas), name="impasto", route_prefix="/",
                      logging_config={"log_level": "WARNING", "enable_access_log": False})
            print(f"impasto: serving {config.model or 'the default style'} on http://{args.host}:{args.port}/ "
                  f"(POST an image; GET /healthz; Ray start-up {session.startup_seconds:.1f} s); Ctrl-C stops",
                  file=sys.__stdout__, flush=True)
            while True:
                time.sleep(3600)
        finally:
            serve.shutdown()
