"""Feed-forward style networks (``impasto train feedforward``): contract ``stylize``, image in, stylised image out.

The graph is the network wrapped in :class:`impasto.models.transformer.ClampedOutput`
(the output clamped to ``[0, 1]``). The only method whose ``--fp16`` converts weights and
activations (looser bound, see its ``ExportDefaults``) and that may use the TorchScript
exporter (opset 17, or as the fallback).

Convention:
    See :data:`impasto.contracts.STYLIZE`; the smallest side is 5 pixels (the 9x9
    reflection padding needs more than 4).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from impasto.contracts import STYLIZE
from impasto.export.pipeline import ExportPlan, style_name_of
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    from torch import nn


def checkpoint_plan(net: nn.Module, ckpt: dict[str, Any], path: str | os.PathLike) -> ExportPlan:
    """The plan of a rebuilt feed-forward network and its checkpoint."""
    from impasto.models.registry import get_spec
    from impasto.models.transformer import ClampedOutput

    style_name = style_name_of(ckpt, path)
    cfg = ckpt["model"]["config"]
    blocks = cfg.get("n_residual")
    description = (f"{style_name} — feed-forward TransformerNet (width {cfg.get('width')}, {blocks} residual "
                   f"block{'' if blocks == 1 else 's'})")
    return ExportPlan(method="feedforward", module=ClampedOutput(net).eval(), contract=STYLIZE,
                      defaults=get_spec("feedforward").export, noun="a feed-forward network", style_name=style_name,
                      description=description, card=ckpt.get("card") or {}, source_sha256=sha256_file(path),
                      named_rows=False)
