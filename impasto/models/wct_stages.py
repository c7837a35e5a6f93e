"""The WCT / PhotoWCT pipeline cut into stages, for a runtime that computes the WCT itself.

:class:`~impasto.models.photowct.StylePipeline` is one graph: its matrix square roots must
be Newton–Schulz products (ONNX has no eigendecomposition), and at ``relu4_1`` those cost
more than the encoder. The staged form leaves the transform to the runtime, which takes
the square roots with ``eigh`` (:mod:`impasto.runtime.pipelines.wct_transform`), and
exports only what convolves:

- :class:`EncoderStage`: an image -> its features at every level the pipeline uses and,
  for ``photo`` decoders, the max-pooling switches (run on the style and on the content);
- :class:`LevelStage`: one level's transformed features -> the decoded image, clamped,
  re-encoded at the next (finer) level; at the last level, the outputs of the pipeline
  (``photo``: the guided-filter-smoothed image and the unsmoothed one).

:func:`staged_reference` runs the same stages in PyTorch with the float64 ``eigh`` WCT
(:func:`impasto.models.wct.wct_eigh`): the reference the runtime's staged run is checked
against.

Convention:
    As :mod:`impasto.models.photowct`: images ``(1, 3, H, W)`` RGB in ``[0, 1]``, masks
    ``(1, L, H, W)``. Features at ``reluK_1`` are ``(1, C, H // 2**(K-1), W // 2**(K-1))``
    (floor: VGG's max-pooling drops an odd row or column). Switch ``poolJ`` is the int64
    argmax of each 2x2 window within its channel's plane (``row * width + col`` of the
    pre-pool map, whose size is ``H // 2**(J-1)`` by ``W // 2**(J-1)``), as
    ``torch.nn.functional.max_pool2d(..., return_indices=True)`` returns it.
"""

from __future__ import annotations

import torch
from torch import nn

from impasto.models import guided_filter as gf
from impasto.models import wct as wct_mod
from impasto.models.photowct import LEVELS, StylePipeline


def pools_needed(level: str) -> int:
    """How many switches (pool1 ...) a photo decoder of ``level`` unpools with."""
    return LEVELS.index(level)


def pre_pool_sizes(content: torch.Tensor, count: int) -> list[tuple[int, int]]:
    """The pre-pool map size of pool1 ... pool``count`` for a ``content`` image (floor halvings)."""
    h, w = content.shape[-2], content.shape[-1]
    sizes = []
    for _ in range(count):
        sizes.append((h, w))
        h, w = h // 2, w // 2
    return sizes


class EncoderStage(nn.Module):
    """``image -> (features of every level in fine-to-coarse order, pool1 ... poolD)``.

    The switches come only for ``photo`` pipelines (``D`` = the deepest level's pool count).
    """

    def __init__(self, pipeline: StylePipeline) -> None:
        super().__init__()
        self.encoder = pipeline.encoder
        self.levels = tuple(sorted(pipeline.levels, key=LEVELS.index))
        self.deepest = self.levels[-1]
        self.switches = pipeline.kind == "photo"

    @property
    def output_names(self) -> tuple[str, ...]:
        pools = pools_needed(self.deepest) if self.switches else 0
        return self.levels + tuple(f"pool{j}" for j in range(1, pools + 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats, switches = self.encoder.run(image, self.deepest, self.levels)
        pools = tuple(idx for idx, _ in switches) if self.switches else ()
        return tuple(feats[lv] for lv in self.levels) + pools


class LevelStage(nn.Module):
    """``(features, content, pool1 ... poolK) -> next features`` or, at the last level, the pipeline's outputs.

    Args:
        pipeline: the whole pipeline (its encoder, decoders and smoothing settings).
        level: the level whose (transformed) features come in.
    """

    def __init__(self, pipeline: StylePipeline, level: str) -> None:
        super().__init__()
        i = pipeline.levels.index(level)
        self.pipeline = pipeline
        self.level = level
        self.next_level = pipeline.levels[i + 1] if i + 1 < len(pipeline.levels) else None
        self.pools = pools_needed(level) if pipeline.kind == "photo" else 0

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("features", "content") + tuple(f"pool{j}" for j in range(1, self.pools + 1))

    @property
    def output_names(self) -> tuple[str, ...]:
        if self.next_level is not None:
            return (self.next_level,)
        return ("stylized", "unsmoothed") if self.pipeline.kind == "photo" else ("stylized",)

    def forward(self, features: torch.Tensor, content: torch.Tensor, pool1: torch.Tensor | None = None,
                pool2: torch.Tensor | None = None, pool3: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        p = self.pipeline
        count = pools_needed(self.level)
        sizes = pre_pool_sizes(content, count)
        indices = [pool1, pool2, pool3][:count] if self.pools else [None] * count
        x = p.decoders[self.level](features, list(zip(indices, sizes))).clamp(0.0, 1.0)
        if self.next_level is not None:
            return (p.encoder.encode(x, self.next_level)[0],)
        if p.kind == "photo":
            return gf.guided_filter(content, x, p.smooth_radius, p.smooth_eps).clamp(0.0, 1.0), x
        return (x,)


def staged_reference(pipeline: StylePipeline, content: torch.Tensor, style: torch.Tensor, content_mask: torch.Tensor,
                     style_mask: torch.Tensor, alpha: float) -> tuple[torch.Tensor, ...]:
    """The staged pipeline in PyTorch, its WCT in float64 with ``eigh``: the staged runtime's reference.

    Returns:
        The last :class:`LevelStage`'s outputs (float32).
    """
    with torch.no_grad():
        encoder = EncoderStage(pipeline)
        s_out = dict(zip(encoder.output_names, encoder(style)))
        c_out = dict(zip(encoder.output_names, encoder(content)))
        pools = [c_out[n] for n in encoder.output_names if n.startswith("pool")]
        c_masks, s_masks = wct_mod.mask_pyramid(content_mask, LEVELS), wct_mod.mask_pyramid(style_mask, LEVELS)
        f = c_out[pipeline.levels[0]]
        out: tuple[torch.Tensor, ...] = ()
        for level in pipeline.levels:
            t = wct_mod.wct_eigh(f, s_out[level], c_masks[level], s_masks[level], alpha, eps=pipeline.eps,
                                 min_pixels=pipeline.min_pixels).float()
            stage = LevelStage(pipeline, level)
            out = stage(t, content, *pools[: stage.pools])
            f = out[0]
        return out
