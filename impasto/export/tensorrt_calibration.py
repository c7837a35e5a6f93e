"""INT8 calibration for ``impasto build-engine --int8 --calib DIR`` (no torch).

The images are read with impasto's own reader (:func:`impasto.runtime.io.images.read_image`:
EXIF orientation, grayscale/RGBA/16-bit conversion, decompression-bomb limit) and
preprocessed exactly as :class:`~impasto.runtime.pipelines.stylizer.Stylizer` feeds a model of a
fixed size: area-resized to the profile's ``opt`` height x width, then float32 NCHW RGB
scaled by the model's ``impasto.input`` range (``[0, 1]`` for impasto models).

Calibration cache:
    TensorRT's calibration table is kept in ``NAME.calib`` beside the engine, with
    ``NAME.calib.json`` recording what it was computed from (a digest of the image
    files, the batch shape, the input range and the TensorRT version). A later build
    reuses the table only when all of these match; otherwise it calibrates again and
    replaces both files (atomically).

Convention:
    Batches are ``(N, 3, H, W)`` float32 with ``(N, 3, H, W)`` the profile's ``opt``
    shape; images that do not fill a last batch are left out (and counted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from impasto.errors import ModelError, UserError
from impasto.runtime.io.atomic import atomic_write_bytes
from impasto.runtime.io.images import IMAGE_SUFFIXES, read_image

log = logging.getLogger("impasto.export")


def list_calibration_images(calib_dir: str | os.PathLike, batch: int = 1) -> list[Path]:
    """The image files under ``calib_dir`` (recursive, sorted).

    Raises:
        UserError: not a folder, or fewer images than one batch.
    """
    root = Path(calib_dir)
    if not root.is_dir():
        raise UserError(f"--calib: expected a folder of images, got {str(root)!r} "
                        f"({'a file' if root.exists() else 'no such folder'})")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < batch:
        raise UserError(f"--calib: expected at least {batch} image(s) ({', '.join(sorted(IMAGE_SUFFIXES))}) in "
                        f"{str(root)!r} for one calibration batch, got {len(files)}")
    return files


def input_range_of(metadata: dict[str, str]) -> float:
    """The upper end of the model's input range from ``impasto.input`` (1.0 when absent, like the Stylizer).

    Raises:
        ModelError: the entry exists but is unreadable.
    """
    spec = metadata.get("impasto.input")
    if spec is None:
        return 1.0
    try:
        return float(json.loads(spec)["range"][1])
    except (ValueError, KeyError, IndexError, TypeError):
        raise ModelError(f"unreadable impasto.input metadata {spec!r}") from None


def preprocess(rgb: np.ndarray, size_hw: tuple[int, int], input_range: float = 1.0) -> np.ndarray:
    """``HxWx3`` uint8 RGB -> ``(1, 3, h, w)`` float32, area-resized, scaled to ``[0, input_range]``."""
    h, w = size_hw
    x = rgb
    if x.shape[:2] != (h, w):
        import cv2

        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(input_range / 255.0)


def calibration_batches(files: Sequence[Path], batch_shape: Sequence[int],
                        input_range: float = 1.0) -> Iterator[np.ndarray]:
    """Yield ``batch_shape`` float32 batches from ``files`` in order (a partial last batch is dropped)."""
    n, _, h, w = batch_shape
    for start in range(0, len(files) - n + 1, n):
        yield np.concatenate([preprocess(read_image(p), (h, w), input_range) for p in files[start:start + n]])


def calibration_digest(files: Sequence[Path], root: str | os.PathLike) -> str:
    """sha256 over every file's path relative to ``root`` and its content's sha256."""
    digest = hashlib.sha256()
    for p in files:
        digest.update(str(Path(p).relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class CalibrationCache:
    """``NAME.calib`` (TensorRT's table) and ``NAME.calib.json`` (what it was computed from)."""

    path: Path

    @classmethod
    def beside(cls, engine_path: str | os.PathLike) -> CalibrationCache:
        return cls(Path(engine_path).with_suffix(".calib"))

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def load(self, key: dict[str, Any]) -> bytes | None:
        """The cached table if it was computed from ``key`` (and is the table the manifest describes), else None."""
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            data = self.path.read_bytes()
        except (OSError, ValueError):
            return None
        if not data or manifest != {**key, "table_sha256": hashlib.sha256(data).hexdigest()}:
            return None
        return data

    def save(self, data: bytes, key: dict[str, Any]) -> None:
        """Write the table, then its manifest (each atomically; a half-written pair fails :meth:`load`)."""
        atomic_write_bytes(self.path, data)
        manifest = {**key, "table_sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_bytes(self.manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())


def make_entropy_calibrator(trt: ModuleType, cuda_mem: ModuleType, batches: Iterator[np.ndarray],
                            batch_shape: Sequence[int], cache: CalibrationCache, key: dict[str, Any]) -> Any:
    """An ``IInt8EntropyCalibrator2`` feeding ``batches`` through one pinned + one device buffer.

    The returned object has ``error`` (the first exception raised while reading a batch,
    which TensorRT's callback cannot propagate), ``batches_used``, ``cache_reused`` and
    ``release()`` (frees the CUDA buffers).
    """
    shape = tuple(int(d) for d in batch_shape)
    nbytes = int(np.prod(shape)) * 4

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.error: BaseException | None = None
            self.batches_used = 0
            self.cache_reused = False
            self._stream = cuda_mem.CudaStream()
            self._host = cuda_mem.PinnedHostBuffer(nbytes)
            self._device = cuda_mem.DeviceBuffer(nbytes)

        def get_batch_size(self) -> int:
            return shape[0]

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.error is not None:
                return None
            try:
                batch = next(batches, None)
                if batch is None:
                    return None
                np.copyto(self._host.view(np.float32, shape), batch)
                self._stream.copy_to_device(self._device, self._host, nbytes)
                self._stream.synchronize()
            except Exception as exc:  # reported after the build: TensorRT would only see "no more batches"
                self.error = exc
                return None
            self.batches_used += 1
            return [self._device.ptr]

        def read_calibration_cache(self) -> bytes | None:
            data = cache.load(key)
            self.cache_reused = data is not None
            if data is not None:
                log.info("int8: reusing the calibration table %s", cache.path)
            return data

        def write_calibration_cache(self, data: Any) -> None:
            cache.save(bytes(data), key)

        def release(self) -> None:
            for buf in (self._device, self._host):
                buf.free()
            self._stream.destroy()

    return EntropyCalibrator()
