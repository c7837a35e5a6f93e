"""Backend selection: names, auto with reported fallbacks, ORT provider options, IO binding."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from impasto.errors import BackendUnavailableError, UserError
from impasto.runtime.backends import ort as ort_backend
from impasto.runtime.backends.ort import CPU, CUDA, TENSORRT, OrtBackend, provider_list
from impasto.runtime.backends.selection import BACKENDS, Selection, make_backend, open_backend
from impasto.runtime.pipelines.stylizer import Stylizer


def test_backend_names():
    assert BACKENDS == ("auto", "ort-cpu", "ort-cuda", "ort-trt", "tensorrt")
    with pytest.raises(UserError, match=r"expected one of \['auto', 'ort-cpu'"):
        make_backend("m.onnx", "magic")


def test_provider_lists_and_options(tmp_path):
    assert provider_list("ort-cpu") == [(CPU, {})]
    assert [p for p, _ in provider_list("ort-cuda")] == [CUDA, CPU]
    trt = provider_list("ort-trt", fp16=True, trt_cache_dir=tmp_path)
    assert [p for p, _ in trt] == [TENSORRT, CUDA, CPU]
    opts = trt[0][1]
    assert opts["trt_fp16_enable"] is True and opts["trt_engine_cache_enable"] is True
    assert opts["trt_engine_cache_path"] == str(tmp_path) and opts["trt_timing_cache_enable"] is True
    with pytest.raises(ValueError, match="fp16: expected backend 'ort-trt'"):
        provider_list("ort-cpu", fp16=True)


def test_trt_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path))
    assert ort_backend.default_trt_cache_dir() == tmp_path / "ort-trt"


def test_file_type_must_fit_the_backend(tmp_path):
    with pytest.raises(UserError, match="expected a TensorRT engine"):
        make_backend(tmp_path / "m.onnx", "tensorrt")
    with pytest.raises(UserError, match="expected an .onnx model, got the TensorRT engine"):
        make_backend(tmp_path / "m.engine", "ort-cpu")
    with pytest.raises(UserError, match="fp16: expected backend 'ort-trt'"):
        make_backend(tmp_path / "m.onnx", "ort-cuda", fp16=True)


def test_named_backend_never_falls_back(tiny_model, monkeypatch):
    monkeypatch.setattr(ort_backend, "available_providers", lambda: [CPU])
    with pytest.raises(BackendUnavailableError, match="CUDAExecutionProvider"):
        open_backend(tiny_model, "ort-cuda")


def test_auto_reports_every_fallback(tiny_model, monkeypatch, caplog):
    monkeypatch.setattr(ort_backend, "available_providers", lambda: [CPU])
    with caplog.at_level(logging.INFO, logger="impasto.runtime"):
        backend, sel = open_backend(tiny_model, "auto")
    with backend:
        assert sel.chosen == "ort-cpu" and backend.providers == [CPU]
    assert [b for b, _ in sel.fallbacks] == ["ort-trt", "ort-cuda"]
    assert "TensorrtExecutionProvider is not installed" in sel.fallbacks[0][1]
    assert "backend auto: using ort-cpu" in caplog.text
    assert sel.to_dict()["fallbacks"][1] == {"backend": "ort-cuda",
                                             "reason": "ONNX Runtime's CUDAExecutionProvider is not installed"}


def test_auto_warns_when_an_installed_provider_fails(tiny_model, monkeypatch, caplog):
    """CUDA reported as installed but failing to initialise: auto moves on and warns."""
    monkeypatch.setattr(ort_backend, "available_providers", lambda: [CUDA, CPU])

    def broken_open(self):
        raise BackendUnavailableError("CUDAExecutionProvider failed to initialise (libcudnn missing)")

    real_open = OrtBackend._open
    monkeypatch.setattr(OrtBackend, "_open",
                        lambda self: broken_open(self) if self.requested_providers[0] == CUDA else real_open(self))
    with caplog.at_level(logging.WARNING, logger="impasto.runtime"):
        backend, sel = open_backend(tiny_model, "auto")
    backend.close()
    assert sel.chosen == "ort-cpu"
    assert ("ort-cuda", "CUDAExecutionProvider failed to initialise (libcudnn missing)") in sel.fallbacks
    assert any(r.levelno == logging.WARNING and "libcudnn" in r.getMessage() for r in caplog.records)


def test_auto_with_fp16_never_downgrades(tiny_model, monkeypatch):
    monkeypatch.setattr(ort_backend, "available_providers", lambda: [CPU])
    with pytest.raises(BackendUnavailableError, match="nothing can run this model here: ort-trt"):
        open_backend(tiny_model, "auto", fp16=True)


def test_auto_for_an_engine_needs_tensorrt(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("tensorrt"):
        pytest.skip("tensorrt is installed here")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    with pytest.raises(BackendUnavailableError, match="tensorrt: the tensorrt package is not installed"):
        open_backend(engine, "auto")


def test_ort_silent_cpu_fallback_is_an_error(tiny_model, monkeypatch):
    """ONNX Runtime keeps only the CPU when CUDA fails to load; impasto refuses that."""
    import onnxruntime as ort

    class Session:
        def __init__(self, *a, **k):
            pass

        def get_providers(self):
            return [CPU]

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", Session)
    with pytest.raises(BackendUnavailableError, match=r"CUDAExecutionProvider failed to initialise \(ONNX Runtime "
                                                      r"kept \['CPUExecutionProvider'\]\)"):
        OrtBackend(tiny_model, [CUDA, CPU]).open()


def test_io_binding_reuses_buffers_and_matches_plain_runs(tiny_model):
    rng = np.random.default_rng(0)
    frames = [rng.random((1, 3, 24, 40), dtype=np.float32) for _ in range(3)]
    odd = rng.random((1, 3, 17, 23), dtype=np.float32)
    with OrtBackend(tiny_model) as plain, OrtBackend(tiny_model, io_binding=True, binding_device="cpu") as bound:
        assert bound.io_binding and not plain.io_binding
        for x in [*frames, odd, frames[0]]:
            ref = plain.run({"image": x})["stylized"]
            got = bound.run({"image": x})["stylized"]
            np.testing.assert_allclose(got, ref, atol=1e-6)
            assert got.shape == x.shape
        assert bound.bound_shapes == 2  # one set of buffers per frame size, reused
        outs = [bound.run({"image": f})["stylized"] for f in frames]
        assert not np.shares_memory(outs[0], outs[1])  # results are the caller's own copies
        assert np.abs(outs[0] - outs[1]).max() > 0


def test_stylizer_reports_the_selection(tiny_model, monkeypatch):
    monkeypatch.setattr(ort_backend, "available_providers", lambda: [CPU])
    with Stylizer.load(tiny_model) as s:
        assert s.selection.requested == "auto" and s.selection.chosen == "ort-cpu"
        assert s.describe()["backend"]["chosen"] == "ort-cpu"
    with Stylizer.load(tiny_model, backend="ort-cpu") as s:
        assert s.selection == Selection("ort-cpu", "ort-cpu")
