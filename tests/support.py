"""Small helpers shared by test modules (``pythonpath = ["tests"]`` in pyproject puts this on the path).

Fixtures live in ``conftest.py``; plain functions that a test calls with its own capture
object or that need no pytest machinery live here.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType


def one_error_line(capture) -> str:
    """The command's stderr (``capsys`` or ``capfd``), checked to be exactly one ``impasto: error:`` line.

    Blank lines are ignored; the line is returned without its newline.
    """
    err = capture.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("impasto: error: "), err
    return lines[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers and torchrun rendezvous in tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_module(path: str | Path, name: str) -> ModuleType:
    """The Python file ``path`` run as a fresh module ``name`` (registered in ``sys.modules``, so its dataclasses
    and pickles can find it): for tools and test helpers that are not importable by name under
    ``--import-mode=importlib``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def small_warpnet():
    """A small :class:`~impasto.models.warpnet.WarpNet` (64 px square, a two-convolution encoder in place of VGG16)
    with a non-trivial warp: the gate opened and the head perturbed (seed 0). Needs torch."""
    import torch
    from torch import nn

    from impasto.models.warpnet import GATE_SCALE, WarpNet, WarpNetConfig

    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 16, 3, stride=4, padding=1), nn.ReLU())
    net = WarpNet(WarpNetConfig(size=64, hidden=16), enc)
    with torch.no_grad():
        for p in net.head.net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        net.head.gate.fill_(0.5 / GATE_SCALE)
    return net.eval()
