#!/usr/bin/env python
"""Where the photoreal (photowct) time goes: per-stage time, GFLOP and GFLOP/s (CPU; a tool, not a test).

Runs an exported photowct graph on one DPST pair (content, style and their segmentation
masks, as :mod:`impasto.runtime.pipelines.photoreal` feeds them) with ONNX Runtime's
node profiling (``SessionOptions.enable_profiling``), then the whole pipeline
(:meth:`WCTStylizer.run`) for the stages outside the graph. Prints a markdown table:

- **graph stages**, in execution order: every encoder pass (the style's, the content's,
  then the re-encoding of each level's decoded image), every level's WCT (statistics,
  covariances, Newton–Schulz square roots, transform) and decoder, the guided filter,
  and "other" (input normalisation, mask pooling, clamps between stages);
- **GFLOP**: multiply-adds x 2 of the ``Conv``, ``MatMul``, ``FusedMatMul`` and ``Gemm``
  nodes (shapes from the profile); elementwise, pooling, pad and scatter nodes count 0
  (they are memory-bound: their time is listed, their FLOPs are not);
- **GFLOP/s** achieved: GFLOP / the stage's summed node time;
- **non-graph stages**: prepare (decode, resize, masks), smooth (``--smooth exact``:
  the matting solve; 0 for ``fast``) and upsample (guided upsampling back to the
  content's size when it exceeds the working size; ``--scale`` enlarges the content to
  exercise it).

Stages are assigned from the execution order: a ``Conv`` is the encoder's or a decoder's by
its weight shape (the two sets are disjoint); a ``conv1_1`` starts an encoder pass; the
nodes between an encoder pass and the next decoder are that level's WCT; after the
last decoder, the guided filter.

Example:
    python tools/profile_photoreal.py --pair 1 [--model photowct.onnx] [--scale 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impasto.runtime.io.images import read_image  # noqa: E402

#: Encoder convolution weight shapes (VGG16 to conv4_1); decoders use none of them.
ENCODER_WEIGHTS = {(64, 3, 3, 3): "conv1_1", (64, 64, 3, 3): "conv1_2", (128, 64, 3, 3): "conv2_1",
                   (128, 128, 3, 3): "conv2_2", (256, 128, 3, 3): "conv3_1", (256, 256, 3, 3): "conv3_x",
                   (512, 256, 3, 3): "conv4_1"}
#: A decoder's first convolution names its level.
DECODER_FIRST = {(256, 512, 1, 1): "relu4_1", (128, 256, 3, 3): "relu3_1", (64, 128, 3, 3): "relu2_1",
                 (32, 64, 3, 3): "relu1_1"}
#: Encoder passes by their number of convolutions.
PASS_LEVEL = {8: "relu4_1", 5: "relu3_1", 3: "relu2_1", 1: "relu1_1"}


def shared_dir() -> Path:
    return Path(os.environ.get("IMPASTO_SHARED", ROOT.parent / "shared"))


def _shapes(event: dict, key: str) -> list[tuple[int, ...]]:
    return [tuple(next(iter(d.values()))) for d in event["args"].get(key, [])]


def node_flops(event: dict) -> float:
    """Multiply-adds x 2 of a Conv / (Fused)MatMul / Gemm node from its profiled shapes; 0 for other ops."""
    op = event["args"]["op_name"]
    ins, outs = _shapes(event, "input_type_shape"), _shapes(event, "output_type_shape")
    if not ins or not outs:
        return 0.0
    out = outs[0]
    if op in ("Conv", "FusedConv") and len(ins) > 1 and len(ins[1]) == 4:
        _, cin_g, kh, kw = ins[1]
        return 2.0 * float(np.prod(out)) * cin_g * kh * kw
    if op in ("MatMul", "FusedMatMul", "Gemm") and len(ins) > 1 and len(out) >= 2:
        a = ins[0]
        batch_a = float(np.prod(a[:-2])) if len(a) > 2 else 1.0
        k = float(np.prod(a)) / batch_a / out[-2]  # A holds M x K per batch, transposed or not
        return 2.0 * float(np.prod(out)) * k
    return 0.0


def assign_stages(events: list[dict], graph) -> list[tuple[str, dict]]:
    """``(stage, event)`` for every node event, from the optimised graph's data flow (see the module docstring).

    Args:
        events: the profile's node events (their names are the optimised graph's node names).
        graph: the optimised ``onnx.GraphProto`` ONNX Runtime ran (``optimized_model_filepath``).
    """
    weights = {e["name"][: -len("_kernel_time")]: tuple(_shapes(e, "input_type_shape")[1])
               for e in events if e["args"]["op_name"] in ("Conv", "FusedConv")
               and len(_shapes(e, "input_type_shape")) > 1}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    up: dict[str, frozenset[str]] = {}
    reaches_style: dict[str, bool] = {}

    for n in graph.node:  # nearest Conv ancestors; ONNX lists nodes in topological order
        parents = [producer[i] for i in n.input if i in producer]
        got: set[str] = set()
        for p in parents:
            got |= {p.name} if p.name in weights else up[p.name]
        up[n.name] = frozenset(got)
        reaches_style[n.name] = "style" in n.input or any(reaches_style[p.name] for p in parents
                                                           if p.name not in weights)
    stage: dict[str, str] = {}
    passes: dict[str, list[str]] = {}
    for n in graph.node:
        if n.name not in weights:
            continue
        w = weights[n.name]
        kind = "encoder" if w in ENCODER_WEIGHTS else "decoder"  # unpooling also reads the encoder's switches
        same = sorted(c for c in up[n.name] if stage[c].startswith(kind))
        parent = same[0] if same else None
        if w in ENCODER_WEIGHTS:
            if ENCODER_WEIGHTS[w] == "conv1_1":
                who = "style" if reaches_style[n.name] else ("content" if not up[n.name] else "re-encode")
                stage[n.name] = f"encoder {who} #{len(passes)}"
                passes[stage[n.name]] = []
            else:
                stage[n.name] = stage[parent]
            passes[stage[n.name]].append(n.name)
        elif parent is None:
            stage[n.name] = f"decoder {DECODER_FIRST[w]}"
        else:
            stage[n.name] = stage[parent]
    names = {s: f"{s.split(' #')[0]} ->{PASS_LEVEL.get(len(v), f'{len(v)} convs')}" for s, v in passes.items()}
    down: dict[str, frozenset[str]] = {}
    for n in reversed(graph.node):  # nearest Conv descendants
        got = set()
        for o in n.output:
            for c in consumers.get(o, []):
                got |= {c.name} if c.name in weights else down.get(c.name, frozenset())
        down[n.name] = frozenset(got)
    for n in graph.node:
        if n.name in stage:
            continue
        before = {stage[c] for c in up[n.name]}
        after = {stage[c] for c in down[n.name]}
        if not after:
            stage[n.name] = "guided filter"
        elif len(before) == 1 and before <= after:  # inside a stage (max-pooling also feeds the unpooling)
            stage[n.name] = next(iter(before))
        elif len(after) == 1 and after <= before:  # unpooling: the decoder's values, the encoder's switches
            stage[n.name] = next(iter(after))
        elif any(s.startswith("decoder") for s in after) and not after & before:
            stage[n.name] = "wct " + min(after).split()[1] if len(after) == 1 else "other"
        else:
            stage[n.name] = "other"
    out = []
    for e in events:
        s = stage.get(e["name"][: -len("_kernel_time")], "other")
        out.append((names.get(s, s), e))
    return out


def load_pair(data: Path, pair: int, scale: float) -> dict[str, np.ndarray]:
    """Content, style and masks of a DPST pair; masks a pixel off their image are resized (nearest)."""
    import cv2

    images = {"content": read_image(data / f"content/in{pair}.jpg"), "style": read_image(data / f"style/tar{pair}.jpg"),
              "content_mask": read_image(data / f"segmentation/in{pair}.png"),
              "style_mask": read_image(data / f"segmentation/tar{pair}.png")}
    for key, img in (("content_mask", "content"), ("style_mask", "style")):
        h, w = images[img].shape[:2]
        if images[key].shape[:2] != (h, w):
            images[key] = cv2.resize(images[key], (w, h), interpolation=cv2.INTER_NEAREST)
    if scale != 1:
        h, w = images["content"].shape[:2]
        size = (round(w * scale), round(h * scale))
        images["content"] = cv2.resize(images["content"], size, interpolation=cv2.INTER_CUBIC)
        images["content_mask"] = cv2.resize(images["content_mask"], size, interpolation=cv2.INTER_NEAREST)
    return images


def profile_graph(model: Path, feed: dict[str, np.ndarray], threads: int) -> tuple[list[dict], Any, float]:
    """Node events (execution order) of one profiled run, the optimised graph that ran and the run's wall seconds."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = threads
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "photowct")
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        t0 = time.perf_counter()
        sess.run(None, feed)
        wall = time.perf_counter() - t0
        trace = json.loads(Path(sess.end_profiling()).read_text())
        graph = onnx.load(str(Path(tmp) / "optimized.onnx"), load_external_data=False).graph
    events = [e for e in trace if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    return sorted(events, key=lambda e: e["ts"]), graph, wall


def stage_table(stages: list[tuple[str, dict]]) -> OrderedDict[str, dict[str, float]]:
    table: OrderedDict[str, dict[str, float]] = OrderedDict()
    for stage, e in stages:
        row = table.setdefault(stage, {"ms": 0.0, "gflop": 0.0, "nodes": 0})
        row["ms"] += e["dur"] / 1e3
        row["gflop"] += node_flops(e) / 1e9
        row["nodes"] += 1
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="exported photowct graph (default: the built-in one)")
    p.add_argument("--data", type=Path, default=shared_dir() / "data/photoreal/dpst")
    p.add_argument("--pair", type=int, default=1, help="DPST pair number")
    p.add_argument("--scale", type=float, default=1.0, help="enlarge the content (cubic) by this factor")
    p.add_argument("--work-size", default="auto", help="working size (pipeline default: auto)")
    p.add_argument("--smooth", default="fast", choices=("fast", "exact"))
    p.add_argument("--no-masks", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--top", type=int, default=0, help="also list the N slowest nodes with their stage")
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = p.parse_args(argv)

    from impasto.runtime.pipelines.photoreal import WCTStylizer, _to_working_size, resolve_graph
    from impasto.runtime.pipelines.tensors import image_to_nchw

    images = load_pair(args.data, args.pair, args.scale)
    masks = {} if args.no_masks else {k: images[k] for k in ("content_mask", "style_mask")}
    model = resolve_graph(args.model, "photowct")
    stylizer = WCTStylizer.load(model, method="photowct", backend="ort-cpu", threads=args.threads)
    run = stylizer.run(images["content"], images["style"], smooth=args.smooth, work_size=args.work_size, **masks)
    # the graph's own feed, as run() builds it at the working size
    work_hw = tuple(run["work_size"])
    content, cmask = images["content"], masks.get("content_mask")
    if work_hw != content.shape[:2]:
        content, cmask = _to_working_size(content, cmask, work_hw)
    max_px = None if work_hw == tuple(run["size"]) else max(work_hw[0] * work_hw[1], 512 * 512)
    style, cm, sm, _ = stylizer._mask_feeds(content, images["style"], cmask, masks.get("style_mask"), max_px)
    stylizer.close()
    feed = {"content": image_to_nchw(content), "style": image_to_nchw(style), "content_mask": cm,
            "style_mask": sm, "alpha": np.array([1.0], np.float32)}
    events, graph, wall = profile_graph(model, feed, args.threads)
    stages = assign_stages(events, graph)
    table = stage_table(stages)
    total_ms = sum(r["ms"] for r in table.values())
    print(f"photowct profile: pair {args.pair}, content {run['size'][1]}x{run['size'][0]}, working size "
          f"{work_hw[1]}x{work_hw[0]}, style {style.shape[1]}x{style.shape[0]}, labels {cm.shape[1]}, "
          f"graph wall {wall:.2f} s (profiled run), node time {total_ms / 1e3:.2f} s\n")
    print("| stage | ms | share | GFLOP | GFLOP/s | nodes |\n|---|---:|---:|---:|---:|---:|")
    for stage, r in table.items():
        rate = r["gflop"] / (r["ms"] / 1e3) if r["ms"] and r["gflop"] else 0.0
        print(f"| {stage} | {r['ms']:.0f} | {100 * r['ms'] / total_ms:.1f} % | {r['gflop']:.2f} | "
              f"{rate:.1f} | {r['nodes']} |")
    gflop = sum(r["gflop"] for r in table.values())
    print(f"| **graph total** | {total_ms:.0f} | 100 % | {gflop:.2f} | {gflop / (total_ms / 1e3):.1f} | "
          f"{sum(r['nodes'] for r in table.values())} |")
    if args.top:
        print("\n| slowest nodes | stage | op | ms | input shapes |\n|---|---|---|---:|---|")
        for stage, e in sorted(stages, key=lambda se: -se[1]["dur"])[: args.top]:
            shapes = " ".join("x".join(map(str, s)) for s in _shapes(e, "input_type_shape")[:2])
            print(f"| {e['name'][: -len('_kernel_time')]} | {stage} | {e['args']['op_name']} | "
                  f"{e['dur'] / 1e3:.0f} | {shapes} |")
    sec = run["seconds"]
    print("\n| pipeline stage (WCTStylizer.run, unprofiled) | s |\n|---|---:|")
    for key in ("prepare", "graph", "smooth", "upsample", "total"):
        print(f"| {key} | {sec[key]:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"pair": args.pair, "size": run["size"], "work_size": list(work_hw),
                                         "style_size": list(style.shape[:2]), "labels": int(cm.shape[1]),
                                         "graph_wall_s": wall, "stages": table, "pipeline_seconds": sec}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
