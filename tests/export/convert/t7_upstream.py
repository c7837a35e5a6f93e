"""Johnson's Torch7 fast-neural-style models as the tests know them: a ``.t7`` writer and a reference forward.

* :func:`save_t7` writes the Torch7 binary serialisation (``torch.save`` of Lua
  ``File:writeObject``: tagged nil/number/string/boolean/table/torch-class values,
  references by index, classes as ``"V 1"`` + class name + their field table, tensors as
  sizes, strides, a 1-based offset and a storage), enough for the layers of
  ``fast_neural_style/models.lua``.
* :func:`johnson_model` builds a randomly initialised checkpoint ``{model, opt}`` the way
  ``models.lua`` lays out an ``arch`` string (the layers and their Torch7 field names).
* :func:`reference_stylize` runs such a model the way ``fast_neural_style.lua`` does
  (``preprocess.lua``, ``model:forward``, deprocess), interpreting the layer tree directly.

Written for the tests from the upstream Lua sources; independent of impasto's converter.
Loaded by path (``--import-mode=importlib``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F


class Lua:
    """A Torch7 class instance: its class name and its fields."""

    def __init__(self, cls: str, fields: dict) -> None:
        self.cls, self.fields = cls, fields


class _Writer:
    def __init__(self, fh) -> None:
        self.fh, self.refs = fh, {}

    def _int(self, v: int) -> None:
        self.fh.write(struct.pack("<i", v))

    def _long(self, v: int) -> None:
        self.fh.write(struct.pack("<q", v))

    def _str(self, s: str | bytes) -> None:
        b = s.encode() if isinstance(s, str) else s
        self._int(len(b))
        self.fh.write(b)

    def _ref(self, obj, tag: int) -> bool:
        """Write the tag and index; True when the object was written before (a reference)."""
        self._int(tag)
        seen = id(obj) in self.refs
        self.refs.setdefault(id(obj), (len(self.refs) + 1, obj))
        self._int(self.refs[id(obj)][0])
        return seen

    def write(self, v) -> None:
        if v is None:
            self._int(0)
        elif isinstance(v, bool):
            self._int(5)
            self._int(int(v))
        elif isinstance(v, (int, float)):
            self._int(1)
            self.fh.write(struct.pack("<d", float(v)))
        elif isinstance(v, (str, bytes)):
            self._int(2)
            self._str(v)
        elif isinstance(v, (dict, list)):
            if not self._ref(v, 3):
                items = list(v.items()) if isinstance(v, dict) else [(i + 1, x) for i, x in enumerate(v)]
                self._int(len(items))
                for k, x in items:
                    self.write(k)
                    self.write(x)
        elif isinstance(v, np.ndarray):
            self._tensor(v)
        elif isinstance(v, Lua) and not self._ref(v, 4):
            self._str("V 1")
            self._str(v.cls)
            self.write(v.fields)

    def _tensor(self, a: np.ndarray) -> None:
        if self._ref(a, 4):
            return
        self._str("V 1")
        self._str("torch.FloatTensor")
        a = np.ascontiguousarray(a, dtype=np.float32)
        self._int(a.ndim)
        for s in a.shape:
            self._long(s)
        for s in a.strides:
            self._long(s // 4)
        self._long(1)
        storage = object()
        self._ref(storage, 4)
        self._str("V 1")
        self._str("torch.FloatStorage")
        self._long(a.size)
        self.fh.write(a.tobytes())


def save_t7(obj, path: Path) -> None:
    with open(path, "wb") as fh:
        _Writer(fh).write(obj)


def _rand(rng, *shape, scale=1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def conv(rng, cin, cout, k, s, p, legacy=False) -> Lua:
    w = _rand(rng, cout, cin, k, k, scale=(cin * k * k) ** -0.5)
    return Lua("nn.SpatialConvolution", {"nInputPlane": cin, "nOutputPlane": cout, "kW": k, "kH": k, "dW": s,
                                         "dH": s, "padW": p, "padH": p, "bias": _rand(rng, cout, scale=0.1),
                                         "weight": w.reshape(cout, -1) if legacy else w, "train": False})


def full_conv(rng, cin, cout) -> Lua:
    return Lua("nn.SpatialFullConvolution", {"nInputPlane": cin, "nOutputPlane": cout, "kW": 3, "kH": 3, "dW": 2,
                                             "dH": 2, "padW": 1, "padH": 1, "adjW": 1, "adjH": 1,
                                             "weight": _rand(rng, cin, cout, 3, 3, scale=(cin * 9) ** -0.5),
                                             "bias": _rand(rng, cout, scale=0.1)})


def norm(rng, c, batch) -> Lua:
    f = {"weight": (rng.random(c) + 0.5).astype(np.float32), "bias": _rand(rng, c, scale=0.2), "eps": 1e-5}
    if batch:
        f.update(running_mean=_rand(rng, c, scale=0.3), running_var=(rng.random(c) + 0.5).astype(np.float32),
                 affine=True, momentum=0.1)
        return Lua("nn.SpatialBatchNormalization", f)
    return Lua("nn.InstanceNormalization", {**f, "nOutput": c, "prev_N": -1})


def pad(p) -> Lua:
    return Lua("nn.SpatialReflectionPadding", {"pad_l": p, "pad_r": p, "pad_t": p, "pad_b": p})


def seq(*mods) -> Lua:
    return Lua("nn.Sequential", {"modules": list(mods), "train": False})


def relu() -> Lua:
    return Lua("nn.ReLU", {"threshold": 0, "val": 0, "inplace": True})


def res_block(rng, c, batch) -> Lua:
    body = seq(pad(1), conv(rng, c, c, 3, 1, 0), norm(rng, c, batch), relu(), pad(1), conv(rng, c, c, 3, 1, 0),
               norm(rng, c, batch))
    return seq(Lua("nn.ConcatTable", {"modules": [body, Lua("nn.Identity", {})]}), Lua("nn.CAddTable", {}))


def johnson_model(seed=0, width=32, blocks=5, batch=False, preprocessing="vgg", legacy_conv=False) -> dict:
    """``{model, opt}`` for arch ``c9s1-W,d2W,d4W,R4W x blocks,u2W,uW,c9s1-3`` (padding_type reflect)."""
    rng = np.random.default_rng(seed)
    w = width
    mods = [pad(4), conv(rng, 3, w, 9, 1, 0, legacy_conv), norm(rng, w, batch), relu(),
            conv(rng, w, 2 * w, 3, 2, 1), norm(rng, 2 * w, batch), relu(),
            conv(rng, 2 * w, 4 * w, 3, 2, 1), norm(rng, 4 * w, batch), relu(),
            *[res_block(rng, 4 * w, batch) for _ in range(blocks)],
            full_conv(rng, 4 * w, 2 * w), norm(rng, 2 * w, batch), relu(),
            full_conv(rng, 2 * w, w), norm(rng, w, batch), relu(),
            pad(4), conv(rng, w, 3, 9, 1, 0),
            Lua("nn.Tanh", {}), Lua("nn.MulConstant", {"constant_scalar": 150.0 if preprocessing == "vgg" else 1.5}),
            Lua("nn.TotalVariation", {"strength": 1e-6})]
    return {"model": seq(*mods), "opt": {"preprocessing": preprocessing, "use_instance_norm": int(not batch),
                                         "padding_type": "reflect"}}


def shaved_model(seed=0, front_pad=8) -> dict:
    """A small ``padding_type 'none'``-style chain: unpadded residual convolutions with a ``ShaveImage``
    shortcut, ``SpatialUpSamplingNearest``, replication padding and ``cudnn.*`` layer names; ``front_pad``
    reflection pixels first keep the output at least the input's size."""
    rng = np.random.default_rng(seed)
    body = seq(conv(rng, 8, 8, 3, 1, 0), norm(rng, 8, False), relu(), conv(rng, 8, 8, 3, 1, 0), norm(rng, 8, False))
    first = conv(rng, 3, 4, 9, 1, 0)
    first.cls = "cudnn.SpatialConvolution"
    mods = [*([pad(front_pad)] if front_pad else []),
            Lua("nn.SpatialReplicationPadding", {"pad_l": 4, "pad_r": 4, "pad_t": 4, "pad_b": 4}), first,
            norm(rng, 4, False), Lua("cudnn.ReLU", {"threshold": 0, "val": 0}),
            conv(rng, 4, 8, 3, 2, 1), norm(rng, 8, False), relu(),
            seq(Lua("nn.ConcatTable", {"modules": [body, Lua("nn.ShaveImage", {"size": 2})]}), Lua("nn.CAddTable", {})),
            Lua("nn.SpatialUpSamplingNearest", {"scale_factor": 2}), conv(rng, 8, 4, 3, 1, 1), norm(rng, 4, False),
            relu(), pad(4), conv(rng, 4, 3, 9, 1, 0),
            Lua("nn.Tanh", {}), Lua("nn.MulConstant", {"constant_scalar": 150.0})]
    return {"model": seq(*mods), "opt": {"preprocessing": "vgg", "padding_type": "none"}}


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float32))


def _forward(m: Lua, x: torch.Tensor) -> torch.Tensor:
    f, cls = m.fields, m.cls.replace("cudnn.", "nn.")
    if cls == "nn.Sequential":
        for sub in f["modules"]:
            x = _forward(sub, x)
        return x
    if cls == "nn.ConcatTable":
        return [_forward(b, x) for b in f["modules"]]
    if cls == "nn.CAddTable":
        return sum(x[1:], x[0])
    if cls == "nn.SpatialReflectionPadding":
        return F.pad(x, (f["pad_l"], f["pad_r"], f["pad_t"], f["pad_b"]), mode="reflect")
    if cls == "nn.SpatialReplicationPadding":
        return F.pad(x, (f["pad_l"], f["pad_r"], f["pad_t"], f["pad_b"]), mode="replicate")
    if cls == "nn.ShaveImage":
        n = f["size"]
        return x[:, :, n:-n, n:-n]
    if cls == "nn.SpatialUpSamplingNearest":
        return x.repeat_interleave(f["scale_factor"], 2).repeat_interleave(f["scale_factor"], 3)
    if cls == "nn.SpatialConvolution":
        w = _t(f["weight"]).reshape(f["nOutputPlane"], f["nInputPlane"], f["kH"], f["kW"])
        return F.conv2d(x, w, _t(f["bias"]), (f["dH"], f["dW"]), (f["padH"], f["padW"]))
    if cls == "nn.SpatialFullConvolution":
        return F.conv_transpose2d(x, _t(f["weight"]), _t(f["bias"]), (f["dH"], f["dW"]), (f["padH"], f["padW"]),
                                  (f["adjH"], f["adjW"]))
    if cls == "nn.InstanceNormalization":  # a batch norm in training mode over N*C planes
        mu, var = x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)
        return (x - mu) / torch.sqrt(var + f["eps"]) * _t(f["weight"]).view(1, -1, 1, 1) + _t(f["bias"]).view(
            1, -1, 1, 1)
    if cls == "nn.SpatialBatchNormalization":  # evaluate mode: running statistics
        shape = (1, -1, 1, 1)
        return ((x - _t(f["running_mean"]).view(shape)) / torch.sqrt(_t(f["running_var"]).view(shape) + f["eps"])
                * _t(f["weight"]).view(shape) + _t(f["bias"]).view(shape))
    if cls == "nn.ReLU":
        return x.clamp_min(0)
    if cls == "nn.Tanh":
        return torch.tanh(x)
    if cls == "nn.MulConstant":
        return x * f["constant_scalar"]
    if cls in ("nn.TotalVariation", "nn.Identity"):
        return x
    raise AssertionError(f"the reference does not know {cls}")


VGG_MEAN = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
RESNET_MEAN, RESNET_STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor(
    [0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def reference_stylize(ckpt: dict, image01: torch.Tensor) -> torch.Tensor:
    """``fast_neural_style.lua`` without the median filter, saved as ``image.save`` does (clamped), cut to the
    input's size."""
    with torch.no_grad():
        if ckpt["opt"]["preprocessing"] == "vgg":
            y = _forward(ckpt["model"], image01[:, [2, 1, 0]] * 255 - VGG_MEAN)
            y = ((y + VGG_MEAN) / 255)[:, [2, 1, 0]]
        else:
            y = _forward(ckpt["model"], (image01 - RESNET_MEAN) / RESNET_STD) * RESNET_STD + RESNET_MEAN
    return y[:, :, : image01.shape[2], : image01.shape[3]].clamp(0, 1)
