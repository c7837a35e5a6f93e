"""The one export pipeline: a plan -> an ONNX graph -> checks -> the parity gate -> metadata -> the file.

:func:`export_checkpoint` loads a checkpoint once, finds its method's spec
(:mod:`impasto.models.registry`), rebuilds the network and asks the method's module
(:mod:`impasto.export.methods`) for an :class:`ExportPlan`: what differs between methods
(the module to export, example inputs, parity feeds, bounds, metadata). :func:`export_plan`
then runs the same steps for every method: check the options against the method's
``ExportDefaults``; ``torch.onnx.export``; check the graph's inputs and outputs against its
contract (:mod:`impasto.contracts`); optional fp16; the metadata; ``onnx.checker``; the
parity check (ONNX Runtime CPU against PyTorch, :mod:`impasto.export.parity`); the parity
metadata; the atomic write. Nothing is written unless every check passes.

Exporter:
    Opset >= 18 uses the ``torch.export``-based exporter (``dynamo=True``) with dynamic
    shapes named by the contract; it is exact for every size, odd ones included. Methods
    whose defaults allow it (feed-forward) fall back to the legacy TorchScript exporter
    (``dynamic_axes``) when it fails, and use it for opset 17: the dynamo exporter emits
    opset 18 and its down-converter has no ``Pad`` 18 -> 17 adapter. Either way the graph
    must pass the same checks.

Convention:
    Graphs follow their contract; ``metadata_props`` hold the contract's keys, all strings.
    The report: ``{"output", "method", "opset", "precision", "exporter", "parity",
    "tolerance", "seconds", "onnx_bytes", "style_name", ...}`` plus the plan's own fields.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto import __version__
from impasto.contracts import ONNX_SUFFIX, GraphContract
from impasto.errors import ExportError, ModelError, UserError
from impasto.export import graph
from impasto.export.graph import failure, one_line
from impasto.export.parity import PARITY_SEED, check_parity, random_images

if TYPE_CHECKING:
    import onnx
    import torch

    from impasto.export.shared_encoder import SharedWeights
    from impasto.models.registry import ExportDefaults, ModelSpec

#: Methods whose checkpoint exports on its own (decoders export as a whole pipeline: ``export_wct``).
CHECKPOINT_METHODS = ("feedforward", "bank", "multimodal", "warpnet")
RANDOM_IMAGES = f"uniform random [0, 1), numpy default_rng({PARITY_SEED})"
_COUNT = ("no", "one", "two", "three")
#: A contract's dtype -> the ONNX element type name.
_ONNX_TYPES = {"float32": "FLOAT", "int64": "INT64"}


@dataclass(frozen=True)
class ExportPlan:
    """What one export needs beyond the shared steps; methods override the three hooks.

    Attributes:
        method: ``impasto.method`` and the report's ``method``.
        module: what is exported, and the parity reference (float32, CPU, eval mode).
        contract: the graph's contract.
        defaults: the method's export defaults (opsets, bounds, parity sizes, fp16).
        noun: the method in messages ("an MT-Net").
        style_name: ``impasto.style_name``.
        description: ``impasto.description`` and the graph's ``doc_string``.
        card: ``impasto.card`` (stored as JSON).
        source_sha256: ``impasto.source_sha256`` (a digest, or JSON of file -> digest).
        parity_text: how the parity feeds are drawn (``impasto.parity``'s ``inputs``).
        bindings: fixed lengths of symbolic dims (a bank's vectors).
        dim_bounds: ``(min, max)`` of symbolic dims; default ``(1, None)`` for ``batch``,
            ``(defaults.min_side, None)`` for the rest.
        metadata: the contract's own metadata entries (strings).
        report: fields added to the report.
        tolerance: fields added to the report's and the metadata's ``tolerance``.
        named_rows: whether parity rows name their output.
        vgg_weights: the VGG16 weights file the module's encoder was loaded from (for
            ``--shared-encoder``; None: the graph has no VGG16 encoder to share).
        shared_layers: the VGG16 convolutions the graph runs (``conv1_1`` ...): the
            tensors ``--shared-encoder`` must find in the graph.
    """

    method: str
    module: torch.nn.Module
    contract: GraphContract
    defaults: ExportDefaults
    noun: str
    style_name: str
    description: str
    card: Any
    source_sha256: str
    parity_text: str = RANDOM_IMAGES
    bindings: dict[str, int] = field(default_factory=dict)
    dim_bounds: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    tolerance: dict[str, Any] = field(default_factory=dict)
    named_rows: bool = True
    vgg_weights: str | None = None
    shared_layers: tuple[str, ...] = ()

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        """The inputs the exporter traces: batch 2, odd unequal sides (a size-1 or square example invites
        specialisation)."""
        import torch

        return (torch.rand(2, 3, 67, 91, generator=torch.Generator().manual_seed(0)),)

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """``(row fields, feed)`` per parity case; the fields start with ``size``. Default: random images."""
        for (h, w), x in zip(sizes, random_images(sizes)):
            yield {"size": [h, w]}, {self.contract.input_names[0]: x}

    def bounds(self, feed: dict[str, np.ndarray], reference: list[np.ndarray],
               atol: float) -> list[tuple[float, dict[str, Any]]]:
        """``(bound, row fields)`` per output for one feed. Default: ``atol`` for every output."""
        return [(atol, {})] * len(reference)


def style_name_of(ckpt: dict[str, Any], checkpoint_path: str | os.PathLike) -> str:
    """The style's name: the card's, else the training config's, else the file's stem."""
    card = ckpt.get("card") or {}
    train = ckpt.get("train_config") or {}
    name = card.get("style_name") or train.get("style_name")
    if not name and train.get("style"):
        name = Path(str(train["style"])).stem
    return str(name or Path(checkpoint_path).stem)


def check_options(defaults: ExportDefaults, method: str, output_path: str | os.PathLike, opset: int | None,
                  atol: float | None, parity_sizes: Sequence[Sequence[int]] | None, fp16: bool = False,
                  noun: str = "") -> tuple[Path, int, list[tuple[int, int]]]:
    """The output path, opset and parity sizes, checked against the method's defaults.

    Raises:
        UserError: a path not ending in ``.onnx`` (or a folder), an opset out of range, a
            negative or non-finite tolerance, bad or too few parity sizes, or ``fp16`` where
            the method exports in fp32 only.
    """
    out = Path(output_path)
    if out.suffix.lower() != ONNX_SUFFIX:
        raise UserError(f"export: expected an output path ending in {ONNX_SUFFIX}, got {str(out)!r}")
    if out.is_dir():
        raise UserError(f"export: output {str(out)!r} is a directory, expected a file path ending in {ONNX_SUFFIX}")
    import onnx

    newest = defaults.max_opset or onnx.defs.onnx_opset_version()
    opset = defaults.opset if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, int) or not defaults.min_opset <= opset <= newest:
        span = str(newest) if defaults.min_opset == newest else f"an integer in [{defaults.min_opset}, {newest}]"
        note = f" ({defaults.opset_note})" if defaults.opset_note else ""
        raise UserError(f"--opset: expected {span} for {method}{note}, got {opset!r}")
    if atol is not None and not (isinstance(atol, (int, float)) and math.isfinite(atol) and atol >= 0):
        raise UserError(f"export: expected a finite tolerance >= 0, got atol={atol!r}")
    sizes: list[tuple[int, int]] = []
    for s in defaults.parity_sizes if parity_sizes is None else parity_sizes:
        if len(s) != 2 or not all(isinstance(v, (int, np.integer)) and v >= defaults.min_side for v in s):
            raise UserError(f"export: expected parity sizes as (height, width) integers >= {defaults.min_side}, "
                            f"got {s!r}")
        sizes.append((int(s[0]), int(s[1])))
    need = defaults.min_parity_sizes
    if len(sizes) < need:
        raise UserError(f"export: expected at least {_COUNT[need]} parity size{'s' * (need > 1)}, got {len(sizes)}")
    if fp16 and not defaults.fp16:
        raise UserError(f"--fp16: {noun or method} exports in fp32 only")
    return out, opset, sizes


def _dynamic_shapes(plan: ExportPlan) -> tuple[dict[int, Any] | None, ...]:
    """``torch.export`` dims per input from the contract (one ``Dim`` per name; bound dims stay static)."""
    import torch

    dims: dict[str, Any] = {}
    for t in plan.contract.inputs:
        for d in t.dims:
            if isinstance(d, str) and d not in plan.bindings and d not in dims:
                low, high = {"batch": (1, None), **plan.dim_bounds}.get(d, (plan.defaults.min_side, None))
                dims[d] = torch.export.Dim(d, min=low, max=high) if high else torch.export.Dim(d, min=low)
    return tuple({i: dims[d] for i, d in enumerate(t.dims) if d in dims} or None for t in plan.contract.inputs)


def _export_dynamo(plan: ExportPlan, opset: int) -> onnx.ModelProto:
    import torch

    c = plan.contract
    with graph.quiet_exporter():
        program = torch.onnx.export(plan.module, plan.example_inputs(), dynamo=True, input_names=list(c.input_names),
                                    output_names=list(c.output_names), dynamic_shapes=_dynamic_shapes(plan),
                                    opset_version=opset, optimize=True, verbose=False)
    model = program.model_proto
    graph.strip_debug_metadata(model)
    return model


def _export_torchscript(plan: ExportPlan, opset: int) -> onnx.ModelProto:
    """The TorchScript exporter, traced at batch 1, with the contract's symbolic dims as dynamic axes."""
    import onnx
    import torch

    c = plan.contract
    example = tuple(x[:1] if t.dims[0] == "batch" else x for x, t in zip(plan.example_inputs(), c.inputs))
    axes = {t.name: {i: d for i, d in enumerate(t.dims) if isinstance(d, str) and d not in plan.bindings}
            for t in (*c.inputs, *c.outputs)}
    buf = io.BytesIO()
    with graph.quiet_exporter(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation, tracer and instance-norm notices
        torch.onnx.export(plan.module, example, buf, dynamo=False, input_names=list(c.input_names),
                          output_names=list(c.output_names), dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def torch_export(plan: ExportPlan, opset: int) -> tuple[onnx.ModelProto, str]:
    """Export the plan's module (see the module docstring for which exporter runs).

    Returns:
        ``(model, exporter)`` with ``exporter`` one of ``"dynamo"``, ``"torchscript"``.

    Raises:
        ExportError: no exporter produced a graph at the requested opset.
    """
    failures: list[str] = []
    if opset >= 18:
        try:
            model = _export_dynamo(plan, opset)
            if graph.opset_of(model) == opset:
                return model, "dynamo"
            failures.append(f"dynamo: produced opset {graph.opset_of(model)}, not {opset}")
        except Exception as exc:  # any exporter failure: fall back where allowed, the gates below still apply
            failures.append(f"dynamo: {failure(exc)}")
        if not plan.defaults.torchscript:
            raise ExportError(f"export: torch.onnx.export failed: {failures[-1]}")
        warnings.warn(f"export: the dynamo exporter failed ({failures[-1]}); using the TorchScript exporter",
                      RuntimeWarning, stacklevel=3)
    try:
        model = _export_torchscript(plan, opset)
    except Exception as exc:
        failures.append(f"torchscript: {failure(exc)}")
        raise ExportError("export: torch.onnx.export failed: " + "; ".join(failures)) from None
    if graph.opset_of(model) != opset:
        raise ExportError(f"export: the TorchScript exporter produced opset {graph.opset_of(model)}, not {opset}")
    return model, "torchscript"


def check_io(model: onnx.ModelProto, contract: GraphContract, bindings: dict[str, int]) -> None:
    """Check the graph's inputs and outputs against the contract; name the outputs' symbolic dims.

    Inputs must match by name, element type (float32 unless the contract says int64) and
    dims exactly. Outputs must match by name, element type, rank and fixed dims, and have
    no fixed size where the contract has a symbol; their symbolic dims are then named as
    the contract's (the exporter names derived sizes itself). The parity check verifies
    every output's actual shape at every size.

    Raises:
        ExportError: a mismatch; the message lists what was expected and what was got.
    """
    import onnx

    def describe(vi: onnx.ValueInfoProto) -> tuple[str, str, list[Any]]:
        t = vi.type.tensor_type
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
        return vi.name, onnx.TensorProto.DataType.Name(t.elem_type), dims

    def fits(got: tuple[str, str, list[Any]], want: tuple[str, str, list[Any]], exact: bool) -> bool:
        (gn, gt, gd), (wn, wt, wd) = got, want
        same_dims = gd == wd if exact else len(gd) == len(wd) and all(
            g == w if isinstance(w, int) else not isinstance(g, int) for g, w in zip(gd, wd))
        return gn == wn and gt == wt and same_dims

    for kind, values, tensors in (("inputs", model.graph.input, contract.inputs),
                                  ("outputs", model.graph.output, contract.outputs)):
        want = [(t.name, _ONNX_TYPES[t.dtype], [bindings.get(d, d) if isinstance(d, str) else d for d in t.dims])
                for t in tensors]
        got = [describe(vi) for vi in values]
        if len(got) != len(want) or not all(fits(g, w, kind == "inputs") for g, w in zip(got, want)):
            raise ExportError(f"export: expected graph {kind} {want}, got {got}")
    for vi, t in zip(model.graph.output, contract.outputs):
        for d, w in zip(vi.type.tensor_type.shape.dim, t.dims):
            if isinstance(w, str) and w not in bindings:
                d.dim_param = w


def stamp_metadata(model: onnx.ModelProto, plan: ExportPlan, precision: str) -> None:
    """The producer fields and every contract metadata key but ``impasto.parity``."""
    c = plan.contract
    model.producer_name, model.producer_version, model.doc_string = "impasto", __version__, plan.description
    entries = {
        "impasto.version": __version__,
        "impasto.method": plan.method,
        "impasto.style_name": plan.style_name,
        "impasto.description": plan.description,
        "impasto.input": json.dumps(c.input_metadata()),
        "impasto.output": json.dumps(c.output_metadata()),
        "impasto.card": json.dumps(plan.card, default=str, ensure_ascii=False),
        "impasto.precision": precision,
        "impasto.source_sha256": plan.source_sha256,
        **({"impasto.kind": c.kind} if c.kind else {}),
        **plan.metadata,
    }
    missing = sorted(set(c.metadata_keys) - set(entries) - {"impasto.parity"})
    if missing:
        raise ExportError(f"export: the {c.name} contract expects metadata {missing}, the {plan.method} plan gave none")
    graph.set_metadata(model, entries)


def _prepare_shared(plan: ExportPlan, name: str, out: Path) -> SharedWeights:
    """The shared encoder file of ``--shared-encoder NAME``; the plan's encoder is rounded to its fp16 values.

    A shared file already beside ``out`` is verified here, before the slow export.
    """
    from impasto.export.shared_encoder import check_name, load_shared, round_to_fp16_, verify_shared_file

    check_name(name)
    if not plan.shared_layers or not plan.vgg_weights:
        raise UserError(f"--shared-encoder: expected a graph with a VGG16 encoder loaded from a weights file "
                        f"(photowct, wct, warpnet), got {plan.noun}"
                        + (" without one" if plan.shared_layers else ""))
    shared = load_shared(plan.vgg_weights, name)
    if out.parent.is_dir():
        verify_shared_file(out.parent, shared)
    round_to_fp16_(plan.module, plan.vgg_weights, plan.shared_layers)
    return shared


def _write_sharing(model: onnx.ModelProto, out: Path, shared: SharedWeights,
                   gate: Callable[[Any], None]) -> tuple[bytes, bool]:
    """Write a graph reading ``shared`` beside ``out``: shared file, temporary graph, ``gate``, rename.

    ``gate`` gets an ONNX Runtime session of the temporary file (the final external-data
    form) and may add metadata to ``model``. On any failure the temporary graph and a
    shared file created here are removed. Returns ``(graph bytes, shared file created)``.
    """
    from impasto.export.shared_encoder import ensure_shared_file
    from impasto.runtime.io.atomic import check_writable, publish, temp_beside

    check_writable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    created = ensure_shared_file(out.parent, shared)
    tmp = temp_beside(out, ONNX_SUFFIX)
    try:
        tmp.write_bytes(model.SerializeToString())
        graph.check_model(str(tmp), "exported graph")
        gate(graph.session(tmp))
        data = model.SerializeToString()
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if created:
            (out.parent / shared.name).unlink(missing_ok=True)
            (out.parent / shared.index_name).unlink(missing_ok=True)
        raise
    return data, created


def export_plan(plan: ExportPlan, output_path: str | os.PathLike, *, opset: int | None = None, fp16: bool = False,
                parity_sizes: Sequence[Sequence[int]] | None = None, atol: float | None = None,
                shared_encoder: str | None = None) -> dict[str, Any]:
    """Export a plan to a checked, self-describing ONNX model (the steps of the module docstring).

    Args:
        plan: the method's plan (:mod:`impasto.export.methods`).
        output_path: the ``.onnx`` file to write (replaced atomically).
        opset, parity_sizes: default the method's.
        fp16: the method's fp16 mode (``ExportDefaults.fp16``); refused where it has none.
        atol: the max abs error bound; default the method's (fp16: its fp16 bound).
        shared_encoder: write the VGG16 encoder's weights to this shared file beside the
            graph (:mod:`impasto.export.shared_encoder`); parity is checked on the written
            form against the module with those weights rounded to fp16.

    Raises:
        UserError: a bad output path, opset, tolerance, parity size or ``fp16``.
        ExportError: the exporter, the checker, the I/O check or the parity check failed.
    """
    t0 = time.perf_counter()
    d = plan.defaults
    out, opset, sizes = check_options(d, plan.method, output_path, opset, atol, parity_sizes, fp16, plan.noun)
    import onnxruntime as ort
    import torch

    full16 = fp16 and d.fp16 == "full"
    bound = float(atol) if atol is not None else float(d.fp16_atol if full16 else d.atol)
    min_psnr = d.fp16_min_psnr_db if full16 else None
    shared = _prepare_shared(plan, shared_encoder, out) if shared_encoder is not None else None
    model, exporter = torch_export(plan, opset)
    check_io(model, plan.contract, plan.bindings)
    sharing: dict[str, Any] = {}
    if shared is not None:
        from impasto.contracts import SHARED_WEIGHTS_KEY
        from impasto.export.shared_encoder import share_initializers

        sharing = share_initializers(model, shared, plan.shared_layers)
    precision = "fp32"
    if fp16:
        model, precision = (graph.to_fp16(model), "fp16") if full16 else (graph.fp16_weights(model), "fp16-weights")
    stamp_metadata(model, plan, precision)
    if shared is not None:
        graph.set_metadata(model, {SHARED_WEIGHTS_KEY: shared.metadata()})
    else:  # a graph with external data is checked as the file it becomes (the checker resolves the data there)
        graph.check_model(model)

    tolerance = {"max_abs_error": bound, "min_psnr_db": min_psnr, **plan.tolerance}
    reference = f"PyTorch {torch.__version__} float32 CPU" + (
        ", VGG16 encoder weights rounded to fp16 (as stored in the shared file)" if shared is not None else "")
    parity: list[dict[str, Any]] = []

    def gate(sess: Any) -> None:
        parity[:] = check_parity(sess, plan, sizes, atol=bound, min_psnr_db=min_psnr)
        graph.set_metadata(model, {"impasto.parity": json.dumps({
            "reference": reference, "runtime": f"onnxruntime {ort.__version__} {graph.PROVIDERS[0]}",
            "inputs": plan.parity_text, "tolerance": tolerance, "results": parity, "passed": True})})

    if shared is None:
        gate(graph.session(model.SerializeToString()))
        data = model.SerializeToString()
        graph.atomic_write_checked(out, data)
    else:
        data, created = _write_sharing(model, out, shared, gate)
        sharing = {**sharing, "bytes": len(shared.data), "sha256": shared.sha256, "created": created}
    return {"output": str(out), "method": plan.method, "opset": opset, "precision": precision, "exporter": exporter,
            "parity": parity, "tolerance": tolerance, "seconds": round(time.perf_counter() - t0, 2),
            "onnx_bytes": len(data), "style_name": plan.style_name,
            **({"shared_weights": sharing} if sharing else {}), **plan.report}


def load(checkpoint_path: str | os.PathLike) -> tuple[dict[str, Any], ModelSpec]:
    """A checkpoint (read once) and its method's spec.

    Raises:
        ModelError: a missing or unreadable file, or an unknown method or architecture; one line.
    """
    from impasto.models.checkpoint import load_checkpoint
    from impasto.models.registry import spec_of

    try:
        ckpt = load_checkpoint(checkpoint_path)
    except ModelError as exc:
        raise ModelError(one_line(exc)) from None
    try:
        return ckpt, spec_of(ckpt)
    except ModelError as exc:
        raise ModelError(f"checkpoint {str(checkpoint_path)!r}: {one_line(exc)}") from None


def export_checkpoint(checkpoint_path: str | os.PathLike, output_path: str | os.PathLike, *,
                      method: str | None = None, loaded: tuple[dict[str, Any], ModelSpec] | None = None,
                      opset: int | None = None, fp16: bool = False,
                      parity_sizes: Sequence[Sequence[int]] | None = None, atol: float | None = None,
                      norm_stats: bool = False, shared_encoder: str | None = None,
                      **build: Any) -> dict[str, Any]:
    """Export a checkpoint of ``impasto train feedforward|bank|multimodal|warpnet|munit``, read once.

    A MUNIT checkpoint writes two graphs beside ``output_path`` and returns
    :func:`impasto.export.methods.munit.export_network`'s report.

    Args:
        method: the method the checkpoint must have; its options are checked before the
            checkpoint is read.
        loaded: ``(checkpoint, spec)`` from :func:`load`, where the caller read it already.
        opset, fp16, parity_sizes, atol: see :func:`export_plan`.
        norm_stats: export the stats form (instance-norm statistics as inputs, for tiled
            inference; :mod:`impasto.export.methods.norm_stats`) instead of the plain graph.
        shared_encoder: see :func:`export_plan` (warp networks).
        **build: for the network's build (``vgg_weights`` for the warp network).

    Raises:
        ModelError: a missing or unreadable checkpoint, another method than ``method``, a
            decoder, or weights that do not fit their configuration.
        UserError: bad options.
        ExportError: the export or one of its checks failed.
    """
    from impasto.models.registry import build_from_checkpoint, get_spec

    name = str(checkpoint_path)
    if method is not None:
        check_options(get_spec(method).export, method, output_path, opset, atol, parity_sizes)
    ckpt, spec = loaded or load(checkpoint_path)
    if method is not None and spec.method != method:
        raise ModelError(f"checkpoint {name!r}: expected method {method!r}, got {spec.method!r}")
    if spec.method == "munit":  # two graphs, one per direction
        if norm_stats:
            raise UserError("--norm-stats: a MUNIT model has no stats form (its graphs run whole images)")
        from impasto.export.methods.munit import export_munit_checkpoint

        return export_munit_checkpoint(checkpoint_path, output_path, loaded=(ckpt, spec), opset=opset,
                                       parity_sizes=parity_sizes, atol=atol)
    if spec.method not in CHECKPOINT_METHODS:
        raise ModelError(f"checkpoint {name!r}: a {spec.method} exports as part of a pipeline: "
                         "'impasto export photowct|wct DECODER.pt ... -o OUT.onnx'")
    try:
        net = build_from_checkpoint(ckpt, **build)
    except ModelError as exc:
        raise ModelError(f"checkpoint {name!r}: {one_line(exc)}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"checkpoint {name!r}: cannot build the network ({failure(exc)})") from None
    plan = importlib.import_module(f"impasto.export.methods.{spec.method}").checkpoint_plan(net, ckpt, checkpoint_path)
    if norm_stats:
        if fp16:
            raise UserError("--norm-stats: the stats form exports in float32; drop --fp16")
        from impasto.export.methods.norm_stats import stats_plan

        plan = stats_plan(plan)
    return export_plan(plan, output_path, opset=opset, fp16=fp16, parity_sizes=parity_sizes, atol=atol,
                       shared_encoder=shared_encoder)
