"""MUNIT (``impasto export munit CKPT -o munit.onnx``, ``impasto convert munit``): one graph per direction.

A MUNIT model exports as two graphs of contract ``translate`` with a shared stem
(:func:`impasto.contracts.munit_graph_path`): ``munit.a2b.onnx`` and ``munit.b2a.onnx``.
Each is :class:`impasto.models.munit.Translator`: the source domain's content encoder,
the target domain's style encoder (for a reference image), MLP and decoder, fused so that
the runtime runs one graph per call. Both are exported and parity-checked in a temporary
folder beside the output and moved into place only when both passed: nothing half-written.

Parity: per size two feeds, random style codes (3 codes, reference weight 0) and a
reference image of another shape (one zero code, weight 1), both outputs compared.

Convention:
    See :data:`impasto.contracts.TRANSLATE` and :class:`impasto.models.munit.Translator`.
    ``metadata_props`` add ``impasto.munit`` (JSON: ``source``, ``target`` (letters),
    ``domains`` (letter -> name), ``style_dim``, ``multiple``, ``min_side``,
    ``content_norm``, ``partner`` (the other direction's file name), ``config``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import MUNIT_DIRECTIONS, TRANSLATE, munit_graph_path
from impasto.errors import ModelError, UserError
from impasto.export.parity import PARITY_SEED, smooth_image
from impasto.export.pipeline import ExportPlan, check_options, export_plan
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    import torch

    from impasto.models.munit import MUNIT

#: Style codes per random-style parity feed.
PARITY_CODES = 3


class TranslatePlan(ExportPlan):
    """Example inputs and parity feeds: an image, a reference of another shape, codes and the reference weight."""

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(0)
        d = self.bindings["style_dim"]
        return (torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 3, 72, 60, generator=g),
                torch.randn(3, d, generator=g), torch.tensor([0.5]))

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        rng = np.random.default_rng(PARITY_SEED)
        d = self.bindings["style_dim"]
        for h, w in sizes:
            image, reference = smooth_image(rng, h, w), smooth_image(rng, w + 9, h + 5)
            random_codes = rng.standard_normal((PARITY_CODES, d)).astype(np.float32)
            zero_code = np.zeros((1, d), np.float32)
            for mode, style, weight in (("random", random_codes, 0.0), ("reference", zero_code, 1.0)):
                feed = {"image": image, "reference": reference, "style": style,
                        "reference_weight": np.array([weight], np.float32)}
                yield {"size": [h, w], "reference_size": list(reference.shape[2:]), "mode": mode}, feed


def direction_plan(net: MUNIT, source: str, target: str, partner: str, card: dict[str, Any],
                   source_sha256: str) -> TranslatePlan:
    """The plan of one direction of a built network."""
    from impasto.models.munit import Translator
    from impasto.models.registry import get_spec

    defaults = get_spec("munit").export
    cfg = net.config
    domains = {"a": cfg.domain_a, "b": cfg.domain_b}
    settings = {"source": source, "target": target, "domains": domains, "style_dim": cfg.style_dim,
                "multiple": cfg.multiple, "min_side": defaults.min_side, "content_norm": cfg.content_norm,
                "partner": partner, "config": cfg.to_dict()}
    description = (f"munit {source}2{target} — MUNIT translation {domains[source]} -> {domains[target]}: content "
                   f"encoder of {domains[source]!r}, style encoder, MLP and AdaIN decoder of {domains[target]!r} "
                   f"(style codes of length {cfg.style_dim}, prior N(0, I))")
    return TranslatePlan(
        method="munit", module=Translator(net, target).float().cpu().eval(), contract=TRANSLATE, defaults=defaults,
        noun="a MUNIT model", style_name=f"{domains[source]}2{domains[target]}", description=description, card=card,
        source_sha256=source_sha256, bindings={"style_dim": cfg.style_dim},
        dim_bounds={"codes": (1, None), **{d: (defaults.min_side, None)
                                           for d in ("height", "width", "style_height", "style_width")}},
        parity_text=f"smooth random images, numpy default_rng({PARITY_SEED}); references of another shape; "
                    f"{PARITY_CODES} N(0, I) codes with weight 0, and one zero code with the reference at weight 1",
        metadata={"impasto.munit": json.dumps(settings)}, report={"settings": settings})


def export_network(net: MUNIT, output: str | os.PathLike, *, card: dict[str, Any], source_sha256: str,
                   opset: int | None = None, parity_sizes: Sequence[Sequence[int]] | None = None,
                   atol: float | None = None) -> dict[str, Any]:
    """Export both directions of ``net`` beside ``output`` (the stem; see the module docstring).

    Returns:
        ``{"output": stem, "graphs": [a2b path, b2a path], "directions": [report, report], "parity", ...}``:
        the directions' reports, and their parity rows together (each row names its direction).

    Raises:
        UserError: a bad output path or options.
        ExportError: an export or parity check failed; neither graph is written.
    """
    from impasto.models.registry import get_spec

    defaults = get_spec("munit").export
    stem = Path(output)
    check_options(defaults, "munit", stem, opset, atol, parity_sizes)
    paths = [munit_graph_path(stem, s, t) for s, t in MUNIT_DIRECTIONS]
    if not stem.parent.is_dir():
        raise UserError(f"export munit: expected an existing folder for {str(stem)!r}, got {str(stem.parent)!r}")
    tmp = Path(tempfile.mkdtemp(prefix=".munit-export-", dir=stem.parent))
    try:
        reports = []
        for (s, t), path, other in zip(MUNIT_DIRECTIONS, paths, reversed(paths)):
            plan = direction_plan(net, s, t, other.name, card, source_sha256)
            reports.append(export_plan(plan, tmp / path.name, opset=opset, parity_sizes=parity_sizes, atol=atol))
        for path in paths:
            os.replace(tmp / path.name, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for report, path in zip(reports, paths):
        report["output"] = str(path)
    parity = [{"direction": f"{r['settings']['source']}2{r['settings']['target']}", **row}
              for r in reports for row in r["parity"]]
    first = reports[0]
    return {"output": str(stem), "graphs": [str(p) for p in paths], "method": "munit", "opset": first["opset"],
            "precision": first["precision"], "exporter": first["exporter"], "parity": parity,
            "tolerance": first["tolerance"], "seconds": round(sum(r["seconds"] for r in reports), 2),
            "onnx_bytes": sum(r["onnx_bytes"] for r in reports), "style_name": "munit",
            "settings": {k: v for k, v in first["settings"].items() if k not in ("source", "target", "partner")}}


def export_munit_checkpoint(path: str | os.PathLike, output: str | os.PathLike, *, loaded: Any = None,
                            **options: Any) -> dict[str, Any]:
    """Both directions of a checkpoint of ``impasto train munit`` (``loaded``: ``pipeline.load(path)``).

    Raises:
        ModelError: an unreadable checkpoint, another method, or weights that do not fit.
        UserError, ExportError: as :func:`export_network`.
    """
    from impasto.export.graph import one_line
    from impasto.export.pipeline import load
    from impasto.models.registry import build_from_checkpoint

    check_options(get_munit_defaults(), "munit", output, options.get("opset"), options.get("atol"),
                  options.get("parity_sizes"))
    ckpt, spec = loaded or load(path)
    if spec.method != "munit":
        raise ModelError(f"checkpoint {str(path)!r}: expected method 'munit', got {spec.method!r}")
    try:
        net = build_from_checkpoint(ckpt, method="munit")
    except ModelError as exc:
        raise ModelError(f"checkpoint {str(path)!r}: {one_line(exc)}") from None
    digest = json.dumps({Path(path).name: sha256_file(path)})
    return export_network(net, output, card=ckpt.get("card") or {}, source_sha256=digest, **options)


def get_munit_defaults() -> Any:
    from impasto.models.registry import get_spec

    return get_spec("munit").export
