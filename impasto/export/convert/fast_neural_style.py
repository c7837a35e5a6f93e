"""``impasto convert fast-neural-style MODEL.pth -o OUT.onnx``: pytorch/examples ``TransformerNet`` state dicts.

The source is what ``neural_style.py train`` saves, ``torch.save(model.state_dict())``
(``.pth`` / ``.model``), read with ``weights_only=True``. Old checkpoints' instance-norm
``running_mean`` / ``running_var`` keys are dropped, as the upstream ``stylize`` does;
any other difference from the upstream network's keys and shapes is refused, naming
the first offending key.

Convention:
    The graph follows :data:`impasto.contracts.STYLIZE` through
    :class:`impasto.models.fast_neural_style.FastNeuralStyleGraph`: RGB ``[0, 1]`` in,
    times 255 into the upstream network, its output's top-left ``H x W`` divided by 255
    and clamped to ``[0, 1]`` (the upstream saves its output clamped to ``[0, 255]``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from impasto.contracts import STYLIZE
from impasto.errors import UserError
from impasto.export.convert.common import ATOL, PARITY_SIZES, check_keys, load_state_dict, sha256_of, source_card
from impasto.export.pipeline import ExportPlan, export_plan

FORMAT = "fast-neural-style"
UPSTREAM = "pytorch/examples fast_neural_style (neural_style/transformer_net.py)"
INPUT_CONVENTION = "RGB 0-255 float, NCHW; output 0-255 (saved clamped), 4*ceil(side/4) per side"


def load_network(path: str | os.PathLike) -> Any:
    """The upstream network with the state dict at ``path`` loaded (eval mode, float32, CPU).

    Raises:
        ModelError: an unreadable file, not a state dict, or a key or shape the upstream
            ``TransformerNet`` does not have (the first one named).
    """
    from impasto.models.fast_neural_style import STALE_KEY, FastNeuralStyleNet

    what = f"{FORMAT} state dict"
    state = load_state_dict(path, what)
    state = {k: v for k, v in state.items() if not STALE_KEY.search(k)}
    net = FastNeuralStyleNet()
    check_keys(state, {k: tuple(v.shape) for k, v in net.state_dict().items()}, f"{what} {str(path)!r}")
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval()


def plan_for(path: str | os.PathLike, *, license: str | None, command: str) -> ExportPlan:
    """The export plan of one upstream state dict."""
    from impasto.models.fast_neural_style import FastNeuralStyleGraph
    from impasto.models.registry import ExportDefaults

    graph = FastNeuralStyleGraph(load_network(path)).eval()
    name = Path(path).stem
    card = source_card(FORMAT, [path], upstream=UPSTREAM, input_convention=INPUT_CONVENTION, license=license,
                       command=command, wrapper="x255 in; crop to the input size, /255, clamp [0, 1] out")
    return ExportPlan(method=FORMAT, module=graph, contract=STYLIZE,
                      defaults=ExportDefaults(atol=ATOL, parity_sizes=PARITY_SIZES, torchscript=True),
                      noun="a fast_neural_style TransformerNet", style_name=name,
                      description=f"{name} — pytorch/examples fast_neural_style TransformerNet (converted)",
                      card=card, source_sha256=sha256_of(path), named_rows=False)


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, license: str | None = None,
            command: str = "", **options: Any) -> dict[str, Any]:
    """Convert one upstream state dict to a checked ``stylize`` graph (nothing written unless parity holds).

    Raises:
        UserError: not exactly one source, or unknown options.
        ModelError: the source is not an upstream ``TransformerNet`` state dict.
        ExportError: the export or its parity check failed.
    """
    if len(sources) != 1:
        raise UserError(f"convert {FORMAT}: expected one state dict (.pth/.model), got {len(sources)} files")
    if options:
        raise UserError(f"convert {FORMAT}: unexpected options {sorted(options)}")
    t0 = time.perf_counter()
    plan = plan_for(sources[0], license=license, command=command)
    report = export_plan(plan, output, parity_sizes=PARITY_SIZES, atol=ATOL)
    return {"format": FORMAT, **report, "seconds": round(time.perf_counter() - t0, 2)}
