"""Where VGG16 weights come from, without importing torch.

Order: an explicit path, then ``$IMPASTO_VGG16_WEIGHTS``, then torchvision's file in the
``torch.hub`` cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "IMPASTO_VGG16_WEIGHTS"
TORCHVISION_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


def torch_hub_dir() -> Path:
    """torch.hub's directory, computed as ``torch.hub.get_dir()`` does (no torch import)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(os.path.expanduser(torch_home)) / "hub"


def hub_cache_file() -> Path:
    return torch_hub_dir() / "checkpoints" / Path(TORCHVISION_URL).name


def find_vgg16_weights(path: str | os.PathLike | None = None) -> tuple[Path | None, str]:
    """Resolve without downloading.

    Returns:
        ``(path, source)``: source is ``"argument"``, ``"env"``, ``"torch.hub cache"``, or
        ``"missing"`` with path None. A path given explicitly or by the variable is returned
        even if it does not exist, so the caller can say which one is wrong.
    """
    if path is not None:
        return Path(path).expanduser(), "argument"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), "env"
    cached = hub_cache_file()
    if cached.is_file():
        return cached, "torch.hub cache"
    return None, "missing"
