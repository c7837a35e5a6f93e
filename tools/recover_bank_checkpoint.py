"""Recover the checkpoint a shipped style-bank graph was exported from, out of the graph's own weights.

The bank's training checkpoints lived in a git-ignored ``runs/`` folder and were lost;
the graph still holds every weight. The exporter keeps parameter names for all but the
conditioning MLP, whose two weights it stores transposed for ``MatMul``. This tool
rebuilds :class:`~impasto.models.style_bank.StyleBankNet` from the graph's description,
fills every parameter, checks the recovered network against the graph with ONNX Runtime
on random images and conditionings (it refuses to write anything above 1e-5), and writes
an impasto checkpoint (weights only: no optimizer state, so it serves ``--init`` and
``impasto export``, not ``--resume``).

Usage:
    python tools/recover_bank_checkpoint.py impasto/runtime/data/bank.onnx -o checkpoints/bank.pt
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
from impasto.models.style_bank import ClampedBank, StyleBankConfig, StyleBankNet

PREFIX = "net."  # the exporter wraps the network in ClampedBank, whose attribute is ``net``
BOUND = 1e-5


def recover_state(model: onnx.ModelProto, net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter of ``net`` from the graph: by name, else the one MatMul weight of the transposed shape."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    matmul_weights = {x for n in model.graph.node if n.op_type == "MatMul" for x in n.input if x in inits}
    state = {}
    for key, ref in net.state_dict().items():
        if PREFIX + key in inits:
            value = inits[PREFIX + key]
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("graph", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    model = onnx.load(str(args.graph))
    meta = {m.key: m.value for m in model.metadata_props}
    if meta.get("impasto.method") != "bank":
        raise SystemExit(f"recover: expected an impasto style bank graph, got method {meta.get('impasto.method')!r}")
    styles = json.loads(meta["impasto.styles"])
    card = json.loads(meta["impasto.card"])
    arch = card["command"].split()
    widths = tuple(int(v) for v in arch[arch.index("--widths") + 1].split(",")) if "--widths" in arch else (16, 48)
    upsample = "bilinear" if "bilinear" in meta["impasto.description"] else "nearest"
    config = StyleBankConfig(n_styles=len(styles), widths=widths, upsample=upsample)
    net = StyleBankNet(config).eval()
    net.load_state_dict(recover_state(model, net))
    err = max_error(args.graph, net)
    if err > BOUND:
        raise SystemExit(f"recover: the recovered network differs from the graph by {err:.3g} > {BOUND:g}; "
                         "nothing written")
    digest = hashlib.sha256(args.graph.read_bytes()).hexdigest()
    card["recovered_from"] = {"graph": args.graph.name, "sha256": digest, "max_abs_error": err,
                              "tool": "tools/recover_bank_checkpoint.py", "optimizer_state": "lost"}
    save_checkpoint(args.output, {
        "method": "bank", "model": {"arch": "StyleBankNet", "config": config.to_dict()},
        "style_names": [s["name"] for s in styles], "style_files": [s["source"] for s in styles],
        "state_dict": net.state_dict(), "optimizer": {}, "iteration": card.get("iterations", 0),
        "train_config": None, "card": card})
    print(f"wrote {args.output}: {len(styles)} styles, {sum(v.numel() for v in net.state_dict().values())} values, "
          f"max abs error against the graph {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
