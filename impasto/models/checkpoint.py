"""Checkpoint files: written atomically, read with ``weights_only=True`` (a file never runs code).

A checkpoint is a ``dict`` saved with ``torch.save``::

    {"format": "impasto.checkpoint/1", "method": "feedforward",
     "model": {"arch": "TransformerNet", "config": {...}},
     "state_dict": ..., "optimizer": ..., "iteration": int,
     "train_config": {...}, "card": {...}}

Convention:
    Everything but tensors is plain data (dicts, lists, tuples, str, int, float, bool,
    None), so :func:`torch.load` with ``weights_only=True`` reads it. A file that needs
    the full unpickler is refused, never executed (:func:`safe_load`).
"""

from __future__ import annotations

import io
import os
import pathlib
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.torch_version import TorchVersion

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
        ModelError: missing file, not a checkpoint, a file holding Python objects beyond
            plain data and tensors (refused, naming the conversion command), or an
            unknown format.
    """
    hint = f"convert it with 'impasto upgrade-checkpoint {str(path)} -o NEW.pt'"
    return _check_format(safe_load(path, "checkpoint", refused_hint=hint), path)


def safe_load(path: str | os.PathLike, what: str, *, allowed: Sequence[type] = (),
              refused_hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain data only, so the file never runs code.

    Args:
        path: the file.
        what: how messages name it (``"checkpoint"``, ``"fast-neural-style checkpoint"``).
        allowed: classes the unpickler may rebuild besides plain data (harmless value types).
        refused_hint: what to do about a file holding other objects (appended to the message).

    Raises:
        ModelError: no such file, unreadable, or holding objects outside plain data,
            tensors and ``allowed`` — one line each.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{what}: expected a file, got {str(p)!r} (no such file)")
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        if refused_hint and needs_full_unpickler(exc):
            raise ModelError(f"{what} {str(p)!r}: refused: it holds Python objects that only the full unpickler "
                             f"loads, and unpickling can run code; {refused_hint}") from None
        raise ModelError(f"{what} {str(p)!r}: cannot read ({one_line_load_error(exc)})") from None


def _check_format(ckpt: Any, path: str | os.PathLike) -> dict[str, Any]:
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"checkpoint {str(path)!r}: expected format {FORMAT!r}, got {got!r}")
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


#: What checkpoints written before the plain-data rule held beyond plain data: ``torch.__version__``
#: (a ``TorchVersion``) and paths in the card. Harmless value types, rebuilt without running code.
OLD_CHECKPOINT_TYPES: tuple[type, ...] = (TorchVersion, pathlib.PosixPath, pathlib.PurePosixPath,
                                          pathlib.WindowsPath, pathlib.PureWindowsPath)


def upgrade_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> dict[str, Any]:
    """Rewrite an older checkpoint as plain data, so that ``weights_only=True`` loads it.

    The source is read with ``weights_only=True`` too, allowing only
    :data:`OLD_CHECKPOINT_TYPES` (version strings and paths, which become ``str``): no file
    runs code, trusted or not. A file holding any other object is refused, naming its types.

    Args:
        src: the old checkpoint.
        dst: where to write the converted one (atomically; refused if it is ``src``).

    Returns:
        ``{"output", "method", "converted"}``: ``converted`` lists the converted objects' types.

    Raises:
        ModelError: unreadable source, objects other than those above, or not an impasto
            checkpoint.
        UserError: ``dst`` is ``src``.
    """
    if Path(src).resolve() == Path(dst).resolve():
        raise UserError("upgrade-checkpoint: expected an output other than the input (the original is kept)")
    try:
        ckpt = _check_format(safe_load(src, "checkpoint", allowed=OLD_CHECKPOINT_TYPES), src)
    except ModelError as exc:
        if "only the full unpickler" not in str(exc):
            raise
        others = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(src))
                        - {f"{t.__module__}.{t.__qualname__}" for t in OLD_CHECKPOINT_TYPES})
        raise ModelError(f"upgrade-checkpoint: {str(src)!r} holds objects impasto does not rebuild "
                         f"({', '.join(others)}); only version strings and paths are converted, and nothing in "
                         "the file was run") from None
    converted: list[str] = []
    plain = {k: _plain(v, converted) for k, v in ckpt.items() if k != "format"}
    save_checkpoint(dst, plain)
    return {"output": str(dst), "method": plain.get("method"), "converted": sorted(set(converted))}


def _plain(obj: Any, converted: list[str]) -> Any:
    """``obj`` with the :data:`OLD_CHECKPOINT_TYPES` in it turned into ``str``."""
    if isinstance(obj, OLD_CHECKPOINT_TYPES):
        converted.append(f"{type(obj).__module__}.{type(obj).__qualname__}")
        return str(obj)
    if isinstance(obj, dict):  # dict or OrderedDict (state dicts), kept as it is
        return type(obj)((k, _plain(v, converted)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(_plain(v, converted) for v in obj)
    return obj


#: What a weights-only copy keeps: enough to rebuild the network (``impasto export``) and to start a new run
#: from it (``--init``), not to ``--resume`` it.
WEIGHTS_ONLY_KEYS = ("method", "model", "state_dict", "iteration", "train_config", "card")
#: Kept too where a method writes them: what the network's outputs mean, which ``impasto export`` needs
#: (a bank's style names and painting files).
WEIGHTS_ONLY_IDENTITY_KEYS = ("style_names", "style_files")


def weights_only_copy(src: str | os.PathLike, dst: str | os.PathLike) -> dict[str, Any]:
    """Write a copy of a training checkpoint without its optimizer and method state (e.g. discriminators).

    The copy keeps :data:`WEIGHTS_ONLY_KEYS` (and :data:`WEIGHTS_ONLY_IDENTITY_KEYS` where
    present), an empty ``optimizer`` and the card plus
    ``weights_only_copy_of`` (the source's file name and what was dropped). Its floating-point
    tensors are views into one storage per dtype (:func:`packed_state_dict`): the same values,
    one zip record instead of one per tensor (about 40 KB less for MUNIT's 158 tensors).

    Returns:
        ``{"output", "dropped", "bytes"}``.

    Raises:
        UserError: ``dst`` is ``src`` (the training checkpoint is kept).
        ModelError: an unreadable source or one that lacks a kept key.
    """
    if Path(src).resolve() == Path(dst).resolve():
        raise UserError("weights-only copy: expected an output other than the input (the original is kept)")
    ckpt = load_checkpoint(src)
    missing = [k for k in WEIGHTS_ONLY_KEYS if k not in ckpt]
    if missing:
        raise ModelError(f"weights-only copy: expected a training checkpoint in {str(src)!r}, got one without "
                         f"{missing}")
    keep = (*WEIGHTS_ONLY_KEYS, *(k for k in WEIGHTS_ONLY_IDENTITY_KEYS if k in ckpt))
    dropped = sorted(k for k in ckpt if k not in (*keep, "format"))
    card = {**ckpt["card"], "weights_only_copy_of": {"checkpoint": Path(src).name, "dropped": dropped}}
    kept = {k: ckpt[k] for k in keep}
    kept["state_dict"] = packed_state_dict(kept["state_dict"])
    save_checkpoint(dst, {**kept, "card": card, "optimizer": {}})
    return {"output": str(dst), "dropped": dropped, "bytes": Path(dst).stat().st_size}


def packed_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors, the floating-point ones as views into one contiguous storage per dtype.

    ``torch.save`` writes one zip record (with its header and alignment) per storage, so a
    state dict of many small tensors shrinks when they share one; values are bit-identical and
    ``load_state_dict`` copies them out as usual. Other tensors are kept as they are.
    """
    packed: dict[str, torch.Tensor] = dict(state)
    by_dtype: dict[torch.dtype, list[str]] = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            by_dtype.setdefault(value.dtype, []).append(key)
    for keys in by_dtype.values():
        flat = torch.cat([state[k].detach().reshape(-1) for k in keys])
        offset = 0
        for k in keys:
            n = state[k].numel()
            packed[k] = flat[offset:offset + n].view(state[k].shape)
            offset += n
    return packed
