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
from collections.abc import Sequence
from typing import Any

from impasto.export.convert.common import check_keys, load_state_dict, source_card
from impasto.export.convert.single_image import convert_one, stylize_plan
from impasto.export.pipeline import ExportPlan

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

    graph = FastNeuralStyleGraph(load_network(path))  # first: a missing or bad file is refused before hashing
    card = source_card(FORMAT, [path], upstream=UPSTREAM, input_convention=INPUT_CONVENTION, license=license,
                       command=command, wrapper="x255 in; crop to the input size, /255, clamp [0, 1] out")
    return stylize_plan(FORMAT, graph, path, card=card,
                        noun="a fast_neural_style TransformerNet", upstream=UPSTREAM)


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, license: str | None = None,
            command: str = "", **options: Any) -> dict[str, Any]:
    """Convert one upstream state dict to a checked ``stylize`` graph (nothing written unless parity holds).

    Raises:
        UserError: not exactly one source, or unknown options.
        ModelError: the source is not an upstream ``TransformerNet`` state dict.
        ExportError: the export or its parity check failed.
    """
    return convert_one(FORMAT, "state dict (.pth/.model)", sources, output, options,
                       lambda path: plan_for(path, license=license, command=command))
