"""PhotoWCT / WCT (``impasto export photowct|wct``): contracts ``photowct`` / ``wct``, the whole pipeline in one graph.

:class:`impasto.models.photowct.StylePipeline` is built from the VGG16 weights (the
encoder) and decoder checkpoints written by ``impasto train decoder`` (one per level, all
of one kind). Everything runs inside the graph: the encoder, the mask-restricted WCT with
its Newton–Schulz matrix square roots, the decoders and, for ``photowct``, the
guided-filter smoothing. Only the exact matting-affinity smoothing (a sparse solve) stays
outside (:mod:`impasto.runtime.pipelines.photoreal`). Every image size and the label count
are dynamic. The parity check runs two sizes at least: the first without masks, later
ones (odd) with three content labels, one of which the style lacks.

Convention:
    See :data:`impasto.contracts.PHOTOWCT`. ``impasto.method`` is ``photowct`` or ``wct``;
    ``impasto.card`` holds every decoder's card by level; ``impasto.source_sha256`` is a
    JSON map of file name to sha256; ``impasto.wct`` is JSON of the pipeline settings the
    runtime needs (levels, eps, Newton–Schulz steps, smoothing, ``max_labels``,
    ``min_side``, ``min_style_side``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import PHOTOWCT, WCT
from impasto.errors import ModelError, UserError
from impasto.export.graph import one_line
from impasto.export.parity import PARITY_SEED, smooth_image
from impasto.export.pipeline import ExportPlan, check_options, export_plan
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    import torch

    from impasto.models.photowct import StylePipeline

#: ``impasto export`` method name -> decoder kind.
METHODS: dict[str, str] = {"photowct": "photo", "wct": "artistic"}
#: Most label colours a mask may have (memory and time grow linearly with the count).
MAX_LABELS = 16
#: Smallest style side: relu4_1 then has at least 8x8 positions for its statistics.
MIN_STYLE_SIDE = 64
PARITY_ALPHA = 0.8


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    return (labels[None, None] == np.arange(n)[None, :, None, None]).astype(np.float32)


def parity_feeds(sizes: Sequence[tuple[int, int]], seed: int = PARITY_SEED) -> Iterator[dict[str, np.ndarray]]:
    """Deterministic feeds: the first size without masks, later ones with 3 content labels (one not in the style)."""
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        sh, sw = max(MIN_STYLE_SIDE, w + 9), max(MIN_STYLE_SIDE, h + 3)  # a differently shaped style
        feed = {"content": smooth_image(rng, h, w), "style": smooth_image(rng, sh, sw),
                "alpha": np.array([PARITY_ALPHA], np.float32)}
        if i == 0:
            feed["content_mask"] = np.ones((1, 1, h, w), np.float32)
            feed["style_mask"] = np.ones((1, 1, sh, sw), np.float32)
        else:
            yy, xx = np.mgrid[:h, :w]
            lab = np.where(xx < w // 2, 0, 1)
            lab[(yy - h * 0.7) ** 2 + (xx - w * 0.3) ** 2 < (min(h, w) * 0.2) ** 2] = 2  # label 2: content only
            feed["content_mask"] = _one_hot(lab, 3)
            syy = np.mgrid[:sh, :sw][0]
            feed["style_mask"] = _one_hot(np.where(syy < sh // 2, 1, 0), 3)
        yield feed


def load_decoders(paths: Sequence[str | os.PathLike], kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Decoders from checkpoints: ``({level: Decoder}, [{"file", "sha256", "level", "card"}])``.

    Raises:
        ModelError: a missing or foreign checkpoint, the wrong kind, or a level given twice.
    """
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    if not paths:
        raise UserError("export: expected decoder checkpoints (one per level, from 'impasto train decoder'), got none")
    decoders: dict[str, Any] = {}
    sources: list[dict[str, Any]] = []
    for p in paths:
        name = str(p)
        try:
            ckpt = load_checkpoint(p)
            net = build_from_checkpoint(ckpt, method="decoder")
        except ModelError as exc:
            raise ModelError(f"decoder {name!r}: {one_line(exc)}") from None
        level, got = net.config.level, net.config.kind
        if got != kind:
            raise ModelError(f"decoder {name!r}: expected a {kind!r} decoder, got {got!r} "
                             f"(train it with --kind {kind})")
        if level in decoders:
            raise ModelError(f"decoder {name!r}: a second decoder for {level}; expected one per level")
        decoders[level] = net
        sources.append({"file": Path(p).name, "sha256": sha256_file(p), "level": level, "card": ckpt.get("card") or {}})
    return decoders, sources


def build_pipeline(method: str, decoder_checkpoints: Sequence[str | os.PathLike], *,
                   vgg_weights: str | os.PathLike | None = None, **settings: Any) -> tuple[StylePipeline,
                                                                                          list[dict[str, Any]]]:
    """The PyTorch pipeline an export would write, and its sources (decoders, VGG16 weights)."""
    from impasto.models.photowct import Encoder, StylePipeline

    decoders, sources = load_decoders(decoder_checkpoints, METHODS[method])
    encoder = Encoder(vgg_weights)
    sources.append({"file": Path(encoder.weights_path).name, "sha256": sha256_file(encoder.weights_path),
                    "level": "encoder", "card": {}})
    return StylePipeline(encoder, decoders, **settings), sources


class WctPlan(ExportPlan):
    """Example inputs with two labels; parity feeds with and without masks."""

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(0)
        content, style = torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 3, 72, 60, generator=g)
        cm = torch.zeros(1, 2, 67, 91)
        cm[:, 0, :, :40], cm[:, 1, :, 40:] = 1.0, 1.0
        sm = torch.zeros(1, 2, 72, 60)
        sm[:, 0, :30], sm[:, 1, 30:] = 1.0, 1.0
        return content, style, cm, sm, torch.tensor([PARITY_ALPHA])

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        for (h, w), feed in zip(sizes, parity_feeds(sizes)):
            yield {"size": [h, w], "labels": feed["content_mask"].shape[1]}, feed


def pipeline_plan(pipeline: StylePipeline, method: str, sources: Sequence[dict[str, Any]] = ()) -> WctPlan:
    """The plan of a built pipeline; ``sources`` as :func:`build_pipeline` returns them."""
    from impasto.export.shared_encoder import LEVEL_LAYERS
    from impasto.models.photowct import LEVELS, MIN_SIDE
    from impasto.models.registry import get_spec

    if METHODS.get(method) != pipeline.kind:
        raise UserError(f"export {method}: expected {METHODS.get(method)!r} decoders, got {pipeline.kind!r}")
    contract = PHOTOWCT if pipeline.kind == "photo" else WCT
    settings = {**pipeline.describe(), "max_labels": MAX_LABELS, "min_side": MIN_SIDE,
                "min_style_side": MIN_STYLE_SIDE, "inputs": list(contract.input_names),
                "outputs": list(contract.output_names)}
    kind_text = "PhotoWCT photorealistic" if pipeline.kind == "photo" else "WCT artistic"
    description = (f"{method} — {kind_text} style transfer, levels {', '.join(pipeline.levels)}"
                   + (" + guided-filter smoothing" if pipeline.kind == "photo" else ""))
    return WctPlan(
        method=method, module=pipeline, contract=contract, defaults=get_spec("decoder").export, noun=method,
        style_name=method, description=description, card={s["level"]: s["card"] for s in sources if s.get("card")},
        source_sha256=json.dumps({s["file"]: s["sha256"] for s in sources}),
        parity_text=f"smooth random images, numpy default_rng({PARITY_SEED}), alpha {PARITY_ALPHA}; "
                    "sizes after the first with 3 content labels (one absent from the style)",
        dim_bounds={"labels": (1, 4096)}, metadata={"impasto.wct": json.dumps(settings)}, report={"settings": settings},
        # a VGG16 pipeline's encoder can be shared; a converted VGG19 one (FastPhotoStyle) has no .encoder
        vgg_weights=getattr(getattr(pipeline, "encoder", None), "weights_path", None),
        shared_layers=LEVEL_LAYERS[max(pipeline.levels, key=LEVELS.index)] if hasattr(pipeline, "encoder") else ())


def export_wct(method: str, decoder_checkpoints: Sequence[str | os.PathLike], output_path: str | os.PathLike, *,
               vgg_weights: str | os.PathLike | None = None, opset: int | None = None, fp16: bool = False,
               parity_sizes: Sequence[Sequence[int]] | None = None, atol: float | None = None,
               shared_encoder: str | None = None, staged: bool = False, **settings: Any) -> dict[str, Any]:
    """Build the pipeline from decoder checkpoints and the VGG16 weights, export and check it.

    Args:
        method: ``"photowct"`` (photo decoders, unpooling, guided filter) or ``"wct"`` (artistic decoders).
        decoder_checkpoints: one ``impasto train decoder`` checkpoint per level to use.
        vgg_weights: VGG16 weights (default ``$IMPASTO_VGG16_WEIGHTS``, then torch.hub).
        output_path, opset, fp16, parity_sizes, atol, shared_encoder: see
            :func:`~impasto.export.pipeline.export_plan`.
        staged: write the staged set instead of one graph (:mod:`impasto.export.methods.wct_staged`:
            the runtime takes the square roots with ``eigh``; ONNX Runtime only, fp32).
        **settings: :class:`~impasto.models.photowct.StylePipeline` options (``eps``,
            ``ns_iters``, ``min_pixels``, ``smooth_radius``, ``smooth_eps``).

    Raises:
        ModelError: a missing, foreign or mismatched decoder checkpoint.
        UserError: bad arguments.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    from impasto.models.registry import get_spec

    if method not in METHODS:
        raise UserError(f"export: expected method {' or '.join(METHODS)}, got {method!r}")
    check_options(get_spec("decoder").export, method, output_path, opset, atol, parity_sizes, fp16, method)
    if staged and fp16:
        raise UserError("--staged: a staged set exports in fp32 only (drop --fp16)")
    pipeline, sources = build_pipeline(method, decoder_checkpoints, vgg_weights=vgg_weights, **settings)
    if staged:
        from impasto.export.methods.wct_staged import export_staged

        return export_staged(pipeline, method, pipeline_plan(pipeline, method, sources), output_path, opset=opset,
                             parity_sizes=parity_sizes, atol=atol, shared_encoder=shared_encoder)
    return export_plan(pipeline_plan(pipeline, method, sources), output_path, opset=opset, fp16=fp16,
                       parity_sizes=parity_sizes, atol=atol, shared_encoder=shared_encoder)
