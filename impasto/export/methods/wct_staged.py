"""PhotoWCT / WCT as a staged set (``impasto export photowct|wct --staged``): the transform left to the runtime.

The one-graph export (:mod:`impasto.export.methods.wct`) must take its matrix square roots
by Newton–Schulz products, which at ``relu4_1`` cost more than the encoder. The staged set
holds only what convolves (:mod:`impasto.models.wct_stages`), one graph per stage, and the
runtime computes each level's transform with ``eigh``
(:mod:`impasto.runtime.pipelines.wct_transform`). For ``-o photowct.onnx`` it writes:

- ``photowct.onnx``: the encoder (``image`` -> features at every level, and the pooling
  switches of photo decoders), carrying the set's metadata (the method, the cards, and
  ``impasto.wct`` with ``"stages"``: level -> file name);
- ``photowct.relu4_1.onnx`` ... one per level: transformed features -> the next level's
  features, or at the last level the pipeline's outputs.

Each graph passes the export pipeline's own checks and parity gate
(:func:`impasto.export.pipeline.export_plan`); then the whole set, run as the runtime runs
it, is checked against :func:`impasto.models.wct_stages.staged_reference` on the one-graph
export's parity feeds (masks included). Everything is written to a temporary folder beside
the output and moved into place only when every check has passed. With ``--shared-encoder``
all graphs of the set read the one shared encoder file.

Convention:
    The contracts are :func:`impasto.contracts.wct_encoder_contract` and
    :func:`impasto.contracts.wct_level_contract`; a level graph's ``impasto.wct_stage``
    metadata is JSON ``{"method", "level", "next"}``. The set's whole-run parity is the
    report's ``parity`` (each graph's own is under ``graphs``) and is stored in the encoder's
    ``impasto.wct`` (``"staged_parity"``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import WCT_STAGE_KEY, wct_encoder_contract, wct_level_contract
from impasto.errors import ExportError
from impasto.export.parity import PARITY_SEED, compare, smooth_image
from impasto.export.pipeline import ExportPlan, check_options, export_plan

if TYPE_CHECKING:
    import torch

    from impasto.models.photowct import StylePipeline


@dataclasses.dataclass(frozen=True)
class StagePlan(ExportPlan):
    """A plan whose inputs come from ``make_inputs(h, w)`` (the encoder run on a smooth image)."""

    make_inputs: Callable[[int, int, np.random.Generator], dict[str, np.ndarray]] | None = None

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        feed = self.make_inputs(67, 91, np.random.default_rng(1))
        return tuple(torch.from_numpy(feed[n]) for n in self.contract.input_names)

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        rng = np.random.default_rng(PARITY_SEED)
        for h, w in sizes:
            yield {"size": [h, w]}, self.make_inputs(h, w, rng)

    def bounds(self, feed: dict[str, np.ndarray], reference: list[np.ndarray],
               atol: float) -> list[tuple[float, dict[str, Any]]]:
        """Images: ``atol``; features: ``atol`` relative to their largest value; switches: exact."""
        out = []
        for t, ref in zip(self.contract.outputs, reference):
            if t.dtype == "int64":
                out.append((0.0, {"exact": True}))
            elif t.color is None:
                scale = max(1.0, float(np.abs(ref).max()))
                out.append((atol * scale, {"relative_to": round(scale, 3)}))
            else:
                out.append((atol, {}))
        return out


def stage_files(output: Path, levels: Sequence[str]) -> dict[str, str]:
    """Level -> the file name of its graph beside ``output`` (``photowct.onnx`` -> ``photowct.relu4_1.onnx``)."""
    return {lv: f"{output.stem}.{lv}{output.suffix}" for lv in levels}


def _plans(pipeline: StylePipeline, method: str, base: ExportPlan,
           files: dict[str, str]) -> list[tuple[str, StagePlan]]:
    """``(file name, plan)`` of the encoder then every level, coarse to fine."""
    import torch

    from impasto.models.wct_stages import EncoderStage, LevelStage

    encoder = EncoderStage(pipeline)
    pools = sum(n.startswith("pool") for n in encoder.output_names)

    def encoded(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        image = smooth_image(rng, h, w)
        with torch.no_grad():
            out = encoder(torch.from_numpy(image))
        return image, {n: t.numpy() for n, t in zip(encoder.output_names, out)}

    def encoder_inputs(h: int, w: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"image": encoded(h, w, rng)[0]}

    bounds = {f"{side}_f{k}": (2, None) for side in ("height", "width") for k in (2, 4, 8)}
    settings = json.loads(base.metadata["impasto.wct"])
    settings["stages"] = files
    plans = [(f"{method}.encoder", _replace(
        base, module=encoder, contract=wct_encoder_contract(encoder.levels, pools),
        description=base.description + " (staged: the encoder)", make_inputs=encoder_inputs, dim_bounds=bounds,
        metadata={"impasto.wct": json.dumps(settings)}, report={}))]
    for level in pipeline.levels:
        stage = LevelStage(pipeline, level)

        def level_inputs(h: int, w: int, rng: np.random.Generator, stage: LevelStage = stage) -> dict[str, np.ndarray]:
            image, feats = encoded(h, w, rng)
            pools = {f"pool{j}": feats[f"pool{j}"] for j in range(1, stage.pools + 1)}
            return {"features": feats[stage.level], "content": image, **pools}

        contract = wct_level_contract(level, stage.next_level, stage.pools, pipeline.kind == "photo")
        meta = {WCT_STAGE_KEY: json.dumps({"method": method, "level": level, "next": stage.next_level})}
        plans.append((level, _replace(
            base, module=stage, contract=contract, make_inputs=level_inputs, dim_bounds=bounds,
            description=base.description + f" (staged: the {level} decoder)", metadata=meta, report={},
            shared_layers=_level_layers(stage))))
    return plans


def _level_layers(stage: Any) -> tuple[str, ...]:
    """The VGG16 convolutions a level graph runs: the re-encoding up to the next level (none at the last)."""
    from impasto.export.shared_encoder import LEVEL_LAYERS

    return LEVEL_LAYERS[stage.next_level] if stage.next_level else ()


def _replace(plan: ExportPlan, **changes: Any) -> StagePlan:
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(ExportPlan)}
    return StagePlan(**{**fields, **changes})


def whole_parity(folder: Path, main: str, pipeline: StylePipeline, sizes: Sequence[tuple[int, int]],
                 atol: float) -> list[dict[str, Any]]:
    """The set in ``folder`` run as the runtime runs it, against :func:`staged_reference`, on the parity feeds.

    Raises:
        ExportError: an output over ``atol`` or not finite.
    """
    import torch

    from impasto.export.methods.wct import parity_feeds
    from impasto.models.wct_stages import staged_reference
    from impasto.runtime.pipelines.wct_staged import StagedWCT

    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    with StagedWCT.open(folder / main, backend="ort-cpu") as staged:
        for (h, w), feed in zip(sizes, parity_feeds(sizes)):
            got = staged.run(feed)
            ref = staged_reference(pipeline, *(torch.from_numpy(feed[k]) for k in
                                               ("content", "style", "content_mask", "style_mask")),
                                   float(feed["alpha"][0]))
            for name, r in zip(staged.output_names, ref):
                err, psnr = compare(got[name], r.numpy())
                labels = feed["content_mask"].shape[1]
                rows.append({"size": [h, w], "labels": labels, "output": name, "max_abs_error": err,
                             "psnr_db": round(psnr, 2)})
                if not err <= atol:
                    failures.append(f"{name} {h}x{w} labels {labels}: max abs error {err:.3g} > {atol:.3g}")
    if failures:
        raise ExportError("export --staged: the whole set against PyTorch failed (" + "; ".join(failures)
                          + "); no file was written")
    return rows


def export_staged(pipeline: StylePipeline, method: str, base: ExportPlan, output_path: str | os.PathLike, *,
                  opset: int | None = None, parity_sizes: Sequence[Sequence[int]] | None = None,
                  atol: float | None = None, shared_encoder: str | None = None) -> dict[str, Any]:
    """Export a built pipeline as a staged set (see the module docstring); ``base`` is its one-graph plan.

    Raises:
        UserError: bad options.
        ExportError: a graph's export or check, or the whole set's parity, failed; nothing is written.
    """
    from impasto.export.shared_encoder import check_name, index_name_of, load_shared, verify_shared_file

    out, _, sizes = check_options(base.defaults, method, output_path, opset, atol, parity_sizes, False, method)
    bound = float(atol) if atol is not None else float(base.defaults.atol)
    if shared_encoder is not None:
        check_name(shared_encoder)
        if out.parent.is_dir():  # refuse a different shared file before the slow exports
            verify_shared_file(out.parent, load_shared(base.vgg_weights, shared_encoder))
    files = stage_files(out, pipeline.levels)
    out.parent.mkdir(parents=True, exist_ok=True)
    reports: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f".{out.stem}.", dir=out.parent) as tmp:
        folder = Path(tmp)
        for key, plan in _plans(pipeline, method, base, files):
            name = out.name if key.endswith(".encoder") else files[key]
            share = shared_encoder if plan.shared_layers else None
            reports[key] = export_plan(plan, folder / name, opset=opset, parity_sizes=sizes, atol=bound,
                                       shared_encoder=share)
        rows = whole_parity(folder, out.name, pipeline, sizes, bound)
        _stamp_whole_parity(folder / out.name, rows, bound)
        if shared_encoder is not None:  # first: a published graph never lacks its shared file
            for extra in (shared_encoder, index_name_of(shared_encoder)):
                if (folder / extra).exists() and not (out.parent / extra).exists():
                    shutil.move(folder / extra, out.parent / extra)
        for name in [out.name, *files.values()]:
            os.replace(folder / name, out.parent / name)
    first = reports[f"{method}.encoder"]
    return {**first, "output": str(out), "staged": True, "stages": files, "parity": rows,
            "onnx_bytes": sum(r["onnx_bytes"] for r in reports.values()),
            "seconds": round(sum(r["seconds"] for r in reports.values()), 2),
            "graphs": {k: {"output": r["output"], "onnx_bytes": r["onnx_bytes"], "parity": r["parity"]}
                       for k, r in reports.items()}, "settings": base.report.get("settings")}


def _stamp_whole_parity(path: Path, rows: list[dict[str, Any]], atol: float) -> None:
    """Add the set's whole-run parity to the encoder graph's ``impasto.wct`` (its external data untouched)."""
    import onnx

    from impasto.export import graph

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    settings = json.loads(meta["impasto.wct"])
    settings["staged_parity"] = {"reference": "impasto.models.wct_stages.staged_reference (float64 eigh WCT)",
                                 "tolerance": {"max_abs_error": atol}, "results": rows, "passed": True}
    graph.set_metadata(model, {"impasto.wct": json.dumps(settings)})
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, path)

