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
