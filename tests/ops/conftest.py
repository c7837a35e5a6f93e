"""Fixtures of the ops tests: the compiled extension (required under IMPASTO_REQUIRE_EXT=1) and devices."""

from __future__ import annotations

import os

import pytest
import torch

from impasto import ops


def need_extension() -> None:
    """Fail when IMPASTO_REQUIRE_EXT=1 (CI builds the extension first), skip otherwise."""
    if ops.extension_available():
        return
    if os.environ.get("IMPASTO_REQUIRE_EXT", "") not in ("", "0"):
        pytest.fail("impasto._C is not built but IMPASTO_REQUIRE_EXT=1 (run `make ext`)")
    pytest.skip("impasto._C is not built (run `make ext`)")


@pytest.fixture
def ext() -> None:
    need_extension()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request) -> torch.device:
    """A device whose kernels are built: CPU always (with the extension), CUDA where present."""
    need_extension()
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        if not ops.extension_has_cuda():
            pytest.fail("a CUDA device is present but impasto._C was built without CUDA kernels")
    return torch.device(request.param)
