"""TensorRT optimisation profiles: parse ``--shapes``, validate them, check feeds against them.

Pure Python (no TensorRT, no CUDA): shared by the engine builder and the TensorRT backend.

Convention:
    Shapes are NCHW tuples ``(batch, channels, height, width)`` with 3 (RGB) channels.
    ``--shapes`` takes ``MIN,OPT,MAX``; each entry is ``NxCxHxW`` or ``HxW`` (batch 1,
    3 channels), e.g. ``256x256,512x512,1080x1920`` or
    ``1x3x256x256,1x3x512x512,1x3x1080x1920``. A profile accepts a shape when every dim
    lies in ``[min, max]``; the builder tunes its kernels for ``opt``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from impasto.errors import InputMismatchError, UserError

DIM_NAMES = ("batch", "channels", "height", "width")
CHANNELS = 3
#: Smallest height/width the style networks accept (as the feed-forward export plan's minimum side).
MIN_SIDE = 5
#: ``impasto build-engine``'s profile when ``--shapes`` is not given: either orientation up to 1920 px.
DEFAULT_SHAPES = "64x64,512x512,1920x1920"
SHAPES_HELP = "MIN,OPT,MAX, each NxCxHxW or HxW (e.g. 256x256,512x512,1080x1920)"

Shape = tuple[int, ...]


def format_shape(shape: Sequence[int | None]) -> str:
    """``(1, 3, 256, 256)`` -> ``"1x3x256x256"`` (``None`` -> ``?``)."""
    return "x".join("?" if d is None else str(d) for d in shape)


@dataclass(frozen=True)
class EngineProfile:
    """The min/opt/max shapes of one engine input.

    Attributes:
        input_name: the input tensor's name (``"image"`` for impasto models).
        min: smallest accepted shape.
        opt: the shape the engine is tuned for.
        max: largest accepted shape; device buffers are sized for it.
    """

    input_name: str
    min: Shape
    opt: Shape
    max: Shape

    def contains(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(lo <= d <= hi for d, lo, hi in zip(shape, self.min, self.max))

    def describe(self) -> str:
        return f"{self.input_name}: min {format_shape(self.min)}, opt {format_shape(self.opt)}, " \
               f"max {format_shape(self.max)}"

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input_name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: Any) -> EngineProfile:
        """Read :meth:`to_dict`'s form.

        Raises:
            ValueError: anything else (the caller says which file it came from).
        """
        if not isinstance(data, dict) or not isinstance(data.get("input"), str):
            raise ValueError(f"expected {{'input', 'min', 'opt', 'max'}}, got {data!r}")
        shapes = []
        for key in ("min", "opt", "max"):
            value = data.get(key)
            if not isinstance(value, list) or not value or not all(_is_int(d) and d > 0 for d in value):
                raise ValueError(f"profile {key}: expected a list of positive integers, got {value!r}")
            shapes.append(tuple(int(d) for d in value))
        if not len(shapes[0]) == len(shapes[1]) == len(shapes[2]):
            raise ValueError(f"profile: min/opt/max have different ranks: {shapes}")
        return cls(data["input"], *shapes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_shape(text: str, *, role: str = "shape") -> Shape:
    """Parse one ``NxCxHxW`` or ``HxW`` entry into an NCHW tuple.

    Raises:
        UserError: not two or four positive integers joined by ``x``.
    """
    entry = text.strip().lower()
    if not re.fullmatch(r"\d+(x\d+){1}|\d+(x\d+){3}", entry):
        raise UserError(f"--shapes: expected {role} as NxCxHxW or HxW (e.g. 1x3x512x512 or 512x512), got {text!r}")
    dims = tuple(int(d) for d in entry.split("x"))
    if len(dims) == 2:
        dims = (1, CHANNELS, *dims)
    return dims


def validate_profile(min_shape: Sequence[int], opt_shape: Sequence[int], max_shape: Sequence[int]) -> None:
    """Check an NCHW min/opt/max triple: RGB, sides >= :data:`MIN_SIDE`, min <= opt <= max per dim.

    Raises:
        UserError: saying which shape and dim is wrong, with the values.
    """
    named = (("min", min_shape), ("opt", opt_shape), ("max", max_shape))
    for role, shape in named:
        if len(shape) != 4:
            raise UserError(f"--shapes: expected {role} with 4 dims NxCxHxW, got {format_shape(shape)}")
        n, c, h, w = shape
        if c != CHANNELS:
            raise UserError(f"--shapes: channels must be {CHANNELS} (RGB), got {c} in {role} {format_shape(shape)}")
        if n < 1:
            raise UserError(f"--shapes: batch must be >= 1, got {n} in {role} {format_shape(shape)}")
        if h < MIN_SIDE or w < MIN_SIDE:
            raise UserError(f"--shapes: height and width must be >= {MIN_SIDE}, got {h}x{w} in {role} "
                            f"{format_shape(shape)}")
    for (lo_role, lo), (hi_role, hi) in ((named[0], named[1]), (named[1], named[2])):
        for i, (a, b) in enumerate(zip(lo, hi)):
            if a > b:
                raise UserError(f"--shapes: expected {lo_role} <= {hi_role} in every dim, got {lo_role} "
                                f"{format_shape(lo)} and {hi_role} {format_shape(hi)} ({DIM_NAMES[i]}: {a} > {b})")


def parse_shapes(spec: str | Sequence[str | Sequence[int]]) -> tuple[Shape, Shape, Shape]:
    """Parse and validate ``--shapes`` (a ``"MIN,OPT,MAX"`` string or a 3-sequence of entries/tuples).

    Returns:
        ``(min, opt, max)`` as NCHW tuples.

    Raises:
        UserError: not three entries, a malformed entry, or a profile that fails
            :func:`validate_profile`.
    """
    entries = [e for e in spec.split(",")] if isinstance(spec, str) else list(spec)
    if len(entries) != 3:
        raise UserError(f"--shapes: expected three shapes {SHAPES_HELP}, got {spec!r}")
    shapes: list[Shape] = []
    for role, entry in zip(("min", "opt", "max"), entries):
        if isinstance(entry, str):
            shapes.append(parse_shape(entry, role=role))
        elif isinstance(entry, Sequence) and all(_is_int(d) for d in entry) and len(entry) in (2, 4):
            shapes.append(tuple(entry) if len(entry) == 4 else (1, CHANNELS, *entry))
        else:
            raise UserError(f"--shapes: expected {role} as NxCxHxW or HxW, got {entry!r}")
    validate_profile(*shapes)
    return shapes[0], shapes[1], shapes[2]


def check_profile_fits_input(name: str, input_dims: Sequence[int], shapes: Sequence[Shape]) -> None:
    """Check a profile against a network input's dims (``-1`` = dynamic) before building.

    Raises:
        UserError: a rank mismatch, or a fixed dim that the profile would change.
    """
    for role, shape in zip(("min", "opt", "max"), shapes):
        if len(shape) != len(input_dims):
            raise UserError(f"--shapes: the ONNX input {name!r} has {len(input_dims)} dims "
                            f"{format_shape([None if d < 0 else d for d in input_dims])}, got {role} "
                            f"{format_shape(shape)}")
        for i, (fixed, d) in enumerate(zip(input_dims, shape)):
            if fixed >= 0 and fixed != d:
                raise UserError(f"--shapes: the ONNX input {name!r} has a fixed {DIM_NAMES[i]} of {fixed}, got {role} "
                                f"{format_shape(shape)}")


def check_within_profile(name: str, shape: Sequence[int], profile: EngineProfile) -> None:
    """Check a feed's shape against an engine profile's range.

    Raises:
        InputMismatchError: ``expected min .. max, got SHAPE (dim: value out of range)``.
    """
    if profile.contains(shape):
        return
    expected = f"a shape from {format_shape(profile.min)} to {format_shape(profile.max)}"
    if len(shape) != len(profile.min):
        raise InputMismatchError(f"input {name!r}: expected {expected}, got {format_shape(shape)}")
    for i, (d, lo, hi) in enumerate(zip(shape, profile.min, profile.max)):
        if not lo <= d <= hi:
            dim = DIM_NAMES[i] if len(shape) == len(DIM_NAMES) else f"dim {i}"
            raise InputMismatchError(f"input {name!r}: expected {expected} (the engine's optimisation profile), got "
                                     f"{format_shape(shape)} ({dim} {d} is outside [{lo}, {hi}]; rebuild the engine "
                                     "with wider --shapes or resize the input)")
