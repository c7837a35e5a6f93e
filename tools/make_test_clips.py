#!/usr/bin/env python3
"""Render the two procedural test clips of ``tests/data/video/`` (deterministic; no source photos).

Both clips are drawn from seeded noise with NumPy and OpenCV, so they carry no third-party
licence (see ``tests/data/video/README.md``):

* ``pan_hills``: a slow camera pan (2 px per frame) over a landscape of layered,
  textured hills under a sky gradient, with a ball rolling the other way in front;
* ``zoom_blocks``: a slow zoom (x1.0 to x1.3) into a city-like grid of textured blocks,
  with a square drifting and turning across it.

Usage:
    python tools/make_test_clips.py [--out tests/data/video] [--check]
    python tools/make_test_clips.py --frames 240 --size 640x360 --out /tmp/long   # benchmark variants

``--check`` renders the clips and compares them with the files in ``--out`` instead of
writing (exit 1 if a file is missing or its frames differ by more than JPEG noise).
``--frames`` and ``--size`` render longer or larger variants of the same scenes (the
pan moves the same 2 px per frame; the zoom spreads x1.0-x1.3 over all frames), e.g. a
clip as long as the 240-frame 640x360 one issue 19 was measured on; they are for
benchmarks, not for ``tests/data``.

Convention:
    Frames are ``HxWx3`` uint8 RGB, 320x180, 48 per clip, written as Motion JPEG ``.avi``
    at 24 fps (every frame coded on its own, so the container adds no temporal artefacts).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.cli.webcam import frame_size  # noqa: E402
from impasto.runtime.io.video import VideoReader, write_video  # noqa: E402

SIZE = (320, 180)  # (width, height)
FRAMES = 48
FPS = 24.0
#: Mean absolute difference (0-255) a decoded file may have from the rendered frames (JPEG noise).
JPEG_TOLERANCE = 6.0


def value_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int],
                octaves: int = 4) -> np.ndarray:
    """Fractal value noise in ``[0, 1]``, ``HxW`` float32: octaves of random grids, cubic-upsampled."""
    w, h = size
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        grid = rng.random((cells[1] * 2 ** o + 1, cells[0] * 2 ** o + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    out /= total
    return np.clip((out - out.min()) / max(1e-6, float(out.max() - out.min())), 0.0, 1.0)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a * (1.0 - t[..., None]) + b * t[..., None]


def hills_panorama(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A ``height x width`` RGB landscape: sky gradient with clouds, three textured hill layers."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None].repeat(width, 1)
    sky = _mix(np.array([70, 120, 200], np.float32), np.array([200, 220, 240], np.float32), y)
    clouds = np.clip(value_noise(rng, (width, height), (24, 4)) * 1.8 - 0.9, 0, 1) * (1 - y)
    image = _mix(sky, np.full(3, 250, np.float32), clouds)
    layers = [((95, 110, 150), 0.35, 0.12), ((60, 120, 70), 0.55, 0.10), ((110, 90, 50), 0.75, 0.08)]
    for colour, base, amp in layers:
        ridge = value_noise(rng, (width, 1), (16, 1), octaves=5)[0] * 2 - 1
        top = (base + amp * ridge) * height
        below = np.arange(height, dtype=np.float32)[:, None] >= top[None, :]
        texture = value_noise(rng, (width, height), (64, 12), octaves=3)
        tint = np.array(colour, np.float32)[None, None] * (0.7 + 0.6 * texture[..., None])
        image = np.where(below[..., None], tint, image)
    return np.clip(image, 0, 255).astype(np.uint8)


def pan_frames(n: int = FRAMES, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """``n`` frames panning 2 px per frame to the right over :func:`hills_panorama`, a ball rolling left."""
    w, h = size
    step = 2
    scene = hills_panorama(w + step * n, h)
    frames = []
    for i in range(n):
        frame = np.ascontiguousarray(scene[:, i * step:i * step + w])
        cx, cy = 0.8 * w - 3.0 * i, 0.72 * h - 6.0 * abs(np.sin(i / 5.0))
        r = 0.07 * h
        cv2.circle(frame, (round(cx * 16), round(cy * 16)), round(r * 16), (200, 40, 40), -1, cv2.LINE_AA, 4)
        cv2.circle(frame, (round((cx - r / 3) * 16), round((cy - r / 3) * 16)), round(r / 3 * 16), (250, 150, 150),
                   -1, cv2.LINE_AA, 4)
        frames.append(frame)
    return frames


def blocks_city(width: int, height: int, seed: int = 2) -> np.ndarray:
    """A ``height x width`` RGB grid of textured blocks (roofs, streets, windows)."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 90, np.uint8)
    grain = value_noise(rng, (width, height), (12, 7), octaves=3)
    image = (image * (0.8 + 0.4 * grain[..., None])).astype(np.uint8)
    cell = width // 8
    for gy in range(0, height, cell):
        for gx in range(0, width, cell):
            colour = tuple(int(c) for c in rng.integers(60, 240, 3))
            x0, y0 = gx + 6, gy + 6
            x1, y1 = gx + cell - 7, gy + cell - 7
            cv2.rectangle(image, (x0, y0), (x1, y1), colour, -1)
            for wy in range(y0 + 6, y1 - 8, 14):  # windows
                for wx in range(x0 + 6, x1 - 8, 14):
                    if rng.random() < 0.5:
                        cv2.rectangle(image, (wx, wy), (wx + 7, wy + 7), (250, 240, 180), -1)
    return cv2.GaussianBlur(image, (0, 0), 1.5)  # no edges sharper than the zoomed-out frame can hold


def zoom_frames(n: int = FRAMES, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """``n`` frames zooming from x1.0 to x1.3 into :func:`blocks_city`, a square drifting and turning."""
    w, h = size
    scene = blocks_city(2 * w, 2 * h)
    frames = []
    for i in range(n):
        zoom = 1.0 + 0.3 * i / max(1, n - 1)
        scale = zoom / 2.0  # the scene is drawn at twice the frame size
        m = np.array([[scale, 0, w / 2 - scale * w], [0, scale, h / 2 - scale * h]], np.float32)
        frame = cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        box = cv2.boxPoints(((0.25 * w + 2.5 * i, 0.3 * h + 1.0 * i), (0.12 * w, 0.12 * w), 4.0 * i))
        cv2.fillConvexPoly(frame, np.round(box * 16).astype(np.int32), (30, 200, 220), cv2.LINE_AA, 4)
        frames.append(frame)
    return frames


#: Clip name -> renderer; each file is ``NAME.avi``.
CLIPS: dict[str, Callable[..., list[np.ndarray]]] = {"pan_hills": pan_frames, "zoom_blocks": zoom_frames}


def parse_size(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)`` (``impasto webcam --size``'s parser): even sides of at least 64 px (the
    codecs need even sizes)."""
    w, h = frame_size(text)
    if min(w, h) < 64 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"expected even sides of at least 64 px, got {text!r}")
    return w, h


def frame_count(text: str) -> int:
    n = int(text) if text.isdigit() else 0
    if n < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return n


def check(out: Path) -> list[str]:
    """Problems found comparing the files in ``out`` with freshly rendered frames (empty: all match)."""
    problems = []
    for name, render in CLIPS.items():
        path = out / f"{name}.avi"
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        with VideoReader(path) as reader:
            decoded = list(reader)
        frames = render()
        if len(decoded) != len(frames):
            problems.append(f"{path}: {len(decoded)} frames, expected {len(frames)}")
            continue
        diff = float(np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(decoded, frames)]))
        if diff > JPEG_TOLERANCE:
            problems.append(f"{path}: differs from the rendered frames by {diff:.2f} levels on average")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "video", help="folder for the clips")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    ap.add_argument("--frames", type=frame_count, default=FRAMES, help=f"frames per clip (default {FRAMES})")
    ap.add_argument("--size", type=parse_size, default=SIZE, metavar="WxH",
                    help=f"frame size (default {SIZE[0]}x{SIZE[1]})")
    args = ap.parse_args(argv)
    variant = (args.frames, args.size) != (FRAMES, SIZE)
    if variant and args.out.resolve() == (ROOT / "tests" / "data" / "video").resolve():
        ap.error("--frames/--size render benchmark variants: give another --out than tests/data/video")
    if args.check:
        if variant:
            ap.error("--check compares the test clips: not with --frames or --size")
        problems = check(args.out)
        print("\n".join(problems) or "clips match their generator")
        return 1 if problems else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, render in CLIPS.items():
        path = args.out / f"{name}.avi"
        write_video(path, render(args.frames, args.size), fps=FPS)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
