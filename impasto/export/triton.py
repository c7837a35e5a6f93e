"""A Triton Inference Server model repository from ONNX graphs and TensorRT engines (torch-free).

:func:`export_triton` writes, for each model, ``REPO/NAME/config.pbtxt``,
``REPO/NAME/1/model.onnx`` (or ``model.plan`` for an engine) and ``REPO/NAME/impasto.json``
(the model's ``impasto.*`` metadata: style names in ``style_weights`` order, value
ranges, the model card). Names, shapes and dtypes come from the graph itself (ONNX
Runtime's view of it) or, for an engine, from its JSON sidecar and the method's contract.

Convention:
    Tensors are float32 (``TYPE_FP32``); images NCHW RGB in ``[0, 1]`` (the client
    decodes, converts BGR->RGB, scales by 1/255 and transposes HWC->CHW; the output is
    clipped, scaled by 255 and transposed back). A symbolic dim (``height``, ``width``,
    ``batch``) is ``-1``. A model whose every input and output starts with a symbolic batch
    dim (a feed-forward style network) gets ``max_batch_size`` > 0 and its ``dims`` leave
    that dim out (Triton adds it), so Triton may batch same-size requests. A model with an
    input without a batch dim (a style bank's ``style_weights [styles]``,
    ``content_layer_weights``, ``style_layer_weights``; graphs with batch fixed to 1) gets
    ``max_batch_size: 0`` and full dims: every request carries its own vectors, and Triton
    does not batch it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.contracts import ENGINE_SUFFIXES, contract
from impasto.errors import ModelError, UserError
from impasto.runtime.builtins import resolve_model
from impasto.runtime.tensorrt.sidecar import check_engine_sha, read_sidecar

#: ONNX Runtime element types -> Triton data types.
TRITON_TYPES = {"tensor(float)": "TYPE_FP32", "tensor(float16)": "TYPE_FP16", "tensor(double)": "TYPE_FP64",
                "tensor(int64)": "TYPE_INT64", "tensor(int32)": "TYPE_INT32", "tensor(uint8)": "TYPE_UINT8",
                "tensor(int8)": "TYPE_INT8", "tensor(bool)": "TYPE_BOOL", "float32": "TYPE_FP32"}
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}
#: Metadata list keys -> the contract dims they give the length of.
_VECTOR_DIMS = {"styles": "impasto.styles", "content_layers": "impasto.content_layers",
                "style_layers": "impasto.style_layers"}


@dataclass(frozen=True)
class TritonOptions:
    """How Triton serves the models (``impasto export-triton`` flags).

    Attributes:
        max_batch_size: None picks 8 for batchable models and 0 for the others; a number > 0
            for a model that cannot batch is refused.
        instances: model instances per device (``instance_group.count``).
        kind: ``auto``, ``cpu`` or ``gpu`` (an engine is always ``gpu``).
        dynamic_batching: let Triton group queued requests (needs ``max_batch_size`` > 0).
        preferred_batch_sizes: Triton's preferred batch sizes (dynamic batching only).
        max_queue_delay_us: how long a request may wait for others (dynamic batching only).
        force: replace existing model folders in the repository.
    """

    max_batch_size: int | None = None
    instances: int = 1
    kind: str = "auto"
    dynamic_batching: bool = False
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 100
    force: bool = False


@dataclass(frozen=True)
class TensorIO:
    """One model input or output as Triton sees it: name, Triton dtype, full dims (-1: dynamic)."""

    name: str
    dtype: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class ModelIO:
    """What a model file offers Triton: platform, file name in the version folder, tensors and metadata."""

    platform: str
    filename: str
    inputs: tuple[TensorIO, ...]
    outputs: tuple[TensorIO, ...]
    metadata: dict[str, str]

    @property
    def batchable(self) -> bool:
        """Every tensor starts with a dynamic batch dim."""
        return all(t.dims and t.dims[0] == -1 for t in (*self.inputs, *self.outputs))


def _dim(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else -1


def _dtype(name: str, ort_type: str) -> str:
    if ort_type not in TRITON_TYPES:
        raise ModelError(f"tensor {name!r}: expected one of {sorted(TRITON_TYPES)}, got {ort_type!r}")
    return TRITON_TYPES[ort_type]


def onnx_io(path: Path) -> ModelIO:
    """Inputs and outputs of an ONNX graph, as ONNX Runtime reads them."""
    import onnxruntime as ort

    from impasto.runtime.shared_weights import check_shared_weights

    check_shared_weights(path)
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"model {str(path)!r}: ONNX Runtime cannot load it: {str(exc).splitlines()[0]}") from None
    def tensors(args: Sequence[Any]) -> tuple[TensorIO, ...]:
        return tuple(TensorIO(a.name, _dtype(a.name, a.type), tuple(_dim(d) for d in a.shape)) for a in args)

    return ModelIO("onnxruntime_onnx", "model.onnx", tensors(sess.get_inputs()), tensors(sess.get_outputs()),
                   dict(sess.get_modelmeta().custom_metadata_map))


def engine_io(path: Path) -> ModelIO:
    """Inputs and outputs of a TensorRT engine, from its sidecar and its method's contract.

    The image input's dims are the profile's where its min and max agree, else -1; a
    bank's vector lengths are the lengths of its ``impasto.styles`` / ``*_layers`` metadata.
    """
    side = read_sidecar(path)
    check_engine_sha(path, path.read_bytes(), side)  # the pair belongs together
    meta = side.metadata()
    profiles = {p.input_name: p for p in side.profiles}
    method = meta.get("impasto.method", "")
    if method == "bank":
        graph = contract("bank")
        tensors = {t.name: t.dims for t in (*graph.inputs, *graph.outputs)}
    else:
        tensors = {spec["name"]: tuple(spec["shape"]) for spec in (side.input, side.output) if spec}
    if not tensors:
        raise ModelError(f"engine {str(path)!r}: its sidecar names no input or output")

    def dims(name: str, shape: Sequence[Any]) -> tuple[int, ...]:
        prof = profiles.get(name)
        out = []
        for i, d in enumerate(shape):
            if isinstance(d, int):
                out.append(d)
            elif d in _VECTOR_DIMS:
                out.append(len(json.loads(meta.get(_VECTOR_DIMS[d], "[]"))))
            elif prof is not None and prof.min[i] == prof.max[i]:
                out.append(prof.min[i])
            else:
                out.append(-1)
        return tuple(out)

    outputs = {(side.output or {}).get("name", "stylized")}
    if method == "bank":
        outputs = {t.name for t in contract("bank").outputs}
    ins = tuple(TensorIO(n, "TYPE_FP32", dims(n, s)) for n, s in tensors.items() if n not in outputs)
    outs = tuple(TensorIO(n, "TYPE_FP32", dims(n, s)) for n, s in tensors.items() if n in outputs)
    return ModelIO("tensorrt_plan", "model.plan", ins, outs, meta)


def model_io(path: Path) -> ModelIO:
    """:func:`engine_io` for an engine suffix, else :func:`onnx_io`."""
    return engine_io(path) if path.suffix.lower() in ENGINE_SUFFIXES else onnx_io(path)


def batch_size_for(name: str, io: ModelIO, options: TritonOptions) -> int:
    """The model's ``max_batch_size`` (see :class:`TritonOptions`); refuses what Triton would refuse."""
    if options.max_batch_size is None:
        size = 8 if io.batchable else 0
    elif options.max_batch_size > 0 and not io.batchable:
        unbatched = next(t for t in (*io.inputs, *io.outputs) if not (t.dims and t.dims[0] == -1))
        raise UserError(f"--max-batch-size {options.max_batch_size}: model {name!r} cannot batch (its tensor "
                        f"{unbatched.name!r} has dims {list(unbatched.dims)}, no leading batch dim); use 0")
    else:
        size = options.max_batch_size
    if options.dynamic_batching and size == 0:
        raise UserError(f"--dynamic-batching: model {name!r} has max_batch_size 0 (it cannot batch); "
                        "leave dynamic batching off for it")
    if any(b > size for b in options.preferred_batch_sizes):
        raise UserError(f"--preferred-batch-sizes: expected sizes up to max_batch_size {size} of {name!r}, got "
                        f"{list(options.preferred_batch_sizes)}")
    return size


def config_text(name: str, io: ModelIO, options: TritonOptions) -> str:
    """``config.pbtxt`` of one model (protobuf text format of Triton's ``ModelConfig``)."""
    size = batch_size_for(name, io, options)
    kind = "gpu" if io.platform == "tensorrt_plan" else options.kind
    if io.platform == "tensorrt_plan" and options.kind == "cpu":
        raise UserError(f"--kind cpu: model {name!r} is a TensorRT engine, which runs on a GPU only")

    def tensor(t: TensorIO) -> str:
        dims = t.dims[1:] if size > 0 else t.dims
        return f'  {{\n    name: "{t.name}"\n    data_type: {t.dtype}\n    dims: [ {", ".join(map(str, dims))} ]\n  }}'

    lines = [f'name: "{name}"', f'platform: "{io.platform}"', f"max_batch_size: {size}",
             "input [\n" + ",\n".join(tensor(t) for t in io.inputs) + "\n]",
             "output [\n" + ",\n".join(tensor(t) for t in io.outputs) + "\n]",
             f"instance_group [\n  {{\n    count: {options.instances}\n    kind: {KINDS[kind]}\n  }}\n]"]
    if options.dynamic_batching:
        preferred = "".join(f"\n  preferred_batch_size: {b}" for b in options.preferred_batch_sizes)
        delay = f"max_queue_delay_microseconds: {options.max_queue_delay_us}"
        lines.append(f"dynamic_batching {{{preferred}\n  {delay}\n}}")
    return "\n".join(lines) + "\n"


def _models(models: Sequence[str]) -> dict[str, Path]:
    """Repository name -> model file, for built-in names, style names and paths (a bank once for its styles)."""
    out: dict[str, Path] = {}
    for text in models:
        path, _ = resolve_model(text)
        name = path.stem
        if name in out and out[name].resolve() != path.resolve():
            raise UserError(f"export-triton: two models would both be named {name!r} ({out[name]} and {path}); "
                            "rename one file")
        out[name] = path
    return out


def export_triton(models: Sequence[str], repo: str | os.PathLike, options: TritonOptions,
                  progress: Any = None) -> list[dict[str, Any]]:
    """Write one Triton model folder per model into ``repo``.

    Args:
        models: built-in names (``bank``, ``starry_night``: a bank's style gives the whole
            bank), or ``.onnx`` / ``.engine`` paths (an engine needs its sidecar).
        repo: the model repository folder (created).
        options: batching, instances and ``force``.
        progress: called with each model's name once it is written.

    Returns:
        One report per model: name, folder, platform, ``max_batch_size``, inputs and outputs.

    Raises:
        UserError: a model folder exists without ``force``, or options Triton would refuse.
        ModelError: an unknown name, or a file that is not a loadable model.
    """
    root = Path(repo)
    if root.exists() and not root.is_dir():
        raise UserError(f"-o: expected a folder for the model repository, got the file {str(root)!r}")
    plans = []
    for name, path in _models(models).items():  # check everything before writing anything
        io = model_io(path)
        if (root / name).exists() and not options.force:
            raise UserError(f"model folder {str(root / name)!r} exists: pass --force to replace it")
        plans.append((name, path, io, config_text(name, io, options)))
    root.mkdir(parents=True, exist_ok=True)
    reports = []
    for name, path, io, config in plans:
        _write_model(root / name, path, io, config)
        reports.append({"name": name, "folder": str(root / name), "source": str(path), "platform": io.platform,
                        "max_batch_size": batch_size_for(name, io, options),
                        "inputs": [t.__dict__ for t in io.inputs], "outputs": [t.__dict__ for t in io.outputs]})
        if progress is not None:
            progress(name)
    return reports


def _write_model(folder: Path, source: Path, io: ModelIO, config: str) -> None:
    """Build the model folder beside its place, then swap it in with renames: never half-written."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        (tmp / "1").mkdir()
        shutil.copyfile(source, tmp / "1" / io.filename)
        for extra in _shared_files(source, io):  # external data resolves beside model.onnx
            shutil.copyfile(extra, tmp / "1" / extra.name)
        (tmp / "config.pbtxt").write_text(config)
        meta = {k: _maybe_json(v) for k, v in io.metadata.items()}
        (tmp / "impasto.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _shared_files(source: Path, io: ModelIO) -> list[Path]:
    """A graph's shared weights file and its index (``impasto.shared_weights``), to copy beside ``model.onnx``."""
    from impasto.runtime.shared_weights import check_shared_weights, shared_weights_of

    if io.platform != "onnxruntime_onnx":
        return []
    weights = check_shared_weights(source, io.metadata)
    if weights is None:
        return []
    index = weights.parent / str(shared_weights_of(source, io.metadata).get("index", ""))
    return [weights, *([index] if index.name and index.is_file() else [])]


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
