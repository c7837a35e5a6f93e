"""Multi-output (multiscale) style models, e.g. an exported MT-Net: which output to return, at which input size.

A multiscale model has one ``image`` input and several outputs, each the stylisation at
another resolution, described by its ``impasto.multiscale`` metadata (written by
:mod:`impasto.export.methods.multimodal`)::

    {"outputs": [{"name": "stylized_256", "scale": 256, "downsample": 4}, ...],
     "default": "stylized_1024", "min_side": 17, "trained_side": 1024}

Convention:
    ``scale`` is an output's nominal side for the input size the model was trained at
    (``trained_side``); ``downsample`` is the output's size divisor relative to the input
    (``ceil`` per halving). The runtime feeds the image at its own size (at least
    ``min_side`` per side: smaller images are enlarged, aspect kept) and resizes the chosen
    output back to the image's size, so every model keeps the "same size out" contract.
    Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from impasto.contracts import MULTISCALE_KIND as KIND  # noqa: F401 (kept for importers)
from impasto.contracts import MULTISCALE_METADATA_KEY as METADATA_KEY
from impasto.errors import ModelError, UserError


@dataclass(frozen=True)
class MultiscaleLayout:
    """What a multiscale model's metadata says.

    Attributes:
        outputs: ``(name, scale)`` per output, coarse to fine.
        default: the output returned when no scale is asked for (the finest).
        min_side: smallest input height or width the graph accepts.
        trained_side: the input side the model was trained at.
    """

    outputs: tuple[tuple[str, int], ...]
    default: str
    min_side: int
    trained_side: int
    #: ``(output name, its size divisor, a power of 2)`` where the metadata gives one.
    downsample: tuple[tuple[str, int], ...] = ()

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(s for _, s in self.outputs)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], where: str) -> MultiscaleLayout | None:
        """The layout, or None for a single-output model (no ``impasto.multiscale`` entry).

        Raises:
            ModelError: the entry is there but unreadable.
        """
        text = metadata.get(METADATA_KEY)
        if text is None:
            return None
        try:
            raw = json.loads(text)
            outputs = tuple((str(o["name"]), int(o["scale"])) for o in raw["outputs"])
            downsample = tuple((str(o["name"]), int(o["downsample"])) for o in raw["outputs"] if "downsample" in o)
            layout = cls(outputs, str(raw["default"]), int(raw["min_side"]), int(raw["trained_side"]), downsample)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{where}: unreadable {METADATA_KEY} metadata ({type(exc).__name__}: {exc})") from None
        powers = all(d >= 1 and d & (d - 1) == 0 for _, d in downsample)
        if not outputs or layout.default not in {n for n, _ in outputs} or layout.min_side < 1 or not powers:
            raise ModelError(f"{where}: {METADATA_KEY} metadata expected outputs (downsample a power of 2), a "
                             f"default among them and min_side >= 1, got {text!r}")
        return layout


def select_output(layout: MultiscaleLayout | None, output_names: Sequence[str], scale: int | None,
                  where: str) -> str:
    """The graph output to return.

    Args:
        layout: the model's layout (None: a single-output model).
        output_names: the graph's outputs, in order.
        scale: the nominal scale asked for (e.g. 256), or None for the default.
        where: names the model in error messages.

    Raises:
        UserError: ``scale`` on a single-output model, or a scale the model does not have.
        ModelError: the metadata names an output the graph lacks.
    """
    if layout is None:
        if scale is not None:
            raise UserError(f"scale {scale}: {where} has a single output ({output_names[0]!r}); "
                            "a scale needs a multiscale model such as an exported MT-Net")
        return output_names[0]
    if scale is None:
        name = layout.default
    else:
        found = [n for n, s in layout.outputs if s == scale]
        if not found:
            raise UserError(f"scale: expected one of {', '.join(map(str, layout.scales))} for {where}, got {scale}")
        name = found[0]
    if name not in output_names:
        raise ModelError(f"{where}: {METADATA_KEY} names output {name!r}, but the graph's outputs are "
                         f"{list(output_names)}")
    return name


def input_size(layout: MultiscaleLayout | None, height: int, width: int) -> tuple[int, int]:
    """The size to feed: the image's own, enlarged (aspect kept) when a side is below ``min_side``."""
    if layout is None or min(height, width) >= layout.min_side:
        return height, width
    s = layout.min_side / min(height, width)
    return max(layout.min_side, round(height * s)), max(layout.min_side, round(width * s))


def output_size(layout: MultiscaleLayout | None, name: str, height: int, width: int) -> tuple[int, int] | None:
    """The size output ``name`` has for a ``height x width`` input: the input's own for a single-output model,
    ``ceil`` of each halving for a multiscale output; None where the metadata gives no ``downsample``."""
    if layout is None:
        return height, width
    d = dict(layout.downsample).get(name)
    if d is None:
        return None
    while d > 1:
        height, width, d = -(-height // 2), -(-width // 2), d // 2
    return height, width
