"""Style banks (``impasto train bank``): contract ``bank``, the conditioning as graph inputs.

The graph takes the image *and* the style-weight vector and both loss-weight vectors, so
a runtime changes the style, the mixture and the per-layer α per call (per video frame)
without another graph. The vectors keep their lengths (bound in the plan); the image's
batch and size are dynamic. The parity check draws, for every size, a one-hot style at
α = 1, then random mixtures and α (:func:`parity_conditions`).

Convention:
    See :data:`impasto.contracts.BANK`. ``metadata_props`` add ``impasto.styles`` (JSON
    list of ``{"name", "source"}`` in input order), ``impasto.content_layers`` and
    ``impasto.style_layers`` (JSON lists of VGG16 tap names, in input order);
    ``impasto.method`` and ``impasto.style_name`` are ``"bank"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import BANK
from impasto.export.parity import PARITY_SEED, random_images
from impasto.export.pipeline import RANDOM_IMAGES, ExportPlan
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Conditioning draws per parity size: one-hot styles at α = 1, then random mixtures and α.
PARITY_DRAWS = 3
_LENGTHS = ("styles", "content_layers", "style_layers")


def parity_conditions(n_styles: int, n_c: int, n_s: int, draws: int = PARITY_DRAWS,
                      seed: int = PARITY_SEED) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Deterministic ``(style_weights, α_c, α_s)`` draws: a one-hot style at α = 1, then
    Dirichlet mixtures with α ~ U(0, 2) per layer."""
    rng = np.random.default_rng(seed + 1)
    out = [(np.eye(n_styles, dtype=np.float32)[0], np.ones(n_c, np.float32), np.ones(n_s, np.float32))]
    for _ in range(draws - 1):
        out.append((rng.dirichlet(np.ones(n_styles)).astype(np.float32),
                    rng.uniform(0, 2, n_c).astype(np.float32), rng.uniform(0, 2, n_s).astype(np.float32)))
    return out


class BankPlan(ExportPlan):
    """Example inputs and parity feeds with the conditioning vectors."""

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(0)
        n, n_c, n_s = (self.bindings[k] for k in _LENGTHS)
        w = torch.rand(n, generator=g)
        return (torch.rand(2, 3, 67, 91, generator=g), w / w.sum(), torch.rand(n_c, generator=g) * 2,
                torch.rand(n_s, generator=g) * 2)

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        conditions = parity_conditions(*(self.bindings[k] for k in _LENGTHS))
        for (h, w), x in zip(sizes, random_images(sizes)):
            for k, cond in enumerate(conditions):
                yield {"size": [h, w], "draw": k}, dict(zip(self.contract.input_names, (x, *cond), strict=True))


def checkpoint_plan(net: nn.Module, ckpt: dict[str, Any], path: str | os.PathLike) -> BankPlan:
    """The plan of a rebuilt bank and its checkpoint."""
    from impasto.models.registry import get_spec
    from impasto.models.style_bank import ClampedBank

    cfg = net.config
    names = list(ckpt["style_names"])
    styles = [{"name": n, "source": f} for n, f in zip(names, ckpt["style_files"], strict=True)]
    description = (f"style bank of {len(names)} styles ({', '.join(names)}) — conditional-instance-norm network "
                   f"(widths {list(cfg.widths)}, {cfg.n_residual} residual blocks, {cfg.upsample} upsampling), "
                   "adjustable per-layer loss weights")
    return BankPlan(
        method="bank", module=ClampedBank(net).eval(), contract=BANK, defaults=get_spec("bank").export,
        noun="a style bank", style_name="bank", description=description, card=ckpt.get("card") or {},
        source_sha256=sha256_file(path), named_rows=False,
        parity_text=f"{RANDOM_IMAGES}; one-hot style at alpha=1, then Dirichlet mixtures with alpha ~ U(0, 2)",
        bindings=dict(zip(_LENGTHS, (cfg.n_styles, len(cfg.content_layers), len(cfg.style_layers)))),
        metadata={"impasto.styles": json.dumps(styles, ensure_ascii=False),
                  "impasto.content_layers": json.dumps(list(cfg.content_layers)),
                  "impasto.style_layers": json.dumps(list(cfg.style_layers))},
        report={"styles": names})
