"""A graph's output contract, as its metadata declares it, and the check every run is held to (torch-free).

The exporters write each graph's output specs into its ``impasto.output`` metadata: one
JSON object, or a list of them for a graph with several outputs, each with the output's
``name``, ``layout``, ``dtype``, value ``range`` and ``shape``. The pipelines check every
run against them before turning an output into an image: the channels the pipeline needs
(3 for an RGB image), the size the output must have for the input it was fed, and values
within the declared range. A graph that breaks its contract is refused with a
:class:`~impasto.errors.ModelError` naming the output, what was expected and what was got;
its output is never resized, turned grey or clipped to white in silence.

Convention:
    Outputs are float NCHW arrays with ``N = 1``. A range is ``(low, high)``; ``high``
    None means unbounded. A run's values may stray outside the range by
    :data:`RANGE_SLACK` of its span on either side (unclamped networks overshoot a
    little, and the pipelines clip that away); an output on another scale, such as
    0..255 where 0..1 is declared, is far outside. Without ``impasto.output`` metadata a
    pipeline assumes its documented range and says so in the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from impasto.errors import ModelError

METADATA_KEY = "impasto.output"
#: How far (a share of the declared range's span) a run's values may stray outside the range.
RANGE_SLACK = 0.5

ValueRange = tuple[float, float | None]


@dataclass(frozen=True)
class OutputContract:
    """What a graph declares about its outputs.

    Attributes:
        ranges: output name -> declared value range (None: the spec gives none).
        declared: whether the graph has ``impasto.output`` metadata at all.
    """

    ranges: Mapping[str, ValueRange | None]
    declared: bool

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], output_names: Sequence[str], where: str) -> OutputContract:
        """Read ``impasto.output``; an entry without a ``name`` describes the output at its position.

        Raises:
            ModelError: the entry is there but unreadable.
        """
        text = metadata.get(METADATA_KEY)
        if text is None:
            return cls({}, False)
        try:
            raw = json.loads(text)
            entries = raw if isinstance(raw, list) else [raw]
            ranges = {}
            for i, entry in enumerate(entries):
                name = str(entry["name"]) if "name" in entry else output_names[i]
                ranges[name] = _value_range(entry.get("range"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ModelError(f"{where}: unreadable {METADATA_KEY} metadata {text!r}") from None
        return cls(ranges, True)

    def range_of(self, name: str, assumed: ValueRange | None) -> tuple[ValueRange | None, str]:
        """``(range, where it comes from)`` for output ``name``; ``assumed`` where the metadata says nothing."""
        if name in self.ranges:
            return self.ranges[name], f"as its {METADATA_KEY} metadata says"
        why = "has no range for this output" if self.declared else "is missing"
        return assumed, f"assumed: its {METADATA_KEY} metadata {why}"


def _value_range(raw: object) -> ValueRange | None:
    if raw is None:
        return None
    low, high = raw  # type: ignore[misc]
    return float(low), None if high is None else float(high)


def check_output(array: np.ndarray, name: str, *, channels: int, size: tuple[int, int] | None,
                 fed: tuple[int, int], value_range: tuple[ValueRange | None, str], where: str) -> None:
    """Hold one output of a run to its contract.

    Args:
        array: the output, NCHW.
        name: the output's name.
        channels: the channels it must have (3: an RGB image).
        size: the ``(height, width)`` it must have for this run (None: not checked).
        fed: the ``(height, width)`` of the input it was computed from (for the message).
        value_range: from :meth:`OutputContract.range_of`.
        where: names the model in the message.

    Raises:
        ModelError: a wrong rank, channel count or size, or values far outside the range.
    """
    shape = list(array.shape)
    if array.ndim != 4 or shape[0] < 1 or shape[1] != channels:
        what = "an RGB image" if channels == 3 else f"{channels} channels"
        raise ModelError(f"{where}: output {name!r} has shape {shape}, expected [1, {channels}, H, W] ({what}); "
                         "refusing to convert it")
    if size is not None and tuple(shape[2:]) != tuple(size):
        raise ModelError(f"{where}: output {name!r} is {shape[3]}x{shape[2]} for a {fed[1]}x{fed[0]} input, expected "
                         f"{size[1]}x{size[0]}; refusing to resize it")
    bounds, source = value_range
    if bounds is None or array.size == 0:
        return
    low, high = bounds
    slack = RANGE_SLACK * ((high - low) if high is not None else 1.0)
    got_low, got_high = float(array.min()), float(array.max())
    if got_low < low - slack or (high is not None and got_high > high + slack):
        shown = f"[{low:g}, {high:g}]" if high is not None else f"[{low:g}, unbounded)"
        raise ModelError(f"{where}: output {name!r} has values in [{got_low:.4g}, {got_high:.4g}], expected {shown} "
                         f"({source}); refusing to clip it: re-export the graph or correct its {METADATA_KEY} "
                         "metadata")
