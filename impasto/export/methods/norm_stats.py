"""Stats forms (``impasto export CKPT --norm-stats``): a feed-forward graph whose instance norms take given statistics.

The runtime's tiled inference (:mod:`impasto.runtime.pipelines.tiled`) runs the stats form
once on a thumbnail with ``stats_from_image = 1`` to record the statistics every norm
layer uses, then on each tile with ``stats_from_image = 0`` and those statistics, so the
tiles agree (thumbnail instance normalisation, see :mod:`impasto.models.norm_stats`). The
plain graph stays the one for images that fit in memory.

The stats form is built from the plain plan of a ``feedforward`` or ``bank`` checkpoint:
the same module inside :class:`~impasto.models.norm_stats.StatsForm`, the plain contract
plus ``norm_stats`` / ``stats_from_image`` in and ``used_norm_stats`` out
(:data:`impasto.contracts.STYLIZE_STATS`, :data:`impasto.contracts.BANK_STATS`). Parity
covers both modes at every size: the image's own statistics, and the statistics of its
half-size thumbnail (what tiles get).

Convention:
    See :mod:`impasto.models.norm_stats`. ``impasto.norm_stats`` metadata is JSON
    ``{"channels": T, "layers": [C1, C2, ...], "eps": 1e-5}``; ``impasto.kind`` is
    ``"norm-stats"``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import CONTRACTS
from impasto.errors import UserError
from impasto.export.parity import torch_outputs
from impasto.export.pipeline import ExportPlan

if TYPE_CHECKING:
    import torch

#: Methods with a stats form.
STATS_METHODS = ("feedforward", "bank")


@dataclasses.dataclass(frozen=True)
class StatsPlan(ExportPlan):
    """A plain plan's module in :class:`~impasto.models.norm_stats.StatsForm`; feeds in both modes."""

    base: ExportPlan | None = None

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(1)
        t = self.bindings["norm_channels"]
        stats = torch.stack([torch.randn(t, generator=g), torch.rand(t, generator=g) + 0.5])[None]
        return (*self.base.example_inputs(), stats, torch.zeros(1))

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        t = self.bindings["norm_channels"]
        names = self.contract.input_names
        for fields, feed in self.base.feeds(sizes):
            own = {**feed, "norm_stats": np.zeros((1, 2, t), np.float32), "stats_from_image": np.ones(1, np.float32)}
            yield {**fields, "stats": "own"}, own
            image = feed[names[0]]
            thumbnail = {**own, names[0]: np.ascontiguousarray(image[:, :, ::2, ::2])}
            stats = torch_outputs(self.module, thumbnail, names)[1][:1]
            yield {**fields, "stats": "thumbnail"}, {**own, "norm_stats": stats, "stats_from_image":
                                                      np.zeros(1, np.float32)}

    def bounds(self, feed: dict[str, np.ndarray], reference: list[np.ndarray],
               atol: float) -> list[tuple[float, dict[str, Any]]]:
        # the statistics are raw feature moments (up to ~1e2): the same relative precision as the image
        scale = max(1.0, float(np.abs(reference[1]).max()))
        return [(atol, {}), (atol * scale, {})]


def stats_plan(plain: ExportPlan) -> StatsPlan:
    """The stats form of a plain ``feedforward`` / ``bank`` plan (its module wraps the raw network as ``.net``).

    Raises:
        UserError: another method, or ``fp16`` asked of it (the stats form exports in fp32).
    """
    from impasto.models.norm_stats import BankStatsForm, ImageStatsForm, norm_layers

    if plain.method not in STATS_METHODS:
        raise UserError(f"--norm-stats: expected a {' or '.join(STATS_METHODS)} checkpoint, got {plain.method}")
    form = (BankStatsForm if plain.method == "bank" else ImageStatsForm)(plain.module.net).eval()
    layers = [int(m.channels) for m in norm_layers(plain.module.net)]
    fields = {f.name: getattr(plain, f.name) for f in dataclasses.fields(ExportPlan)}
    fields.update(
        module=form, contract=CONTRACTS[f"{plain.contract.name}_stats"], named_rows=True,
        defaults=dataclasses.replace(plain.defaults, fp16="", torchscript=False),
        description=f"{plain.description}; stats form (instance-norm statistics as inputs, for tiled inference)",
        bindings={**plain.bindings, "norm_channels": form.channels},
        metadata={**plain.metadata, "impasto.norm_stats": json.dumps({"channels": form.channels, "layers": layers,
                                                                      "eps": 1e-5})},
        parity_text=f"{plain.parity_text}; each with its own statistics, then with its half-size thumbnail's",
        report={**plain.report, "norm_channels": form.channels})
    return StatsPlan(**fields, base=plain)
