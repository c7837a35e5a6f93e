"""What the single-file, single-image converters share (``fast-neural-style``, ``torch7``): the plan and the run.

Convention:
    The graph follows :data:`impasto.contracts.STYLIZE` (RGB ``[0, 1]`` in and out, the
    output of the input's size); its style name is the source file's stem.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impasto.contracts import STYLIZE
from impasto.errors import UserError
from impasto.export.convert.common import ATOL, PARITY_SIZES, sha256_of
from impasto.export.pipeline import ExportPlan, export_plan

if TYPE_CHECKING:
    from torch import nn


def stylize_plan(method: str, module: nn.Module, path: str | os.PathLike, *, card: dict[str, Any], noun: str,
                 upstream: str) -> ExportPlan:
    """The plan of a converted ``stylize`` network (the issue's parity sizes and bound)."""
    from impasto.models.registry import ExportDefaults

    name = Path(path).stem
    return ExportPlan(method=method, module=module.eval(), contract=STYLIZE,
                      defaults=ExportDefaults(atol=ATOL, parity_sizes=PARITY_SIZES, torchscript=True),
                      noun=noun, style_name=name, description=f"{name} — {upstream} (converted)",
                      card=card, source_sha256=sha256_of(path), named_rows=False)


def convert_one(fmt: str, what: str, sources: Sequence[str | os.PathLike], output: str | os.PathLike,
                options: dict[str, Any], plan_for: Callable[[str | os.PathLike], ExportPlan]) -> dict[str, Any]:
    """Check there is one source and no option, then export ``plan_for(source)``; the report with ``format``.

    Raises:
        UserError: not exactly one source (``what`` names the expected file), or options.
    """
    if len(sources) != 1:
        raise UserError(f"convert {fmt}: expected one {what}, got {len(sources)} files")
    if options:
        raise UserError(f"convert {fmt}: unexpected options {sorted(options)}")
    t0 = time.perf_counter()
    report = export_plan(plan_for(sources[0]), output, parity_sizes=PARITY_SIZES, atol=ATOL)
    return {"format": fmt, **report, "seconds": round(time.perf_counter() - t0, 2)}
