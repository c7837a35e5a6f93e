"""(Re)export the built-in VGG16 graphs into ``impasto/runtime/data/vgg16/`` with one shared encoder file.

Each graph reads the VGG16 encoder (conv1_1 .. conv4_1, fp16) from
``vgg16_relu4_1.f16.bin`` beside it (ONNX external data, :mod:`impasto.export.shared_encoder`):

- ``photowct.onnx`` from ``checkpoints/photowct_relu{4,3,2,1}_1.pt``;
- ``wct.onnx`` from ``checkpoints/wct_artistic_relu{4,3,2,1}_1.pt``;
- ``warpnet.onnx`` from ``checkpoints/warpnet.pt`` (a ``relu4_1`` encoder).

A graph whose checkpoints are missing is skipped (said on stderr). The first graph
creates the shared file; the others verify and reuse it (a different one is refused).

Usage::

    IMPASTO_VGG16_WEIGHTS=/work/shared/weights/vgg16_imagenet.pth \\
        python tools/build_builtin_vgg16.py [--only photowct,wct,warpnet] [--out DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
OUT = ROOT / "impasto" / "runtime" / "data" / "vgg16"
LEVELS = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
GRAPHS: dict[str, list[Path]] = {
    "photowct": [CHECKPOINTS / f"photowct_{lv}.pt" for lv in LEVELS],
    "wct": [CHECKPOINTS / f"wct_artistic_{lv}.pt" for lv in LEVELS],
    "warpnet": [CHECKPOINTS / "warpnet.pt"],
}


def export_one(name: str, checkpoints: list[Path], out_dir: Path, vgg_weights: str | None) -> dict:
    from impasto.export.shared_encoder import DEFAULT_NAME

    out = out_dir / f"{name}.onnx"
    if name == "warpnet":
        from impasto.export.pipeline import export_checkpoint

        return export_checkpoint(checkpoints[0], out, method="warpnet", vgg_weights=vgg_weights,
                                 shared_encoder=DEFAULT_NAME)
    from impasto.export.methods.wct import export_wct

    return export_wct(name, checkpoints, out, vgg_weights=vgg_weights, shared_encoder=DEFAULT_NAME)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(GRAPHS), help="comma-separated graphs (default: all)")
    ap.add_argument("--out", type=Path, default=OUT, help="destination folder (default: the package's data/vgg16)")
    ap.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in GRAPHS]
    if unknown:
        ap.error(f"--only: expected names from {list(GRAPHS)}, got {unknown}")
    from impasto.errors import ImpastoError

    reports = {}
    for name in names:
        missing = [p for p in GRAPHS[name] if not p.is_file()]
        if missing:
            print(f"{name}: skipped, missing {', '.join(str(p.relative_to(ROOT)) for p in missing)}", file=sys.stderr)
            continue
        print(f"{name}: exporting from {len(GRAPHS[name])} checkpoint(s) ...", file=sys.stderr)
        try:
            r = export_one(name, GRAPHS[name], args.out, args.vgg_weights)
        except ImpastoError as exc:
            print(f"{name}: failed: {exc}", file=sys.stderr)
            return 1
        sw = r["shared_weights"]
        reports[name] = {"output": r["output"], "onnx_bytes": r["onnx_bytes"], "seconds": r["seconds"],
                         "shared_weights": sw, "parity": r["parity"]}
        print(f"{name}: {r['output']} {r['onnx_bytes'] / 1e6:.2f} MB, encoder from {sw['file']} "
              f"({'created' if sw['created'] else 'reused'}), {r['seconds']:.0f} s", file=sys.stderr)
    if args.json:
        print(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
