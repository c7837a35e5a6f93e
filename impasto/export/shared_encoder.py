"""One VGG16 encoder weights file shared by every VGG-based graph of a folder (ONNX external data).

``impasto export photowct|wct|warpnet ... --shared-encoder`` writes a graph whose VGG16
convolutions (conv1_1 .. conv4_1) are not stored in the ``.onnx`` file: each of those
initializers points (location, offset, length) into one shared file beside it, read by
ONNX Runtime and TensorRT's ``parse_from_file`` from the graph's path. The steps, in the
order :func:`impasto.export.pipeline.export_plan` runs them:

1. :func:`load_shared` builds the shared tensors from a VGG16 weights file (deterministic);
2. :func:`round_to_fp16_` rounds the PyTorch encoder's weights to fp16-representable values
   in place, so the parity reference is the network the graph computes;
3. :func:`share_initializers` rewrites the exported graph's matching initializers into fp16
   external-data initializers, each followed by a ``Cast`` to float (ONNX Runtime folds
   the casts at load: compute stays fp32);
4. :func:`ensure_shared_file` creates the shared file and its index, or verifies and
   reuses the ones already in the folder (never replaces them).

Convention:
    The shared file (default :data:`DEFAULT_NAME`) holds, for conv1_1, conv1_2, conv2_1,
    conv2_2, conv3_1, conv3_2, conv3_3 and conv4_1 in that order, the weight then the bias
    as little-endian float16 (the rounding of the fp32 weights), each tensor starting at an
    offset that is a multiple of :data:`ALIGNMENT` bytes (zero padding between). Its index
    ``NAME.json`` (``.bin`` replaced) holds ``format``, ``file``, ``bytes``, ``sha256``,
    ``alignment``, ``source`` (``file``, ``sha256`` of the VGG16 weights it was made from)
    and ``tensors``: per tensor ``name`` (``conv1_1.weight``), ``vgg16`` (torchvision's
    key), ``shape``, ``dtype``, ``offset``, ``length``, ``sha256``. A graph's
    ``impasto.shared_weights`` metadata names the file (:mod:`impasto.runtime.shared_weights`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impasto.errors import ExportError, UserError
from impasto.runtime.io.atomic import atomic_write_bytes

if TYPE_CHECKING:
    import onnx
    import torch

DEFAULT_NAME = "vgg16_relu4_1.f16.bin"
FORMAT = "impasto.shared_weights/1"
ALIGNMENT = 4096
#: The shared convolutions: (name, index in torchvision's ``vgg16().features``).
LAYERS: tuple[tuple[str, int], ...] = (("conv1_1", 0), ("conv1_2", 2), ("conv2_1", 5), ("conv2_2", 7),
                                       ("conv3_1", 10), ("conv3_2", 12), ("conv3_3", 14), ("conv4_1", 17))
#: The convolutions a WCT encoder runs to reach each level.
LEVEL_LAYERS: dict[str, tuple[str, ...]] = {"relu1_1": ("conv1_1",), "relu2_1": ("conv1_1", "conv1_2", "conv2_1"),
                                            "relu3_1": tuple(n for n, _ in LAYERS[:5]),
                                            "relu4_1": tuple(n for n, _ in LAYERS)}


@dataclass(frozen=True)
class SharedTensor:
    """One tensor of the shared file: its index entry and its fp16 values."""

    name: str
    vgg16: str
    offset: int
    values: np.ndarray  # float16

    @property
    def layer(self) -> str:
        return self.name.split(".")[0]

    def entry(self) -> dict[str, Any]:
        data = self.values.tobytes()
        return {"name": self.name, "vgg16": self.vgg16, "shape": list(self.values.shape), "dtype": "float16",
                "offset": self.offset, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@dataclass(frozen=True)
class SharedWeights:
    """The shared file's bytes, its tensors and its index, as built from one VGG16 weights file."""

    name: str
    data: bytes
    tensors: tuple[SharedTensor, ...]
    source: dict[str, str]

    @property
    def index_name(self) -> str:
        return index_name_of(self.name)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def index(self) -> dict[str, Any]:
        return {"format": FORMAT, "file": self.name, "bytes": len(self.data), "sha256": self.sha256,
                "alignment": ALIGNMENT, "source": self.source, "tensors": [t.entry() for t in self.tensors]}

    def metadata(self) -> str:
        """``impasto.shared_weights`` of a graph reading this file."""
        return json.dumps({"file": self.name, "bytes": len(self.data), "sha256": self.sha256,
                           "index": self.index_name})


def index_name_of(name: str) -> str:
    return (name[: -len(".bin")] if name.endswith(".bin") else name) + ".json"


def check_name(name: str) -> str:
    """A shared file's name: a plain file name ending in ``.bin``.

    Raises:
        UserError: a path, or another suffix.
    """
    if not name or Path(name).name != name or not name.endswith(".bin") or name.startswith("."):
        raise UserError(f"--shared-encoder: expected a file name ending in .bin (it goes beside the graph), "
                        f"got {name!r}")
    return name


def load_shared(weights_path: str | os.PathLike, name: str = DEFAULT_NAME) -> SharedWeights:
    """The shared file built from a VGG16 weights file (torchvision layout, fp32 or fp16).

    Raises:
        WeightsNotFoundError: the weights file is missing or not VGG16.
    """
    from impasto.models.vgg import load_state_dict
    from impasto.utils.digest import sha256_file

    sd = load_state_dict(weights_path)
    blob = bytearray()
    tensors = []
    for layer, idx in LAYERS:
        for part in ("weight", "bias"):
            blob.extend(b"\0" * (-len(blob) % ALIGNMENT))
            values = sd[f"features.{idx}.{part}"].numpy().astype("<f2")
            tensors.append(SharedTensor(f"{layer}.{part}", f"features.{idx}.{part}", len(blob), values))
            blob.extend(values.tobytes())
    source = {"file": Path(weights_path).name, "sha256": sha256_file(weights_path)}
    return SharedWeights(check_name(name), bytes(blob), tuple(tensors), source)


def round_to_fp16_(module: torch.nn.Module, weights_path: str | os.PathLike, layers: Sequence[str]) -> int:
    """Round the encoder's weights inside ``module`` to fp16-representable values, in place (``w.half().float()``).

    The encoder's tensors are found by value: every parameter equal to one of ``layers``'
    tensors in the weights file, or already rounded to its fp16 value (a module shared by
    several graphs of one export, :mod:`impasto.export.methods.wct_staged`). Returns how many
    tensors were rounded.

    Raises:
        ExportError: one of ``layers``' tensors is not in the module (another weights file).
    """
    import torch

    from impasto.models.vgg import load_state_dict

    sd = load_state_dict(weights_path)
    want = {f"{layer}.{part}": sd[f"features.{idx}.{part}"] for layer, idx in LAYERS if layer in layers
            for part in ("weight", "bias")}
    found: set[str] = set()
    with torch.no_grad():
        for p in module.parameters():
            for key, src in want.items():
                if p.shape == src.shape and (torch.equal(p.detach().cpu().float(), src)
                                             or torch.equal(p.detach().cpu().float(), src.half().float())):
                    p.copy_(p.half().float())
                    found.add(key)
                    break
    missing = [k for k in want if k not in found]
    if missing:
        raise ExportError(f"--shared-encoder: the network holds no tensor equal to VGG16 {missing[0]} of "
                          f"{str(weights_path)!r} ({len(missing)} missing); was it built from these weights?")
    return len(found)


def share_initializers(model: onnx.ModelProto, shared: SharedWeights, layers: Sequence[str]) -> dict[str, Any]:
    """Point the graph's copies of ``layers``' tensors into the shared file (fp16 external data + ``Cast``).

    Every float initializer equal (shape and values) to a shared tensor's fp32 value is
    replaced; the ``Cast`` nodes keep the original names, so consumers are unchanged.

    Returns:
        ``{"file", "tensors", "bytes_moved"}``: the fp32 bytes that left the graph.

    Raises:
        ExportError: a tensor of ``layers`` is not in the graph (folded or fused by the exporter).
    """
    import onnx
    from onnx import helper, numpy_helper

    wanted = [t for t in shared.tensors if t.layer in layers]
    by_shape: dict[tuple[int, ...], list[tuple[SharedTensor, np.ndarray]]] = {}
    for t in wanted:
        by_shape.setdefault(t.values.shape, []).append((t, t.values.astype(np.float32)))
    g = model.graph
    keep, casts, found, moved = [], [], set(), 0
    for init in g.initializer:
        match = None
        if init.data_type == onnx.TensorProto.FLOAT and tuple(init.dims) in by_shape:
            arr = numpy_helper.to_array(init)
            match = next((t for t, v in by_shape[tuple(init.dims)] if np.array_equal(arr, v)), None)
        if match is None:
            keep.append(init)
            continue
        ext = onnx.TensorProto(name=f"{init.name}__shared_f16", data_type=onnx.TensorProto.FLOAT16,
                               dims=list(init.dims), data_location=onnx.TensorProto.EXTERNAL)
        for key, value in (("location", shared.name), ("offset", str(match.offset)),
                           ("length", str(match.values.nbytes))):
            entry = ext.external_data.add()
            entry.key, entry.value = key, value
        keep.append(ext)
        casts.append(helper.make_node("Cast", [ext.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=f"shared_cast_{init.name}"))
        found.add(match.name)
        moved += int(arr.nbytes)
    missing = [t.name for t in wanted if t.name not in found]
    if missing:
        raise ExportError(f"--shared-encoder: the exported graph holds no initializer equal to {missing[0]} "
                          f"({len(missing)} of {len(wanted)} missing: folded or fused by the exporter?); "
                          "nothing written")
    inputs = {i.name for i in g.input}
    if any(c.output[0] in inputs for c in casts):
        raise ExportError("--shared-encoder: the graph lists encoder weights as inputs; nothing written")
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend([*casts, *nodes])
    return {"file": shared.name, "tensors": len(casts), "bytes_moved": moved}


def _refuse(path: Path, why: str) -> UserError:
    return UserError(f"--shared-encoder: {str(path)!r} exists but {why}; nothing written (remove it, or pass "
                     "another name to --shared-encoder)")


def verify_shared_file(folder: str | os.PathLike, shared: SharedWeights) -> bool:
    """Whether ``folder`` holds the shared file and index of ``shared`` (False: neither is there).

    Raises:
        UserError: an existing file or index that differs from ``shared`` (one line, naming it).
    """
    folder = Path(folder)
    path, index_path = folder / shared.name, folder / shared.index_name
    if not path.exists():
        if index_path.exists():
            raise _refuse(index_path, f"its weights file {shared.name!r} does not")
        return False
    if not path.is_file():
        raise _refuse(path, "is not a file")
    size = path.stat().st_size
    if size != len(shared.data):
        raise _refuse(path, f"has {size} bytes, the encoder of these weights takes {len(shared.data)}")
    if path.read_bytes() != shared.data:
        raise _refuse(path, "holds other values than the encoder of these weights (another weights file?)")
    try:
        index = json.loads(index_path.read_text())
        same = (index.get("sha256") == shared.sha256 and index.get("bytes") == len(shared.data)
                and index.get("tensors") == [t.entry() for t in shared.tensors])
    except (OSError, ValueError, AttributeError):
        same = False
    if not same:
        raise _refuse(index_path, f"is missing or does not describe {shared.name!r}")
    return True


def ensure_shared_file(folder: str | os.PathLike, shared: SharedWeights) -> bool:
    """Create the shared file and its index in ``folder``, or verify the existing ones; True when created.

    An existing file is reused only when its bytes are the ones ``shared`` holds and its
    index lists the same tensors; otherwise nothing is changed. Both files are written
    atomically, the index last.

    Raises:
        UserError: an existing file or index that differs (:func:`verify_shared_file`).
    """
    if verify_shared_file(folder, shared):
        return False
    path, index_path = Path(folder) / shared.name, Path(folder) / shared.index_name
    atomic_write_bytes(path, shared.data)
    try:
        atomic_write_bytes(index_path, (json.dumps(shared.index(), indent=1) + "\n").encode())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return True
