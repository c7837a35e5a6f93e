"""Typed errors shared by every part of impasto (torch-free).

Every error says what was expected and what was got. The CLI prints ``UserError``
subclasses as one line on stderr and exits with code 2.
"""

from __future__ import annotations


class ImpastoError(Exception):
    """Base class of every error impasto raises on purpose."""


class UserError(ImpastoError):
    """Bad input from the user: a file, a flag, an array. The CLI exits 2 on these."""


class ImageError(UserError):
    """An image that cannot be read, is the wrong shape or type, or is too large."""


class ModelError(UserError):
    """A model file or name that cannot be found, opened or trusted."""


class InputMismatchError(UserError):
    """A feed whose names, dtypes or shapes do not match the model's inputs."""


class WeightsNotFoundError(UserError):
    """Pretrained weights (VGG16) could not be resolved."""


class ExportError(ImpastoError):
    """An export step failed (including a failed numerical parity check)."""


class BackendUnavailableError(UserError):
    """A requested inference backend is not available on this machine."""


class VideoError(UserError):
    """A video file or camera that cannot be opened, read or written."""


class TrainingDivergedError(ImpastoError):
    """A training run whose loss stopped being finite (NaN or infinite); the CLI prints it as one line, exit 1."""


class OutputError(UserError, OSError):
    """An output that cannot be written where it was asked: a read-only folder, a parent that is a file,
    a folder where a file is expected, a name too long for the file system (the CLI exits 2).

    Also an ``OSError`` (``errno``, ``filename`` and ``strerror`` are set), so callers that caught the
    ``OSError`` of a failed write still catch it.
    """

    __str__ = BaseException.__str__  # the message as given, not OSError's "[Errno N] ..." form


class StorageError(ImpastoError, OSError):
    """Writing an output failed for a reason outside the input: a full disk, a quota, an I/O error, or an
    encoder that could not write every frame (the CLI exits 1). Also an ``OSError``, like :class:`OutputError`.
    """

    __str__ = BaseException.__str__


class StreamError(ImpastoError):
    """A frame source that stopped mid-stream: a camera that vanished, a corrupt frame."""


class EngineMismatchError(ModelError):
    """A TensorRT engine that does not fit this machine (TensorRT version, GPU) or its own sidecar."""


class EngineBuildError(ExportError):
    """Building a TensorRT engine failed: ONNX parser errors, or TensorRT produced no engine."""


class BackendRuntimeError(ImpastoError):
    """An inference backend failed while running (not a problem with the input)."""


class CudaError(BackendRuntimeError):
    """A CUDA runtime call failed; the message names the call and the CUDA error (``cudaErrorMemoryAllocation``).

    Attributes:
        call: the CUDA runtime function, e.g. ``"cudaMalloc"``.
        error_name: the CUDA error's name, e.g. ``"cudaErrorMemoryAllocation"``.
    """

    def __init__(self, call: str, error_name: str, description: str = "") -> None:
        self.call = call
        self.error_name = error_name
        detail = f" ({description})" if description else ""
        super().__init__(f"{call} failed: {error_name}{detail}")


class MemoryBudgetError(UserError):
    """A run whose estimated peak memory exceeds the budget, with no bounded-memory path (exit 2, before any work)."""
