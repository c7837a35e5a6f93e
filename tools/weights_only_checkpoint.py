"""Write a weights-only copy of a training checkpoint (no optimizer, no discriminators): small enough for the repo.

Usage::

    python tools/weights_only_checkpoint.py runs/munit.pt checkpoints/munit_edges2handbags.pt

The copy serves ``impasto export`` and ``impasto train METHOD --init COPY``, not ``--resume``
(see :func:`impasto.models.checkpoint.weights_only_copy`).
"""

from __future__ import annotations

import argparse
import json

from impasto.models.checkpoint import weights_only_copy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a training checkpoint (.pt)")
    p.add_argument("output", help="the weights-only copy to write (.pt)")
    args = p.parse_args()
    print(json.dumps(weights_only_copy(args.checkpoint, args.output)))


if __name__ == "__main__":
    main()
