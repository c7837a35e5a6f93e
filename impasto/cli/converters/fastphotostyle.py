"""``impasto convert fastphotostyle photo_wct.pth -o photowct19.onnx`` (NVIDIA FastPhotoStyle's PhotoWCT)."""

from __future__ import annotations

import argparse
from typing import Any

from impasto.cli.common import positive_float, positive_int
from impasto.cli.converters import add_format, command_line

_SETTINGS = ("eps", "ns_iters", "smooth_radius", "smooth_eps")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_format(sub, "fastphotostyle",
                   "FastPhotoStyle's PhotoWCT checkpoint (photo_wct.pth) -> a photowct graph for 'impasto photoreal'",
                   "photo_wct.pth: torch.save(PhotoWCT().state_dict()) of NVIDIA/FastPhotoStyle", _run)
    p.add_argument("--eps", type=positive_float, help="relative covariance regularisation of the WCT (default 1e-3)")
    p.add_argument("--ns-iters", type=positive_int, help="Newton-Schulz steps (default 25)")
    p.add_argument("--smooth-radius", type=positive_int, help="guided-filter radius in pixels (default 32)")
    p.add_argument("--smooth-eps", type=positive_float, help="guided-filter regularisation (default 1e-3)")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.export.convert.fastphotostyle import convert

    settings = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
    return convert(args.sources, args.output, license=args.license, command=command_line(), **settings)
