"""Export an MT-Net checkpoint to one ONNX graph with all three outputs, gated by parity.

``impasto export CKPT -o MODEL.onnx`` dispatches here when the checkpoint's method is
``multimodal``. The network (wrapped in
:class:`impasto.models.multimodal.ClampedMultimodal`) is exported with the
``torch.export``-based exporter (opset >= 18, batch, height and width dynamic), checked
with ``onnx.checker``, stamped with metadata and run under ONNX Runtime (CPU) against
PyTorch at every parity size, every output compared; nothing is written unless all pass
(the write is atomic). The helpers are :mod:`impasto.export.onnx_export`'s.

Parity bound:
    ``max abs error <= 1e-4`` per output, as for every float32 export, unless the
    network's own float32 rounding is larger: then ``4 x`` that (measured as PyTorch
    float32 against PyTorch float64 on the same image). MT-Net needs this: every subnet
    starts with a convolution + instance norm on the previous subnet's smooth, upsampled
    output, and instance norm divides by that feature's small standard deviation, so
    rounding grows ~10x per subnet. For untrained (random) weights PyTorch's own float32
    error on the finest output is 2e-4 - 6e-4 (figures in ``docs/multimodal.md``). Each
    row of the report states ``fp32_noise`` and the ``bound`` it was held to.

Convention:
    Input ``image``: float32 ``[batch, 3, height, width]`` RGB in ``[0, 1]``, ``height``
    and ``width`` >= :data:`impasto.models.multimodal.MIN_SIDE`. Outputs, coarse to fine,
    float32 RGB in ``[0, 1]``: ``stylized_256`` ``[batch, 3, height_4, width_4]``,
    ``stylized_512`` ``[batch, 3, height_2, width_2]`` and ``stylized_1024``
    ``[batch, 3, height, width]``, where ``height_2 = ceil(height / 2)`` and
    ``height_4 = ceil(height_2 / 2)`` (likewise for widths). The names carry the nominal
    scale for a 1024 px input (the paper's setting). ``metadata_props``: those of
    :mod:`impasto.export.onnx_export` (``impasto.method`` = ``multimodal``) plus
    ``impasto.kind`` = ``multiscale`` and ``impasto.multiscale``, the JSON the runtime
    reads (:mod:`impasto.runtime.pipelines.multiscale`): ``{"outputs": [{"name", "scale",
    "downsample"}], "default": name, "min_side": int, "trained_side": int}``.
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
    FP32_ATOL,
    INPUT_NAME,
    PARITY_SEED,
    PROVIDERS,
    PSNR_CAP_DB,
    _atomic_write_checked,
    _one_line,
    _quiet_exporter,
    _session,
    _set_metadata,
    parity_inputs,
    sha256_file,
    strip_debug_metadata,
    style_name_of,
)

if TYPE_CHECKING:
    import onnx
    import onnxruntime
    import torch

    from impasto.models.multimodal import MultimodalNet

MIN_OPSET = 18
DEFAULT_OPSET = 18
#: Parity sizes ``(height, width)``: an even one and an odd, non-square one.
DEFAULT_PARITY_SIZES: tuple[tuple[int, int], ...] = ((128, 192), (101, 147))
#: The bound grows to this multiple of PyTorch's own float32 error (vs float64) where that is larger.
NOISE_FACTOR = 4.0
OUTPUT_DIMS: tuple[list[Any], ...] = (["batch", 3, "height_4", "width_4"], ["batch", 3, "height_2", "width_2"],
                                      ["batch", 3, "height", "width"])


def multiscale_metadata(trained_side: int) -> dict[str, Any]:
    """The ``impasto.multiscale`` entry (see the module docstring)."""
    from impasto.models.multimodal import MIN_SIDE, OUTPUT_NAMES, SCALES

    return {"outputs": [{"name": n, "scale": s, "downsample": 2 ** (2 - i)}
                        for i, (n, s) in enumerate(zip(OUTPUT_NAMES, SCALES))],
            "default": OUTPUT_NAMES[-1], "min_side": MIN_SIDE, "trained_side": trained_side}


def _check_args(output_path: str | os.PathLike, opset: int, parity_sizes: Sequence[Sequence[int]]
                ) -> tuple[Path, list[tuple[int, int]]]:
    import onnx

    from impasto.models.multimodal import MIN_SIDE

    out = Path(output_path)
    if out.suffix.lower() != ".onnx" or out.is_dir():
        raise UserError(f"export: expected an output file path ending in .onnx, got {str(out)!r}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise UserError(f"--opset: expected an integer in [{MIN_OPSET}, {newest}] for a multimodal export, "
                        f"got {opset!r}")
    sizes = [(int(s[0]), int(s[1])) for s in parity_sizes if len(s) == 2]
    if not sizes or len(sizes) != len(parity_sizes) or min(min(s) for s in sizes) < MIN_SIDE:
        raise UserError(f"export: expected parity sizes as (height, width) >= {MIN_SIDE}, got {list(parity_sizes)}")
    return out, sizes


def load_multimodal(checkpoint_path: str | os.PathLike) -> tuple[dict[str, Any], MultimodalNet]:
    """Load an MT-Net checkpoint (CPU, eval, float32).

    Raises:
        ModelError: missing, unreadable, not ``multimodal``, or weights that do not fit.
    """
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    try:
        ckpt = load_checkpoint(checkpoint_path)
        return ckpt, build_from_checkpoint(ckpt, method="multimodal")
    except ModelError as exc:
        raise ModelError(f"{_one_line(exc)} ({str(checkpoint_path)!r})") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"checkpoint {str(checkpoint_path)!r}: cannot build the MT-Net "
                         f"({type(exc).__name__}: {_one_line(exc)[:300]})") from None


def _export_dynamo(module: torch.nn.Module, opset: int) -> onnx.ModelProto:
    import torch

    from impasto.models.multimodal import MIN_SIDE, OUTPUT_NAMES

    dim = torch.export.Dim
    shapes = ({0: dim("batch", min=1), 2: dim("height", min=MIN_SIDE), 3: dim("width", min=MIN_SIDE)},)
    # batch 2, odd and unequal sides: a size-1 or square example invites specialisation
    example = torch.rand(2, 3, 67, 91, generator=torch.Generator().manual_seed(0))
    with _quiet_exporter(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT_NAME],
                                    output_names=list(OUTPUT_NAMES), dynamic_shapes=shapes,
                                    opset_version=opset, optimize=True, verbose=False)
    model = program.model_proto
    strip_debug_metadata(model)
    return model


def _check_io(model: onnx.ModelProto) -> None:
    """One float ``image`` input, the three float outputs in order; output dims renamed to the convention."""
    import onnx

    from impasto.models.multimodal import OUTPUT_NAMES

    got_in = [(vi.name, vi.type.tensor_type.elem_type) for vi in model.graph.input]
    got_out = [(vi.name, vi.type.tensor_type.elem_type) for vi in model.graph.output]
    if got_in != [(INPUT_NAME, onnx.TensorProto.FLOAT)] or got_out != [(n, onnx.TensorProto.FLOAT)
                                                                        for n in OUTPUT_NAMES]:
        raise ExportError(f"export: expected float input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}, "
                          f"got inputs {[n for n, _ in got_in]} and outputs {[n for n, _ in got_out]}")
    for vi, want in zip((*model.graph.input, *model.graph.output), (OUTPUT_DIMS[2], *OUTPUT_DIMS)):
        for d, w in zip(vi.type.tensor_type.shape.dim, want):
            if isinstance(w, str):
                d.dim_param = w
            else:
                d.dim_value = w


def compare(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """``(max abs error, PSNR in dB with peak 1)`` of ``got`` against ``ref`` (PSNR capped)."""
    diff = got.astype(np.float64) - ref.astype(np.float64)
    mse = float(np.mean(diff * diff))
    psnr = PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else 10.0 * math.log10(1.0 / mse)
    return float(np.max(np.abs(diff))), psnr


def check_parity(session: onnxruntime.InferenceSession, module: torch.nn.Module, sizes: Sequence[tuple[int, int]],
                 *, atol: float) -> list[dict[str, Any]]:
    """ONNX Runtime against PyTorch (float32) on :func:`~impasto.export.onnx_export.parity_inputs`, every output.

    Each output's bound is ``max(atol, NOISE_FACTOR * fp32_noise)``, where ``fp32_noise`` is
    the max abs difference between PyTorch's float32 and float64 results for the same
    image: the network's own float32 rounding error (see the module docstring).

    Returns:
        ``[{"size", "output", "shape", "max_abs_error", "psnr_db", "fp32_noise", "bound"}, ...]``.

    Raises:
        ExportError: a run failure, a shape mismatch, non-finite output or an error over its bound.
    """
    import copy

    import torch

    reference64 = copy.deepcopy(module).double().eval()

    from impasto.models.multimodal import OUTPUT_NAMES, level_sizes

    results, failures = [], []
    for (h, w), x in zip(sizes, parity_inputs(sizes)):
        try:
            got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        except Exception as exc:
            raise ExportError(f"export: parity check failed: ONNX Runtime cannot run a {h}x{w} image: "
                              f"{_one_line(exc)[:300]}") from None
        with torch.no_grad():
            ref = [t.numpy() for t in module(torch.from_numpy(x))]
            ref64 = [t.numpy() for t in reference64(torch.from_numpy(x).double())]
        for name, g, r, r64, (oh, ow) in zip(OUTPUT_NAMES, got, ref, ref64, level_sizes(h, w)):
            if g.shape != (1, 3, oh, ow) or r.shape != (1, 3, oh, ow):
                raise ExportError(f"export: parity check failed at {h}x{w}: expected {name} [1, 3, {oh}, {ow}], "
                                  f"got {list(g.shape)} (ONNX) and {list(r.shape)} (PyTorch)")
            err, psnr = compare(g, r)
            noise = compare(r, r64)[0]
            bound = max(atol, NOISE_FACTOR * noise)
            if not (math.isfinite(err) and math.isfinite(psnr)):
                failures.append(f"{name} {h}x{w}: non-finite output")
            elif not err <= bound:
                failures.append(f"{name} {h}x{w}: max abs error {err:.3g} > {bound:.3g}")
            results.append({"size": [h, w], "output": name, "shape": [oh, ow], "max_abs_error": err,
                            "psnr_db": round(psnr, 2), "fp32_noise": noise, "bound": bound})
    if failures:
        raise ExportError("export: parity check against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return results


def export_multimodal(checkpoint_path: str | os.PathLike, output_path: str | os.PathLike, *,
                      opset: int = DEFAULT_OPSET, parity_sizes: Sequence[Sequence[int]] = DEFAULT_PARITY_SIZES,
                      atol: float = FP32_ATOL) -> dict[str, Any]:
    """Export an MT-Net checkpoint (see the module docstring for the graph's convention).

    Args:
        checkpoint_path: written by ``impasto train multimodal``.
        output_path: the ``.onnx`` file (replaced atomically).
        opset: ONNX opset, >= 18.
        parity_sizes: ``(height, width)`` of the parity images (include an odd one).
        atol: max absolute error bound per output (float32: 1e-4).

    Returns:
        ``{"output", "opset", "precision", "exporter", "parity", "tolerance", "seconds",
        "onnx_bytes", "style_name", "outputs"}``.

    Raises:
        ModelError: the checkpoint is missing, unreadable or not an MT-Net.
        UserError: a bad output path, opset or parity size.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    t0 = time.perf_counter()
    out, sizes = _check_args(output_path, opset, parity_sizes)
    ckpt, net = load_multimodal(checkpoint_path)

    import onnx
    import onnxruntime as ort
    import torch

    from impasto.models.multimodal import OUTPUT_NAMES, ClampedMultimodal

    module = ClampedMultimodal(net).eval()
    try:
        model = _export_dynamo(module, opset)
    except Exception as exc:
        raise ExportError(f"export: torch.onnx.export (dynamo) failed: {type(exc).__name__}: "
                          f"{_one_line(exc)[:300]}") from None
    _check_io(model)
    style_name = style_name_of(ckpt, checkpoint_path)
    cfg = ckpt["model"]["config"]
    trained_side = int((ckpt.get("train_config") or {}).get("size", 1024))
    description = (f"{style_name} — MT-Net (Wang et al. 2017): outputs at 1/4, 1/2 and full size; widths "
                   f"{cfg['style_width']}/{cfg['enhance_width']}/{cfg['refine_width']}, trained at {trained_side} px")
    model.producer_name, model.producer_version, model.doc_string = "impasto", __version__, description
    spec = {"layout": "NCHW", "dtype": "float32", "range": [0, 1], "color": "RGB"}
    _set_metadata(model, {
        "impasto.version": __version__,
        "impasto.method": "multimodal",
        "impasto.kind": "multiscale",
        "impasto.style_name": style_name,
        "impasto.description": description,
        "impasto.input": json.dumps({"name": INPUT_NAME, **spec, "shape": OUTPUT_DIMS[2]}),
        "impasto.output": json.dumps([{"name": n, **spec, "shape": d} for n, d in zip(OUTPUT_NAMES, OUTPUT_DIMS)]),
        "impasto.multiscale": json.dumps(multiscale_metadata(trained_side)),
        "impasto.card": json.dumps(ckpt.get("card") or {}, default=str, ensure_ascii=False),
        "impasto.precision": "fp32",
        "impasto.source_sha256": sha256_file(checkpoint_path),
    })
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"export: the exported graph fails onnx.checker: {_one_line(exc)[:300]}") from None
    parity = check_parity(_session(model.SerializeToString()), module, sizes, atol=atol)
    tolerance = {"max_abs_error": atol, "min_psnr_db": None,
                 "rule": f"per output: max(max_abs_error, {NOISE_FACTOR:g} x PyTorch float32-vs-float64 error)"}
    _set_metadata(model, {"impasto.parity": json.dumps({
        "reference": f"PyTorch {torch.__version__} float32 CPU", "runtime": f"onnxruntime {ort.__version__} "
        f"{PROVIDERS[0]}", "inputs": f"uniform random [0, 1), numpy default_rng({PARITY_SEED})",
        "tolerance": tolerance, "results": parity, "passed": True})})
    data = model.SerializeToString()
    _atomic_write_checked(out, data)
    return {"output": str(out), "opset": opset, "precision": "fp32", "exporter": "dynamo", "parity": parity,
            "tolerance": tolerance, "seconds": round(time.perf_counter() - t0, 2), "onnx_bytes": len(data),
            "style_name": style_name, "outputs": list(OUTPUT_NAMES)}


def is_multimodal_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a readable checkpoint of ``impasto train multimodal`` (False for anything else)."""
    from impasto.models.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path).get("method") == "multimodal"
    except ModelError:
        return False


def format_multimodal_report(report: dict[str, Any]) -> str:
    """The human-readable summary of :func:`export_multimodal`'s report: one parity row per size and output."""
    lines = [
        f"exported {report['style_name']!r} -> {report['output']} (MT-Net, outputs {', '.join(report['outputs'])}; "
        f"{report['precision']}, opset {report['opset']}, {report['onnx_bytes'] / 1e6:.2f} MB, "
        f"{report['seconds']:.1f} s)",
        f"parity vs PyTorch on ONNX Runtime CPU ({report['tolerance']['rule']}): passed",
        f"  {'size (HxW)':<12} {'output':<14} {'max abs err':>12} {'bound':>9} {'fp32 noise':>11} {'PSNR (dB)':>10}",
    ]
    for row in report["parity"]:
        h, w = row["size"]
        lines.append(f"  {f'{h}x{w}':<12} {row['output']:<14} {row['max_abs_error']:>12.2e} {row['bound']:>9.1e} "
                     f"{row['fp32_noise']:>11.2e} {row['psnr_db']:>10.1f}")
    return "\n".join(lines)
