"""Build hook for the optional compiled ops extension ``impasto._C`` (everything else is in pyproject.toml).

``pip install .`` / ``pip install -e .`` never compile anything (the runtime needs neither
torch nor a compiler). The extension is built in place with the venv's torch by

    make ext            # = IMPASTO_BUILD_EXT=1 python setup.py build_ext --inplace

CPU kernels (C++ with OpenMP) are always built; the CUDA kernels too when torch has CUDA
and ``nvcc`` is found (``CUDA_HOME``), or never with ``IMPASTO_EXT_CUDA=0``.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
EXT_DIR = "cpp_ext"


def _sources(*patterns: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for pattern in patterns for p in (ROOT / EXT_DIR).glob(pattern))


def _extensions() -> tuple[list, dict]:
    if os.environ.get("IMPASTO_BUILD_EXT", "") in ("", "0"):
        return [], {}
    import torch
    from torch.utils import cpp_extension

    use_cuda = (os.environ.get("IMPASTO_EXT_CUDA", "1") != "0" and torch.version.cuda is not None
                and cpp_extension.CUDA_HOME is not None)
    cxx = ["-O3", "-g0", "-fopenmp"]
    sources = _sources("module.cpp", "*/*.cpp", "*/cpu/*.cpp")
    if use_cuda:
        ext = cpp_extension.CUDAExtension(
            "impasto._C", sources + _sources("*/cuda/*.cpp", "*/cuda/*.cu"),
            define_macros=[("IMPASTO_WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3"]},
            extra_link_args=["-fopenmp"])
    else:
        ext = cpp_extension.CppExtension("impasto._C", sources, extra_compile_args=cxx, extra_link_args=["-fopenmp"])
    return [ext], {"build_ext": cpp_extension.BuildExtension}


ext_modules, cmdclass = _extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
