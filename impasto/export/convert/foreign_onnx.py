"""``impasto convert onnx``: a foreign ONNX style graph -> an impasto ``stylize`` graph, checked against itself.

Steps: read and check the source (one image in, one image out); upgrade its opset to
:data:`~impasto.export.convert.onnx_rewrite.TARGET_OPSET` where ``onnx.version_converter``
can; relax its dims (``batch``, ``height``, ``width``; else batch 1; else the source's
fixed size, said plainly in the report's ``dims_note``) where ONNX Runtime runs the
relaxed graph at another size and batch; wrap the range/layout/channel conversion into
the graph; stamp the ``stylize`` contract's metadata and the card; then the parity gate:
ONNX Runtime on the converted graph against ONNX Runtime on the *original* graph (its
opset, its convention) at the original size, and against the original with only its
dims relaxed at :data:`~impasto.export.convert.common.PARITY_SIZES` where the dims became
dynamic. Nothing is written unless every check passes.

Convention:
    Parity images are uniform random float32 NCHW RGB in ``[0, 1]``; the reference's
    output is brought to NCHW RGB ``[0, 1]`` (divided by the range, clamped) and compared
    in ``[0, 1]`` units to :data:`~impasto.export.convert.common.ATOL`. A graph whose
    size is baked in (a ``Reshape`` to a constant shape, say) is converted with its fixed
    size: the runtime resizes every image to it and back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto import __version__
from impasto.contracts import ONNX_SUFFIX, GraphContract, TensorContract
from impasto.errors import ExportError, UserError
from impasto.export import graph
from impasto.export.convert import onnx_rewrite as rw
from impasto.export.convert.common import ATOL, PARITY_SIZES, source_card
from impasto.export.parity import PARITY_SEED, compare, random_images

if TYPE_CHECKING:
    import onnx

FORMAT = "onnx"
METHOD = "onnx"
#: The size and batch a relaxed graph must also run at (odd, unequal sides) before its dims count as dynamic.
PROBE_SIZE = (131, 97)
#: Most extra pixels per side a dynamic graph may return (cropped away: stride-2 rounding on odd sides).
CROP_MARGIN = 16
#: The opset whose ``Slice`` takes the crop's ends as a tensor.
CROP_OPSET = 10


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, license: str | None = None,
            command: str = "", input_range: str = "0-255", layout: str = "nchw", channels: str = "rgb",
            style_name: str | None = None) -> dict[str, Any]:
    """Convert one foreign ONNX style graph (see the module docstring).

    Args:
        sources: one ``.onnx`` file.
        output: the ``.onnx`` file to write (atomically).
        license, command: for the card.
        input_range, layout, channels: the source's convention (``--input-range`` etc.).
        style_name: ``impasto.style_name``; default the source file's stem.

    Returns:
        The report: ``format``, ``output``, ``onnx_bytes``, ``seconds``, ``parity`` rows,
        ``opset`` (``from``/``to``, ``note`` where it could not be upgraded), ``dims`` and
        ``dims_note`` (why the size stayed fixed, or None).

    Raises:
        UserError: bad options or output path (ModelError: a bad source, one line).
        ExportError: the converted graph fails the checker or the parity gate.
    """
    t0 = time.perf_counter()
    conv = rw.check_convention(input_range, layout, channels)
    if len(sources) != 1:
        raise UserError(f"convert onnx: expected one .onnx source, got {len(sources)}")
    out = Path(output)
    if out.suffix.lower() != ONNX_SUFFIX or out.is_dir():
        raise UserError(f"convert onnx: expected an output path ending in {ONNX_SUFFIX}, got {str(out)!r}")
    src = Path(sources[0])
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise UserError(f"convert onnx: the output {str(out)!r} is the source; expected another path")
    source = rw.read_graph(src)
    rw.image_io(source, conv, f"onnx source {str(src)!r}")
    original = source_size(source, conv)
    upgraded, opset_note = rw.upgrade_opset(source)
    nchw, dims_note = choose_dims(source, conv, original, crop=(graph.opset_of(upgraded) or 0) >= CROP_OPSET)
    model = rw.wrap(rw.with_dims(upgraded, conv, nchw), conv, nchw)
    opset = {"from": graph.opset_of(source), "to": graph.opset_of(model), "note": opset_note}
    contract = stylize_contract(nchw)
    producer = " ".join(p for p in (source.producer_name, source.producer_version) if p) or "unknown producer"
    card = source_card(FORMAT, [src], upstream=f"a foreign ONNX graph ({producer})", input_convention=conv.describe(),
                       license=license, command=command, opset=opset, dims=nchw, dims_note=dims_note)
    stamp(model, contract, card, style_name or src.stem, conv, nchw, dims_note)
    graph.check_model(model)
    rows = check_against_source(model, source, conv, original, nchw)
    graph.set_metadata(model, {"impasto.parity": json.dumps({
        "reference": "the source graph in ONNX Runtime (its own opset and convention; dims relaxed at other sizes)",
        "runtime": f"onnxruntime {_ort_version()} {graph.PROVIDERS[0]}", "inputs": "uniform random [0, 1), numpy "
        f"default_rng({PARITY_SEED})", "tolerance": {"max_abs_error": ATOL}, "results": rows, "passed": True})})
    data = model.SerializeToString()
    graph.atomic_write_checked(out, data)
    return {"format": FORMAT, "output": str(out), "method": METHOD, "onnx_bytes": len(data),
            "seconds": round(time.perf_counter() - t0, 2), "parity": rows, "tolerance": ATOL, "opset": opset,
            "dims": nchw, "dims_note": dims_note, "input_convention": conv.describe()}


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def source_size(model: onnx.ModelProto, conv: rw.SourceConvention) -> tuple[int, int] | None:
    """The source's fixed ``(height, width)``, or None where either is symbolic."""
    _, _, dims = rw.image_io(model, conv, "onnx source")
    h, w = (dims[a] for a in conv.spatial_axes)
    return (h, w) if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 else None


def choose_dims(source: onnx.ModelProto, conv: rw.SourceConvention, original: tuple[int, int] | None,
                crop: bool) -> tuple[list[Any], str | None]:
    """The ``image`` dims: fully dynamic, else batch 1, else the source's fixed size; and why not dynamic.

    A candidate counts where ONNX Runtime runs the source with those dims at
    :data:`PROBE_SIZE` (batch 2 for a dynamic batch) and returns an image of the same size
    (``crop``: or up to :data:`CROP_MARGIN` pixels larger per side).

    Raises:
        UserError: the source has no fixed size and runs at none of the probes.
    """
    failures = []
    for nchw, batch in ((["batch", 3, "height", "width"], 2), ([1, 3, "height", "width"], 1)):
        why = probe(rw.with_dims(source, conv, nchw), conv, batch, PROBE_SIZE, CROP_MARGIN if crop else 0)
        if why is None:
            return nchw, None
        failures.append(why)
    if original is None:
        raise UserError(f"convert onnx: the source has no fixed size and does not run at {PROBE_SIZE[1]}x"
                        f"{PROBE_SIZE[0]}: {failures[-1]}")
    h, w = original
    return [1, 3, h, w], (f"the graph fixes its size at {w}x{h} ({failures[-1]}); converted with a fixed "
                          f"1x3x{h}x{w} input: the runtime resizes every image to {w}x{h} and back")


def probe(model: onnx.ModelProto, conv: rw.SourceConvention, batch: int, size: tuple[int, int],
          margin: int) -> str | None:
    """None where ONNX Runtime runs ``model`` on a ``batch`` x ``size`` image and returns that size (or up to
    ``margin`` pixels more per side); else why not."""
    h, w = size
    x = conv.to_source(np.random.default_rng(PARITY_SEED).random((batch, 3, h, w), dtype=np.float32))
    try:
        y = run(model.SerializeToString(), x)
    except ExportError as exc:
        return f"ONNX Runtime at {w}x{h}, batch {batch}: {graph.one_line(exc, 200)}"
    want = conv.to_source_dims([batch, 3, h, w])
    fits = y.ndim == 4 and all(g == e if i not in conv.spatial_axes else e <= g <= e + margin
                               for i, (g, e) in enumerate(zip(y.shape, want)))
    if not fits:
        return f"at {w}x{h}, batch {batch} the output has shape {list(y.shape)}, expected {want}"
    return None


def run(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """The graph's only output for ``x`` (ONNX Runtime CPU).

    Raises:
        ExportError: the graph does not load or does not run; one line.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4  # the probe's expected failures are reported, not logged
    try:
        sess = ort.InferenceSession(model_bytes, so, providers=graph.PROVIDERS)
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]
    except Exception as exc:
        raise ExportError(graph.one_line(exc, 300)) from None


def stylize_contract(nchw: list[Any]) -> GraphContract:
    """:data:`impasto.contracts.STYLIZE` with the chosen dims (fixed where the source's size is baked in)."""
    dims = tuple(nchw)
    return GraphContract("stylize", (TensorContract(rw.IMAGE, dims),), (TensorContract(rw.STYLIZED, dims),),
                         single_image=True)


def stamp(model: onnx.ModelProto, contract: GraphContract, card: dict[str, Any], style_name: str,
          conv: rw.SourceConvention, nchw: list[Any], dims_note: str | None) -> None:
    """The producer fields and the contract's metadata but ``impasto.parity``."""
    size = "any size" if dims_note is None else f"a fixed {nchw[3]}x{nchw[2]}"
    description = f"{style_name} — converted foreign ONNX style graph ({conv.describe()} wrapped; {size})"
    model.producer_name, model.producer_version, model.doc_string = "impasto", __version__, description
    files = card["converted_from"]["files"]
    graph.set_metadata(model, {
        "impasto.version": __version__, "impasto.method": METHOD, "impasto.style_name": style_name,
        "impasto.description": description, "impasto.input": json.dumps(contract.input_metadata()),
        "impasto.output": json.dumps(contract.output_metadata()),
        "impasto.card": json.dumps(card, ensure_ascii=False), "impasto.precision": "fp32",
        "impasto.source_sha256": files[0]["sha256"]})


def check_against_source(model: onnx.ModelProto, source: onnx.ModelProto, conv: rw.SourceConvention,
                         original: tuple[int, int] | None, nchw: list[Any]) -> list[dict[str, Any]]:
    """Parity rows of the converted graph against the source (see the module docstring).

    Raises:
        ExportError: a size fails to run, or a max abs error over :data:`ATOL`; nothing written.
    """
    dynamic = isinstance(nchw[2], str)
    cases = [(original, source)] if original else []
    if dynamic:
        relaxed = rw.with_dims(source, conv, nchw)
        cases += [(s, relaxed) for s in PARITY_SIZES if s != original]
    converted = model.SerializeToString()
    rows, failures = [], []
    for ((h, w), reference), x in zip(cases, random_images([c[0] for c in cases])):
        try:
            got = run(converted, x)
            want = conv.from_source(run(reference.SerializeToString(), conv.to_source(x)))[:, :, :h, :w]
        except ExportError as exc:
            raise ExportError(f"convert onnx: parity check failed at {w}x{h}: {exc}; no file was written") from None
        if got.shape != want.shape:
            raise ExportError(f"convert onnx: parity check failed at {w}x{h}: expected shape {list(want.shape)}, "
                              f"got {list(got.shape)}; no file was written")
        err, psnr = compare(got, want)
        if not err <= ATOL:
            failures.append(f"{h}x{w}: max abs error {err:.3g} > {ATOL:g}")
        rows.append({"size": [h, w], "reference": "source" if (h, w) == original else "source, dims relaxed",
                     "max_abs_error": err, "psnr_db": round(psnr, 2)})
    if failures:
        raise ExportError("convert onnx: parity check against the source graph failed (" + "; ".join(failures)
                          + "); no file was written")
    return rows
