"""Cold start: loading a built-in style opens exactly one ONNX Runtime session; sessions do not spin."""

from __future__ import annotations

import onnxruntime as ort

from impasto.runtime.backends.ort import SESSION_CONFIG
from impasto.runtime.pipelines.stylizer import Stylizer


class _Counting:
    """Wraps ``onnxruntime.InferenceSession``, recording each session's path and options."""

    def __init__(self, real: type) -> None:
        self.real = real
        self.opened: list[tuple[str, ort.SessionOptions | None]] = []

    def __call__(self, path, sess_options=None, *args, **kwargs):
        self.opened.append((str(path), sess_options))
        return self.real(path, sess_options, *args, **kwargs)


def test_loading_a_builtin_style_opens_one_session(monkeypatch, photo):
    counting = _Counting(ort.InferenceSession)
    monkeypatch.setattr(ort, "InferenceSession", counting)
    with Stylizer.load("la_muse") as stylizer:  # resolving the name reads the bank's metadata from the file
        assert [p.rsplit("/", 1)[-1] for p, _ in counting.opened] == ["bank.onnx"]
        assert stylizer.bank is not None and stylizer.bank.styles[stylizer.style_weights.argmax()] == "la_muse"
        out = stylizer(photo[:64, :64])
    assert out.shape == (64, 64, 3) and len(counting.opened) == 1


def test_the_session_sleeps_instead_of_spinning(monkeypatch):
    counting = _Counting(ort.InferenceSession)
    monkeypatch.setattr(ort, "InferenceSession", counting)
    Stylizer.load().close()
    (_, options), = counting.opened
    for key, value in SESSION_CONFIG.items():
        assert options.get_session_config_entry(key) == value
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_every_public_runtime_name_resolves():
    import impasto.runtime as runtime

    assert sorted(runtime.__all__) == sorted(runtime._EXPORTS)
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None, name
