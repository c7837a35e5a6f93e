"""``impasto convert fastphotostyle photo_wct.pth -o photowct19.onnx``: NVIDIA FastPhotoStyle's PhotoWCT.

The checkpoint (``torch.save(PhotoWCT().state_dict())``: encoders ``e1``–``e4``, decoders
``d1``–``d4``, keys ``e1.conv0.weight`` …) is read with ``weights_only=True``, checked key
by key and shape by shape, loaded into :class:`impasto.models.photowct19.PhotoWCT19Pipeline`
and exported through the ``photowct`` plan of :mod:`impasto.export.methods.wct`: the
graph has the ``photowct`` contract and ``impasto.method`` ``photowct``, so
``impasto photoreal --model`` and :class:`impasto.runtime.WCTStylizer` run it unchanged.

Parity:
    ONNX Runtime against the same module's PyTorch forward: the upstream network with
    impasto's WCT (Newton–Schulz, soft masks), not upstream's SVD WCT, so that the gate
    compares like with like (the card says so). The bound is :data:`ATOL` (1e-3, that of
    ``impasto export photowct``), not the 1e-4 of image-to-image conversions: whitening
    divides by the square roots of the smallest covariance eigenvalues and four levels
    compound float32 rounding (docs/convert.md has the measurements).

Convention:
    The graph takes RGB ``[0, 1]`` images, which is upstream's own input (``ToTensor``;
    each encoder's 1x1 ``conv0`` maps it to Caffe VGG's BGR 0–255 mean-subtracted input
    inside the network), and returns RGB ``[0, 1]``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from impasto.errors import UserError
from impasto.export.convert.common import PARITY_SIZES, check_keys, load_state_dict, sha256_of, source_card

FORMAT = "fastphotostyle"
UPSTREAM = "NVIDIA/FastPhotoStyle (photo_wct.py, models.py: PhotoWCT, VGGEncoder, VGGDecoder)"
INPUT_CONVENTION = ("RGB [0, 1] NCHW (torchvision ToTensor); each encoder's 1x1 conv0 maps it to Caffe VGG19's "
                    "mean-subtracted BGR 0-255 input; output RGB [0, 1] (clamped)")
#: Max abs error bound of the parity gate (that of ``impasto export photowct``; see the module docstring).
ATOL = 1e-3
DEVIATIONS = ("WCT: impasto's (Newton-Schulz square roots, relative eps, soft label masks with a global-statistics "
              "fallback) instead of upstream's SVD with +I regularisation; the parity reference is this network in "
              "PyTorch with the same WCT. Unpooling: the content photo's switches per level encoder (upstream: the "
              "intermediate image's). Smoothing: the in-graph guided filter (or 'impasto photoreal --smooth exact').")


def load_pipeline(path: str | os.PathLike, **settings: Any):
    """The checked checkpoint in a :class:`~impasto.models.photowct19.PhotoWCT19Pipeline`.

    Raises:
        ModelError: no such file, not a state dict, or a missing, unexpected or misshapen key.
    """
    from impasto.models.photowct19 import PhotoWCT19Pipeline, expected_shapes

    what = "fastphotostyle checkpoint"
    state = load_state_dict(path, what)
    check_keys(state, expected_shapes(), f"{what} {str(path)!r}")
    pipeline = PhotoWCT19Pipeline(**settings)
    pipeline.load_state_dict({k: v.float() for k, v in state.items()})
    return pipeline


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, license: str | None, command: str,
            **settings: Any) -> dict[str, Any]:
    """Convert one ``photo_wct.pth`` to a checked ``photowct`` graph at ``output`` (nothing written on failure).

    Args:
        sources: exactly one checkpoint.
        settings: pipeline options (``eps``, ``ns_iters``, ``min_pixels``, ``smooth_radius``, ``smooth_eps``).

    Raises:
        UserError: not exactly one source, a bad output path.
        ModelError: a bad checkpoint (one line naming the first offending key).
        ExportError: the exporter, the checker or the parity gate failed.
    """
    from impasto.export.methods.wct import pipeline_plan
    from impasto.export.pipeline import export_plan

    t0 = time.perf_counter()
    if len(sources) != 1:
        raise UserError(f"convert {FORMAT}: expected one checkpoint (photo_wct.pth), got {len(sources)} files")
    src = sources[0]
    pipeline = load_pipeline(src, **settings)
    card = source_card(FORMAT, [src], upstream=UPSTREAM, input_convention=INPUT_CONVENTION, license=license,
                       command=command, encoder="VGG19, one per level (e1-e4)", decoders="d1-d4 (unpooling)",
                       parity_reference="the upstream network re-implemented in PyTorch with impasto's WCT "
                                        "(the same WCT as the graph)", deviations=DEVIATIONS)
    plan = pipeline_plan(pipeline, "photowct")
    plan = dataclasses.replace(
        plan, card=card, source_sha256=json.dumps({Path(src).name: sha256_of(src)}), noun="FastPhotoStyle PhotoWCT",
        description=f"photowct — FastPhotoStyle PhotoWCT (VGG19 per-level encoders), converted; {plan.description}")
    report = export_plan(plan, output, parity_sizes=PARITY_SIZES, atol=ATOL)
    return {**report, "format": FORMAT, "onnx_bytes": Path(report["output"]).stat().st_size,
            "seconds": time.perf_counter() - t0}
