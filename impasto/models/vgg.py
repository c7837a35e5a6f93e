"""VGG16 loss network with named taps and frozen ImageNet weights.

Convention:
    Input is a float tensor ``(B, 3, H, W)``, RGB in ``[0, 1]``; the module applies
    torchvision's ImageNet normalisation (mean ``(0.485, 0.456, 0.406)``, std
    ``(0.229, 0.224, 0.225)``) itself. Any ``H, W`` >= 1 works; taps after a pooling
    layer have ``ceil``-free, floor-divided sizes as in torchvision.

Weights resolve in this order:
    1. an explicit ``weights`` path argument,
    2. the environment variable ``IMPASTO_VGG16_WEIGHTS``,
    3. torchvision's official file through ``torch.hub`` (its cache first, then a download).

Both torchvision's file (``classifier.*`` keys are ignored) and the fp16 file in
``shared/weights`` load; tensors are cast to fp32.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from impasto.errors import WeightsNotFoundError
from impasto.utils.weights import ENV_VAR, TORCHVISION_URL, find_vgg16_weights, hub_cache_file

# (name, kind, in_channels, out_channels) in torchvision's vgg16().features order.
_LAYOUT = [
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool1",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool2",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), "pool3",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), "pool4",
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), "pool5",
]

#: Tap names in network order: ``relu1_1`` … ``relu5_3`` and ``pool1`` … ``pool5``.
TAPS: tuple[str, ...] = tuple(
    ("relu" + e[0][4:]) if isinstance(e, tuple) else e for e in _LAYOUT
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resolve_weights_path(weights: str | os.PathLike | None = None, *, allow_download: bool = True) -> tuple[Path, str]:
    """Find a VGG16 weights file.

    Args:
        weights: explicit path; wins over everything else.
        allow_download: fall back to torchvision's URL through ``torch.hub``.

    Returns:
        ``(path, source)`` where source is ``"argument"``, ``"env"`` or ``"torch.hub cache"``.

    Raises:
        WeightsNotFoundError: nothing was found; the message names ``IMPASTO_VGG16_WEIGHTS``.
    """
    path, source = find_vgg16_weights(weights)
    if path is not None:
        if not path.is_file():
            where = f"{ENV_VAR}={str(path)!r}" if source == "env" else repr(str(path))
            raise WeightsNotFoundError(f"VGG16 weights: expected a file, got {where} (no such file)")
        return path, source
    if allow_download:
        try:
            torch.hub.load_state_dict_from_url(TORCHVISION_URL, progress=False, map_location="cpu")
        except Exception as exc:  # network errors come in many types
            raise WeightsNotFoundError(
                f"VGG16 weights not found: set {ENV_VAR} to a vgg16 .pth file "
                f"(download from {TORCHVISION_URL} failed: {type(exc).__name__})"
            ) from None
        if hub_cache_file().is_file():
            return hub_cache_file(), "torch.hub cache"
    raise WeightsNotFoundError(
        f"VGG16 weights not found: set {ENV_VAR} to a vgg16 .pth file (torchvision layout)"
    )


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load VGG16 convolution weights in torchvision's ``features.N.*`` layout as fp32.

    Raises:
        WeightsNotFoundError: the file is not a VGG16 state dict.
    """
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        from impasto.models.checkpoint import one_line_load_error

        raise WeightsNotFoundError(f"VGG16 weights: cannot read {str(path)!r}: {one_line_load_error(exc)}") from None
    if not isinstance(sd, dict):
        raise WeightsNotFoundError(f"VGG16 weights: expected a state dict in {str(path)!r}, got {type(sd).__name__}")
    out = {k: v.float() for k, v in sd.items() if k.startswith("features.")}
    expected = {f"features.{i}.{p}" for i in _conv_indices() for p in ("weight", "bias")}
    missing = sorted(expected - out.keys())
    if missing:
        raise WeightsNotFoundError(
            f"VGG16 weights: {str(path)!r} lacks {len(missing)} tensors, e.g. {missing[0]!r}; "
            "expected torchvision's vgg16().features layout"
        )
    return {k: out[k] for k in sorted(expected)}


def _conv_indices() -> list[int]:
    idx, i = [], 0
    for e in _LAYOUT:
        if isinstance(e, tuple):
            idx.append(i)
            i += 2  # conv + relu
        else:
            i += 1
    return idx


class VGG16Features(nn.Module):
    """Frozen VGG16 convolution base that returns named activations.

    Args:
        weights: path to a weights file; see the module docstring for the order of resolution.
        pool: ``"max"`` (torchvision) or ``"avg"`` (Gatys et al. found average pooling
            gives smoother gradients for optimisation).
        allow_download: allow the ``torch.hub`` fallback.

    Example:
        >>> vgg = VGG16Features()
        >>> feats = vgg(images, ["relu2_2", "relu4_3"])
    """

    def __init__(self, weights: str | os.PathLike | None = None, *, pool: str = "max",
                 allow_download: bool = True) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool: expected 'max' or 'avg', got {pool!r}")
        layers: list[nn.Module] = []
        for e in _LAYOUT:
            if isinstance(e, tuple):
                layers += [nn.Conv2d(e[1], e[2], 3, padding=1), nn.ReLU(inplace=False)]
            else:
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        path, self.weights_source = resolve_weights_path(weights, allow_download=allow_download)
        self.weights_path = str(path)
        self.load_state_dict(load_state_dict(path))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # index in self.features -> tap name
        self._tap_at: dict[int, str] = {}
        i = 0
        for e, name in zip(_LAYOUT, TAPS):
            i += 2 if isinstance(e, tuple) else 1
            self._tap_at[i - 1] = name
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor, taps: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Run up to the deepest requested tap.

        Args:
            x: ``(B, 3, H, W)`` RGB in ``[0, 1]``.
            taps: names from :data:`TAPS`.

        Returns:
            ``{tap: activation}`` for every requested tap.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16Features: expected Bx3xHxW, got {tuple(x.shape)}")
        unknown = [t for t in taps if t not in TAPS]
        if unknown:
            raise ValueError(f"VGG16Features: unknown taps {unknown}; expected names from {TAPS}")
        wanted = set(taps)
        last = max(TAPS.index(t) for t in taps)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            name = self._tap_at.get(i)
            if name is not None and name in wanted:
                out[name] = x
                if TAPS.index(name) == last:
                    break
        return out


