"""Export a feed-forward checkpoint to ONNX, gated by a numerical parity check.

The network is wrapped in :class:`impasto.models.transformer.ClampedOutput` (so the graph
clamps to ``[0, 1]``), exported with ``torch.onnx.export``, optionally converted to fp16,
stamped with the ``impasto.*`` model card, validated with ``onnx.checker`` and then run
under ONNX Runtime (CPU) against PyTorch on deterministic random images. Only a model
that passes every check is written, through a temporary file and an atomic rename: a
failed export never leaves a file behind.

Exporter:
    Opset >= 18 uses the ``torch.export``-based exporter (``dynamo=True``) with
    ``dynamic_shapes``; it produces a graph with symbolic ``batch``/``height``/``width``
    that is exact for every size (odd ones included). If it fails, or cannot produce the
    requested opset, the legacy TorchScript exporter (``dynamo=False`` with
    ``dynamic_axes``) is used instead. Opset 17 always uses the TorchScript exporter: the
    dynamo exporter emits opset 18 and its down-converter has no ``Pad`` 18 -> 17
    adapter, so it would silently keep opset 18. Either way the result must pass the
    same I/O, checker and parity checks.

Convention:
    One input ``"image"`` and one output ``"stylized"``, both float32 (also for fp16
    models, whose casts live inside the graph), NCHW RGB in ``[0, 1]``, dims
    ``("batch", 3, "height", "width")`` with everything but the channels dynamic; the
    output has the input's exact size. The smallest valid side is :data:`MIN_SIDE`
    pixels. ``metadata_props`` (all strings): ``impasto.version``, ``impasto.method``,
    ``impasto.style_name``, ``impasto.description``, ``impasto.input`` /
    ``impasto.output`` (JSON tensor specs), ``impasto.card`` (JSON of the checkpoint's
    card), ``impasto.parity`` (JSON parity report), ``impasto.precision`` (``fp32`` or
    ``fp16``) and ``impasto.source_sha256`` (of the checkpoint file).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto import __version__
from impasto.errors import ExportError, ModelError, UserError
from impasto.runtime.io.atomic import publish

if TYPE_CHECKING:
    import onnx
    import onnxruntime
    import torch

INPUT_NAME = "image"
OUTPUT_NAME = "stylized"
DIM_NAMES = ("batch", 3, "height", "width")
#: Smallest height/width the network accepts (the 9x9 reflection padding needs > 4 pixels).
MIN_SIDE = 5
MIN_OPSET = 17
DEFAULT_OPSET = 18
DEFAULT_PARITY_SIZES: tuple[tuple[int, int], ...] = ((128, 128), (201, 317), (384, 256))
#: fp32 bound: both sides compute in float32; differences are summation order only (~1e-6).
FP32_ATOL = 1e-4
#: fp16 bounds. fp16 has an 11-bit significand (relative step ~4.9e-4 per rounding) and
#: the error compounds over ~10 convolutions and instance norms, so exactness is out of
#: reach; 2e-2 is ~5 steps of an 8-bit output at the worst pixel, and 40 dB PSNR (RMS
#: error <= 0.01, ~2.5 8-bit steps) keeps the image visually indistinguishable.
FP16_ATOL = 2e-2
FP16_MIN_PSNR_DB = 40.0
#: PSNR reported for a bit-exact match (keeps the report valid JSON: no Infinity).
PSNR_CAP_DB = 200.0
PARITY_SEED = 0
PROVIDERS = ["CPUExecutionProvider"]


def _one_line(exc: BaseException | str) -> str:
    """An exception's message squashed onto one line."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def tensor_spec(name: str) -> dict[str, Any]:
    """The JSON spec stored in ``impasto.input`` / ``impasto.output``."""
    return {"name": name, "layout": "NCHW", "dtype": "float32", "range": [0, 1], "color": "RGB",
            "shape": list(DIM_NAMES)}


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_args(output_path: str | os.PathLike, opset: int, atol: float | None,
                parity_sizes: Sequence[Sequence[int]]) -> tuple[Path, list[tuple[int, int]]]:
    out = Path(output_path)
    if out.suffix.lower() != ".onnx":
        raise UserError(f"export: expected an output path ending in .onnx, got {str(out)!r}")
    if out.is_dir():
        raise UserError(f"export: output {str(out)!r} is a directory, expected a file path ending in .onnx")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise UserError(f"--opset: expected an integer in [{MIN_OPSET}, {newest}], got {opset!r}")
    if atol is not None and not (isinstance(atol, (int, float)) and math.isfinite(atol) and atol >= 0):
        raise UserError(f"export: expected a finite tolerance >= 0, got atol={atol!r}")
    sizes: list[tuple[int, int]] = []
    for s in parity_sizes:
        if len(s) != 2 or not all(isinstance(v, (int, np.integer)) and v >= MIN_SIDE for v in s):
            raise UserError(f"export: expected parity sizes as (height, width) integers >= {MIN_SIDE}, got {s!r}")
        sizes.append((int(s[0]), int(s[1])))
    if not sizes:
        raise UserError("export: expected at least one parity size, got none")
    return out, sizes


def _load_network(checkpoint_path: str | os.PathLike) -> tuple[dict[str, Any], torch.nn.Module]:
    """Load a feed-forward checkpoint and build its network (eval mode, CPU).

    Raises:
        ModelError: missing file, not a checkpoint, not feed-forward, or weights that do
            not fit the stored architecture; always a one-line message.
    """
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import build_from_checkpoint

    name = str(checkpoint_path)
    try:
        ckpt = load_checkpoint(checkpoint_path)
    except ModelError as exc:
        raise ModelError(_one_line(exc)) from None
    method = ckpt.get("method")
    if method != "feedforward":
        hint = {"warpnet": "; export it with 'impasto export warpnet CKPT -o warpnet.onnx'",
                "decoder": "; decoders export with 'impasto export photowct|wct DECODER.pt ... -o OUT.onnx'"}
        raise ModelError(f"checkpoint {name!r}: expected method 'feedforward' (only feed-forward networks export "
                         f"here), got {method!r}{hint.get(method, '')}")
    try:
        net = build_from_checkpoint(ckpt, method="feedforward")
    except ModelError as exc:
        raise ModelError(f"checkpoint {name!r}: {_one_line(exc)}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"checkpoint {name!r}: cannot build the network "
                         f"({type(exc).__name__}: {_one_line(exc)[:300]})") from None
    return ckpt, net.float().cpu().eval()


def style_name_of(ckpt: dict[str, Any], checkpoint_path: str | os.PathLike) -> str:
    """The style's name: the card's, else the training config's, else the file's stem."""
    card = ckpt.get("card") or {}
    train = ckpt.get("train_config") or {}
    name = card.get("style_name") or train.get("style_name")
    if not name and train.get("style"):
        name = Path(str(train["style"])).stem
    return str(name or Path(checkpoint_path).stem)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep exporter chatter off stdout (``--json`` output must stay clean) and tame its logs."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _export_dynamo(module: torch.nn.Module, opset: int) -> onnx.ModelProto:
    import torch

    batch = torch.export.Dim("batch", min=1)
    height = torch.export.Dim("height", min=MIN_SIDE)
    width = torch.export.Dim("width", min=MIN_SIDE)
    # Batch 2 and odd, unequal sides: a size-1 or square example invites specialisation.
    example = torch.rand(2, 3, 67, 91, generator=torch.Generator().manual_seed(0))
    with _quiet_exporter():
        program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch, 2: height, 3: width},),
                                    opset_version=opset, optimize=True, verbose=False)
    model = program.model_proto
    strip_debug_metadata(model)
    return model


def strip_debug_metadata(model: onnx.ModelProto) -> None:
    """Drop the dynamo exporter's per-value debug metadata (FX node text, stack traces).

    It is noise in a shipped model (~80 KB on a small network) that no runtime reads; the
    model-level ``metadata_props`` (impasto's cards) are not touched.
    """
    g = model.graph
    for item in (*g.node, *g.input, *g.output, *g.value_info, *g.initializer):
        if hasattr(item, "metadata_props"):
            del item.metadata_props[:]


def _export_torchscript(module: torch.nn.Module, opset: int) -> onnx.ModelProto:
    import onnx
    import torch

    axes = {0: DIM_NAMES[0], 2: DIM_NAMES[2], 3: DIM_NAMES[3]}
    example = torch.rand(1, 3, 67, 91, generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    with _quiet_exporter(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation, tracer and instance-norm notices
        torch.onnx.export(module, (example,), buf, dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                          opset_version=opset, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _opset_of(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _torch_export(module: torch.nn.Module, opset: int) -> tuple[onnx.ModelProto, str]:
    """Export ``module`` to an ONNX graph; see the module docstring for which exporter runs.

    Returns:
        ``(model, exporter)`` with ``exporter`` one of ``"dynamo"``, ``"torchscript"``.

    Raises:
        ExportError: no exporter produced a graph at the requested opset.
    """
    failures: list[str] = []
    if opset >= 18:
        try:
            model = _export_dynamo(module, opset)
            if _opset_of(model) == opset:
                return model, "dynamo"
            failures.append(f"dynamo: produced opset {_opset_of(model)}, not {opset}")
        except Exception as exc:  # any exporter failure: fall back, the gates below still apply
            failures.append(f"dynamo: {type(exc).__name__}: {_one_line(exc)[:300]}")
        warnings.warn(f"export: the dynamo exporter failed ({failures[-1]}); using the TorchScript exporter",
                      RuntimeWarning, stacklevel=3)
    try:
        model = _export_torchscript(module, opset)
    except Exception as exc:
        failures.append(f"torchscript: {type(exc).__name__}: {_one_line(exc)[:300]}")
        raise ExportError("export: torch.onnx.export failed: " + "; ".join(failures)) from None
    if _opset_of(model) != opset:
        raise ExportError(f"export: the TorchScript exporter produced opset {_opset_of(model)}, not {opset}")
    return model, "torchscript"


def _check_io(model: onnx.ModelProto) -> None:
    """Check the graph's inputs and outputs against the convention (names, float32, dynamic dims)."""
    import onnx

    def describe(vi: onnx.ValueInfoProto) -> str:
        t = vi.type.tensor_type
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in t.shape.dim]
        return f"{vi.name}: {onnx.TensorProto.DataType.Name(t.elem_type)}{dims}"

    for kind, values, name in (("input", model.graph.input, INPUT_NAME), ("output", model.graph.output, OUTPUT_NAME)):
        if len(values) != 1:
            raise ExportError(f"export: expected one graph {kind} {name!r}, got {[describe(v) for v in values]}")
        vi = values[0]
        t = vi.type.tensor_type
        dims = [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None)
                for d in t.shape.dim]
        if vi.name != name or t.elem_type != onnx.TensorProto.FLOAT or dims != list(DIM_NAMES):
            raise ExportError(f"export: expected graph {kind} {name}: FLOAT{list(DIM_NAMES)}, got {describe(vi)}")


def _to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weights and activations to float16; I/O stays float32 (casts inside the graph)."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise UserError("--fp16: needs the onnxconverter-common package: pip install onnxconverter-common") from None
    with warnings.catch_warnings():
        # "the float32 number 6e-08 will be truncated to 1e-07": tiny weights clamped to the
        # fp16-safe range; the parity check judges the effect on the output.
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        return float16.convert_float_to_float16(model, keep_io_types=True)


def _set_metadata(model: onnx.ModelProto, entries: dict[str, str]) -> None:
    """Set (or replace) ``metadata_props`` entries."""
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for key, value in [*keep, *entries.items()]:
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value


def _session(model_bytes: bytes) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, so, providers=PROVIDERS)
    except Exception as exc:
        raise ExportError(f"export: ONNX Runtime cannot load the exported graph: {_one_line(exc)[:300]}") from None


def _torch_reference(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The PyTorch (float32, CPU) output for ``x``: the parity check's reference."""
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def parity_inputs(sizes: Sequence[tuple[int, int]], seed: int = PARITY_SEED) -> Iterator[np.ndarray]:
    """Deterministic uniform-random ``(1, 3, h, w)`` float32 images in ``[0, 1)``."""
    rng = np.random.default_rng(seed)
    for h, w in sizes:
        yield rng.random((1, 3, h, w), dtype=np.float32)


def check_parity(session: onnxruntime.InferenceSession, module: torch.nn.Module,
                 sizes: Sequence[tuple[int, int]], *, atol: float,
                 min_psnr_db: float | None = None) -> list[dict[str, Any]]:
    """Run ONNX Runtime and PyTorch on the same images and compare.

    Args:
        session: the ONNX Runtime session of the candidate graph.
        module: the PyTorch reference (the clamped network).
        sizes: ``(height, width)`` of each test image.
        atol: largest allowed max absolute error per size.
        min_psnr_db: smallest allowed PSNR per size (peak 1.0), or None for no bound.

    Returns:
        ``[{"size": [h, w], "max_abs_error": float, "psnr_db": float}, ...]``.

    Raises:
        ExportError: a shape mismatch, a non-finite output, or an error over a bound.
    """
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for (h, w), x in zip(sizes, parity_inputs(sizes)):
        try:
            got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        except Exception as exc:
            raise ExportError(f"export: parity check failed: ONNX Runtime cannot run a {h}x{w} image: "
                              f"{_one_line(exc)[:300]}") from None
        ref = _torch_reference(module, x)
        if got.shape != x.shape or ref.shape != x.shape:
            raise ExportError(f"export: parity check failed at {h}x{w}: expected output shape {list(x.shape)}, "
                              f"got {list(got.shape)} (ONNX) and {list(ref.shape)} (PyTorch)")
        diff = got.astype(np.float64) - ref.astype(np.float64)
        err = float(np.max(np.abs(diff)))
        mse = float(np.mean(diff * diff))
        psnr = PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else 10.0 * math.log10(1.0 / mse)
        if not math.isfinite(err) or not math.isfinite(psnr):
            failures.append(f"{h}x{w}: non-finite output")
            err, psnr = float("nan"), float("nan")
        elif not err <= atol:
            failures.append(f"{h}x{w}: max abs error {err:.3g} > {atol:g}")
        elif min_psnr_db is not None and not psnr >= min_psnr_db:
            failures.append(f"{h}x{w}: PSNR {psnr:.1f} dB < {min_psnr_db:g} dB")
        results.append({"size": [h, w], "max_abs_error": err, "psnr_db": round(psnr, 2)})
    if failures:
        raise ExportError("export: parity check against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return results


def _atomic_write_checked(path: Path, data: bytes) -> None:
    """Write through a temporary file, re-check it with ``onnx.checker``, then rename into place."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            onnx.checker.check_model(tmp, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"export: the written model fails onnx.checker: {_one_line(exc)[:300]}") from None
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_onnx(checkpoint_path: str | os.PathLike, output_path: str | os.PathLike, *, fp16: bool = False,
                opset: int = DEFAULT_OPSET,
                parity_sizes: Sequence[Sequence[int]] = DEFAULT_PARITY_SIZES,
                atol: float | None = None) -> dict[str, Any]:
    """Export a feed-forward checkpoint to a checked, self-describing ONNX model.

    Convention:
        The written graph follows the module docstring's convention; nothing is written
        unless the graph passes ``onnx.checker`` (``full_check=True``), the I/O check and
        the parity check (ONNX Runtime CPU vs PyTorch at every size in ``parity_sizes``).
        The parity results are stored in the model's ``impasto.parity`` metadata, which is
        the only part of the file added after the checked graph was run.

    Args:
        checkpoint_path: a checkpoint written by ``impasto train feedforward``.
        output_path: the ``.onnx`` file to write (replaced atomically if it exists).
        fp16: convert weights and activations to float16 (I/O stays float32).
        opset: ONNX opset, >= 17 (17 and 18 are the safest for TensorRT).
        parity_sizes: ``(height, width)`` of the parity images; include an odd size.
        atol: max absolute error bound; default :data:`FP32_ATOL` or :data:`FP16_ATOL`.

    Returns:
        ``{"output", "opset", "precision", "exporter", "parity": [{"size", "max_abs_error",
        "psnr_db"}], "tolerance", "seconds", "onnx_bytes", "style_name"}``.

    Raises:
        ModelError: the checkpoint is missing, unreadable or not a feed-forward network.
        UserError: a bad output path, opset, tolerance or parity size.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    t0 = time.perf_counter()
    out, sizes = _check_args(output_path, opset, atol, parity_sizes)
    ckpt, net = _load_network(checkpoint_path)

    import onnx
    import onnxruntime as ort
    import torch

    from impasto.models.transformer import ClampedOutput

    precision = "fp16" if fp16 else "fp32"
    bound = float(atol) if atol is not None else (FP16_ATOL if fp16 else FP32_ATOL)
    min_psnr = FP16_MIN_PSNR_DB if fp16 else None
    module = ClampedOutput(net).eval()

    model, exporter = _torch_export(module, opset)
    if fp16:
        model = _to_fp16(model)
    _check_io(model)

    style_name = style_name_of(ckpt, checkpoint_path)
    cfg = ckpt["model"]["config"]
    blocks = cfg.get("n_residual")
    description = (f"{style_name} — feed-forward TransformerNet (width {cfg.get('width')}, {blocks} residual "
                   f"block{'' if blocks == 1 else 's'})")
    model.producer_name = "impasto"
    model.producer_version = __version__
    model.doc_string = description
    _set_metadata(model, {
        "impasto.version": __version__,
        "impasto.method": str(ckpt.get("method")),
        "impasto.style_name": style_name,
        "impasto.description": description,
        "impasto.input": json.dumps(tensor_spec(INPUT_NAME)),
        "impasto.output": json.dumps(tensor_spec(OUTPUT_NAME)),
        "impasto.card": json.dumps(ckpt.get("card") or {}, default=str, ensure_ascii=False),
        "impasto.precision": precision,
        "impasto.source_sha256": sha256_file(checkpoint_path),
    })
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"export: the exported graph fails onnx.checker: {_one_line(exc)[:300]}") from None

    parity = check_parity(_session(model.SerializeToString()), module, sizes, atol=bound, min_psnr_db=min_psnr)
    tolerance = {"max_abs_error": bound, "min_psnr_db": min_psnr}
    _set_metadata(model, {"impasto.parity": json.dumps({
        "reference": f"PyTorch {torch.__version__} float32 CPU",
        "runtime": f"onnxruntime {ort.__version__} {PROVIDERS[0]}",
        "inputs": f"uniform random [0, 1), numpy default_rng({PARITY_SEED})",
        "tolerance": tolerance, "results": parity, "passed": True})})
    data = model.SerializeToString()
    _atomic_write_checked(out, data)
    return {"output": str(out), "opset": opset, "precision": precision, "exporter": exporter, "parity": parity,
            "tolerance": tolerance, "seconds": round(time.perf_counter() - t0, 2), "onnx_bytes": len(data),
            "style_name": style_name}
