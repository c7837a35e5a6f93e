"""``impasto convert torch7 MODEL.t7 -o OUT.onnx``: Johnson's original ``fast-neural-style`` Torch7 models.

The source is a checkpoint of jcjohnson/fast-neural-style (``{model = nn.Sequential,
opt = {preprocessing = 'vgg' | 'resnet', ...}}``, ``torch.save`` binary format) read
with the pure-Python ``torchfile`` (the ``[train]`` extra): no Lua code runs. Every
layer of the chain is mapped to a PyTorch module (:mod:`impasto.models.torch7`); a
layer of another kind, a missing field, a weight of the wrong shape or a channel count
that does not follow is refused, naming the layer by its path (``model.modules[4]``).

Convention:
    See :class:`impasto.models.torch7.Torch7Graph`. The upstream script's optional
    3x3 median filter on the output (``-median_filter``) is not part of the graph.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torchfile

from impasto.errors import ModelError
from impasto.export.convert.common import source_card
from impasto.export.convert.single_image import convert_one, stylize_plan
from impasto.export.pipeline import ExportPlan

FORMAT = "torch7"
UPSTREAM = "jcjohnson/fast-neural-style (Torch7, fast_neural_style/models.lua)"
CONVENTIONS = {"vgg": "BGR 0-255 minus the caffe mean (103.939, 116.779, 123.68), NCHW",
               "resnet": "RGB [0, 1] minus the ImageNet mean, divided by its std, NCHW"}


def _get(obj: Any, name: str, where: str) -> Any:
    value = obj[name] if isinstance(obj, torchfile.TorchObject) else None
    if value is None:
        raise ModelError(f"{where}: missing field {name!r} of {_kind(obj)}")
    return value


def _kind(obj: Any) -> str:
    if isinstance(obj, torchfile.TorchObject):
        return obj.torch_typename().decode("latin-1")
    return "a table" if isinstance(obj, dict) else type(obj).__name__


def _tensor(obj: Any, name: str, where: str, shape: tuple[int, ...], legacy: tuple[int, ...] | None = None) -> Any:
    """A float32 tensor of ``shape`` (also accepted: the older ``legacy`` layout of the same numbers)."""
    import torch

    value = _get(obj, name, where)
    if not isinstance(value, np.ndarray) or tuple(value.shape) not in (shape, legacy):
        got = tuple(value.shape) if isinstance(value, np.ndarray) else type(value).__name__
        raise ModelError(f"{where}.{name}: expected shape {shape}, got {got}")
    return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).reshape(shape)


def _conv(obj: Any, where: str, cin: int, transposed: bool) -> tuple[Any, int]:
    from torch import nn

    nin, nout = int(_get(obj, "nInputPlane", where)), int(_get(obj, "nOutputPlane", where))
    if nin != cin:
        raise ModelError(f"{where}: expected {cin} input channels, got nInputPlane {nin}")
    k = (int(_get(obj, "kH", where)), int(_get(obj, "kW", where)))
    stride, pad = (int(_get(obj, "dH", where)), int(_get(obj, "dW", where))), (int(obj["padH"] or 0),
                                                                               int(obj["padW"] or 0))
    has_bias = obj["bias"] is not None
    if transposed:
        adj = (int(obj["adjH"] or 0), int(obj["adjW"] or 0))
        layer = nn.ConvTranspose2d(nin, nout, k, stride, pad, output_padding=adj, bias=has_bias)
    else:
        layer = nn.Conv2d(nin, nout, k, stride, pad, bias=has_bias)
    shape = tuple(layer.weight.shape)
    legacy = None if transposed else (nout, nin * k[0] * k[1])  # nn.SpatialConvolution before 2016
    layer.weight.data.copy_(_tensor(obj, "weight", where, shape, legacy))
    if has_bias:
        layer.bias.data.copy_(_tensor(obj, "bias", where, (nout,)))
    return layer, nout


def _norm(obj: Any, where: str, cin: int, batch: bool) -> tuple[Any, int]:
    from torch import nn

    eps = float(obj["eps"] or 1e-5)
    affine = obj["weight"] is not None
    if batch:
        if obj["running_var"] is None:
            raise ModelError(f"{where}: missing field 'running_var' of {_kind(obj)} (old running_std files "
                             "are not supported)")
        layer = nn.BatchNorm2d(cin, eps=eps, affine=affine).eval()
        layer.running_mean.copy_(_tensor(obj, "running_mean", where, (cin,)))
        layer.running_var.copy_(_tensor(obj, "running_var", where, (cin,)))
    else:
        layer = nn.InstanceNorm2d(cin, eps=eps, affine=affine)
    if affine:
        layer.weight.data.copy_(_tensor(obj, "weight", where, (cin,)))
        layer.bias.data.copy_(_tensor(obj, "bias", where, (cin,)))
    return layer, cin


def _simple(obj: Any, where: str, kind: str) -> Any:
    from torch import nn

    from impasto.models import torch7 as t7

    if kind in ("SpatialReflectionPadding", "SpatialReplicationPadding"):
        pads = [int(_get(obj, f"pad_{s}", where)) for s in ("l", "r", "t", "b")]
        return t7.Pad(*pads, mode="reflect" if kind == "SpatialReflectionPadding" else "replicate")
    if kind == "ReLU":
        if float(obj["threshold"] or 0) != 0 or float(obj["val"] or 0) != 0:
            raise ModelError(f"{where}: expected a plain nn.ReLU (threshold 0, value 0)")
        return nn.ReLU()
    if kind == "MulConstant":
        return t7.Scale(float(_get(obj, "constant_scalar", where)))
    if kind == "ShaveImage":
        return t7.Shave(int(_get(obj, "size", where)))
    if kind == "SpatialUpSamplingNearest":
        return nn.Upsample(scale_factor=float(_get(obj, "scale_factor", where)), mode="nearest")
    return {"Tanh": nn.Tanh, "TotalVariation": nn.Identity, "Identity": nn.Identity}[kind]()


_SIMPLE = ("SpatialReflectionPadding", "SpatialReplicationPadding", "ReLU", "MulConstant", "ShaveImage",
           "SpatialUpSamplingNearest", "Tanh", "TotalVariation", "Identity")
_WEIGHTED: dict[str, Callable[[Any, str, int], tuple[Any, int]]] = {
    "SpatialConvolution": lambda o, w, c: _conv(o, w, c, transposed=False),
    "SpatialFullConvolution": lambda o, w, c: _conv(o, w, c, transposed=True),
    "InstanceNormalization": lambda o, w, c: _norm(o, w, c, batch=False),
    "SpatialBatchNormalization": lambda o, w, c: _norm(o, w, c, batch=True),
}


def build_layer(obj: Any, where: str, cin: int) -> tuple[Any, int]:
    """One Torch7 layer (or container) as a PyTorch module, and its output channels.

    Raises:
        ModelError: a layer kind outside the upstream models' set, a missing field, a
            wrong shape or channel count; the message names the layer's path.
    """
    full = _kind(obj)
    kind = full.split(".", 1)[-1]
    if full.split(".")[0] not in ("nn", "cudnn") or not (kind in _SIMPLE or kind in _WEIGHTED or kind == "Sequential"):
        supported = ", ".join(sorted({*_SIMPLE, *_WEIGHTED, "Sequential", "ConcatTable + CAddTable"}))
        raise ModelError(f"{where}: unsupported layer {full}; expected one of nn.{{{supported}}}")
    if kind == "Sequential":
        return build_sequential(_get(obj, "modules", where), f"{where}.modules", cin)
    if kind in _WEIGHTED:
        return _WEIGHTED[kind](obj, where, cin)
    return _simple(obj, where, kind), cin


def build_sequential(modules: Any, where: str, cin: int) -> tuple[Any, int]:
    """An ``nn.Sequential``'s list of layers; a ``ConcatTable`` must be followed by a ``CAddTable``."""
    from torch import nn

    from impasto.models.torch7 import BranchSum

    if not isinstance(modules, list):
        raise ModelError(f"{where}: expected a list of layers, got {type(modules).__name__}")
    layers, i = [], 0
    while i < len(modules):
        obj, at = modules[i], f"{where}[{i}]"
        if _kind(obj).endswith(".ConcatTable"):
            if i + 1 == len(modules) or not _kind(modules[i + 1]).endswith(".CAddTable"):
                raise ModelError(f"{at}: expected nn.ConcatTable followed by nn.CAddTable (a residual block)")
            branches = [build_layer(b, f"{at}.modules[{j}]", cin) for j, b in enumerate(_get(obj, "modules", at))]
            if not branches or len({c for _, c in branches}) != 1:
                raise ModelError(f"{at}: expected branches with the same output channels, got "
                                 f"{[c for _, c in branches]}")
            layers.append(BranchSum([m for m, _ in branches]))
            cin, i = branches[0][1], i + 2
            continue
        layer, cin = build_layer(obj, at, cin)
        layers.append(layer)
        i += 1
    return nn.Sequential(*layers), cin


def read_checkpoint(path: str | os.PathLike) -> tuple[Any, str]:
    """The ``model`` of a fast-neural-style ``.t7`` checkpoint and its preprocessing name.

    Raises:
        ModelError: no such file, not a Torch7 file, or not a ``{model, opt}`` checkpoint.
    """
    p, what = Path(path), f"{FORMAT} checkpoint {str(path)!r}"
    if not p.is_file():
        raise ModelError(f"{FORMAT} checkpoint: expected a file, got {str(p)!r} (no such file)")
    try:
        top = torchfile.load(str(p))
    except Exception as exc:  # any reader failure (truncated, another format) is the file's fault
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"{what}: cannot read as a Torch7 file ({type(exc).__name__}: {reason})") from None
    model = top.get(b"model") if isinstance(top, dict) else None
    if not isinstance(model, torchfile.TorchObject):
        raise ModelError(f"{what}: expected a fast-neural-style checkpoint (a table with a 'model' layer), "
                         f"got {_kind(top)} without one")
    opt = top.get(b"opt") if isinstance(top.get(b"opt"), dict) else {}
    pre = opt.get(b"preprocessing") or b"vgg"  # the upstream script's default
    pre = pre.decode("latin-1") if isinstance(pre, bytes) else str(pre)
    if pre not in CONVENTIONS:
        raise ModelError(f"{what}: opt.preprocessing: expected one of {sorted(CONVENTIONS)}, got {pre!r}")
    return model, pre


def load_network(path: str | os.PathLike) -> tuple[Any, str]:
    """The checkpoint's network as a PyTorch chain (eval mode, float32) and its preprocessing name.

    Raises:
        ModelError: see :func:`read_checkpoint` and :func:`build_layer`; also a chain that
            does not end in 3 channels.
    """
    model, pre = read_checkpoint(path)
    try:
        net, channels = build_layer(model, "model", 3)
    except ModelError as exc:
        raise ModelError(f"{FORMAT} checkpoint {str(path)!r}: {exc}") from None
    except (AttributeError, TypeError, ValueError, KeyError, RuntimeError) as exc:  # a malformed layer table
        reason = (str(exc).splitlines() or [""])[0][:200]
        raise ModelError(f"{FORMAT} checkpoint {str(path)!r}: cannot map the network "
                         f"({type(exc).__name__}: {reason})") from None
    if channels != 3:
        raise ModelError(f"{FORMAT} checkpoint {str(path)!r}: expected a network ending in 3 channels, got {channels}")
    return net.float().eval(), pre


def _check_output_size(graph: Any, path: str | os.PathLike) -> None:
    """Refuse a network whose output is smaller than its input (the crop needs at least the input's size)."""
    import torch

    x = torch.rand(1, 3, 67, 91)
    with torch.no_grad():
        y = graph.net(x)
    if y.shape[2] < 67 or y.shape[3] < 91:
        raise ModelError(f"{FORMAT} checkpoint {str(path)!r}: expected an output at least the input's size, "
                         f"got {tuple(y.shape[2:])} for 67x91")


def plan_for(path: str | os.PathLike, *, license: str | None, command: str) -> ExportPlan:
    """The export plan of one ``.t7`` checkpoint."""
    from impasto.models.torch7 import Torch7Graph

    net, pre = load_network(path)
    graph = Torch7Graph(net, pre).eval()
    _check_output_size(graph, path)
    card = source_card(FORMAT, [path], upstream=UPSTREAM, input_convention=CONVENTIONS[pre], license=license,
                       command=command, preprocessing=pre,
                       wrapper=f"RGB [0, 1] -> {pre} preprocessing in; its inverse, crop to the input size, "
                               "clamp [0, 1] out; the upstream's optional median filter is not applied")
    return stylize_plan("fast-neural-style-torch7", graph, path, card=card, noun="a Torch7 fast-neural-style network",
                        upstream=UPSTREAM)


def convert(sources: Sequence[str | os.PathLike], output: str | os.PathLike, *, license: str | None = None,
            command: str = "", **options: Any) -> dict[str, Any]:
    """Convert one ``.t7`` checkpoint to a checked ``stylize`` graph (nothing written unless parity holds).

    Raises:
        UserError: not exactly one source, or unknown options.
        ModelError: the source is not a fast-neural-style Torch7 checkpoint this reader maps.
        ExportError: the export or its parity check failed.
    """
    return convert_one(FORMAT, ".t7 checkpoint", sources, output, options,
                       lambda path: plan_for(path, license=license, command=command))
