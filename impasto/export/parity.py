"""The parity gate: ONNX Runtime (CPU) against PyTorch on the same feeds, every output compared.

Convention:
    Feeds are deterministic (numpy ``default_rng(PARITY_SEED)``); images are float32
    ``(1, 3, h, w)`` in ``[0, 1]``. A row per feed and output holds ``size`` (the image's
    ``[h, w]``), the feed's own fields (e.g. ``draw``, ``labels``, ``guide_size``),
    ``output`` (where the plan names outputs), ``max_abs_error`` and ``psnr_db`` (peak 1,
    capped at :data:`PSNR_CAP_DB`), plus the plan's bound fields. Any row over its bound,
    a non-finite output or a shape other than the contract's fails the whole check.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import DERIVED_DIMS, FLOOR_DIMS, GraphContract
from impasto.errors import ExportError
from impasto.export.graph import one_line

if TYPE_CHECKING:
    import onnxruntime
    import torch

    from impasto.export.pipeline import ExportPlan

PARITY_SEED = 0
#: PSNR reported for a bit-exact match (keeps the report valid JSON: no Infinity).
PSNR_CAP_DB = 200.0


def random_images(sizes: Sequence[tuple[int, int]], seed: int = PARITY_SEED) -> Iterator[np.ndarray]:
    """Deterministic uniform-random ``(1, 3, h, w)`` float32 images in ``[0, 1)``."""
    rng = np.random.default_rng(seed)
    for h, w in sizes:
        yield rng.random((1, 3, h, w), dtype=np.float32)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A ``(1, 3, h, w)`` float32 image in ``[0, 1]``: low-frequency colour fields plus fine noise."""
    import cv2

    coarse = rng.random((max(2, h // 8), max(2, w // 8), 3), dtype=np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + 0.1 * rng.standard_normal((h, w, 3))
    return np.clip(img, 0.0, 1.0).astype(np.float32).transpose(2, 0, 1)[None].copy()


def compare(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """``(max abs error, PSNR in dB with peak 1)`` of ``got`` against ``ref`` (PSNR capped)."""
    diff = got.astype(np.float64) - ref.astype(np.float64)
    mse = float(np.mean(diff * diff))
    psnr = PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else 10.0 * math.log10(1.0 / mse)
    return float(np.max(np.abs(diff))), psnr


def torch_outputs(module: torch.nn.Module, feed: dict[str, np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
    """The PyTorch outputs for ``feed`` (inputs in ``names`` order): the parity check's reference."""
    import torch

    with torch.no_grad():
        out = module(*(torch.from_numpy(feed[n]) for n in names))
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def expected_shapes(contract: GraphContract, feed: dict[str, np.ndarray],
                    bindings: dict[str, int]) -> list[tuple[int, ...]]:
    """Each output's shape under the contract, its symbolic dims bound by the feed's shapes."""
    known = dict(bindings)
    for t in contract.inputs:
        known.update((d, n) for d, n in zip(t.dims, feed[t.name].shape) if isinstance(d, str))
    for name, (base, divisor) in DERIVED_DIMS.items():
        if base in known:
            known[name] = -(-known[base] // divisor)
    for name, (base, divisor) in FLOOR_DIMS.items():
        if base in known:
            known[name] = known[base] // divisor
    return [tuple(known[d] if isinstance(d, str) else d for d in t.dims) for t in contract.outputs]


def check_parity(session: onnxruntime.InferenceSession, plan: ExportPlan, sizes: Sequence[tuple[int, int]], *,
                 atol: float, min_psnr_db: float | None = None) -> list[dict[str, Any]]:
    """Run ONNX Runtime and the plan's PyTorch module on the plan's feeds and compare every output.

    Args:
        session: the candidate graph.
        plan: supplies the module, the contract, the feeds and each output's bound.
        sizes: ``(height, width)`` of the parity images.
        atol: the max abs error bound (a plan may raise it per output: :meth:`ExportPlan.bounds`).
        min_psnr_db: the smallest PSNR allowed, or None.

    Returns:
        The rows (see the module docstring).

    Raises:
        ExportError: a run failure, a shape mismatch, a non-finite output or an error over its bound.
    """
    names, outputs = plan.contract.input_names, plan.contract.output_names
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for fields, feed in plan.feeds(sizes):
        h, w = fields["size"]
        try:
            got = session.run(list(outputs), feed)
        except Exception as exc:
            raise ExportError(f"export: parity check failed: ONNX Runtime cannot run a {h}x{w} image: "
                              f"{one_line(exc, 300)}") from None
        ref = torch_outputs(plan.module, feed, names)
        shapes = expected_shapes(plan.contract, feed, plan.bindings)
        for name, g, r, shape, (bound, extra) in zip(outputs, got, ref, shapes, plan.bounds(feed, ref, atol)):
            case = (f"{name} {h}x{w}" if plan.named_rows else f"{h}x{w}") + "".join(
                f" {k} {v}" for k, v in fields.items() if k != "size")
            if g.shape != shape or r.shape != shape:
                raise ExportError(f"export: parity check failed at {case}: expected shape {list(shape)}, "
                                  f"got {list(g.shape)} (ONNX) and {list(r.shape)} (PyTorch)")
            err, psnr = compare(g, r)
            if not (math.isfinite(err) and math.isfinite(psnr)):
                failures.append(f"{case}: non-finite output")
                err, psnr = float("nan"), float("nan")
            elif not err <= bound:
                failures.append(f"{case}: max abs error {err:.3g} > {bound:.3g}")
            elif min_psnr_db is not None and not psnr >= min_psnr_db:
                failures.append(f"{case}: PSNR {psnr:.1f} dB < {min_psnr_db:g} dB")
            rows.append({**fields, **({"output": name} if plan.named_rows else {}), "max_abs_error": err,
                         "psnr_db": round(psnr, 2), **extra})
    if failures:
        raise ExportError("export: parity check against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return rows
