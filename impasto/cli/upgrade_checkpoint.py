"""``impasto upgrade-checkpoint``: rewrite a trusted old checkpoint as plain data (needs the [train] extra).

impasto reads checkpoints with ``torch.load(..., weights_only=True)``, so a file never
runs code. Checkpoints written before that rule may hold Python objects (a
``TorchVersion`` in the card) that only the full unpickler loads; they are refused with
a message naming this command. It reads the file with the full unpickler — which runs
whatever code the file names, so use it only on files you trust — and writes a copy
that loads safely. The original is kept.
"""

from __future__ import annotations

import argparse

from impasto.cli.common import emit_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upgrade-checkpoint", help="rewrite a checkpoint you trust so that it loads without unpickling "
                                                  "code (needs the [train] extra)",
                       description="Reads CKPT with the full unpickler (it can run code: only for files you trust) "
                                   "and writes its tensors and plain data to -o, which every impasto command loads "
                                   "with weights_only=True.")
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
