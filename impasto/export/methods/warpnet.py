"""The Learning-to-Warp network (``impasto train warpnet``): contract ``warp``, VGG16 to pool4 and K steps unrolled.

:class:`impasto.models.warpnet.WarpNet` is rebuilt from the checkpoint (its head) and the
VGG16 weights (its encoder). In the graph the normalised 4D correlation becomes
``MatMul`` and the warps ``GridSample``; only opset 18 is accepted (opset 20's
``GridSample`` has a known wrong-result bug in TensorRT). The parity check runs two sizes
at least (the second odd), content and guide of different shapes, on both outputs.

Convention:
    See :data:`impasto.contracts.WARP`; both images' sides >= 16. ``metadata_props`` add
    ``impasto.warpnet`` (JSON: the network config, ``grid``, ``inputs``, ``outputs``,
    ``min_side``); ``impasto.source_sha256`` is a JSON map of file name to sha256.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import WARP
from impasto.export.parity import PARITY_SEED, smooth_image
from impasto.export.pipeline import ExportPlan
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    import torch

    from impasto.models.warpnet import WarpNet


def parity_feeds(sizes: Sequence[tuple[int, int]], seed: int = PARITY_SEED) -> list[dict[str, np.ndarray]]:
    """Deterministic smooth random content images and differently shaped guides."""
    rng = np.random.default_rng(seed)
    return [{"content": smooth_image(rng, h, w), "guide": smooth_image(rng, w + 7, h + 11)} for h, w in sizes]


class WarpPlan(ExportPlan):
    """Example inputs and parity feeds with a guide of another shape."""

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(0)
        return torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 3, 72, 60, generator=g)

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        for (h, w), feed in zip(sizes, parity_feeds(sizes)):
            yield {"size": [h, w], "guide_size": list(feed["guide"].shape[2:])}, feed


def network_plan(net: WarpNet, sources: Sequence[dict[str, Any]] = (), card: dict[str, Any] | None = None) -> WarpPlan:
    """The plan of a built network (tests pass small encoders); ``sources``: ``[{"file", "sha256"}]``."""
    from impasto.export.shared_encoder import LEVEL_LAYERS
    from impasto.models.registry import get_spec

    defaults = get_spec("warpnet").export
    cfg = net.config
    settings = {**cfg.to_dict(), "grid": cfg.grid, "min_side": defaults.min_side, "inputs": list(WARP.input_names),
                "outputs": list(WARP.output_names)}
    description = (f"warpnet — Learning-to-Warp network: VGG16 pool4 features at {cfg.size}x{cfg.size}, "
                   f"normalised 4D correlation, {cfg.steps} refinement steps, dense warp field")
    return WarpPlan(
        method="warpnet", module=net.float().cpu().eval(), contract=WARP, defaults=defaults, noun="warpnet",
        style_name="warpnet", description=description, card=card or {},
        source_sha256=json.dumps({s["file"]: s["sha256"] for s in sources}),
        parity_text=f"smooth random images, numpy default_rng({PARITY_SEED}); guides of another shape",
        metadata={"impasto.warpnet": json.dumps(settings)}, report={"settings": settings},
        vgg_weights=getattr(net.encoder, "weights_path", None), shared_layers=LEVEL_LAYERS["relu4_1"])


def checkpoint_plan(net: WarpNet, ckpt: dict[str, Any], path: str | os.PathLike) -> WarpPlan:
    """The plan of a rebuilt network and its checkpoint (sources: the checkpoint and the VGG16 weights)."""
    weights = net.encoder.weights_path
    sources = [{"file": Path(path).name, "sha256": sha256_file(path)},
               {"file": Path(weights).name, "sha256": sha256_file(weights)}]
    return network_plan(net, sources, ckpt.get("card") or {})
