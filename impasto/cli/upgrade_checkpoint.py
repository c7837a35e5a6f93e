"""``impasto upgrade-checkpoint``: rewrite an older checkpoint as plain data (needs the [train] extra).

impasto reads checkpoints with ``torch.load(..., weights_only=True)``, so a file never
runs code. Checkpoints written before that rule hold a ``TorchVersion`` (and sometimes
paths) in the card, which plain ``weights_only`` loading refuses; they are refused with a
message naming this command. It reads the file with ``weights_only=True`` as well,
allowing just those value types, and writes a copy with them as strings. A file holding
anything else is refused, naming its types; nothing in it runs. The original is kept.
"""

from __future__ import annotations

import argparse

from impasto.cli.common import emit_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upgrade-checkpoint", help="rewrite an older checkpoint (version strings, paths) as plain "
                                                  "data (needs the [train] extra)",
                       description="Reads CKPT with weights_only=True, allowing only version strings and paths "
                                   "(nothing in the file runs), and writes it to -o as tensors and plain data, which "
                                   "every impasto command loads.")
    p.add_argument("checkpoint", metavar="CKPT", help="the old checkpoint (.pt); kept as it is")
    p.add_argument("-o", "--output", required=True, metavar="NEW.pt", help="the converted checkpoint to write")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from impasto.models.checkpoint import upgrade_checkpoint

    report = upgrade_checkpoint(args.checkpoint, args.output)
    if args.json:
        emit_json(report)
    else:
        what = ", ".join(report["converted"]) or "nothing (it was plain data already)"
        print(f"wrote {report['output']} (method {report['method']}); converted: {what}")
    return 0
