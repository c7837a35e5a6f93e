"""``impasto convert munit GEN.pt --config CONFIG.yaml -o munit.onnx``: an official MUNIT generator -> two graphs.

``GEN.pt`` is what the official trainer (NVlabs/MUNIT, ``trainer.save``) writes as
``gen_XXXXXXXX.pt``: ``{"a": state_dict, "b": state_dict}`` of its ``AdaINGen``; it is
read with ``weights_only=True``. ``CONFIG.yaml`` is the run's config (read with
``yaml.safe_load``): its ``gen:`` section gives the network's shape (``dim``,
``mlp_dim``, ``style_dim``, ``n_downsample``, ``n_res``, ``activ``, ``pad_type``; no other
key), and ``input_dim_a`` / ``input_dim_b``, where present, must be 3 (RGB). Each state
dict is checked key by key against :class:`impasto.models.munit.AdaINGen` (the instance
norms' ``num_batches_tracked``, absent from files of PyTorch 0.4.0, may be missing) and
loaded; both directions are exported as in :mod:`impasto.export.methods.munit` and gated
at :data:`~impasto.export.convert.common.PARITY_SIZES` against the PyTorch network.

Convention:
    ``content_norm="running"`` (default) reproduces the official ``test.py``, which runs
    the generators in ``eval()`` mode, where the content encoder's instance norms
    (``track_running_stats=True``) use their stored running statistics; ``"instance"``
    normalises each image by its own statistics, as the paper describes. Images are fed
    as impasto's ``[0, 1]`` RGB and mapped to the official ``[-1, 1]`` inside the graph.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impasto.errors import ModelError
from impasto.export.convert.common import ATOL, PARITY_SIZES, check_keys, source_card
from impasto.utils.digest import sha256_file

if TYPE_CHECKING:
    from impasto.models.munit import MUNIT, MUNITConfig

UPSTREAM = "github.com/NVlabs/MUNIT (Huang et al., ECCV 2018; CC BY-NC-SA 4.0)"
INPUT_CONVENTION = "RGB [-1, 1] NCHW (ToTensor then Normalize(0.5, 0.5)); generators in eval() mode"
#: The keys of the official YAML ``gen:`` section.
GEN_KEYS = ("dim", "mlp_dim", "style_dim", "n_downsample", "n_res", "activ", "pad_type")
#: Buffers an official file may lack (instance norms saved by PyTorch 0.4.0).
OPTIONAL_SUFFIXES = ("num_batches_tracked",)


def read_config(path: str | os.PathLike, *, content_norm: str = "running", domain_a: str = "a",
                domain_b: str = "b") -> MUNITConfig:
    """The network configuration from an official YAML config (see the module docstring).

    Raises:
        ModelError: no such file, unreadable YAML, no ``gen:`` mapping, an unknown or missing
            ``gen`` key, an input_dim other than 3, or a bad value; one line naming the key.
    """
    import yaml

    from impasto.models.munit import MUNITConfig

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"munit --config: expected a YAML file, got {str(p)!r} (no such file)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelError(f"munit --config {str(p)!r}: cannot read YAML ({str(exc).splitlines()[0]})") from None
    gen = data.get("gen") if isinstance(data, dict) else None
    if not isinstance(gen, dict):
        raise ModelError(f"munit --config {str(p)!r}: expected a 'gen:' mapping with keys {list(GEN_KEYS)}")
    for key in gen:
        if key not in GEN_KEYS:
            raise ModelError(f"munit --config {str(p)!r}: unknown key 'gen.{key}'; expected {list(GEN_KEYS)}")
    for key in GEN_KEYS:
        if key not in gen:
            raise ModelError(f"munit --config {str(p)!r}: missing key 'gen.{key}'")
    for key in ("input_dim_a", "input_dim_b"):
        if key in data and data[key] != 3:
            raise ModelError(f"munit --config {str(p)!r}: {key}: expected 3 (RGB), got {data[key]!r}")
    try:
        return MUNITConfig(**{k: gen[k] for k in GEN_KEYS}, content_norm=content_norm, domain_a=domain_a,
                           domain_b=domain_b)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"munit --config {str(p)!r}: gen: {exc}") from None


def load_generators(path: str | os.PathLike, config: MUNITConfig) -> MUNIT:
    """:class:`MUNIT` with the file's ``a`` and ``b`` state dicts loaded, each checked key by key first.

    Raises:
        ModelError: an unreadable file, top-level keys other than ``a`` and ``b``, or an
            unexpected key, a missing key or a wrong shape; one line naming the first.
    """
    import torch

    from impasto.models.checkpoint import safe_load
    from impasto.models.munit import MUNIT

    name = Path(path).name
    obj = safe_load(path, "munit generator")
    if not isinstance(obj, dict):
        raise ModelError(f"munit {name}: expected {{'a': state_dict, 'b': state_dict}}, got {type(obj).__name__}")
    for key in obj:
        if key not in ("a", "b"):
            raise ModelError(f"munit {name}: unexpected top-level key {key!r}; expected 'a' and 'b' (a gen_*.pt file)")
    net = MUNIT(config)
    for domain in ("a", "b"):
        state = obj.get(domain)
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ModelError(f"munit {name}: expected a state dict under key {domain!r}, got "
                             f"{type(state).__name__ if state is not None else 'nothing'}")
        module = net.generator(domain)
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()
                    if not k.endswith(OPTIONAL_SUFFIXES)}
        check_keys(state, expected, f"munit {name}[{domain!r}]", ignore=OPTIONAL_SUFFIXES)
        missing, _ = module.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
        required = [k for k in missing if not k.endswith(OPTIONAL_SUFFIXES)]
        if required:  # check_keys has refused these already; kept as a guard
            raise ModelError(f"munit {name}[{domain!r}]: missing key {required[0]!r}")
    return net.float().eval()


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, config: str | os.PathLike,
            content_norm: str = "running", domain_a: str = "a", domain_b: str = "b", license: str | None = None,
            command: str = "") -> dict[str, Any]:
    """Convert an official ``gen_*.pt`` and its YAML config to the two graphs beside ``output`` (its stem).

    Raises:
        ModelError: bad sources (one line naming the file and key).
        UserError: a bad output path.
        ExportError: the export or the parity gate failed; nothing is written.
    """
    from impasto.export.methods.munit import export_network

    if len(sources) != 1:
        got = ", ".join(repr(str(s)) for s in sources)
        raise ModelError(f"munit: expected one gen_XXXXXXXX.pt file, got {got}")
    gen = Path(sources[0])
    cfg = read_config(config, content_norm=content_norm, domain_a=domain_a, domain_b=domain_b)
    net = load_generators(gen, cfg)
    card = source_card("munit", [gen, Path(config)], upstream=UPSTREAM, input_convention=INPUT_CONVENTION,
                       license=license, command=command, content_norm=content_norm)
    digests = json.dumps({gen.name: sha256_file(gen), Path(config).name: sha256_file(config)})
    report = export_network(net, output, card=card, source_sha256=digests, parity_sizes=PARITY_SIZES, atol=ATOL)
    return {"format": "munit", **report}
