"""The JSON sidecar of a TensorRT engine: what it was built from, for and how (pure Python).

``impasto build-engine`` writes ``NAME.engine`` and ``NAME.json`` side by side; the engine
file stays TensorRT's own bytes (no header). The sidecar records the engine's sha256, so a
loader can tell that the two belong together, and the TensorRT version and GPU the engine
was built for, which must equal the ones it runs on (TensorRT engines are not portable).

Writing (:func:`write_engine_pair`): the engine first, then the sidecar, each through a
temporary file and an atomic rename. A crash between the two renames leaves a new engine
beside the old sidecar, which :func:`check_engine_sha` rejects: a half-replaced pair is
never loaded.

Convention:
    Sidecar fields (``format_version`` 1), all JSON:
    ``format`` (``"impasto-engine"``), ``format_version``, ``impasto_version``,
    ``engine_file`` (the engine's file name), ``engine_sha256``, ``engine_bytes``,
    ``source_onnx`` (``{"path", "sha256"}``, plus ``"shared_weights"`` and
    ``"shared_weights_sha256"`` for a graph whose encoder is a shared external-data file,
    hashed at build time), ``tensorrt_version``, ``gpu``
    (``{"name", "compute_capability"}``), ``precision`` (``fp32``/``fp16``/``int8``),
    ``builder_flags`` (TensorRT ``BuilderFlag`` names set), ``profiles``
    (``[{"input", "min", "opt", "max"}]``), ``input`` / ``output`` (the ONNX model's
    ``impasto.input`` / ``impasto.output`` specs, parsed), ``onnx_metadata`` (every
    ``impasto.*`` metadata_prop of the ONNX model, as strings, card included),
    ``build_seconds``, ``workspace_bytes`` (or null), ``timing_cache`` (path),
    ``calibration`` (null, or ``{"dir", "images", "digest", "cache", "reused"}``),
    ``built_at`` (UTC ISO 8601).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from impasto.errors import EngineMismatchError, ModelError
from impasto.runtime.io.atomic import atomic_write_bytes
from impasto.runtime.tensorrt.profile import EngineProfile

FORMAT = "impasto-engine"
FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    """``engines/NAME.engine`` -> ``engines/NAME.json``."""
    return Path(engine_path).with_suffix(".json")


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class EngineSidecar:
    """Everything ``NAME.json`` says about ``NAME.engine`` (see the module's Convention)."""

    engine_file: str
    engine_sha256: str
    engine_bytes: int
    source_onnx: dict[str, str]
    tensorrt_version: str
    gpu: dict[str, str]
    precision: str
    profiles: tuple[EngineProfile, ...]
    onnx_metadata: dict[str, str]
    impasto_version: str
    builder_flags: tuple[str, ...] = ()
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    build_seconds: float = 0.0
    workspace_bytes: int | None = None
    timing_cache: str | None = None
    calibration: dict[str, Any] | None = None
    built_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gpu_name(self) -> str:
        return self.gpu.get("name", "")

    @property
    def compute_capability(self) -> str:
        return self.gpu.get("compute_capability", "")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data["profiles"] = [p.to_dict() for p in self.profiles]
        data["builder_flags"] = list(self.builder_flags)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data, **self.extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "sidecar") -> EngineSidecar:
        """Validate and read a sidecar's JSON object.

        Raises:
            ModelError: not an impasto sidecar, a newer format, or a missing/ill-typed field.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = f"format {data.get('format')!r}" if isinstance(data, dict) else f"a JSON {type(data).__name__}"
            raise ModelError(f"{source}: expected an impasto engine sidecar (format {FORMAT!r}), got {got}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelError(f"{source}: expected format_version {FORMAT_VERSION}, got {version!r} "
                             "(written by another impasto version; rebuild the engine)")
        want = {"engine_file": str, "engine_sha256": str, "engine_bytes": int, "source_onnx": dict,
                "tensorrt_version": str, "gpu": dict, "precision": str, "profiles": list, "onnx_metadata": dict,
                "impasto_version": str}
        for key, kind in want.items():
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise ModelError(f"{source}: field {key!r} must be a {kind.__name__}, got {data.get(key)!r}")
        if data["precision"] not in PRECISIONS:
            raise ModelError(f"{source}: precision must be one of {list(PRECISIONS)}, got {data['precision']!r}")
        try:
            profiles = tuple(EngineProfile.from_dict(p) for p in data["profiles"])
        except ValueError as exc:
            raise ModelError(f"{source}: {exc}") from None
        if not all(isinstance(v, str) for v in data["onnx_metadata"].values()):
            raise ModelError(f"{source}: onnx_metadata values must be strings")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"} | {"format", "format_version"}
        return cls(
            engine_file=data["engine_file"], engine_sha256=data["engine_sha256"], engine_bytes=data["engine_bytes"],
            source_onnx=dict(data["source_onnx"]), tensorrt_version=data["tensorrt_version"], gpu=dict(data["gpu"]),
            precision=data["precision"], profiles=profiles, onnx_metadata=dict(data["onnx_metadata"]),
            impasto_version=data["impasto_version"], builder_flags=tuple(data.get("builder_flags") or ()),
            input=data.get("input"), output=data.get("output"), build_seconds=float(data.get("build_seconds") or 0),
            workspace_bytes=data.get("workspace_bytes"), timing_cache=data.get("timing_cache"),
            calibration=data.get("calibration"), built_at=str(data.get("built_at") or ""),
            extra={k: v for k, v in data.items() if k not in known})

    def metadata(self) -> dict[str, str]:
        """The backend's ``metadata``: the ONNX model's ``impasto.*`` entries plus ``impasto.engine.*``."""
        return {**self.onnx_metadata,
                "impasto.engine.precision": self.precision,
                "impasto.engine.tensorrt_version": self.tensorrt_version,
                "impasto.engine.gpu": self.gpu_name,
                "impasto.engine.compute_capability": self.compute_capability,
                "impasto.engine.source_onnx_sha256": self.source_onnx.get("sha256", ""),
                "impasto.engine.profiles": json.dumps([p.to_dict() for p in self.profiles])}

    def rebuild_command(self, engine_path: str | os.PathLike) -> str:
        """The ``impasto build-engine`` command that rebuilds this engine with the same settings."""
        args = ["impasto", "build-engine", self.source_onnx.get("path") or "MODEL.onnx", "-o", str(engine_path)]
        if self.precision == "fp16":
            args.append("--fp16")
        elif self.precision == "int8":
            args += ["--int8", "--calib", str((self.calibration or {}).get("dir") or "DIR")]
        if self.profiles:
            p = self.profiles[0]
            args += ["--shapes", ",".join("x".join(str(d) for d in s) for s in (p.min, p.opt, p.max))]
        return shlex.join(args)


def read_sidecar(engine_path: str | os.PathLike) -> EngineSidecar:
    """Read and validate the sidecar next to ``engine_path``.

    Raises:
        EngineMismatchError: there is no sidecar (an engine is never trusted without one).
        ModelError: the sidecar is unreadable or malformed.
    """
    engine = Path(engine_path)
    path = sidecar_path(engine)
    if not path.is_file():
        raise EngineMismatchError(f"engine {str(engine)!r}: expected its sidecar {str(path)!r} next to it (written by "
                                  "`impasto build-engine`), got no such file; rebuild the engine with impasto "
                                  "build-engine")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"sidecar {str(path)!r}: cannot read it as JSON ({type(exc).__name__}: {exc})") from None
    return EngineSidecar.from_dict(data, source=f"sidecar {str(path)!r}")


def check_engine_sha(engine_path: str | os.PathLike, data: bytes, sidecar: EngineSidecar) -> None:
    """Check that ``data`` (the engine file's bytes) is the engine the sidecar describes.

    Raises:
        EngineMismatchError: the sha256 differs (a half-replaced or edited pair).
    """
    got = sha256_bytes(data)
    if got != sidecar.engine_sha256:
        raise EngineMismatchError(
            f"engine {str(engine_path)!r} does not match its sidecar {str(sidecar_path(engine_path))!r}: expected "
            f"sha256 {sidecar.engine_sha256[:16]}…, got {got[:16]}… (a half-replaced or edited engine/sidecar pair); "
            f"rebuild it: {sidecar.rebuild_command(engine_path)}")


def check_compatible(engine_path: str | os.PathLike, sidecar: EngineSidecar, *, tensorrt_version: str,
                     gpu_name: str, compute_capability: str) -> None:
    """Check that an engine was built for this TensorRT version and this GPU.

    Raises:
        EngineMismatchError: naming every difference and the command that rebuilds the engine here.
    """
    diffs = []
    if sidecar.tensorrt_version != tensorrt_version:
        diffs.append(f"TensorRT {sidecar.tensorrt_version} (this machine has {tensorrt_version})")
    if sidecar.gpu_name != gpu_name:
        diffs.append(f"GPU {sidecar.gpu_name!r} (this machine has {gpu_name!r})")
    if sidecar.compute_capability != compute_capability:
        diffs.append(f"compute capability {sidecar.compute_capability} (this machine has {compute_capability})")
    if diffs:
        raise EngineMismatchError(f"engine {str(engine_path)!r} was built for " + ", ".join(diffs)
                                  + f"; TensorRT engines only run where they were built: rebuild it with "
                                  f"`{sidecar.rebuild_command(engine_path)}`")


def write_engine_pair(engine_path: str | os.PathLike, engine_data: bytes | memoryview,
                      sidecar: EngineSidecar) -> None:
    """Write ``NAME.engine`` and then ``NAME.json``, each atomically (temporary file + rename).

    Raises:
        ValueError: the sidecar's sha256/size/file name do not describe ``engine_data``.
    """
    engine = Path(engine_path)
    if sidecar.engine_sha256 != sha256_bytes(engine_data) or sidecar.engine_bytes != len(engine_data) \
            or sidecar.engine_file != engine.name:
        raise ValueError("write_engine_pair: the sidecar does not describe this engine (sha256, size or file name)")
    atomic_write_bytes(engine, engine_data)
    atomic_write_bytes(sidecar_path(engine), sidecar.to_json().encode("utf-8"))


def sidecar_summary(sidecar: EngineSidecar) -> Mapping[str, Any]:
    """A short dict for ``--json`` reports and ``describe()``."""
    return {"tensorrt_version": sidecar.tensorrt_version, "gpu": sidecar.gpu_name,
            "compute_capability": sidecar.compute_capability, "precision": sidecar.precision,
            "profiles": [p.to_dict() for p in sidecar.profiles], "source_onnx": sidecar.source_onnx.get("path")}
