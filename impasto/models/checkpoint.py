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

import dataclasses
import io
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from impasto.errors import ModelError, UserError
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
            unpickler (it may run code: refused, naming the conversion command), or an
            unknown format.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"checkpoint: expected a file, got {str(p)!r} (no such file)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        if needs_full_unpickler(exc):
            raise ModelError(f"checkpoint {str(p)!r}: refused: it holds Python objects that only the full unpickler "
                             "loads, and unpickling can run code; if you trust the file, convert it with "
                             f"'impasto upgrade-checkpoint {str(p)} -o NEW.pt'") from None
        raise ModelError(f"checkpoint {str(p)!r}: cannot read ({one_line_load_error(exc)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"checkpoint {str(p)!r}: expected format {FORMAT!r}, got {got!r}")
    return ckpt


def needs_full_unpickler(exc: BaseException) -> bool:
    """Whether a ``torch.load(..., weights_only=True)`` failure means the file holds non-allow-listed objects."""
    return isinstance(exc, pickle.UnpicklingError) and "weights_only" in str(exc).lower().replace(" ", "_")


def one_line_load_error(exc: BaseException) -> str:
    """``torch.load``'s error as one plain line: no colour codes, no multi-line advice."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if needs_full_unpickler(exc):
        return "it holds Python objects that only the full unpickler loads (refused: unpickling can run code)"
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else "an empty or truncated file"


def upgrade_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> dict[str, Any]:
    """Rewrite a checkpoint you trust as plain data, so that ``weights_only=True`` loads it.

    The source is read with the full unpickler, which runs whatever code the file names:
    only call this on files you trust. Strings subclasses (``torch.__version__``), paths,
    numpy scalars and arrays, and dataclasses become plain values; anything else is refused.

    Args:
        src: the old checkpoint.
        dst: where to write the converted one (atomically; refused if it is ``src``).

    Returns:
        ``{"output", "method", "converted"}``: ``converted`` lists the converted objects' types.

    Raises:
        ModelError: unreadable source, an impasto format it is not, or an object that has no
            plain equivalent.
        UserError: ``dst`` is ``src``.
    """
    if Path(src).resolve() == Path(dst).resolve():
        raise UserError("upgrade-checkpoint: expected an output other than the input (the original is kept)")
    try:
        ckpt = torch.load(src, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelError(f"checkpoint {str(src)!r}: cannot read ({one_line_load_error(exc)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"checkpoint {str(src)!r}: expected format {FORMAT!r}, got {got!r}")
    converted: list[str] = []
    plain = {k: _plain(v, converted, k) for k, v in ckpt.items() if k != "format"}
    save_checkpoint(dst, plain)
    return {"output": str(dst), "method": plain.get("method"), "converted": sorted(set(converted))}


def _plain(obj: Any, converted: list[str], where: str) -> Any:
    """``obj`` with every value that ``weights_only=True`` refuses turned into plain data."""
    import numpy as np

    if type(obj) in _PLAIN_TYPES or isinstance(obj, (torch.Tensor, torch.dtype, torch.device)):
        return obj
    if type(obj) is dict:
        return {_plain(k, converted, where): _plain(v, converted, f"{where}.{k}") for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_plain(v, converted, f"{where}[{i}]") for i, v in enumerate(obj))
    converted.append(f"{type(obj).__module__}.{type(obj).__qualname__}")
    for plain_type in (bool, int, float, str):  # subclasses: TorchVersion, IntEnum, ...
        if isinstance(obj, plain_type):
            return plain_type(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, dict):  # OrderedDict, defaultdict
        return _plain(dict(obj), converted, where)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj), converted, where)
    raise ModelError(f"upgrade-checkpoint: {where} holds a {type(obj).__module__}.{type(obj).__qualname__}, "
                     "which has no plain-data equivalent")


_PLAIN_TYPES = (type(None), bool, int, float, str)
