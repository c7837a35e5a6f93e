"""Export the Learning-to-Warp network — VGG16 to pool4, K refinement steps unrolled — to one ONNX graph.

``impasto export warpnet CKPT -o warpnet.onnx`` rebuilds :class:`impasto.models.warpnet.WarpNet`
from a ``impasto train warpnet`` checkpoint and the VGG16 weights, exports it with the
``torch.export``-based exporter at opset 18 (the normalised 4D correlation becomes
``MatMul``, the warps ``GridSample``; opset 20's ``GridSample`` has a known wrong-result
bug in TensorRT, so newer opsets are refused), checks it with ``onnx.checker`` and
compares ONNX Runtime with PyTorch at two sizes (the second odd, content and guide of
different shapes) on both outputs. Nothing is written unless every max abs error is
within :data:`ATOL`; the file is written atomically.

Convention:
    Inputs (float32, RGB in ``[0, 1]``): ``content`` ``[1, 3, height, width]`` and
    ``guide`` ``[1, 3, guide_height, guide_width]``. Outputs: ``field`` ``[1, 2, height,
    width]`` (x, y offsets in normalised coordinates, ``align_corners=False``; the warped
    image at p samples the content at ``p + field(p)``) and ``warped`` ``[1, 3, height,
    width]``. ``metadata_props``: those of :mod:`impasto.export.onnx_export` with
    ``impasto.method = "warpnet"`` plus ``impasto.warpnet`` (JSON: the network config,
    ``inputs``, ``outputs``, ``min_side``).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Sequence
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
from impasto.export.wct_export import _dims, _smooth_image, fp16_weights

if TYPE_CHECKING:
    import onnx
    import onnxruntime

    from impasto.models.warpnet import WarpNet

INPUT_NAMES: tuple[str, ...] = ("content", "guide")
OUTPUT_NAMES: tuple[str, ...] = ("field", "warped")
INPUT_DIMS: dict[str, list[Any]] = {"content": [1, 3, "height", "width"],
                                    "guide": [1, 3, "guide_height", "guide_width"]}
OUTPUT_DIMS: dict[str, list[Any]] = {"field": [1, 2, "height", "width"], "warped": [1, 3, "height", "width"]}
#: Opsets: 18 (the dynamo exporter's own); GridSample at opset 20 is mis-computed by TensorRT.
OPSETS = (18,)
DEFAULT_OPSET = 18
#: Smallest side of either image.
MIN_SIDE = 16
#: Parity sizes ``(height, width)`` of the content; the guide gets a different shape.
DEFAULT_PARITY_SIZES: tuple[tuple[int, int], ...] = ((96, 128), (75, 53))
#: fp32 bound on both outputs (field in normalised units, warped image in [0, 1]).
ATOL = 1e-3
PARITY_SEED = 0


def parity_feeds(sizes: Sequence[tuple[int, int]], seed: int = PARITY_SEED) -> list[dict[str, np.ndarray]]:
    """Deterministic smooth random content images and differently shaped guides."""
    rng = np.random.default_rng(seed)
    return [{"content": _smooth_image(rng, h, w), "guide": _smooth_image(rng, w + 7, h + 11)} for h, w in sizes]


def _check_args(output_path: str | os.PathLike, opset: int, atol: float,
                parity_sizes: Sequence[Sequence[int]]) -> tuple[Path, list[tuple[int, int]]]:
    out = Path(output_path)
    if out.suffix.lower() != ".onnx":
        raise UserError(f"export: expected an output path ending in .onnx, got {str(out)!r}")
    if out.is_dir():
        raise UserError(f"export: output {str(out)!r} is a directory, expected a file path ending in .onnx")
    if isinstance(opset, bool) or opset not in OPSETS:
        raise UserError(f"--opset: expected {' or '.join(map(str, OPSETS))} for warpnet (GridSample at opset 20 "
                        f"is mis-computed by TensorRT), got {opset!r}")
    if not (isinstance(atol, (int, float)) and math.isfinite(atol) and atol >= 0):
        raise UserError(f"export: expected a finite tolerance >= 0, got atol={atol!r}")
    sizes = []
    for s in parity_sizes:
        if len(s) != 2 or not all(isinstance(v, (int, np.integer)) and v >= MIN_SIDE for v in s):
            raise UserError(f"export: expected parity sizes as (height, width) integers >= {MIN_SIDE}, got {s!r}")
        sizes.append((int(s[0]), int(s[1])))
    if len(sizes) < 2:
        raise UserError(f"export: expected at least two parity sizes, got {len(sizes)}")
    return out, sizes


def _export_dynamo(net: WarpNet, opset: int) -> onnx.ModelProto:
    import torch

    dim = torch.export.Dim
    h, w = dim("height", min=MIN_SIDE), dim("width", min=MIN_SIDE)
    gh, gw = dim("guide_height", min=MIN_SIDE), dim("guide_width", min=MIN_SIDE)
    g = torch.Generator().manual_seed(0)
    args = (torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 3, 72, 60, generator=g))
    with _quiet_exporter(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        program = torch.onnx.export(net, args, dynamo=True, input_names=list(INPUT_NAMES),
                                    output_names=list(OUTPUT_NAMES), dynamic_shapes=({2: h, 3: w}, {2: gh, 3: gw}),
                                    opset_version=opset, optimize=True, verbose=False)
    model = program.model_proto
    strip_debug_metadata(model)
    return model


def _check_io(model: onnx.ModelProto) -> None:
    """Names, float32 and symbolic input dims; output dims are set to the convention."""
    import onnx

    got_in = [(vi.name, vi.type.tensor_type.elem_type, _dims(vi)) for vi in model.graph.input]
    want_in = [(n, onnx.TensorProto.FLOAT, INPUT_DIMS[n]) for n in INPUT_NAMES]
    if got_in != want_in:
        raise ExportError(f"export: expected graph inputs {[(n, d) for n, _, d in want_in]}, "
                          f"got {[(n, d) for n, _, d in got_in]}")
    got_out = [(vi.name, vi.type.tensor_type.elem_type) for vi in model.graph.output]
    if got_out != [(n, onnx.TensorProto.FLOAT) for n in OUTPUT_NAMES]:
        raise ExportError(f"export: expected float graph outputs {list(OUTPUT_NAMES)}, got {[n for n, _ in got_out]}")
    for vi in model.graph.output:
        for d, want in zip(vi.type.tensor_type.shape.dim, OUTPUT_DIMS[vi.name]):
            if isinstance(want, str):
                d.dim_param = want
            else:
                d.dim_value = want


def check_parity(session: onnxruntime.InferenceSession, net: WarpNet, sizes: Sequence[tuple[int, int]], *,
                 atol: float) -> list[dict[str, Any]]:
    """ONNX Runtime against PyTorch on :func:`parity_feeds`; both outputs within ``atol``.

    Returns:
        ``[{"size", "guide_size", "output", "max_abs_error", "psnr_db"}, ...]``.

    Raises:
        ExportError: a run failure, a shape mismatch, non-finite output or an error over ``atol``.
    """
    import torch

    results, failures = [], []
    for (h, w), feed in zip(sizes, parity_feeds(sizes)):
        try:
            got = session.run(list(OUTPUT_NAMES), feed)
        except Exception as exc:
            raise ExportError(f"export: parity check failed: ONNX Runtime cannot run a {h}x{w} image: "
                              f"{_one_line(exc)[:300]}") from None
        with torch.no_grad():
            ref = net(*(torch.from_numpy(feed[n]) for n in INPUT_NAMES))
        for name, g, r, c in zip(OUTPUT_NAMES, got, ref, (2, 3)):
            r = r.numpy()
            if g.shape != (1, c, h, w) or r.shape != (1, c, h, w):
                raise ExportError(f"export: parity check failed at {h}x{w}: expected {name} [1, {c}, {h}, {w}], "
                                  f"got {list(g.shape)} (ONNX) and {list(r.shape)} (PyTorch)")
            diff = g.astype(np.float64) - r.astype(np.float64)
            err = float(np.max(np.abs(diff)))
            mse = float(np.mean(diff * diff))
            psnr = PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else 10.0 * math.log10(1.0 / mse)
            if not (math.isfinite(err) and math.isfinite(psnr)):
                failures.append(f"{name} {h}x{w}: non-finite output")
                err, psnr = float("nan"), float("nan")
            elif not err <= atol:
                failures.append(f"{name} {h}x{w}: max abs error {err:.3g} > {atol:g}")
            results.append({"size": [h, w], "guide_size": list(feed["guide"].shape[2:]), "output": name,
                            "max_abs_error": err, "psnr_db": round(psnr, 2)})
    if failures:
        raise ExportError("export: parity check against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return results


def export_network(net: WarpNet, output_path: str | os.PathLike, *, sources: Sequence[dict[str, Any]] = (),
                   card: dict[str, Any] | None = None, opset: int = DEFAULT_OPSET, fp16: bool = False,
                   parity_sizes: Sequence[Sequence[int]] = DEFAULT_PARITY_SIZES,
                   atol: float = ATOL) -> dict[str, Any]:
    """Export an already-built network (see :func:`export_warpnet`; tests pass small encoders).

    Args:
        net: the PyTorch network (eval mode, CPU, float32).
        output_path: the ``.onnx`` file (replaced atomically).
        sources: ``[{"file", "sha256"}]`` recorded in ``impasto.source_sha256``.
        card: the checkpoint's model card, stored in ``impasto.card``.
        opset: 18.
        fp16: store large weights as float16 (compute stays float32; the fp32 bound still applies).
        parity_sizes: content ``(height, width)`` of the parity feeds (two at least).
        atol: max abs error bound per output and size.

    Returns:
        The export report: output, opset, precision, parity table, tolerance, bytes, seconds, settings.
    """
    t0 = time.perf_counter()
    out, sizes = _check_args(output_path, opset, atol, parity_sizes)
    import onnx
    import onnxruntime as ort
    import torch

    net = net.float().cpu().eval()
    try:
        model = _export_dynamo(net, opset)
    except Exception as exc:  # exporter failures come in many types
        raise ExportError(f"export: torch.onnx.export failed: {type(exc).__name__}: {_one_line(exc)[:300]}") from None
    opset_got = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset_got != opset:
        raise ExportError(f"export: the exporter produced opset {opset_got}, not {opset}")
    _check_io(model)
    if fp16:
        model = fp16_weights(model)
    precision = "fp16-weights" if fp16 else "fp32"
    cfg = net.config
    settings = {**cfg.to_dict(), "grid": cfg.grid, "min_side": MIN_SIDE, "inputs": list(INPUT_NAMES),
                "outputs": list(OUTPUT_NAMES)}
    description = (f"warpnet — Learning-to-Warp network: VGG16 pool4 features at {cfg.size}x{cfg.size}, "
                   f"normalised 4D correlation, {cfg.steps} refinement steps, dense warp field")
    model.producer_name = "impasto"
    model.producer_version = __version__
    model.doc_string = description
    _set_metadata(model, {
        "impasto.version": __version__,
        "impasto.method": "warpnet",
        "impasto.style_name": "warpnet",
        "impasto.description": description,
        "impasto.input": json.dumps([{"name": n, "layout": "NCHW", "dtype": "float32", "range": [0, 1],
                                      "color": "RGB", "shape": INPUT_DIMS[n]} for n in INPUT_NAMES]),
        "impasto.output": json.dumps([{"name": "field", "layout": "NCHW", "dtype": "float32",
                                       "units": "normalised offsets (x, y), align_corners=False",
                                       "shape": OUTPUT_DIMS["field"]},
                                      {"name": "warped", "layout": "NCHW", "dtype": "float32", "range": [0, 1],
                                       "color": "RGB", "shape": OUTPUT_DIMS["warped"]}]),
        "impasto.card": json.dumps(card or {}, default=str, ensure_ascii=False),
        "impasto.precision": precision,
        "impasto.source_sha256": json.dumps({s["file"]: s["sha256"] for s in sources}),
        "impasto.warpnet": json.dumps(settings),
    })
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"export: the exported graph fails onnx.checker: {_one_line(exc)[:300]}") from None
    parity = check_parity(_session(model.SerializeToString()), net, sizes, atol=atol)
    _set_metadata(model, {"impasto.parity": json.dumps({
        "reference": f"PyTorch {torch.__version__} float32 CPU",
        "runtime": f"onnxruntime {ort.__version__} {PROVIDERS[0]}",
        "inputs": f"smooth random images, numpy default_rng({PARITY_SEED}); guides of another shape",
        "tolerance": {"max_abs_error": atol}, "results": parity, "passed": True})})
    data = model.SerializeToString()
    _atomic_write_checked(out, data)
    return {"output": str(out), "method": "warpnet", "opset": opset, "precision": precision, "exporter": "dynamo",
            "parity": parity, "tolerance": {"max_abs_error": atol}, "seconds": round(time.perf_counter() - t0, 2),
            "onnx_bytes": len(data), "style_name": "warpnet", "settings": settings}


def export_warpnet(checkpoint_path: str | os.PathLike, output_path: str | os.PathLike, *,
                   vgg_weights: str | os.PathLike | None = None, opset: int = DEFAULT_OPSET, fp16: bool = False,
                   parity_sizes: Sequence[Sequence[int]] = DEFAULT_PARITY_SIZES,
                   atol: float = ATOL) -> dict[str, Any]:
    """Build the network from a ``impasto train warpnet`` checkpoint and the VGG16 weights, export and check it.

    Raises:
        ModelError: a missing or foreign checkpoint.
        UserError: bad arguments.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    _check_args(output_path, opset, atol, parity_sizes)
    name = str(checkpoint_path)
    try:
        ckpt = load_checkpoint(checkpoint_path)
        net = build_from_checkpoint(ckpt, method="warpnet", vgg_weights=vgg_weights)
    except ModelError as exc:
        raise ModelError(f"checkpoint {name!r}: {_one_line(exc)}") from None
    sources = [{"file": Path(checkpoint_path).name, "sha256": sha256_file(checkpoint_path)},
               {"file": Path(net.encoder.weights_path).name, "sha256": sha256_file(net.encoder.weights_path)}]
    return export_network(net, output_path, sources=sources, card=ckpt.get("card") or {}, opset=opset, fp16=fp16,
                          parity_sizes=parity_sizes, atol=atol)
