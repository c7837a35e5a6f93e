"""Fixtures of the training tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def photo_folder(shared, tmp_path) -> Callable[[int], Path]:
    """``make(n)``: a folder under ``tmp_path`` with the first ``n`` training photos of the shared data."""
    def make(n: int) -> Path:
        folder = tmp_path / "photos"
        folder.mkdir()
        for f in sorted((shared / "data/train512/content").iterdir())[:n]:
            shutil.copy(f, folder / f.name)
        return folder

    return make
