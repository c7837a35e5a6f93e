"""``impasto webcam``: live stylisation of a camera, or of a video file read as if it were one (torch-free).

A thin shell over :class:`impasto.runtime.stream.live.StreamPipeline`: capture, inference and
display run in separate threads; for a live camera the newest frame wins (late frames
are dropped and counted, latency never grows).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from impasto.cli.common import add_backend_args, emit_json, positive_int, unit_float
from impasto.runtime.pipelines.tensors import MIN_SIDE
from impasto.utils.progress import Progress


def frame_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (e.g. ``640x480``) into ``(width, height)``, each at least the style networks' smallest side."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < MIN_SIDE or int(m.group(2)) < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 640x480, each at least {MIN_SIDE} pixels "
                                         f"(the smallest side the style networks take), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:
    from impasto.runtime.stream.live import KEYS

    keys = ", ".join(f"{k}: {v}" for k, v in KEYS.items())
    p = sub.add_parser("webcam", help="live stylisation of a camera (or a video file read like one)",
                       description=f"Keys in the window: {keys}.")
    p.add_argument("--camera", default="0", metavar="INDEX|PATH",
                   help="camera index (default 0), a device like /dev/video0, or a video file read as if it were "
                        "a camera (every frame is stylised unless --realtime)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--style", help="built-in style name (see `impasto styles`); n/p in the window cycle them")
    src.add_argument("--model", help="path to an .onnx style model (with --style-image: a microast graph)")
    p.add_argument("--style-image", metavar="PAINTING",
                   help="arbitrary style from a painting with the built-in MicroAST graph (or --model microast.onnx)")
    add_backend_args(p)
    p.add_argument("--size", type=frame_size, metavar="WxH", help="stylise at this size (e.g. 640x480)")
    p.add_argument("--no-window", action="store_true", help="run headless (no preview window)")
    p.add_argument("--frames", type=positive_int, metavar="N", help="stop after N captured frames")
    p.add_argument("--strength", type=unit_float, default=1.0, help="0 = content, 1 = full style (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--stabilize", type=unit_float, default=0.0, metavar="F",
                   help="temporal stabilisation in [0, 1] (0 = off, default); [ and ] in the window change it by 0.1")
    p.add_argument("--realtime", action="store_true",
                   help="with a video file: pace it at its frame rate and drop late frames, like a camera")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary on stdout at the end, with the warping error (flicker) of the frames "
                        "shown")
    p.add_argument("--flicker-every", type=positive_int, default=1, metavar="N",
                   help="with --json: score one pair of shown frames in N (default 1: all; each costs a "
                        "full-size optical flow on the display thread)")
    p.set_defaults(func=run_webcam)


def open_source(camera: str, size: tuple[int, int] | None):
    """A camera index or device path -> ``CameraSource``; a file -> ``VideoReader``."""
    from impasto.runtime.io.video import CameraSource, VideoReader

    if camera.isdigit():
        return CameraSource(int(camera), size=size)
    if camera.startswith("/dev/"):
        return CameraSource(camera, size=size)
    return VideoReader(Path(camera))


def run_webcam(args: argparse.Namespace) -> int:
    from impasto.cli.video import open_style_model
    from impasto.runtime.builtins import builtin_styles
    from impasto.runtime.io.video import PreviewWindow
    from impasto.runtime.pipelines.stylizer import Stylizer
    from impasto.runtime.stream.live import StreamConfig, StreamPipeline, handle_key

    config = StreamConfig(strength=args.strength, preserve_colors=args.preserve_color, stabilize=args.stabilize,
                          size=args.size, max_frames=args.frames, realtime=args.realtime,
                          measure_flicker=args.json, flicker_every=args.flicker_every)
    window = None if args.no_window else PreviewWindow("impasto webcam")
    stylizer = open_style_model(args)
    try:
        source = open_source(args.camera, args.size)
        styles = [] if args.style_image else list(builtin_styles())  # n/p cycle the built-in styles
        pipeline = StreamPipeline(source, stylizer, config, styles=styles,
                                  load_style=lambda name: Stylizer.load(name, backend=args.backend, fp16=args.fp16))
        bar = Progress(args.frames, "webcam", enabled=not args.json and window is None)

        def show(frame) -> None:
            bar.update(1)
            if window is not None:
                handle_key(pipeline, window.show(frame.image, pipeline.overlay_lines()))
                if window.closed_by_user():
                    pipeline.stop("window closed by the user")

        try:
            summary = pipeline.run(on_frame=show)
        except KeyboardInterrupt:  # Ctrl-C is how a headless camera run ends: still report
            summary = pipeline.summary
        finally:
            bar.close()
            if window is not None:
                window.close()
    finally:
        stylizer.close()
    if args.json:
        emit_json({"model": str(stylizer.backend.model_path), "backend": stylizer.selection.to_dict(),
                   **summary.to_dict(), "source": source.name, "drop_frames": pipeline.drop_frames,
                   "strength": pipeline.strength})
    else:
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1f} ms"

        print(f"stream ended: {summary.reason}")
        print(f"{summary.frames_out}/{summary.frames_in} frames stylised ({summary.frames_dropped} dropped) at "
              f"{summary.fps:.1f} fps, latency p50 {ms(summary.latency_ms_p50)}, p95 {ms(summary.latency_ms_p95)}, "
              f"style {summary.style!r} on {summary.provider}")
    if summary.error:
        sys.stderr.write(f"impasto: error: {summary.error}\n")
        return 1
    return 0
