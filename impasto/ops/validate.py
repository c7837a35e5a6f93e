"""Input checks shared by the ops' Python faces (the kernels repeat them with ``TORCH_CHECK``).

Every message says what was expected and what was got, e.g.
``tps_warp: expected src_points of shape BxKx2 with B=2 and K >= 3, got (2, 5, 3)``.
"""

from __future__ import annotations

import torch

from impasto.errors import UserError

#: The dtypes every op accepts (inputs of one call must share one of them).
SUPPORTED_DTYPES = (torch.float32, torch.float64)


class OpInputError(UserError, ValueError):
    """A tensor handed to an ``impasto.ops`` function has the wrong rank, shape, dtype or device."""


def check_tensor(op: str, name: str, t: object, ndim: int, layout: str) -> torch.Tensor:
    """Check that ``t`` is a float32/float64 tensor of rank ``ndim``.

    Args:
        op: the op's name, for the message.
        name: the argument's name, for the message.
        t: the value to check.
        ndim: the expected rank.
        layout: the expected layout in words, e.g. ``"BxCxHxW"``.

    Returns:
        ``t`` itself.

    Raises:
        OpInputError: on a non-tensor, a wrong rank or an unsupported dtype.
    """
    if not isinstance(t, torch.Tensor):
        raise OpInputError(f"{op}: expected {name} as a {layout} tensor, got {type(t).__name__}")
    if t.ndim != ndim:
        raise OpInputError(f"{op}: expected {name} of rank {ndim} ({layout}), got shape {tuple(t.shape)}")
    if t.dtype not in SUPPORTED_DTYPES:
        raise OpInputError(f"{op}: expected {name} as float32 or float64, got {t.dtype}")
    return t


def check_same(op: str, names: tuple[str, ...], tensors: tuple[torch.Tensor, ...]) -> None:
    """Check that the tensors share one dtype and one device.

    Raises:
        OpInputError: naming the first pair that differs.
    """
    first = tensors[0]
    for name, t in zip(names[1:], tensors[1:]):
        if t.dtype != first.dtype:
            raise OpInputError(f"{op}: expected {name} with the dtype of {names[0]} ({first.dtype}), got {t.dtype}")
        if t.device != first.device:
            raise OpInputError(f"{op}: expected {name} on the device of {names[0]} ({first.device}), got {t.device}")


def check_correlation_inputs(fc: object, fg: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the inputs of ``correlation4d``: ``BxCxHxW`` and ``BxCxHgxWg``, same B and C."""
    fc = check_tensor("correlation4d", "fc", fc, 4, "BxCxHxW")
    fg = check_tensor("correlation4d", "fg", fg, 4, "BxCxHgxWg")
    check_same("correlation4d", ("fc", "fg"), (fc, fg))
    if fg.shape[:2] != fc.shape[:2]:
        raise OpInputError(f"correlation4d: expected fg of shape {tuple(fc.shape[:2])} x Hg x Wg (B, C of fc), "
                           f"got {tuple(fg.shape)}")
    return fc, fg


def check_local_inputs(fc: object, fg: object, radius: object) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Check the inputs of ``local_correlation``: two ``BxCxHxW`` tensors of one shape, an int radius >= 0."""
    fc = check_tensor("local_correlation", "fc", fc, 4, "BxCxHxW")
    fg = check_tensor("local_correlation", "fg", fg, 4, "BxCxHxW")
    check_same("local_correlation", ("fc", "fg"), (fc, fg))
    if fg.shape != fc.shape:
        raise OpInputError(f"local_correlation: expected fg of the shape of fc {tuple(fc.shape)}, "
                           f"got {tuple(fg.shape)}")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise OpInputError(f"local_correlation: expected radius as an integer >= 0, got {radius!r}")
    return fc, fg, radius


def check_points(op: str, src_points: object, dst_points: object,
                 batch: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two ``BxKx2`` point sets (same shape, K >= 3; B equal to ``batch`` when given)."""
    src = check_tensor(op, "src_points", src_points, 3, "BxKx2")
    dst = check_tensor(op, "dst_points", dst_points, 3, "BxKx2")
    check_same(op, ("src_points", "dst_points"), (src, dst))
    if src.shape[2] != 2 or src.shape[1] < 3 or (batch is not None and src.shape[0] != batch):
        b = "B" if batch is None else f"B={batch}"
        raise OpInputError(f"{op}: expected src_points of shape BxKx2 with {b} and K >= 3, got {tuple(src.shape)}")
    if dst.shape != src.shape:
        raise OpInputError(f"{op}: expected dst_points of the shape of src_points {tuple(src.shape)}, "
                           f"got {tuple(dst.shape)}")
    return src, dst


def check_regularization(op: str, regularization: object) -> float:
    """Check the TPS smoothing weight: a finite float >= 0."""
    if isinstance(regularization, bool) or not isinstance(regularization, (int, float)) or not (
            0.0 <= float(regularization) < float("inf")):
        raise OpInputError(f"{op}: expected regularization as a finite number >= 0, got {regularization!r}")
    return float(regularization)


def check_size(op: str, height: object, width: object) -> tuple[int, int]:
    """Check an output size: two integers >= 0."""
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise OpInputError(f"{op}: expected {name} as an integer >= 0, got {v!r}")
    return height, width
