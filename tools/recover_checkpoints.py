"""Recover the checkpoints a shipped graph was exported from, out of the graph's own weights.

The training checkpoints of the built-in graphs lived in a git-ignored ``runs/`` folder
and were lost; the graphs still hold every weight, under the parameters' names (the
exporter renames only the style bank's conditioning MLP, whose two weights it stores
transposed for ``MatMul``). The checkpoints written here hold weights only (no optimizer
state): they serve ``impasto export`` and ``--init``, not ``--resume``.

- A **style bank** (``bank.onnx``): rebuilds :class:`~impasto.models.style_bank.StyleBankNet`
  from the graph's description, fills every parameter, checks the network against the
  graph with ONNX Runtime on random images and conditionings (nothing is written above
  1e-5) and writes ``bank.pt``.
- A **PhotoWCT / WCT pipeline** (``photowct.onnx``): writes one decoder checkpoint per
  level (``photowct_relu4_1.pt`` ...) with that level's card; re-exporting them with the
  same VGG16 weights is the check (``tests/export/test_shipped_reexport.py``).

Usage:
    python tools/recover_checkpoints.py impasto/runtime/data/bank.onnx -o checkpoints/
    python tools/recover_checkpoints.py impasto/runtime/data/vgg16/photowct.onnx -o checkpoints/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from impasto.contracts import BANK_INPUTS
from impasto.models.checkpoint import save_checkpoint
from impasto.models.photowct import Decoder, DecoderConfig
from impasto.models.style_bank import ClampedBank, StyleBankConfig, StyleBankNet

PREFIX = "net."  # the exporter wraps the network in ClampedBank, whose attribute is ``net``
BOUND = 1e-5


def recover_state(model: onnx.ModelProto, net: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """Every parameter of ``net`` from the graph: by name, else the one MatMul weight of the transposed shape."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    matmul_weights = {x for n in model.graph.node if n.op_type == "MatMul" for x in n.input if x in inits}
    state = {}
    for key, ref in net.state_dict().items():
        if prefix + key in inits:
            value = inits[prefix + key]
        else:
            candidates = [k for k in matmul_weights if inits[k].shape == tuple(ref.shape)[::-1]]
            if len(candidates) != 1:
                raise SystemExit(f"recover: expected one MatMul weight of shape {tuple(ref.shape)[::-1]} for {key!r}, "
                                 f"got {candidates}")
            value = inits[candidates[0]].T
            matmul_weights.discard(candidates[0])
        if value.shape != tuple(ref.shape):
            raise SystemExit(f"recover: {key!r}: expected shape {tuple(ref.shape)}, got {value.shape}")
        state[key] = torch.from_numpy(np.array(value, copy=True)).to(ref.dtype)
    return state


def max_error(path: Path, net: StyleBankNet, draws: int = 4) -> float:
    """Max abs difference between ONNX Runtime on the graph and the recovered network, random feeds."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cfg, rng, worst = net.config, np.random.default_rng(0), 0.0
    module = ClampedBank(net).eval()
    for k in range(draws):
        h, w = (96, 128) if k % 2 else (77, 61)
        feed = {BANK_INPUTS[0]: rng.random((1, 3, h, w), dtype=np.float32),
                BANK_INPUTS[1]: rng.dirichlet(np.ones(cfg.n_styles)).astype(np.float32),
                BANK_INPUTS[2]: rng.uniform(0, 2, len(cfg.content_layers)).astype(np.float32),
                BANK_INPUTS[3]: rng.uniform(0, 2, len(cfg.style_layers)).astype(np.float32)}
        got = session.run(None, feed)[0]
        with torch.no_grad():
            ref = module(*(torch.from_numpy(v) for v in feed.values())).numpy()
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def recover_bank(path: Path, model: onnx.ModelProto, meta: dict[str, str], out_dir: Path) -> None:
    styles = json.loads(meta["impasto.styles"])
    card = json.loads(meta["impasto.card"])
    arch = card["command"].split()
    widths = tuple(int(v) for v in arch[arch.index("--widths") + 1].split(",")) if "--widths" in arch else (16, 48)
    upsample = "bilinear" if "bilinear" in meta["impasto.description"] else "nearest"
    config = StyleBankConfig(n_styles=len(styles), widths=widths, upsample=upsample)
    net = StyleBankNet(config).eval()
    net.load_state_dict(recover_state(model, net, PREFIX))
    err = max_error(path, net)
    if err > BOUND:
        raise SystemExit(f"recover: the recovered network differs from the graph by {err:.3g} > {BOUND:g}; "
                         "nothing written")
    card["recovered_from"] = _source(path, max_abs_error=err)
    out = out_dir / "bank.pt"
    save_checkpoint(out, {
        "method": "bank", "model": {"arch": "StyleBankNet", "config": config.to_dict()},
        "style_names": [s["name"] for s in styles], "style_files": [s["source"] for s in styles],
        "state_dict": net.state_dict(), "optimizer": {}, "iteration": card.get("iterations", 0),
        "train_config": None, "card": card})
    print(f"wrote {out}: {len(styles)} styles, max abs error against the graph {err:.2e}")


def recover_decoders(path: Path, model: onnx.ModelProto, meta: dict[str, str], out_dir: Path) -> None:
    settings, cards = json.loads(meta["impasto.wct"]), json.loads(meta["impasto.card"])
    method = meta["impasto.method"]
    for level in settings["levels"]:
        net = Decoder(DecoderConfig(level, settings["kind"])).eval()
        net.load_state_dict(recover_state(model, net, f"decoders.{level}."))
        card = {**cards[level], "recovered_from": _source(path)}
        out = out_dir / f"{method}_{level}.pt"
        save_checkpoint(out, {"method": "decoder", "model": {"arch": "Decoder", "config": net.config.to_dict()},
                              "state_dict": net.state_dict(), "optimizer": {}, "iteration": card.get("iterations", 0),
                              "train_config": None, "card": card})
        print(f"wrote {out}: {settings['kind']} decoder of {level}")


def _source(path: Path, **extra: float) -> dict[str, object]:
    return {"graph": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "tool": "tools/recover_checkpoints.py", "optimizer_state": "lost", **extra}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("graph", type=Path)
    p.add_argument("-o", "--output-dir", type=Path, required=True)
    args = p.parse_args(argv)
    model = onnx.load(str(args.graph))
    meta = {m.key: m.value for m in model.metadata_props}
    method = meta.get("impasto.method")
    if method == "bank":
        recover_bank(args.graph, model, meta, args.output_dir)
    elif method in ("photowct", "wct"):
        recover_decoders(args.graph, model, meta, args.output_dir)
    else:
        raise SystemExit(f"recover: expected a bank, photowct or wct graph, got method {method!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
