"""Export the PhotoWCT / WCT pipeline to one ONNX graph, gated by a parity check.

``impasto export photowct`` and ``impasto export wct`` build
:class:`impasto.models.photowct.StylePipeline` from the VGG16 weights (the encoder) and
decoder checkpoints written by ``impasto train decoder`` (one per level, all of one
kind), export it with the ``torch.export``-based exporter (opset >= 18, every image
size and the label count dynamic), check it with ``onnx.checker`` and compare ONNX
Runtime with PyTorch at two sizes — the second odd-sized, with label masks and a
content label that the style lacks — before anything is written (atomically).

Everything runs inside the graph: the encoder, the mask-restricted WCT with its
Newton–Schulz matrix square roots, the decoders and, for ``photowct``, the
guided-filter smoothing. Only the exact matting-affinity smoothing (a sparse solve)
stays outside (:mod:`impasto.runtime.pipelines.photoreal`).

Convention:
    Inputs (float32): ``content`` ``[1, 3, height, width]`` and ``style``
    ``[1, 3, style_height, style_width]`` RGB in ``[0, 1]``; ``content_mask``
    ``[1, labels, height, width]`` and ``style_mask`` ``[1, labels, style_height,
    style_width]`` one-hot label weights (one all-ones channel when there are no masks);
    ``alpha`` ``[1]`` in ``[0, 1]``. Outputs (float32 ``[1, 3, height, width]`` in
    ``[0, 1]``): ``stylized`` (photowct: guided-filter smoothed) and, for photowct only,
    ``unsmoothed``. ``metadata_props``: those of :mod:`impasto.export.onnx_export`
    (``impasto.method`` is ``photowct`` or ``wct``; ``impasto.card`` holds every
    decoder's card; ``impasto.source_sha256`` is a JSON map of file name to sha256) plus
    ``impasto.wct``: JSON of the pipeline settings the runtime needs (levels, eps,
    Newton–Schulz steps, smoothing, ``max_labels``, ``min_side``, ``min_style_side``).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto import __version__
from impasto.errors import ExportError, ModelError, UserError
from impasto.export.onnx_export import (
    PROVIDERS,
    PSNR_CAP_DB,
    _atomic_write_checked,
    _one_line,
    _quiet_exporter,
    _session,
    _set_metadata,
    sha256_file,
    strip_debug_metadata,
)

if TYPE_CHECKING:
    import onnx
    import onnxruntime

    from impasto.models.photowct import StylePipeline

#: ``impasto export`` method name -> decoder kind.
METHODS: dict[str, str] = {"photowct": "photo", "wct": "artistic"}
INPUT_NAMES: tuple[str, ...] = ("content", "style", "content_mask", "style_mask", "alpha")
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {"photo": ("stylized", "unsmoothed"), "artistic": ("stylized",)}
INPUT_DIMS: dict[str, list[Any]] = {
    "content": [1, 3, "height", "width"],
    "style": [1, 3, "style_height", "style_width"],
    "content_mask": [1, "labels", "height", "width"],
    "style_mask": [1, "labels", "style_height", "style_width"],
    "alpha": [1],
}
OUTPUT_DIMS: list[Any] = [1, 3, "height", "width"]
#: Opset: the dynamo exporter writes 18 (its 18 -> 17 down-conversion lacks the reflect-``Pad`` adapter).
MIN_OPSET = 18
DEFAULT_OPSET = 18
#: Parity sizes ``(height, width)``: the first without masks, the second (odd) with three
#: content labels, one of which the style lacks (global-statistics fallback).
DEFAULT_PARITY_SIZES: tuple[tuple[int, int], ...] = ((64, 96), (75, 53))
#: fp32 parity bound (max abs error on ``[0, 1]`` images). Looser than the feed-forward
#: export's 1e-4: the Newton–Schulz steps, the whitening (which amplifies rounding in the
#: covariance's small eigen-directions) and up to four decoders compound float32 rounding.
ATOL = 1e-3
#: Most label colours a mask may have (memory and time grow linearly with the count).
MAX_LABELS = 16
#: Smallest style side: relu4_1 then has at least 8x8 positions for its statistics.
MIN_STYLE_SIDE = 64
PARITY_SEED = 0
PARITY_ALPHA = 0.8


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A ``(1, 3, h, w)`` float32 image in ``[0, 1]``: low-frequency colour fields plus fine noise."""
    import cv2

    coarse = rng.random((max(2, h // 8), max(2, w // 8), 3), dtype=np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + 0.1 * rng.standard_normal((h, w, 3))
    return np.clip(img, 0.0, 1.0).astype(np.float32).transpose(2, 0, 1)[None].copy()


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    return (labels[None, None] == np.arange(n)[None, :, None, None]).astype(np.float32)


def parity_feeds(sizes: Sequence[tuple[int, int]], seed: int = PARITY_SEED) -> Iterator[dict[str, np.ndarray]]:
    """Deterministic feeds: the first size without masks, later ones with 3 content labels (one not in the style)."""
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        sh, sw = max(MIN_STYLE_SIDE, w + 9), max(MIN_STYLE_SIDE, h + 3)  # a differently shaped style
        feed = {"content": _smooth_image(rng, h, w), "style": _smooth_image(rng, sh, sw),
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


def _check_args(method: str, output_path: str | os.PathLike, opset: int, atol: float,
                parity_sizes: Sequence[Sequence[int]]) -> tuple[Path, list[tuple[int, int]]]:
    from impasto.models.photowct import MIN_SIDE

    if method not in METHODS:
        raise UserError(f"export: expected method {' or '.join(METHODS)}, got {method!r}")
    out = Path(output_path)
    if out.suffix.lower() != ".onnx":
        raise UserError(f"export: expected an output path ending in .onnx, got {str(out)!r}")
    if out.is_dir():
        raise UserError(f"export: output {str(out)!r} is a directory, expected a file path ending in .onnx")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise UserError(f"--opset: expected an integer in [{MIN_OPSET}, {newest}] for {method}, got {opset!r}")
    if not (isinstance(atol, (int, float)) and math.isfinite(atol) and atol >= 0):
        raise UserError(f"export: expected a finite tolerance >= 0, got atol={atol!r}")
    sizes = []
    for s in parity_sizes:
        if len(s) != 2 or not all(isinstance(v, (int, np.integer)) and v >= MIN_SIDE for v in s):
            raise UserError(f"export: expected parity sizes as (height, width) integers >= {MIN_SIDE}, got {s!r}")
        sizes.append((int(s[0]), int(s[1])))
    if len(sizes) < 2:
        raise UserError(f"export: expected at least two parity sizes (one with masks), got {len(sizes)}")
    return out, sizes


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
            raise ModelError(f"decoder {name!r}: {_one_line(exc)}") from None
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

    kind = METHODS[method]
    decoders, sources = load_decoders(decoder_checkpoints, kind)
    encoder = Encoder(vgg_weights)
    sources.append({"file": Path(encoder.weights_path).name, "sha256": sha256_file(encoder.weights_path),
                    "level": "encoder", "card": {}})
    return StylePipeline(encoder, decoders, **settings), sources


def _export_dynamo(pipeline: StylePipeline, opset: int) -> onnx.ModelProto:
    import torch

    from impasto.models.photowct import MIN_SIDE

    dim = torch.export.Dim
    h, w = dim("height", min=MIN_SIDE), dim("width", min=MIN_SIDE)
    sh, sw = dim("style_height", min=MIN_SIDE), dim("style_width", min=MIN_SIDE)
    labels = dim("labels", min=1, max=4096)
    # odd, unequal sizes and two labels: a size-1 or square example invites specialisation
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 3, 72, 60, generator=g)
    cm = torch.zeros(1, 2, 67, 91)
    cm[:, 0, :, :40], cm[:, 1, :, 40:] = 1.0, 1.0
    sm = torch.zeros(1, 2, 72, 60)
    sm[:, 0, :30], sm[:, 1, 30:] = 1.0, 1.0
    args = (content, style, cm, sm, torch.tensor([PARITY_ALPHA]))
    shapes = ({2: h, 3: w}, {2: sh, 3: sw}, {1: labels, 2: h, 3: w}, {1: labels, 2: sh, 3: sw}, None)
    with _quiet_exporter(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*axis name", category=UserWarning)
        program = torch.onnx.export(pipeline, args, dynamo=True, input_names=list(INPUT_NAMES),
                                    output_names=list(OUTPUT_NAMES[pipeline.kind]), dynamic_shapes=shapes,
                                    opset_version=opset, optimize=True, verbose=False)
    model = program.model_proto
    strip_debug_metadata(model)
    return model


def _dims(vi: onnx.ValueInfoProto) -> list[Any]:
    return [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None)
            for d in vi.type.tensor_type.shape.dim]


def _check_io(model: onnx.ModelProto, kind: str) -> None:
    """Inputs and outputs against the convention (names, float32, symbolic dims)."""
    import onnx

    got_in = [(vi.name, vi.type.tensor_type.elem_type, _dims(vi)) for vi in model.graph.input]
    want_in = [(n, onnx.TensorProto.FLOAT, INPUT_DIMS[n]) for n in INPUT_NAMES]
    if got_in != want_in:
        raise ExportError(f"export: expected graph inputs {[(n, d) for n, _, d in want_in]}, "
                          f"got {[(n, d) for n, _, d in got_in]}")
    outs = OUTPUT_NAMES[kind]
    got_out = [(vi.name, vi.type.tensor_type.elem_type) for vi in model.graph.output]
    if got_out != [(n, onnx.TensorProto.FLOAT) for n in outs]:
        raise ExportError(f"export: expected float graph outputs {list(outs)}, got {[n for n, _ in got_out]}")
    for vi in model.graph.output:  # the exporter names output dims itself: fix them to the convention
        for d, want in zip(vi.type.tensor_type.shape.dim, OUTPUT_DIMS):
            if isinstance(want, str):
                d.dim_param = want
            else:
                d.dim_value = want


def fp16_weights(model: onnx.ModelProto, min_elements: int = 1024) -> onnx.ModelProto:
    """Store large float32 initializers as float16, cast back to float32 inside the graph (compute stays fp32)."""
    import onnx
    from onnx import helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr, name + "__fp16"))
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], to=onnx.TensorProto.FLOAT,
                                      name=f"cast_fp16_{name}"))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)
    return model


def check_parity(session: onnxruntime.InferenceSession, pipeline: StylePipeline,
                 sizes: Sequence[tuple[int, int]], *, atol: float) -> list[dict[str, Any]]:
    """ONNX Runtime against PyTorch on :func:`parity_feeds`; every output within ``atol``.

    Returns:
        ``[{"size", "labels", "output", "max_abs_error", "psnr_db"}, ...]``.

    Raises:
        ExportError: a run failure, a shape mismatch, non-finite output or an error over ``atol``.
    """
    import torch

    names = OUTPUT_NAMES[pipeline.kind]
    results, failures = [], []
    for (h, w), feed in zip(sizes, parity_feeds(sizes)):
        labels = feed["content_mask"].shape[1]
        try:
            got = session.run(list(names), feed)
        except Exception as exc:
            raise ExportError(f"export: parity check failed: ONNX Runtime cannot run a {h}x{w} image: "
                              f"{_one_line(exc)[:300]}") from None
        with torch.no_grad():
            ref = pipeline(*(torch.from_numpy(feed[n]) for n in INPUT_NAMES))
        for name, g, r in zip(names, got, ref):
            r = r.numpy()
            if g.shape != (1, 3, h, w) or r.shape != (1, 3, h, w):
                raise ExportError(f"export: parity check failed at {h}x{w}: expected {name} [1, 3, {h}, {w}], "
                                  f"got {list(g.shape)} (ONNX) and {list(r.shape)} (PyTorch)")
            diff = g.astype(np.float64) - r.astype(np.float64)
            err = float(np.max(np.abs(diff)))
            mse = float(np.mean(diff * diff))
            psnr = PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else 10.0 * math.log10(1.0 / mse)
            if not (math.isfinite(err) and math.isfinite(psnr)):
                failures.append(f"{name} {h}x{w}: non-finite output")
                err, psnr = float("nan"), float("nan")
            elif not err <= atol:
                failures.append(f"{name} {h}x{w} ({labels} labels): max abs error {err:.3g} > {atol:g}")
            results.append({"size": [h, w], "labels": labels, "output": name, "max_abs_error": err,
                            "psnr_db": round(psnr, 2)})
    if failures:
        raise ExportError("export: parity check against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return results


def export_pipeline(pipeline: StylePipeline, output_path: str | os.PathLike, *, method: str,
                    sources: Sequence[dict[str, Any]] = (), opset: int = DEFAULT_OPSET, fp16: bool = False,
                    parity_sizes: Sequence[Sequence[int]] = DEFAULT_PARITY_SIZES, atol: float = ATOL,
                    description: str | None = None) -> dict[str, Any]:
    """Export an already-built pipeline (see :func:`export_wct`; tests pass random-weight pipelines).

    Args:
        pipeline: the PyTorch pipeline; its kind must match ``method``.
        output_path: the ``.onnx`` file (replaced atomically).
        method: ``"photowct"`` or ``"wct"``.
        sources: ``[{"file", "sha256", "level", "card"}]`` recorded in the metadata.
        opset: ONNX opset (>= 18).
        fp16: store weights as float16 (computation stays float32); the fp32 parity bound
            against the float32 PyTorch pipeline still applies.
        parity_sizes: ``(height, width)`` of the parity images; the second and later get masks.
        atol: max abs error bound per output and size.
        description: the model's one-line description.
    """
    t0 = time.perf_counter()
    out, sizes = _check_args(method, output_path, opset, atol, parity_sizes)
    if METHODS[method] != pipeline.kind:
        raise UserError(f"export {method}: expected {METHODS[method]!r} decoders, got {pipeline.kind!r}")
    import onnx
    import onnxruntime as ort
    import torch

    try:
        model = _export_dynamo(pipeline, opset)
    except Exception as exc:  # exporter failures come in many types
        raise ExportError(f"export: torch.onnx.export failed: {type(exc).__name__}: {_one_line(exc)[:300]}") from None
    opset_got = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset_got != opset:
        raise ExportError(f"export: the exporter produced opset {opset_got}, not {opset}")
    _check_io(model, pipeline.kind)
    if fp16:
        model = fp16_weights(model)
    precision = "fp16-weights" if fp16 else "fp32"
    settings = {**pipeline.describe(), "max_labels": MAX_LABELS, "min_side": _min_side(),
                "min_style_side": MIN_STYLE_SIDE, "inputs": list(INPUT_NAMES),
                "outputs": list(OUTPUT_NAMES[pipeline.kind])}
    kind_text = "PhotoWCT photorealistic" if pipeline.kind == "photo" else "WCT artistic"
    description = description or (f"{method} — {kind_text} style transfer, levels {', '.join(pipeline.levels)}"
                                  + (" + guided-filter smoothing" if pipeline.kind == "photo" else ""))
    model.producer_name = "impasto"
    model.producer_version = __version__
    model.doc_string = description
    spec = {n: {"name": n, "layout": "NCHW" if n != "alpha" else "scalar", "dtype": "float32", "shape": d}
            for n, d in INPUT_DIMS.items()}
    _set_metadata(model, {
        "impasto.version": __version__,
        "impasto.method": method,
        "impasto.style_name": method,
        "impasto.description": description,
        "impasto.input": json.dumps([spec[n] for n in INPUT_NAMES]),
        "impasto.output": json.dumps([{"name": n, "layout": "NCHW", "dtype": "float32", "range": [0, 1],
                                       "color": "RGB", "shape": OUTPUT_DIMS} for n in OUTPUT_NAMES[pipeline.kind]]),
        "impasto.card": json.dumps({s["level"]: s["card"] for s in sources if s.get("card")}, default=str,
                                   ensure_ascii=False),
        "impasto.precision": precision,
        "impasto.source_sha256": json.dumps({s["file"]: s["sha256"] for s in sources}),
        "impasto.wct": json.dumps(settings),
    })
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"export: the exported graph fails onnx.checker: {_one_line(exc)[:300]}") from None
    parity = check_parity(_session(model.SerializeToString()), pipeline, sizes, atol=atol)
    _set_metadata(model, {"impasto.parity": json.dumps({
        "reference": f"PyTorch {torch.__version__} float32 CPU",
        "runtime": f"onnxruntime {ort.__version__} {PROVIDERS[0]}",
        "inputs": f"smooth random images, numpy default_rng({PARITY_SEED}), alpha {PARITY_ALPHA}; "
                  "sizes after the first with 3 content labels (one absent from the style)",
        "tolerance": {"max_abs_error": atol}, "results": parity, "passed": True})})
    data = model.SerializeToString()
    _atomic_write_checked(out, data)
    return {"output": str(out), "method": method, "opset": opset, "precision": precision, "exporter": "dynamo",
            "parity": parity, "tolerance": {"max_abs_error": atol}, "seconds": round(time.perf_counter() - t0, 2),
            "onnx_bytes": len(data), "style_name": method, "settings": settings}


def _min_side() -> int:
    from impasto.models.photowct import MIN_SIDE

    return MIN_SIDE


def export_wct(method: str, decoder_checkpoints: Sequence[str | os.PathLike], output_path: str | os.PathLike, *,
               vgg_weights: str | os.PathLike | None = None, opset: int = DEFAULT_OPSET, fp16: bool = False,
               parity_sizes: Sequence[Sequence[int]] = DEFAULT_PARITY_SIZES, atol: float = ATOL,
               **settings: Any) -> dict[str, Any]:
    """Build the pipeline from decoder checkpoints and the VGG16 weights, export and check it.

    Args:
        method: ``"photowct"`` (photo decoders, unpooling, guided filter) or ``"wct"``
            (artistic decoders).
        decoder_checkpoints: one ``impasto train decoder`` checkpoint per level to use.
        output_path: the ``.onnx`` file.
        vgg_weights: VGG16 weights (default ``$IMPASTO_VGG16_WEIGHTS``, then torch.hub).
        opset, fp16, parity_sizes, atol: see :func:`export_pipeline`.
        **settings: :class:`~impasto.models.photowct.StylePipeline` options (``eps``,
            ``ns_iters``, ``min_pixels``, ``smooth_radius``, ``smooth_eps``).

    Returns:
        The export report (output, parity table, tolerance, size, settings, seconds).

    Raises:
        ModelError: a missing, foreign or mismatched decoder checkpoint.
        UserError: bad arguments.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    _check_args(method, output_path, opset, atol, parity_sizes)
    pipeline, sources = build_pipeline(method, decoder_checkpoints, vgg_weights=vgg_weights, **settings)
    return export_pipeline(pipeline, output_path, method=method, sources=sources, opset=opset, fp16=fp16,
                           parity_sizes=parity_sizes, atol=atol)
