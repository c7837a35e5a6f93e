"""Export a style-bank checkpoint to ONNX with its conditioning as graph inputs, parity-gated.

The graph takes the image *and* the style-weight vector and both loss-weight vectors as
inputs, so a runtime changes the style, the mixture and the per-layer α per call (per
video frame) without another graph. Exporter, ``onnx.checker``, metadata and the atomic
write are :mod:`impasto.export.onnx_export`'s; the parity check here also draws random
α and random style mixtures (besides one-hot styles at α = 1) for every size.

Convention:
    Inputs (all float32):
      ``image`` ``("batch", 3, "height", "width")`` NCHW RGB in ``[0, 1]``;
      ``style_weights`` ``(N,)``, non-negative, summing to 1 (the runtime normalises);
      ``content_layer_weights`` ``(n_c,)`` and ``style_layer_weights`` ``(n_s,)``,
      non-negative, 1 = the training default.
    Output ``stylized``: the image's shape, RGB in ``[0, 1]``.
    ``metadata_props`` adds to the feed-forward keys: ``impasto.styles`` (JSON list of
    ``{"name", "source"}`` in input order), ``impasto.content_layers`` and
    ``impasto.style_layers`` (JSON lists of VGG16 tap names, in input order).
    ``impasto.method`` is ``"bank"`` and ``impasto.style_name`` ``"bank"``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto import __version__
from impasto.errors import ExportError, ModelError
from impasto.export.onnx_export import (
    DEFAULT_OPSET,
    FP32_ATOL,
    MIN_SIDE,
    OUTPUT_NAME,
    PARITY_SEED,
    PROVIDERS,
    PSNR_CAP_DB,
    _atomic_write_checked,
    _check_args,
    _one_line,
    _opset_of,
    _quiet_exporter,
    _session,
    _set_metadata,
    parity_inputs,
    sha256_file,
    strip_debug_metadata,
    tensor_spec,
)

if TYPE_CHECKING:
    import onnx
    import torch

INPUT_NAMES = ("image", "style_weights", "content_layer_weights", "style_layer_weights")
DEFAULT_BANK_PARITY_SIZES: tuple[tuple[int, int], ...] = ((128, 128), (131, 97))
#: Conditioning draws per parity size: one-hot styles at α = 1, then random mixtures and α.
PARITY_DRAWS = 3


def _load_bank(checkpoint_path: str | os.PathLike) -> tuple[dict[str, Any], torch.nn.Module]:
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    name = str(checkpoint_path)
    try:
        ckpt = load_checkpoint(checkpoint_path)
        net = build_from_checkpoint(ckpt, method="bank")
    except ModelError as exc:
        raise ModelError(f"checkpoint {name!r}: {_one_line(exc)}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"checkpoint {name!r}: cannot build the style bank "
                         f"({type(exc).__name__}: {_one_line(exc)[:300]})") from None
    return ckpt, net.float().cpu().eval()


def is_bank_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a readable checkpoint of ``impasto train bank`` (False for anything else)."""
    from impasto.models.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path).get("method") == "bank"
    except ModelError:
        return False


def _example_inputs(n_styles: int, n_c: int, n_s: int) -> tuple[torch.Tensor, ...]:
    import torch

    g = torch.Generator().manual_seed(0)
    w = torch.rand(n_styles, generator=g)
    return (torch.rand(2, 3, 67, 91, generator=g), w / w.sum(), torch.rand(n_c, generator=g) * 2,
            torch.rand(n_s, generator=g) * 2)


def _export_bank_graph(module: torch.nn.Module, example: tuple[torch.Tensor, ...], opset: int) -> onnx.ModelProto:
    """The dynamo exporter with a dynamic image batch and size; the weight vectors keep their lengths."""
    import torch

    dims = {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=MIN_SIDE),
            3: torch.export.Dim("width", min=MIN_SIDE)}
    try:
        with _quiet_exporter():
            program = torch.onnx.export(module, example, dynamo=True, input_names=list(INPUT_NAMES),
                                        output_names=[OUTPUT_NAME], dynamic_shapes=(dims, None, None, None),
                                        opset_version=opset, optimize=True, verbose=False)
    except Exception as exc:
        raise ExportError(f"export: torch.onnx.export (dynamo) failed: {type(exc).__name__}: "
                          f"{_one_line(exc)[:300]}") from None
    model = program.model_proto
    if _opset_of(model) != opset:
        raise ExportError(f"export: the exporter produced opset {_opset_of(model)}, not {opset}")
    strip_debug_metadata(model)
    return model


def _check_bank_io(model: onnx.ModelProto, lengths: Sequence[int]) -> None:
    """Inputs and output by name, dtype and shape (see the module docstring)."""
    import onnx

    def dims(vi: onnx.ValueInfoProto) -> list[Any]:
        return [d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
                for d in vi.type.tensor_type.shape.dim]

    image_dims = ["batch", 3, "height", "width"]
    want = [(INPUT_NAMES[0], image_dims)] + [(n, [k]) for n, k in zip(INPUT_NAMES[1:], lengths, strict=True)]
    got = [(vi.name, dims(vi)) for vi in model.graph.input]
    float_ok = all(vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for vi in model.graph.input)
    if got != want or not float_ok:
        raise ExportError(f"export: expected graph inputs {want} (FLOAT), got {got}")
    outs = [(vi.name, dims(vi)) for vi in model.graph.output]
    if outs != [(OUTPUT_NAME, image_dims)]:
        raise ExportError(f"export: expected graph output {[(OUTPUT_NAME, image_dims)]}, got {outs}")


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


def check_bank_parity(session: Any, module: torch.nn.Module, sizes: Sequence[tuple[int, int]],
                      conditions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                      atol: float) -> list[dict[str, Any]]:
    """ONNX Runtime vs PyTorch for every size x conditioning; raises :class:`ExportError` over ``atol``."""
    import torch

    results, failures = [], []
    for (h, w), x in zip(sizes, parity_inputs(sizes), strict=True):
        for k, cond in enumerate(conditions):
            feed = dict(zip(INPUT_NAMES, (x, *cond), strict=True))
            try:
                got = session.run([OUTPUT_NAME], feed)[0]
            except Exception as exc:
                raise ExportError(f"export: parity check failed: ONNX Runtime cannot run a {h}x{w} image: "
                                  f"{_one_line(exc)[:300]}") from None
            with torch.no_grad():
                ref = module(*(torch.from_numpy(v) for v in feed.values())).numpy()
            if got.shape != x.shape or ref.shape != x.shape:
                raise ExportError(f"export: parity check failed at {h}x{w}: expected output shape {list(x.shape)}, "
                                  f"got {list(got.shape)} (ONNX) and {list(ref.shape)} (PyTorch)")
            diff = got.astype(np.float64) - ref.astype(np.float64)
            err, mse = float(np.max(np.abs(diff))), float(np.mean(diff * diff))
            psnr = PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else 10.0 * math.log10(1.0 / mse)
            if not (math.isfinite(err) and err <= atol):
                failures.append(f"{h}x{w} draw {k}: max abs error {err:.3g} > {atol:g}")
            results.append({"size": [h, w], "draw": k, "max_abs_error": err, "psnr_db": round(psnr, 2)})
    if failures:
        raise ExportError("export: parity check against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return results


def export_bank(checkpoint_path: str | os.PathLike, output_path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                parity_sizes: Sequence[Sequence[int]] = DEFAULT_BANK_PARITY_SIZES,
                atol: float | None = None) -> dict[str, Any]:
    """Export a bank checkpoint (``impasto train bank``) to a checked, self-describing ONNX model.

    Convention:
        See the module docstring. Nothing is written unless the graph passes
        ``onnx.checker``, the I/O check and the parity check (ONNX Runtime CPU vs PyTorch,
        every size in ``parity_sizes`` x :func:`parity_conditions`).

    Args:
        checkpoint_path: a checkpoint written by ``impasto train bank``.
        output_path: the ``.onnx`` file to write (replaced atomically).
        opset: ONNX opset, >= 18 (the dynamo exporter).
        parity_sizes: ``(height, width)`` of the parity images; include an odd size.
        atol: max absolute error bound; default :data:`FP32_ATOL`.

    Returns:
        ``{"output", "opset", "precision", "exporter", "parity", "tolerance", "seconds",
        "onnx_bytes", "style_name", "styles"}``.

    Raises:
        ModelError: the checkpoint is missing, unreadable or not a bank.
        UserError: a bad output path, opset, tolerance or parity size.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    t0 = time.perf_counter()
    out, sizes = _check_args(output_path, opset, atol, parity_sizes)
    if opset < 18:
        raise ExportError(f"export: a style bank exports with the dynamo exporter at opset >= 18, got {opset}")
    ckpt, net = _load_bank(checkpoint_path)

    import onnx
    import onnxruntime as ort
    import torch

    from impasto.models.style_bank import ClampedBank

    cfg = net.config
    module = ClampedBank(net).eval()
    lengths = (cfg.n_styles, len(cfg.content_layers), len(cfg.style_layers))
    model = _export_bank_graph(module, _example_inputs(*lengths), opset)
    _check_bank_io(model, lengths)

    names = list(ckpt["style_names"])
    styles = [{"name": n, "source": f} for n, f in zip(names, ckpt["style_files"], strict=True)]
    description = (f"style bank of {len(names)} styles ({', '.join(names)}) — conditional-instance-norm network "
                   f"(widths {list(cfg.widths)}, {cfg.n_residual} residual blocks, {cfg.upsample} upsampling), "
                   "adjustable per-layer loss weights")
    model.producer_name = "impasto"
    model.producer_version = __version__
    model.doc_string = description
    _set_metadata(model, {
        "impasto.version": __version__,
        "impasto.method": "bank",
        "impasto.style_name": "bank",
        "impasto.description": description,
        "impasto.input": json.dumps(tensor_spec(INPUT_NAMES[0])),
        "impasto.output": json.dumps(tensor_spec(OUTPUT_NAME)),
        "impasto.styles": json.dumps(styles, ensure_ascii=False),
        "impasto.content_layers": json.dumps(list(cfg.content_layers)),
        "impasto.style_layers": json.dumps(list(cfg.style_layers)),
        "impasto.card": json.dumps(ckpt.get("card") or {}, default=str, ensure_ascii=False),
        "impasto.precision": "fp32",
        "impasto.source_sha256": sha256_file(checkpoint_path),
    })
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"export: the exported graph fails onnx.checker: {_one_line(exc)[:300]}") from None

    bound = float(atol) if atol is not None else FP32_ATOL
    conditions = parity_conditions(*lengths)
    parity = check_bank_parity(_session(model.SerializeToString()), module, sizes, conditions, atol=bound)
    tolerance = {"max_abs_error": bound, "min_psnr_db": None}
    _set_metadata(model, {"impasto.parity": json.dumps({
        "reference": f"PyTorch {torch.__version__} float32 CPU",
        "runtime": f"onnxruntime {ort.__version__} {PROVIDERS[0]}",
        "inputs": f"uniform random [0, 1) images, numpy default_rng({PARITY_SEED}); "
                  f"one-hot style at alpha=1, then Dirichlet mixtures with alpha ~ U(0, 2)",
        "tolerance": tolerance, "results": parity, "passed": True})})
    data = model.SerializeToString()
    _atomic_write_checked(Path(out), data)
    return {"output": str(out), "opset": opset, "precision": "fp32", "exporter": "dynamo", "parity": parity,
            "tolerance": tolerance, "seconds": round(time.perf_counter() - t0, 2), "onnx_bytes": len(data),
            "style_name": "bank", "styles": names}
