"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.runtime.io.images import write_image


@pytest.fixture
def data(tmp_path):
    """``tmp_path`` with ``photos/`` (two 72x80 noise photos) and ``style.png`` (40x60): a trainer's smallest inputs."""
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for i in range(2):
        write_image(tmp_path / "photos" / f"p{i}.png", rng.integers(0, 256, (72, 80, 3), dtype=np.uint8))
    write_image(tmp_path / "style.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    return tmp_path
