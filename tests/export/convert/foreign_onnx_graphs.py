"""Foreign-style ONNX graphs built with onnx.helper for the ``impasto convert onnx`` tests.

Like the ONNX model zoo's fast-neural-style graphs: a fixed 1x3x224x224 input in 0-255,
opset 9, Conv / InstanceNormalization / Relu / Upsample, the output clipped to 0-255.
Loaded by file path (the tests folders are not packages).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 224


def _init(rng: np.random.Generator, name: str, shape: tuple[int, ...], scale: float, offset: float = 0.0):
    return numpy_helper.from_array((offset + scale * rng.standard_normal(shape)).astype(np.float32), name)


def zoo_style(seed: int = 0, reshape: bool = False, opset: int = 9) -> onnx.ModelProto:
    """A small NCHW RGB 0-255 style network (stride-2 conv, instance norm, relu, nearest upsample, conv, clip).

    ``reshape``: a Reshape to a constant ``[1, 8, 112*112]`` and back bakes the size in.
    """
    rng = np.random.default_rng(seed)
    inits = [_init(rng, "w1", (8, 3, 3, 3), 0.05), _init(rng, "b1", (8,), 1.0),
             _init(rng, "gamma", (8,), 0.2, 1.0), _init(rng, "beta", (8,), 0.2),
             _init(rng, "w2", (3, 8, 3, 3), 20.0), _init(rng, "b2", (3,), 10.0, 128.0),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    nodes = [helper.make_node("Conv", ["input1", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("InstanceNormalization", ["c1", "gamma", "beta"], ["n1"], epsilon=1e-5),
             helper.make_node("Relu", ["n1"], ["r1"])]
    last = "r1"
    if reshape:
        half = SIZE // 2
        inits += [numpy_helper.from_array(np.array([1, 8, half * half], np.int64), "flat"),
                  numpy_helper.from_array(np.array([1, 8, half, half], np.int64), "square")]
        nodes += [helper.make_node("Reshape", ["r1", "flat"], ["f1"]), helper.make_node("Reshape", ["f1", "square"],
                                                                                         ["r2"])]
        last = "r2"
    nodes += [helper.make_node("Upsample", [last, "scales"], ["u1"], mode="nearest"),
              helper.make_node("Conv", ["u1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
              helper.make_node("Clip", ["c2"], ["output1"], min=0.0, max=255.0)]
    g = helper.make_graph(nodes, "zoo_style", [helper.make_tensor_value_info("input1", TensorProto.FLOAT,
                                                                              [1, 3, SIZE, SIZE])],
                          [helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, 3, SIZE, SIZE])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="zoo-like")
    model.ir_version = 4
    onnx.checker.check_model(model)
    return model


def nhwc_bgr(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same network taking and returning NHWC BGR: reverse channels, transpose, the network, back."""
    g = onnx.ModelProto()
    g.CopyFrom(model)
    graph = g.graph
    src_in, src_out = graph.input[0].name, graph.output[0].name
    rev = numpy_helper.from_array(np.array([2, 1, 0], np.int64), "rev")
    pre = [helper.make_node("Transpose", ["x_nhwc"], ["x_nchw_bgr"], perm=[0, 3, 1, 2]),
           helper.make_node("Gather", ["x_nchw_bgr", "rev"], [src_in], axis=1)]
    post = [helper.make_node("Gather", [src_out, "rev"], ["y_nchw_bgr"], axis=1),
            helper.make_node("Transpose", ["y_nchw_bgr"], ["y_nhwc"], perm=[0, 2, 3, 1])]
    nodes = [*pre, *graph.node, *post]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.append(rev)
    del graph.input[:], graph.output[:]
    graph.input.append(helper.make_tensor_value_info("x_nhwc", TensorProto.FLOAT, [1, SIZE, SIZE, 3]))
    graph.output.append(helper.make_tensor_value_info("y_nhwc", TensorProto.FLOAT, [1, SIZE, SIZE, 3]))
    onnx.checker.check_model(g)
    return g


def two_inputs() -> onnx.ModelProto:
    """An Add of two images: not an image-to-image graph."""
    dims = [1, 3, SIZE, SIZE]
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in ("a", "b")],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
