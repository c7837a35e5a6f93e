"""Instance-norm statistics given from outside: the "stats form" of a feed-forward network.

Thumbnail instance normalisation (Chen et al., "Towards Ultra-Resolution Neural Style
Transfer via Thumbnail Instance Normalization", AAAI 2022): a network with instance norms
run tile by tile normalises every tile with its own mean and standard deviation, so
neighbouring tiles disagree in tone and the seams show. Running the network once on a
thumbnail of the whole image, recording the statistics every norm layer used, then
running each tile with those statistics makes the tiles agree.

:class:`StatsExchange` carries the statistics through one forward pass: each norm layer
whose ``exchange`` is set calls :meth:`StatsExchange.normalize`, which uses
``from_image * own + (1 - from_image) * given`` (``from_image`` is 1 or 0) and records what
it used. The wrapper :class:`StatsForm` makes that the exported graph: the network's
inputs plus ``norm_stats`` and ``stats_from_image`` in, the clamped image and
``used_norm_stats`` out. With ``stats_from_image = 1`` it computes what the plain network
computes (and returns the statistics); with 0 it applies the given ones.

Convention:
    ``norm_stats`` is ``(1, 2, T)`` float32: row 0 the means, row 1 the standard
    deviations ``sqrt(var + eps)`` (biased variance, as ``F.instance_norm``), ``T`` the sum
    of the channels of every norm layer in forward order. ``used_norm_stats`` is
    ``(B, 2, T)``. ``stats_from_image`` is ``(1,)``, 1 or 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

EPS = 1e-5


class StatsExchange:
    """The statistics of one forward pass: given ones in, used ones recorded."""

    def __init__(self) -> None:
        self._given: torch.Tensor | None = None
        self._from_image: torch.Tensor | None = None
        self._offset = 0
        self._used: list[torch.Tensor] = []

    def begin(self, given: torch.Tensor, from_image: torch.Tensor) -> None:
        self._given, self._from_image, self._offset, self._used = given, from_image, 0, []

    def normalize(self, x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
        """``x`` (B, C, H, W) normalised with the mixed statistics of the next ``C`` channels."""
        if self._given is None or self._from_image is None:
            raise RuntimeError("StatsExchange.normalize outside a StatsForm forward")
        c = x.shape[1]
        own_mean = x.mean(dim=(2, 3))
        own_std = torch.sqrt(x.var(dim=(2, 3), unbiased=False) + eps)
        given = self._given[:, :, self._offset:self._offset + c]  # (1, 2, C)
        f = self._from_image
        mean = f * own_mean + (1 - f) * given[:, 0]
        std = f * own_std + (1 - f) * given[:, 1]
        self._offset += c
        self._used.append(torch.stack([mean, std], dim=1))  # (B, 2, C)
        return (x - mean[:, :, None, None]) / std[:, :, None, None]

    def end(self) -> torch.Tensor:
        used = torch.cat(self._used, dim=2)
        self._given = self._from_image = None
        self._used = []
        return used


def norm_layers(net: nn.Module) -> list[nn.Module]:
    """The network's norm layers that take an exchange, in module order (= forward order for ours)."""
    return [m for m in net.modules() if hasattr(m, "exchange") and hasattr(m, "channels")]


def total_channels(layers: Iterable[nn.Module]) -> int:
    return sum(int(m.channels) for m in layers)


class StatsForm(nn.Module):
    """The exported stats form: ``(*inputs, norm_stats, stats_from_image) -> (clamped image, used_norm_stats)``.

    Use :class:`ImageStatsForm` or :class:`BankStatsForm` (the exporter needs a fixed signature).
    Wrapping sets every norm layer's ``exchange``: wrap a network built for this export only.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.exchange = StatsExchange()
        self.layers = norm_layers(net)
        if not self.layers:
            raise ValueError(f"{type(net).__name__} has no instance-norm layers that take given statistics")
        for m in self.layers:
            m.exchange = self.exchange
        #: ``T``: the length of the statistics' last axis.
        self.channels = total_channels(self.layers)

    def run(self, net_inputs: tuple[torch.Tensor, ...], norm_stats: torch.Tensor,
            stats_from_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.exchange.begin(norm_stats, stats_from_image)
        out = self.net(*net_inputs).clamp(0.0, 1.0)
        return out, self.exchange.end()


class ImageStatsForm(StatsForm):
    """Stats form of a one-input network (contract ``stylize_stats``)."""

    def forward(self, image: torch.Tensor, norm_stats: torch.Tensor,
                stats_from_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.run((image,), norm_stats, stats_from_image)


class BankStatsForm(StatsForm):
    """Stats form of a style bank (contract ``bank_stats``)."""

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor, content_layer_weights: torch.Tensor,
                style_layer_weights: torch.Tensor, norm_stats: torch.Tensor,
                stats_from_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.run((image, style_weights, content_layer_weights, style_layer_weights), norm_stats,
                        stats_from_image)
