"""``impasto video``: stylise a video file (torch-free).

Keeps the frame count, frame rate and size; carries the audio over with ffmpeg when one
is found and says so when it cannot; writes the output atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.cli.common import (
    CliError,
    add_backend_args,
    add_memory_args,
    emit_json,
    image_side,
    positive_int,
    unit_float,
)
from impasto.utils.progress import Progress

_NO_FFMPEG_HINT = "install ffmpeg or `pip install imageio-ffmpeg` to keep the audio"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="stylise a video file (frame count, rate, size and audio kept)")
    p.add_argument("input", metavar="INPUT", help="video file (.mp4, .mov, .mkv, .avi, ... anything FFmpeg reads)")
    p.add_argument("-o", "--output", help="output video: .mp4, .m4v, .mov, .mkv (MPEG-4) or .avi (Motion JPEG) "
                   "(default: NAME_STYLE.EXT beside the input)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--style", help="built-in style name (see `impasto styles`)")
    src.add_argument("--model", help="path to an .onnx style model (with --style-image: a microast graph)")
    p.add_argument("--style-image", metavar="PAINTING",
                   help="arbitrary style from a painting with the built-in MicroAST graph (or --model microast.onnx)")
    add_backend_args(p)
    add_memory_args(p)
    p.add_argument("--strength", type=unit_float, default=1.0, help="0 = content, 1 = full style (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--stabilize", type=unit_float, default=0.0, metavar="F",
                   help="temporal stabilisation in [0, 1]: blend with the previous output warped by optical flow "
                        "(0 = off, default; try 0.5-0.8)")
    p.add_argument("--max-size", type=image_side, metavar="N",
                   help="downscale so the longest side is at most N pixels")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="frames stylised at the same time, one ONNX Runtime thread each (default: one per CPU core, "
                        f"at most {MAX_AUTO_WORKERS}, on the ort-cpu backend; 1 elsewhere and with --style-image)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")
    p.set_defaults(func=run_video)


#: ``--workers`` default's ceiling: beyond it the frames in flight cost memory for little speed.
MAX_AUTO_WORKERS = 4
_GPU_BACKENDS = ("ort-cuda", "ort-trt", "tensorrt")


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def planned_workers(args: argparse.Namespace) -> int:
    """``--workers``, or its default before a model is opened (see the flag's help)."""
    if args.workers is not None:
        if args.workers > 1 and (args.style_image is not None or args.backend in _GPU_BACKENDS):
            raise CliError(f"--workers {args.workers}: expected 1 with "
                           f"{'--style-image' if args.style_image is not None else '--backend ' + args.backend} "
                           "(only ONNX Runtime CPU sessions run frames side by side)")
        return args.workers
    if args.style_image is not None or args.backend in _GPU_BACKENDS:
        return 1
    return max(1, min(cpu_cores(), MAX_AUTO_WORKERS))


def default_output(src: str, style: str) -> str:
    from impasto.runtime.io.video import VIDEO_SUFFIXES

    p = Path(src)
    suffix = p.suffix if p.suffix.lower() in VIDEO_SUFFIXES else ".mp4"
    return str(p.with_name(f"{p.stem}_{style}{suffix}"))


def open_style_model(args: argparse.Namespace, *, threads: int = 0):
    """The style model of ``video`` / ``webcam``: a painting with the MicroAST graph (``--style-image``), else a
    style model (``--model`` / ``--style``) with ``threads`` intra-op threads (0: ONNX Runtime's default)."""
    if args.style_image is None:
        from impasto.runtime.pipelines.stylizer import Stylizer

        return Stylizer.load(args.model or args.style, backend=args.backend, fp16=args.fp16, threads=threads,
                             max_memory=getattr(args, "max_memory", None), tile=getattr(args, "tile", None))
    if args.style:
        raise CliError("--style-image takes the style from a painting; --style names a built-in model: choose one")
    if args.fp16:
        raise CliError("--fp16 applies to style models on the ort-trt backend, not to --style-image")
    if getattr(args, "tile", None) is not None:
        raise CliError("--tile applies to style models with a stats form, not to --style-image")
    from impasto.runtime.pipelines.arbitrary import PaintingStylizer

    painting = PaintingStylizer.load(args.style_image, model=args.model, backend=args.backend)
    painting.model.set_memory_budget(getattr(args, "max_memory", None))
    return painting


def run_video(args: argparse.Namespace) -> int:
    from impasto.runtime.io.video import VideoReader
    from impasto.runtime.stream.video import VideoOptions, check_output_path, stylize_video

    if args.output:
        check_output_path(args.input, args.output)
    workers = planned_workers(args)
    reader = VideoReader(args.input)  # fail on a bad input before loading a model; stylize_video reads and closes it
    bar: Progress | None = None

    def progress(done: int, expected: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(expected, "video", enabled=not args.json)
        bar.update(1)

    try:
        with open_style_model(args, threads=1 if workers > 1 else 0) as stylizer:
            if workers > 1 and not getattr(stylizer, "supports_concurrent_calls", False):
                if args.workers is not None:
                    raise CliError(f"--workers {workers}: expected 1 on the {stylizer.selection.chosen} backend "
                                   "(only ONNX Runtime CPU sessions run frames side by side)")
                workers = 1  # auto chose a GPU backend: one frame at a time
            options = VideoOptions(strength=args.strength, preserve_colors=args.preserve_color,
                                   stabilize=args.stabilize, max_size=args.max_size, workers=workers)
            output = args.output or default_output(args.input, stylizer.name)
            try:
                report = stylize_video(args.input, output, stylizer, options, on_frame=progress, reader=reader)
            finally:
                if bar is not None:
                    bar.close()
    finally:
        reader.close()  # stylize_video closes it too; this covers a model that failed to load
    if args.json:
        emit_json({**stylizer.describe(), **report.to_dict(), "strength": args.strength,
                   "preserve_color": args.preserve_color, "stabilize": args.stabilize})
        return 0
    print(f"wrote {report.output} ({report.width}x{report.height}, {report.frames} frames at {report.fps:g} fps) "
          f"in {report.seconds:.2f} s with style {report.style!r} on {report.provider}")
    hint = f" ({_NO_FFMPEG_HINT})" if report.audio.startswith("dropped: no ffmpeg") else ""
    print(f"audio: {report.audio}{hint}")
    for note in report.notes:
        print(f"note: {note}")
    return 0
