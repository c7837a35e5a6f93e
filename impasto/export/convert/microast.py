"""``impasto convert microast DIR -o microast.onnx``: MicroAST's four published state dicts -> one graph.

DIR holds upstream's ``content_encoder*.pth*``, ``style_encoder*.pth*``, ``modulator*.pth*``
and ``decoder*.pth*`` (github EndyWon/MicroAST ``models/``, e.g.
``content_encoder_iter_160000.pth.tar``), one of each. Each is read with
``weights_only=True``, checked key by key against :class:`impasto.models.microast.MicroAST`
and loaded; the network is exported to contract ``arbitrary`` (content, style, alpha ->
stylized) and gated at :data:`~impasto.export.convert.common.PARITY_SIZES` against its own
PyTorch forward, with smooth random content and a style image of another shape, at three
alphas.

Convention:
    See :data:`impasto.contracts.ARBITRARY` and :mod:`impasto.models.microast`. Images
    ``[0, 1]`` RGB NCHW, batch 1, each side >= :data:`MIN_SIDE`. ``metadata_props`` add
    ``impasto.arbitrary`` (JSON: ``network``, ``min_side``, ``min_style_side``, ``alpha``,
    ``inputs``, ``outputs``); ``impasto.source_sha256`` is a JSON map of file name to sha256.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.contracts import ARBITRARY
from impasto.errors import ModelError
from impasto.export.convert.common import ATOL, PARITY_SIZES, check_keys, load_state_dict, source_card
from impasto.export.parity import PARITY_SEED, smooth_image
from impasto.export.pipeline import ExportPlan, export_plan

if TYPE_CHECKING:
    import torch

    from impasto.models.microast import MicroAST

UPSTREAM = "github.com/EndyWon/MicroAST at commit 5a6c9050 (Wang et al., AAAI 2023)"
UPSTREAM_LICENSE = "MIT, Copyright (c) 2022 Zhizhong Wang"
INPUT_CONVENTION = ("content and style RGB [0, 1] NCHW (torchvision ToTensor), upstream alpha 1; output unclamped, "
                    "2*ceil(ceil(side/2)/2) per side (impasto crops to the content's size, clamps to [0, 1] and "
                    "blends with the content by its own alpha in image space)")
#: The smallest side of either image (the encoders downsample by 4; their 9x9 reflection pad needs > 4 px).
MIN_SIDE = 16
#: The alpha of each parity case, in order.
PARITY_ALPHAS = (1.0, 0.5, 0.8)


def find_sources(sources: Sequence[str | os.PathLike]) -> dict[str, Path]:
    """The four upstream files in the one folder given, by part.

    Raises:
        ModelError: not exactly one folder, or a part missing or found twice.
    """
    from impasto.models.microast import MicroAST

    if len(sources) != 1 or not Path(sources[0]).is_dir():
        got = ", ".join(repr(str(s)) for s in sources)
        raise ModelError(f"microast: expected one folder holding upstream's four .pth.tar files, got {got}")
    folder = Path(sources[0])
    found: dict[str, Path] = {}
    for part in MicroAST.PARTS:
        matches = sorted(p for p in folder.glob(f"{part}*.pth*") if p.is_file())
        if len(matches) != 1:
            what = "none" if not matches else ", ".join(p.name for p in matches)
            raise ModelError(f"microast: expected one {part}*.pth.tar in {str(folder)!r}, found {what}")
        found[part] = matches[0]
    return found


def load_network(files: dict[str, Path]) -> MicroAST:
    """:class:`MicroAST` with the four state dicts loaded, each checked key by key first.

    Raises:
        ModelError: an unreadable file, a missing or unexpected key, or a wrong shape; one line.
    """
    from impasto.models.microast import MicroAST

    net = MicroAST()
    for part, path in files.items():
        module = getattr(net, part)
        state = load_state_dict(path, f"microast {part}")
        check_keys(state, {k: tuple(v.shape) for k, v in module.state_dict().items()}, f"microast {path.name}")
        module.load_state_dict(state)
    return net.float().eval()


class MicroASTPlan(ExportPlan):
    """Example inputs and parity feeds: content, a style of another shape, an alpha per case."""

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(0)
        return torch.rand(1, 3, 67, 91, generator=g), torch.rand(1, 3, 72, 60, generator=g), torch.tensor([0.7])

    def feeds(self, sizes: Sequence[tuple[int, int]]) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        rng = np.random.default_rng(PARITY_SEED)
        for i, (h, w) in enumerate(sizes):
            alpha = PARITY_ALPHAS[i % len(PARITY_ALPHAS)]
            style = smooth_image(rng, w + 9, h + 5)
            feed = {"content": smooth_image(rng, h, w), "style": style, "alpha": np.array([alpha], np.float32)}
            yield {"size": [h, w], "style_size": list(style.shape[2:]), "alpha": alpha}, feed


def network_plan(net: MicroAST, files: dict[str, Path], card: dict[str, Any]) -> MicroASTPlan:
    """The plan of a loaded network; ``files``: the source files by part."""
    from impasto.models.registry import ExportDefaults

    defaults = ExportDefaults(parity_sizes=PARITY_SIZES, min_parity_sizes=3, min_side=MIN_SIDE)
    settings = {"network": "microast", "min_side": MIN_SIDE, "min_style_side": MIN_SIDE,
                "alpha": "alpha * stylized + (1 - alpha) * content, in image space",
                "inputs": list(ARBITRARY.input_names), "outputs": list(ARBITRARY.output_names)}
    return MicroASTPlan(
        method="microast", module=net, contract=ARBITRARY, defaults=defaults, noun="a MicroAST network",
        style_name="arbitrary", card=card,
        description="microast — MicroAST arbitrary style transfer (Wang et al., AAAI 2023; MIT): micro encoders, "
                    "modulator and style-modulated micro decoder, converted from the published checkpoints",
        source_sha256=json.dumps({p.name: c["sha256"] for p, c in zip(files.values(),
                                                                       card["converted_from"]["files"])}),
        parity_text=f"smooth random images, numpy default_rng({PARITY_SEED}); styles of another shape; "
                    f"alpha {', '.join(map(str, PARITY_ALPHAS))}",
        dim_bounds={d: (MIN_SIDE, None) for d in ("height", "width", "style_height", "style_width")},
        metadata={"impasto.arbitrary": json.dumps(settings)}, report={"settings": settings})


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, license: str | None = None,
            command: str = "", **options: Any) -> dict[str, Any]:
    """Convert upstream's four files in ``sources[0]`` to ``output`` (see the module docstring).

    Args:
        sources: one folder.
        output: the ``.onnx`` file to write (atomically, only if every check passes).
        license: the licence recorded in the card; default upstream's (MIT).
        command: the conversion command line, for the card.

    Raises:
        ModelError: bad sources (one line naming the file and key).
        UserError: a bad output path.
        ExportError: the export or the parity gate failed; nothing is written.
    """
    files = find_sources(sources)
    net = load_network(files)
    card = source_card("microast", list(files.values()), upstream=UPSTREAM, input_convention=INPUT_CONVENTION,
                       license=license or UPSTREAM_LICENSE, command=command,
                       parts={part: p.name for part, p in files.items()})
    report = export_plan(network_plan(net, files, card), output, parity_sizes=PARITY_SIZES, atol=ATOL)
    return {"format": "microast", **report}
