"""Build a TensorRT engine and its JSON sidecar from an impasto ONNX model (no torch).

TensorRT (10.x) and cuda-python are imported only when a build runs, after every
argument has been checked (:func:`make_build_config`), so bad arguments fail fast and
the same way with or without TensorRT installed.

Steps: parse the ONNX file with TensorRT's parser (every parser error is reported, with
its node), check the requested profile against the network's input, set one explicit
optimisation profile, the precision flags (an fp16/int8 request on a GPU without fast
fp16/int8 is an error, never a silent fp32 build) and the workspace limit, attach the
persistent timing cache, build, and write ``NAME.engine`` then ``NAME.json`` atomically
(see :mod:`impasto.runtime.tensorrt.sidecar`). The timing cache is saved (atomically)
after every successful build.

Convention:
    The model has one input (``image``, float32 NCHW RGB in ``[0, 1]`` for impasto
    models) whose profile comes from ``shapes`` (see
    :mod:`impasto.runtime.tensorrt.profile`). Precision ``fp16``/``int8`` lets TensorRT
    use those kernels where it finds them faster; it keeps I/O in the ONNX model's
    dtypes. ``int8`` calibrates on ``calib_dir`` at the profile's ``opt`` shape (see
    :mod:`impasto.export.tensorrt_calibration`).

Example:
    >>> from impasto.export.tensorrt_build import build_engine
    >>> report = build_engine("starry_night.onnx", "engines/starry_night.engine", precision="fp16",
    ...                       shapes="256x256,720x1280,1080x1920")
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from impasto import __version__
from impasto.contracts import ENGINE_SUFFIX, ONNX_SUFFIX
from impasto.errors import BackendUnavailableError, CudaError, EngineBuildError, ModelError, UserError
from impasto.runtime.io.atomic import atomic_write_bytes
from impasto.runtime.tensorrt.profile import (
    DEFAULT_SHAPES,
    EngineProfile,
    Shape,
    check_profile_fits_input,
    parse_shapes,
)
from impasto.runtime.tensorrt.sidecar import PRECISIONS, EngineSidecar, sha256_bytes, sidecar_path, write_engine_pair

log = logging.getLogger("impasto.export")

#: The timing cache's file name when none is given: shared by every engine in the output folder.
DEFAULT_TIMING_CACHE = "timing.cache"


@dataclass(frozen=True)
class BuildConfig:
    """A checked engine build request (see :func:`make_build_config`).

    Attributes:
        onnx_path: the source model.
        engine_path: ``NAME.engine`` to write (``NAME.json`` goes beside it).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        shapes: ``(min, opt, max)`` NCHW shapes of the image input.
        calib_dir: calibration images (int8 only).
        calib_images: the image files found in ``calib_dir``.
        timing_cache: the persistent timing cache file.
        workspace_bytes: TensorRT's workspace limit, or None for TensorRT's default.
    """

    onnx_path: Path
    engine_path: Path
    precision: str
    shapes: tuple[Shape, Shape, Shape]
    calib_dir: Path | None
    calib_images: tuple[Path, ...]
    timing_cache: Path
    workspace_bytes: int | None

    @property
    def sidecar_path(self) -> Path:
        return sidecar_path(self.engine_path)


def make_build_config(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, *, precision: str = "fp32",
                      calib_dir: str | os.PathLike | None = None,
                      shapes: str | Sequence[str | Sequence[int]] = DEFAULT_SHAPES,
                      timing_cache: str | os.PathLike | None = None,
                      workspace_gb: float | None = None) -> BuildConfig:
    """Check every argument of a build; imports neither TensorRT nor CUDA.

    Raises:
        UserError: a missing or non-``.onnx`` model, an output not ending in ``.engine``,
            an unknown precision, ``int8`` without ``calib_dir`` (or ``calib_dir``
            without ``int8``), a calibration folder without enough images, bad
            ``shapes``, a non-positive workspace or a timing cache path that is a folder.
    """
    onnx = Path(onnx_path)
    if onnx.suffix.lower() != ONNX_SUFFIX:
        raise UserError(f"build-engine: expected an .onnx model, got {str(onnx)!r}")
    if not onnx.is_file():
        raise UserError(f"build-engine: expected an .onnx model, got {str(onnx)!r} "
                        f"({'a folder' if onnx.is_dir() else 'no such file'})")
    engine = Path(engine_path)
    if engine.suffix != ENGINE_SUFFIX:
        raise UserError(f"build-engine: expected an output path ending in {ENGINE_SUFFIX}, got {str(engine)!r}")
    if engine.is_dir():
        raise UserError(f"build-engine: output {str(engine)!r} is a folder, expected a file path ending in "
                        f"{ENGINE_SUFFIX}")
    if precision not in PRECISIONS:
        raise UserError(f"build-engine: precision must be one of {list(PRECISIONS)}, got {precision!r}")
    low, opt, high = parse_shapes(shapes)
    images: tuple[Path, ...] = ()
    if precision == "int8":
        if calib_dir is None:
            raise UserError("--int8: needs calibration images: --calib DIR (photos like the ones you will stylise)")
        from impasto.export.tensorrt_calibration import list_calibration_images

        images = tuple(list_calibration_images(calib_dir, batch=opt[0]))
    elif calib_dir is not None:
        raise UserError(f"--calib: only used with --int8, got --calib with precision {precision}")
    cache = Path(timing_cache) if timing_cache is not None else engine.parent / DEFAULT_TIMING_CACHE
    if cache.is_dir():
        raise UserError(f"--timing-cache: expected a file path, got the folder {str(cache)!r}")
    workspace = None
    if workspace_gb is not None:
        if isinstance(workspace_gb, bool) or not isinstance(workspace_gb, (int, float)) \
                or not math.isfinite(workspace_gb) or workspace_gb <= 0:
            raise UserError(f"--workspace-gb: expected a positive number of GiB, got {workspace_gb!r}")
        workspace = int(workspace_gb * (1 << 30))
    return BuildConfig(onnx_path=onnx, engine_path=engine, precision=precision, shapes=(low, opt, high),
                       calib_dir=Path(calib_dir) if calib_dir is not None else None, calib_images=images,
                       timing_cache=cache, workspace_bytes=workspace)


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, *, precision: str = "fp32",
                 calib_dir: str | os.PathLike | None = None,
                 shapes: str | Sequence[str | Sequence[int]] = DEFAULT_SHAPES,
                 timing_cache: str | os.PathLike | None = None, workspace_gb: float | None = None,
                 device_id: int = 0) -> dict[str, Any]:
    """Build ``engine_path`` (and its sidecar) from an ONNX model on this machine's GPU.

    Args:
        onnx_path: an ``.onnx`` model (impasto's convention: see the module docstring).
        engine_path: ``NAME.engine`` to write; ``NAME.json`` is written beside it.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` (``int8`` needs ``calib_dir``).
        calib_dir: folder of calibration images (recursive) for ``int8``.
        shapes: ``"MIN,OPT,MAX"`` (``NxCxHxW`` or ``HxW`` each) or a 3-sequence.
        timing_cache: persistent timing cache file (default ``timing.cache`` beside the engine).
        workspace_gb: TensorRT workspace limit in GiB (default: TensorRT's).
        device_id: the CUDA device to build for.

    Returns:
        ``{"engine", "sidecar", "precision", "builder_flags", "profile", "tensorrt_version",
        "gpu", "compute_capability", "engine_bytes", "seconds", "timing_cache",
        "calibration"}``.

    Raises:
        UserError: bad arguments (before TensorRT is imported), or fp16/int8 on a GPU
            without fast fp16/int8.
        BackendUnavailableError: TensorRT 10 or cuda-python is not installed, or no GPU.
        ModelError: the ONNX model cannot be read.
        EngineBuildError: parser errors, or TensorRT built no engine; nothing is written.
    """
    config = make_build_config(onnx_path, engine_path, precision=precision, calib_dir=calib_dir, shapes=shapes,
                               timing_cache=timing_cache, workspace_gb=workspace_gb)
    from impasto.runtime.builtins import read_metadata
    from impasto.runtime.shared_weights import check_shared_weights

    metadata = {k: v for k, v in read_metadata(config.onnx_path).items() if k.startswith("impasto.")}
    # the parser reads it beside the graph (parse_from_file) and the engine keeps its values: hash it
    check_shared_weights(config.onnx_path, metadata, verify=True)
    trt = _import_tensorrt()
    from impasto.runtime.tensorrt import cuda_mem

    try:
        cuda_mem.set_device(device_id)
        device = cuda_mem.device_info(device_id)
    except CudaError as exc:
        raise BackendUnavailableError(f"build-engine needs an NVIDIA GPU: device {device_id} is not usable "
                                      f"({exc})") from None
    return _build(trt, cuda_mem, config, metadata, device)


def _import_tensorrt() -> ModuleType:
    from impasto.runtime.tensorrt.loader import import_tensorrt

    return import_tensorrt(purpose="impasto build-engine", max_major=10)


def make_logger(trt: ModuleType) -> Any:
    """A TensorRT logger that routes messages to ``logging`` and keeps the errors for our messages."""
    severity = trt.ILogger.Severity

    class CollectingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, level: Any, msg: str) -> None:
            if level in (severity.INTERNAL_ERROR, severity.ERROR):
                self.errors.append(str(msg).strip())
                log.error("tensorrt: %s", msg)
            elif level == severity.WARNING:
                log.warning("tensorrt: %s", msg)
            else:
                log.debug("tensorrt: %s", msg)

    return CollectingLogger()


def format_parser_errors(parser: Any) -> list[str]:
    """Every error of TensorRT's ONNX parser, as ``node N 'name' (Op): description [CODE]``."""
    lines = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        node = int(err.node())
        where = "graph" if node < 0 else f"node {node}"
        for attr, fmt in (("node_name", " {!r}"), ("node_operator", " ({})")):  # TensorRT >= 10.2
            value = getattr(err, attr, None)
            value = value() if callable(value) else value
            if value:
                where += fmt.format(value)
        code = getattr(err.code(), "name", err.code())
        lines.append(f"{where}: {str(err.desc()).strip()} [{code}]")
    return lines


def _platform_has(builder: Any, attr: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in TensorRT 10.5, still the builder's word
        return bool(getattr(builder, attr))


def _check_precision(builder: Any, precision: str, device: Any) -> None:
    """No silent precision downgrade: fp16/int8 need a GPU with fast fp16/int8."""
    needs = {"fp16": "platform_has_fast_fp16", "int8": "platform_has_fast_int8"}.get(precision)
    if needs and not _platform_has(builder, needs):
        flag = f"--{precision}"
        raise UserError(f"{flag}: this GPU ({device.describe()}) has no fast {precision.upper()} according to "
                        f"TensorRT, so a {precision} engine would not be faster; build fp32 (drop {flag}) or build "
                        "on a GPU that has it")


def _network_input(network: Any, config: BuildConfig) -> tuple[str, tuple[int, ...]]:
    if network.num_inputs != 1:
        names = [network.get_input(i).name for i in range(network.num_inputs)]
        raise UserError(f"build-engine: expected a model with one image input, got {len(names)}: {names}")
    tensor = network.get_input(0)
    dims = tuple(int(d) for d in tensor.shape)
    check_profile_fits_input(tensor.name, dims, config.shapes)
    return tensor.name, dims


def _attach_timing_cache(trt_config: Any, path: Path) -> dict[str, Any]:
    """Load ``path`` into the builder config (a new cache when absent or written elsewhere)."""
    data = path.read_bytes() if path.is_file() else b""
    cache = trt_config.create_timing_cache(data)
    status = "loaded" if data else "new"
    if cache is None or not trt_config.set_timing_cache(cache, False):
        if not data:
            raise EngineBuildError("build-engine: TensorRT cannot create an empty timing cache")
        log.warning("timing cache %s was written by another TensorRT version or GPU: starting a new one, which will "
                    "replace it", path)
        cache = trt_config.create_timing_cache(b"")
        if cache is None or not trt_config.set_timing_cache(cache, False):
            raise EngineBuildError("build-engine: TensorRT cannot create an empty timing cache")
        status = "replaced"
    return {"path": str(path), "status": status, "bytes_before": len(data)}


def _save_timing_cache(trt_config: Any, path: Path, info: dict[str, Any]) -> None:
    cache = trt_config.get_timing_cache()
    if cache is None:
        raise EngineBuildError("build-engine: TensorRT returned no timing cache after the build")
    data = bytes(cache.serialize())
    atomic_write_bytes(path, data)
    info["bytes_after"] = len(data)


def _calibrator(trt: ModuleType, cuda_mem: ModuleType, config: BuildConfig, metadata: dict[str, str]) -> Any:
    from impasto.export.tensorrt_calibration import (
        CalibrationCache,
        calibration_batches,
        calibration_digest,
        input_range_of,
        make_entropy_calibrator,
    )

    opt = config.shapes[1]
    input_range = input_range_of(metadata)
    key = {"digest": calibration_digest(config.calib_images, config.calib_dir), "batch_shape": list(opt),
           "input_range": input_range, "tensorrt_version": trt.__version__}
    batches = calibration_batches(config.calib_images, opt, input_range)
    cache = CalibrationCache.beside(config.engine_path)
    calibrator = make_entropy_calibrator(trt, cuda_mem, batches, opt, cache, key)
    calibrator.report = {"dir": str(config.calib_dir), "images": len(config.calib_images),
                         "images_used": (len(config.calib_images) // opt[0]) * opt[0], "digest": key["digest"],
                         "cache": str(cache.path)}
    return calibrator


def _parse_network(trt: ModuleType, builder: Any, logger: Any, config: BuildConfig) -> tuple[Any, Any]:
    """``(network, parser)`` of the ONNX file; every parser error is reported with its node."""
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)  # kept alive with the network: it owns the parsed weights
    parsed = parser.parse_from_file(str(config.onnx_path))
    errors = format_parser_errors(parser)
    if not parsed or errors:
        detail = "; ".join(f"{i + 1}) {e}" for i, e in enumerate(errors)) or "; ".join(logger.errors) or "no detail"
        raise EngineBuildError(f"build-engine: TensorRT's ONNX parser rejected {str(config.onnx_path)!r} "
                               f"({len(errors)} error{'' if len(errors) == 1 else 's'}): {detail}")
    return network, parser


def _build(trt: ModuleType, cuda_mem: ModuleType, config: BuildConfig, metadata: dict[str, str],
           device: Any) -> dict[str, Any]:
    """Parse, configure (profile, precision, calibration, timing cache), build, then write the engine and sidecar."""
    t0 = time.perf_counter()
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    _check_precision(builder, config.precision, device)

    network, parser = _parse_network(trt, builder, logger, config)
    input_name, _ = _network_input(network, config)

    trt_config = builder.create_builder_config()
    if config.workspace_bytes is not None:
        trt_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_bytes)
    low, opt, high = config.shapes
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, low, opt, high)
    if trt_config.add_optimization_profile(profile) < 0:
        raise EngineBuildError(f"build-engine: TensorRT rejects the profile {low} .. {high} for {input_name!r}")
    flags: list[str] = []
    calibrator = None
    if config.precision == "fp16":
        trt_config.set_flag(trt.BuilderFlag.FP16)
        flags.append("FP16")
    elif config.precision == "int8":
        trt_config.set_flag(trt.BuilderFlag.INT8)
        flags.append("INT8")
        calibrator = _calibrator(trt, cuda_mem, config, metadata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # implicit quantization: deprecated in 10.1, in 10.x
            trt_config.int8_calibrator = calibrator
            trt_config.set_calibration_profile(profile)
    timing = _attach_timing_cache(trt_config, config.timing_cache)

    log.info("building %s from %s (%s) on %s", config.engine_path, config.onnx_path, config.precision,
             device.describe())
    try:
        serialized = builder.build_serialized_network(network, trt_config)
    finally:
        if calibrator is not None:
            calibrator.release()
    if calibrator is not None and calibrator.error is not None:
        raise EngineBuildError(f"build-engine: int8 calibration failed reading a batch: {calibrator.error}")
    if serialized is None:
        detail = "; ".join(logger.errors[-5:]) or "see TensorRT's messages above"
        raise EngineBuildError(f"build-engine: TensorRT built no engine from {str(config.onnx_path)!r} ({detail}); "
                               "nothing was written")
    data = bytes(serialized)
    if not data:
        raise EngineBuildError("build-engine: TensorRT returned an empty engine; nothing was written")
    _save_timing_cache(trt_config, config.timing_cache, timing)
    seconds = round(time.perf_counter() - t0, 2)

    calibration = None
    if calibrator is not None:
        calibration = {**calibrator.report, "batches": calibrator.batches_used, "reused": calibrator.cache_reused}
    from impasto.runtime.shared_weights import shared_weights_of
    from impasto.utils.digest import sha256_file

    source = {"path": str(config.onnx_path.resolve()), "sha256": sha256_file(config.onnx_path)}
    shared = shared_weights_of(config.onnx_path, metadata)
    if shared is not None:  # checked against the file before the build (build_engine)
        source["shared_weights"], source["shared_weights_sha256"] = shared["file"], str(shared.get("sha256", ""))
    sidecar = EngineSidecar(
        engine_file=config.engine_path.name, engine_sha256=sha256_bytes(data), engine_bytes=len(data),
        source_onnx=source,
        tensorrt_version=str(trt.__version__),
        gpu={"name": device.name, "compute_capability": device.compute_capability},
        precision=config.precision, builder_flags=tuple(flags),
        profiles=(EngineProfile(input_name, low, opt, high),), onnx_metadata=metadata,
        input=_json_or_none(metadata.get("impasto.input")), output=_json_or_none(metadata.get("impasto.output")),
        impasto_version=__version__, build_seconds=seconds, workspace_bytes=config.workspace_bytes,
        timing_cache=str(config.timing_cache), calibration=calibration,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_engine_pair(config.engine_path, data, sidecar)
    return {"engine": str(config.engine_path), "sidecar": str(config.sidecar_path), "precision": config.precision,
            "builder_flags": flags, "profile": sidecar.profiles[0].to_dict(),
            "tensorrt_version": sidecar.tensorrt_version,
            "gpu": device.name, "compute_capability": device.compute_capability, "engine_bytes": len(data),
            "seconds": seconds, "timing_cache": timing, "calibration": calibration}


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ModelError(f"build-engine: the model's impasto metadata is not JSON: {text[:80]!r}") from None
    return value if isinstance(value, dict) else None
