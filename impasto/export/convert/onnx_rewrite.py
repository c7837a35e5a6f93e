"""Graph surgery for ``impasto convert onnx``: read a foreign graph, upgrade its opset, relax its dims, wrap it.

Convention:
    A foreign style graph has one float image input and one float image output of rank 4
    in its own :class:`SourceConvention` (layout, channel order, value range). The wrapped
    graph follows :data:`impasto.contracts.STYLIZE`: ``image`` float32 NCHW RGB in
    ``[0, 1]`` -> ``stylized`` float32 NCHW RGB clamped to ``[0, 1]``; the conversion is
    nodes prepended (``Gather`` channel reversal, ``Mul`` by the range, ``Transpose``) and
    appended (``Transpose``, ``Gather``, ``Div`` by the range, ``Min``/``Max`` clamp, and
    for dynamic sizes a ``Slice`` back to the image's size).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.errors import ModelError
from impasto.export.graph import one_line

if TYPE_CHECKING:
    import onnx

#: The opset converted graphs are upgraded to (impasto's export default) where the source is older.
TARGET_OPSET = 18
RANGES = {"0-1": 1.0, "0-255": 255.0}
LAYOUTS = ("nchw", "nhwc")
CHANNELS = ("rgb", "bgr")
IMAGE, STYLIZED = "image", "stylized"


@dataclass(frozen=True)
class SourceConvention:
    """What the foreign graph expects and returns (the same for its input and its output).

    Attributes:
        range: ``"0-1"`` or ``"0-255"``.
        layout: ``"nchw"`` or ``"nhwc"``.
        channels: ``"rgb"`` or ``"bgr"``.
    """

    range: str = "0-255"
    layout: str = "nchw"
    channels: str = "rgb"

    @property
    def high(self) -> float:
        return RANGES[self.range]

    @property
    def spatial_axes(self) -> tuple[int, int]:
        """The source's (height, width) axes."""
        return (2, 3) if self.layout == "nchw" else (1, 2)

    @property
    def channel_axis(self) -> int:
        return 1 if self.layout == "nchw" else 3

    def describe(self) -> str:
        return f"{self.channels.upper()} {self.range}, {self.layout.upper()}"

    def to_source_dims(self, nchw: list[Any]) -> list[Any]:
        """NCHW dims in the source's layout."""
        n, c, h, w = nchw
        return [n, c, h, w] if self.layout == "nchw" else [n, h, w, c]

    def to_source(self, image: np.ndarray) -> np.ndarray:
        """A float32 NCHW RGB ``[0, 1]`` batch in the source's convention."""
        x = image[:, ::-1] if self.channels == "bgr" else image
        x = x * np.float32(self.high)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if self.layout == "nhwc" else x, dtype=np.float32)

    def from_source(self, y: np.ndarray) -> np.ndarray:
        """The source's output as float32 NCHW RGB clamped to ``[0, 1]`` (what the wrapped graph returns)."""
        y = y.transpose(0, 3, 1, 2) if self.layout == "nhwc" else y
        y = y[:, ::-1] if self.channels == "bgr" else y
        return np.clip(y / np.float32(self.high), 0.0, 1.0).astype(np.float32)


def check_convention(range_: str, layout: str, channels: str) -> SourceConvention:
    """The convention from the CLI's words.

    Raises:
        ModelError: an unknown range, layout or channel order.
    """
    for flag, value, allowed in (("--input-range", range_, tuple(RANGES)), ("--layout", layout, LAYOUTS),
                                 ("--channels", channels, CHANNELS)):
        if value not in allowed:
            raise ModelError(f"{flag}: expected one of {list(allowed)}, got {value!r}")
    return SourceConvention(range_, layout, channels)


def read_graph(path: str | os.PathLike) -> onnx.ModelProto:
    """The foreign graph, checked by ``onnx.checker``.

    Raises:
        ModelError: no such file, not an ONNX model, or a graph the checker refuses; one line.
    """
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"onnx source: expected an ONNX file, got {str(p)!r} (no such file)")
    try:
        model = onnx.load(str(p))
    except Exception as exc:
        raise ModelError(f"onnx source {str(p)!r}: not an ONNX model ({type(exc).__name__}: "
                         f"{one_line(exc, 200)})") from None
    if not model.graph.node:
        raise ModelError(f"onnx source {str(p)!r}: not an ONNX model (no graph nodes)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"onnx source {str(p)!r}: the graph fails onnx.checker: {one_line(exc, 300)}") from None
    return model


def _dims(vi: onnx.ValueInfoProto) -> list[Any]:
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in vi.type.tensor_type.shape.dim]


def image_io(model: onnx.ModelProto, conv: SourceConvention, where: str) -> tuple[str, str, list[Any]]:
    """``(input name, output name, input dims)`` of a one-image-in, one-image-out graph.

    Raises:
        ModelError: not exactly one input and one output, not float32, not rank 4, or a
            fixed channel dim other than 3 on the ``--layout`` axis.
    """
    import onnx

    consts = {i.name for i in model.graph.initializer}
    ins = [vi for vi in model.graph.input if vi.name not in consts]
    outs = list(model.graph.output)
    for kind, values in (("input", ins), ("output", outs)):
        if len(values) != 1:
            raise ModelError(f"{where}: expected one image {kind}, got {len(values)} "
                             f"({[vi.name for vi in values]}); impasto convert onnx takes image-to-image graphs")
        vi = values[0]
        elem, dims = vi.type.tensor_type.elem_type, _dims(vi)
        if elem != onnx.TensorProto.FLOAT or len(dims) != 4:
            raise ModelError(f"{where}: expected {kind} {vi.name!r} float32 of rank 4, got "
                             f"{onnx.TensorProto.DataType.Name(elem)} of shape {dims}")
        c = dims[conv.channel_axis]
        if isinstance(c, int) and c != 3:
            raise ModelError(f"{where}: {kind} {vi.name!r} has shape {dims}: expected 3 channels on axis "
                             f"{conv.channel_axis} for --layout {conv.layout}")
    return ins[0].name, outs[0].name, _dims(ins[0])


def upgrade_opset(model: onnx.ModelProto, target: int = TARGET_OPSET) -> tuple[onnx.ModelProto, str | None]:
    """The model at ``target`` where ONNX's version converter can take it there; else as it was, and why not."""
    import onnx
    from onnx import version_converter

    from impasto.export.graph import opset_of

    source = opset_of(model) or 1
    if source >= target:
        return model, None
    try:
        upgraded = version_converter.convert_version(model, target)
        upgraded.ir_version = max(upgraded.ir_version,
                                  onnx.helper.find_min_ir_version_for(list(upgraded.opset_import)))
        onnx.checker.check_model(upgraded)
    except Exception as exc:
        return model, f"onnx.version_converter cannot take opset {source} to {target} ({one_line(exc, 200)})"
    return upgraded, None


def with_dims(model: onnx.ModelProto, conv: SourceConvention, nchw: list[Any]) -> onnx.ModelProto:
    """A copy whose image input has ``nchw`` dims (in the source layout) and whose output has rank-4 dims
    of unknown size; inferred value shapes are dropped (they may hold the old sizes)."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    consts = {i.name for i in out.graph.initializer}
    vi = next(v for v in out.graph.input if v.name not in consts)
    _set_dims(vi, conv.to_source_dims(nchw))
    _set_dims(out.graph.output[0], [None] * 4)
    del out.graph.value_info[:]
    return out


def _set_dims(vi: onnx.ValueInfoProto, dims: list[Any]) -> None:
    shape = vi.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        elif d is not None:
            dim.dim_value = int(d)


def wrap(model: onnx.ModelProto, conv: SourceConvention, nchw: list[Any]) -> onnx.ModelProto:
    """The graph with ``image`` -> source convention -> the graph -> NCHW RGB ``[0, 1]`` -> ``stylized``.

    Where the size is dynamic, ``stylized`` is cropped to the image's size (``Slice``, opset >= 10):
    a stride-2 network returns up to a few pixels more on odd sides (131 -> 66 -> 33 -> 132).

    Args:
        model: the (relaxed) source graph.
        nchw: the ``image`` dims (``stylized`` gets the same).
    """
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    consts = {i.name for i in g.initializer}
    src_in = next(v for v in g.input if v.name not in consts).name
    src_out = g.output[0].name
    names = {src_in: _unique(model, "impasto_source_input"), src_out: _unique(model, "impasto_source_output")}
    names.update({n: _unique(model, f"impasto_source_{n}") for n in (IMAGE, STYLIZED) if n not in names})
    _rename(g, names)
    new_in, new_out = names[src_in], names[src_out]
    pre, post, inits = _convention_nodes(conv, new_in, new_out, crop=isinstance(nchw[2], str))
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    nodes = [*pre, *g.node, *post]
    del g.node[:]
    g.node.extend(nodes)
    keep = [v for v in g.input if v.name in consts]
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info(IMAGE, onnx.TensorProto.FLOAT, nchw), *keep])
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(STYLIZED, onnx.TensorProto.FLOAT, nchw))
    return model


def _convention_nodes(conv: SourceConvention, src_in: str, src_out: str,
                      crop: bool) -> tuple[list[Any], list[Any], dict]:
    """Nodes from ``image`` to ``src_in`` and from ``src_out`` to ``stylized`` (cropped to the image's size
    where ``crop``), and their constants."""
    from onnx import helper

    inits = {"impasto_range": np.array(conv.high, np.float32), "impasto_zero": np.array(0.0, np.float32),
             "impasto_one": np.array(1.0, np.float32), "impasto_reverse": np.array([2, 1, 0], np.int64)}
    pre, x = [], IMAGE
    steps_in: list[tuple[str, list[str], dict[str, Any]]] = []
    if conv.channels == "bgr":
        steps_in.append(("Gather", ["impasto_reverse"], {"axis": 1}))
    steps_in.append(("Mul", ["impasto_range"], {}))
    if conv.layout == "nhwc":
        steps_in.append(("Transpose", [], {"perm": [0, 2, 3, 1]}))
    for i, (op, extra, attrs) in enumerate(steps_in):
        y = src_in if i == len(steps_in) - 1 else f"impasto_in_{i}"
        pre.append(helper.make_node(op, [x, *extra], [y], name=f"impasto_in_{op.lower()}", **attrs))
        x = y
    steps_out: list[tuple[str, list[str], dict[str, Any]]] = []
    if conv.layout == "nhwc":
        steps_out.append(("Transpose", [], {"perm": [0, 3, 1, 2]}))
    if conv.channels == "bgr":
        steps_out.append(("Gather", ["impasto_reverse"], {"axis": 1}))
    steps_out += [("Div", ["impasto_range"], {}), ("Min", ["impasto_one"], {}), ("Max", ["impasto_zero"], {})]
    post, x = [], src_out
    if crop:
        inits.update(impasto_hw_axes=np.array([2, 3], np.int64), impasto_hw_starts=np.array([0, 0], np.int64))
        post += [helper.make_node("Shape", [IMAGE], ["impasto_image_shape"], name="impasto_image_shape"),
                 helper.make_node("Gather", ["impasto_image_shape", "impasto_hw_axes"], ["impasto_image_hw"],
                                  name="impasto_image_hw", axis=0)]
        steps_out.append(("Slice", ["impasto_hw_starts", "impasto_image_hw", "impasto_hw_axes"], {}))
    for i, (op, extra, attrs) in enumerate(steps_out):
        y = STYLIZED if i == len(steps_out) - 1 else f"impasto_out_{i}"
        post.append(helper.make_node(op, [x, *extra], [y], name=f"impasto_out_{op.lower()}", **attrs))
        x = y
    used = {n for node in (*pre, *post) for n in node.input}
    return pre, post, {k: v for k, v in inits.items() if k in used}


def _unique(model: onnx.ModelProto, base: str) -> str:
    g = model.graph
    names = {n for node in g.node for n in (*node.input, *node.output)} | {v.name for v in g.input}
    names |= {i.name for i in g.initializer}
    name, i = base, 0
    while name in names:
        i += 1
        name = f"{base}_{i}"
    return name


def _rename(g: onnx.GraphProto, names: dict[str, str]) -> None:
    """Rename tensors in the graph's nodes, inputs and outputs (the new names must be unused)."""
    for node in g.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for vi in (*g.input, *g.output):
        vi.name = names.get(vi.name, vi.name)
