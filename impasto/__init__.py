"""impasto: neural style transfer from training to a torch-free runtime.

The import of ``impasto`` itself is light: it pulls neither torch nor onnxruntime.
Training and export code lives in :mod:`impasto.training`, :mod:`impasto.models` and
:mod:`impasto.export` (the ``[train]`` extra); inference lives in :mod:`impasto.runtime`.
"""

__version__ = "0.1.0"
