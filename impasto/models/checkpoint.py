"""Checkpoint files: written atomically, read with ``weights_only=True`` (a file never runs code).

A checkpoint is a ``dict`` saved with ``torch.save``::

    {"format": "impasto.checkpoint/1", "method": "feedforward",
     "model": {"arch": "TransformerNet", "config": {...}},
     "state_dict": ..., "optimizer": ..., "iteration": int,
     "train_config": {...}, "card": {...}}

Convention:
    Everything but tensors is plain data (dicts, lists, tuples, str, int, float, bool,
    None), so :func:`torch.load` with ``weights_only=True`` reads it. A file that needs
    the full unpickler is refused, never executed.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from impasto.errors import ModelError
from impasto.runtime.io.atomic import atomic_write_bytes

FORMAT = "impasto.checkpoint/1"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Serialise to memory, then write atomically (no half-written checkpoint).

    Raises:
        ModelError: the payload holds something other than plain data and tensors (it
            could not be read back with ``weights_only=True``).
    """
    data = _serialise({"format": FORMAT, **payload})
    if data is None:  # refuse to write what load_checkpoint would refuse to read
        bad = [k for k, v in payload.items() if _serialise({k: v}) is None]
        raise ModelError(f"checkpoint {str(path)!r}: expected plain data and tensors only, got other objects "
                         f"under {bad}")
    atomic_write_bytes(path, data)


def _serialise(obj: Any) -> bytes | None:
    """``torch.save`` bytes of ``obj``, or None when ``weights_only=True`` could not read them back."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    try:
        torch.load(io.BytesIO(buf.getvalue()), map_location="cpu", weights_only=True)
    except Exception:
        return None
    return buf.getvalue()


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check an impasto checkpoint (``weights_only=True``).

    Raises:
        ModelError: missing file, not a checkpoint, a file that would need the full
            unpickler (it may run code: refused), or an unknown format.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"checkpoint: expected a file, got {str(p)!r} (no such file)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc) or "WeightsUnpickler" in str(exc):
            raise ModelError(f"checkpoint {str(p)!r}: refused: it holds Python objects that only the full unpickler "
                             "loads, which can run code; if you trust the file, convert it with "
                             f"'python -m impasto.tools.convert_checkpoint {str(p)!r}'") from None
        raise ModelError(f"checkpoint {str(p)!r}: cannot read ({type(exc).__name__}: {first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"checkpoint {str(p)!r}: expected format {FORMAT!r}, got {got!r}")
    return ckpt
