"""Reliability test helpers: the CLI in a subprocess (a file size limit stands for a full disk), photos, clips."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _limit_file_size(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: writes past ``limit`` bytes fail with EFBIG, as on a full disk (Python ignores SIGXFSZ)."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.fixture
def impasto_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run(*args, cwd=, stdin=None, max_file_bytes=None, env=None)``: ``python -m impasto ARGS`` (no ffmpeg)."""
    def run(*args: object, cwd: Path, stdin: bytes | None = None, max_file_bytes: int | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "impasto", *map(str, args)], cwd=cwd, input=stdin,
                              capture_output=True, timeout=300,
                              env={**os.environ, "IMPASTO_FFMPEG": "none", **(env or {})},
                              preexec_fn=None if max_file_bytes is None else _limit_file_size(max_file_bytes))
    return run


def _error_lines(stderr: bytes | str) -> list[str]:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    return [line for line in text.splitlines() if line.strip() and "%|" not in line.replace(" ", "")]


@pytest.fixture
def error_lines() -> Callable[[bytes | str], list[str]]:
    """``lines(stderr)``: the lines of stderr, progress-bar lines left out."""
    return _error_lines


@pytest.fixture
def write_photo() -> Callable[..., Path]:
    """``write(path, h=48, w=64, seed=0)``: a noisy photo (does not compress: fills a disk quickly)."""
    def write(path: Path, h: int = 48, w: int = 64, seed: int = 0) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
        return path
    return write


@pytest.fixture
def write_clip() -> Callable[..., Path]:
    """``write(path, frames=30, w=64, h=48, noise=False)``: an MPEG-4 clip at 10 fps."""
    def write(path: Path, frames: int = 30, w: int = 64, h: int = 48, noise: bool = False) -> Path:
        rng = np.random.default_rng(0)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
        for i in range(frames):
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else \
                np.full((h, w, 3), (i * 7 % 256, 90, 200 - i % 200), np.uint8)
            writer.write(frame)
        writer.release()
        return path
    return write


def _hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.is_file())


@pytest.fixture
def hidden_files() -> Callable[[Path], list[str]]:
    """``hidden(folder)``: the temporary files impasto may leave (``.NAME.XXXXXXXX...``) anywhere under ``folder``."""
    return _hidden_files
