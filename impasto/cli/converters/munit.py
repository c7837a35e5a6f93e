"""``impasto convert munit GEN.pt --config CONFIG.yaml -o munit.onnx`` (torch-free parser)."""

from __future__ import annotations

import argparse
from typing import Any

from impasto.cli.converters import add_format, command_line


def register(sub: argparse._SubParsersAction) -> None:
    p = add_format(sub, "munit", "an official MUNIT generator (NVlabs/MUNIT gen_XXXXXXXX.pt + its YAML config) -> "
                   "munit.a2b.onnx and munit.b2a.onnx for 'impasto translate'",
                   "gen_XXXXXXXX.pt: {'a': state_dict, 'b': state_dict} of the official AdaINGen", _run)
    p.add_argument("--config", required=True, metavar="CONFIG.yaml",
                   help="the run's YAML config (its gen: dim, mlp_dim, style_dim, n_downsample, n_res, activ, "
                        "pad_type)")
    p.add_argument("--content-norm", choices=("running", "instance"), default="running",
                   help="content encoder norms at inference: running (the official test.py, eval mode; default) or "
                        "instance (each image's own statistics, as in the paper)")
    p.add_argument("--domain-a", default="a", metavar="NAME", help="name of domain a (for --to and the card)")
    p.add_argument("--domain-b", default="b", metavar="NAME", help="name of domain b")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.export.convert.munit import convert

    return convert(args.sources, args.output, config=args.config, content_norm=args.content_norm,
                   domain_a=args.domain_a, domain_b=args.domain_b, license=args.license, command=command_line())
