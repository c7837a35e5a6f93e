"""What every converter shares: the source card, the parity sizes, the bound, readable source errors.

Convention:
    Converted graphs are checked on ``[0, 1]`` float32 images at :data:`PARITY_SIZES`
    (``(height, width)``, one odd) to :data:`ATOL` max abs error against the source
    model's own forward pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from impasto import __version__
from impasto.errors import ModelError
from impasto.utils.digest import sha256_file as sha256_of  # one digest helper for export, convert and runtime

#: Parity sizes of every conversion: three, one odd (the issue's gate).
PARITY_SIZES: tuple[tuple[int, int], ...] = ((128, 128), (131, 97), (192, 256))
#: fp32 max abs error bound of every conversion.
ATOL = 1e-4


def source_card(fmt: str, sources: Sequence[str | os.PathLike], *, upstream: str, input_convention: str,
                license: str | None, command: str, **extra: Any) -> dict[str, Any]:
    """The ``impasto.card`` of a converted graph.

    Args:
        fmt: the ``impasto convert`` format name.
        sources: the source files (their names and sha256 are recorded).
        upstream: the project the format comes from (``"pytorch/examples fast_neural_style"``).
        input_convention: what the source network expects (``"RGB 0-255, NCHW"``).
        license: the licence the user states (``--license``); None leaves it for them to fill.
        command: the conversion command line.
        **extra: format-specific fields.
    """
    return {"converted_from": {"format": fmt, "upstream": upstream, "input_convention": input_convention,
                               "files": [{"name": Path(s).name, "sha256": sha256_of(s)} for s in sources],
                               "license": license or "unknown: fill in with --license", "command": command,
                               "impasto": __version__, **extra}}


def load_state_dict(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """A ``torch.save``d state dict read with ``weights_only=True``; one line naming the file otherwise.

    Raises:
        ModelError: no such file, unreadable, needs the full unpickler, or not a dict of tensors.
    """
    import torch

    from impasto.models.checkpoint import safe_load

    obj = safe_load(path, what)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{what} {str(path)!r}: expected a state dict (names -> tensors), got {type(obj).__name__}")
    return obj


def check_keys(state: dict[str, Any], expected: dict[str, tuple[int, ...]], what: str,
               ignore: Sequence[str] = ()) -> None:
    """Refuse a state dict whose keys or shapes differ from ``expected``, naming the first offending key.

    Args:
        ignore: key suffixes to drop silently (``running_mean`` of old instance norms).
    """
    keys = [k for k in state if not any(k.endswith(s) for s in ignore)]
    for k in keys:
        if k not in expected:
            raise ModelError(f"{what}: unexpected key {k!r}; expected keys like {next(iter(expected))!r}")
        if tuple(state[k].shape) != tuple(expected[k]):
            raise ModelError(f"{what}: {k!r}: expected shape {tuple(expected[k])}, got {tuple(state[k].shape)}")
    missing = [k for k in expected if k not in state]
    if missing:
        raise ModelError(f"{what}: missing key {missing[0]!r} ({len(missing)} missing)")
