"""MT-Net (``impasto train multimodal``): contract ``multiscale``, one graph with all three outputs.

The network is wrapped in :class:`impasto.models.multimodal.ClampedMultimodal`; every
output is compared in the parity check.

Parity bound:
    ``max abs error <= 1e-4`` per output, as for every float32 export, unless the
    network's own float32 rounding is larger: then :data:`NOISE_FACTOR` times that
    (measured as PyTorch float32 against PyTorch float64 on the same image). MT-Net needs
    this: every subnet starts with a convolution + instance norm on the previous subnet's
    smooth, upsampled output, and instance norm divides by that feature's small standard
    deviation, so rounding grows ~10x per subnet. For untrained (random) weights PyTorch's
    own float32 error on the finest output is 2e-4 - 6e-4 (figures in
    ``docs/multimodal.md``). Each row states ``fp32_noise`` and the ``bound`` it was held to.

Convention:
    See :data:`impasto.contracts.MULTISCALE`; sides >= :data:`impasto.models.multimodal.MIN_SIDE`.
    ``metadata_props`` add ``impasto.kind`` = ``multiscale`` and ``impasto.multiscale``, the
    JSON the runtime reads (:mod:`impasto.runtime.pipelines.multiscale`):
    ``{"outputs": [{"name", "scale", "downsample"}], "default": name, "min_side": int,
    "trained_side": int}``.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import DERIVED_DIMS, MULTISCALE, MULTISCALE_METADATA_KEY
from impasto.export.parity import compare, torch_outputs
from impasto.export.pipeline import ExportPlan, style_name_of
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    from torch import nn

#: The bound grows to this multiple of PyTorch's own float32 error (vs float64) where that is larger.
NOISE_FACTOR = 4.0


def multiscale_metadata(trained_side: int) -> dict[str, Any]:
    """The ``impasto.multiscale`` entry (see the module docstring)."""
    from impasto.models.multimodal import MIN_SIDE, SCALES

    downsample = [DERIVED_DIMS[t.dims[2]][1] if t.dims[2] in DERIVED_DIMS else 1 for t in MULTISCALE.outputs]
    return {"outputs": [{"name": n, "scale": s, "downsample": k}
                        for n, s, k in zip(MULTISCALE.output_names, SCALES, downsample, strict=True)],
            "default": MULTISCALE.output_names[-1], "min_side": MIN_SIDE, "trained_side": trained_side}


class MultimodalPlan(ExportPlan):
    """Per-output bounds from the network's own float32 rounding."""

    @cached_property
    def reference64(self) -> nn.Module:
        return copy.deepcopy(self.module).double().eval()

    def bounds(self, feed: dict[str, np.ndarray], reference: list[np.ndarray],
               atol: float) -> list[tuple[float, dict[str, Any]]]:
        feed64 = {k: v.astype(np.float64) for k, v in feed.items()}
        rows = []
        for r, r64 in zip(reference, torch_outputs(self.reference64, feed64, self.contract.input_names)):
            noise = compare(r, r64)[0]
            bound = max(atol, NOISE_FACTOR * noise)
            rows.append((bound, {"shape": list(r.shape[2:]), "fp32_noise": noise, "bound": bound}))
        return rows


def checkpoint_plan(net: nn.Module, ckpt: dict[str, Any], path: str | os.PathLike) -> MultimodalPlan:
    """The plan of a rebuilt MT-Net and its checkpoint."""
    from impasto.models.multimodal import ClampedMultimodal
    from impasto.models.registry import get_spec

    style_name = style_name_of(ckpt, path)
    cfg = ckpt["model"]["config"]
    trained_side = int((ckpt.get("train_config") or {}).get("size", 1024))
    description = (f"{style_name} — MT-Net (Wang et al. 2017): outputs at 1/4, 1/2 and full size; widths "
                   f"{cfg['style_width']}/{cfg['enhance_width']}/{cfg['refine_width']}, trained at {trained_side} px")
    return MultimodalPlan(
        method="multimodal", module=ClampedMultimodal(net).eval(), contract=MULTISCALE,
        defaults=get_spec("multimodal").export, noun="an MT-Net", style_name=style_name, description=description,
        card=ckpt.get("card") or {}, source_sha256=sha256_file(path),
        metadata={MULTISCALE_METADATA_KEY: json.dumps(multiscale_metadata(trained_side))},
        report={"outputs": list(MULTISCALE.output_names)},
        tolerance={"rule": f"per output: max(max_abs_error, {NOISE_FACTOR:g} x PyTorch float32-vs-float64 error)"})
